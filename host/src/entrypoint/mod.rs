//! The `entrypoint` WIT interface on the host side: events into a Python worker, and what comes back.
//!
//! The records are the Rust types `bindgen!` generates from `wit/entrypoint.wit` (`Request`, `Response`,
//! `ScheduledEvent`, `MessageBatch`, `HandlerError`). [`Entrypoint`] is what a server talks to; [`native`] implements
//! it over an [`Interpreter`](crate::interpreter::Interpreter) through the CPython C API, and a component
//! implementation can stand behind the same trait. Nothing above it knows which one it has.
//!
//! Workers are concurrent inside one instance, as on Cloudflare: a handler awaiting an outbound fetch must not stop
//! the instance from taking the next request. So the trait is a reactor: [`Entrypoint::step`] takes what happened
//! (new events, finished outbound calls) and returns what the worker produced (responses, new outbound calls) once
//! nothing in it can run; [`Entrypoint::fetch`] and friends are the WIT's one-call-one-answer functions on top.

/// The frames' encoding, shared with the worker adapter component (`crates/marshal`).
pub use pyworkers_marshal as marshal;
pub mod native;

pub use crate::bindings::exports::pyworkers::runtime::entrypoint::{
    HandlerError, Message, MessageBatch, Request, Response, ScheduledEvent,
};
pub use native::NativeEntrypoint;

use anyhow::{bail, Result};
use std::time::Duration;

/// Something that happened, for the worker to handle.
#[derive(Debug, Clone)]
pub enum Event {
    /// An HTTP request; `id` names its answer.
    Fetch {
        /// Chosen by the host, unique among the instance's live events.
        id: u64,
        /// The request.
        request: Request,
    },
    /// A cron trigger.
    Scheduled {
        /// As for `Fetch`.
        id: u64,
        /// The trigger.
        event: ScheduledEvent,
    },
    /// A batch of queue messages.
    Queue {
        /// As for `Fetch`.
        id: u64,
        /// The batch (each body is JSON text).
        batch: MessageBatch,
    },
    /// An outbound call the worker started has finished.
    Completed {
        /// The `op` of the [`Outgoing::Fetch`] it answers.
        op: u64,
        /// Its result.
        result: std::result::Result<OutboundResponse, OutboundError>,
    },
    /// A call on a Durable Object, for the instance that is that object: a method call or its `fetch`.
    Call {
        /// As for `Fetch`.
        id: u64,
        /// What is called (a method's arguments are as the caller's guest encoded them; the host does not read
        /// them).
        target: CallTarget,
        /// The objects (keys) whose calls wait on this one (see `serve::bindings::durable`).
        chain: Vec<String>,
    },
    /// A Durable Object call the worker made ([`Outgoing::Call`]) has been answered.
    Returned {
        /// The `op` of the call.
        op: u64,
        /// What the object answered.
        result: std::result::Result<CallResult, CallError>,
    },
    /// The host gave up on an event (deadline, client gone): its handler is cancelled, nothing is answered.
    Cancel {
        /// The event's id.
        id: u64,
    },
}

/// An HTTP request the worker makes (`workers.fetch`).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundRequest {
    /// Method.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Headers, repeated names repeated.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// The deadline the worker asked for (held to the server's own), or `None` for the server's.
    pub timeout: Option<std::time::Duration>,
    /// Whether the host follows redirects (`workers.fetch`) or answers with them (clients that follow them
    /// themselves: `httpx.AsyncClient`).
    pub follow_redirects: bool,
}

/// The answer to an [`OutboundRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// The final URL (after redirects).
    pub url: String,
}

/// Why an outbound call failed; the worker sees the matching Python exception.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundError {
    /// `denied` (PermissionError), `timeout` (TimeoutError), `too-large`, or `error` (ConnectionError).
    pub kind: String,
    /// For people; a denial names the flag that allows it.
    pub message: String,
}

/// A call the worker makes on a Durable Object stub.
#[derive(Debug, Clone)]
pub struct ObjectCall {
    /// The namespace's binding.
    pub binding: String,
    /// The object's id, if the stub was made from one.
    pub id: Option<String>,
    /// The name, if the stub was made from one (the host derives the id).
    pub name: Option<String>,
    /// A method call or a fetch.
    pub target: CallTarget,
    /// The objects whose calls wait on this one, the caller included when it is an object.
    pub chain: Vec<String>,
}

/// What an [`ObjectCall`] asks of the object.
#[derive(Debug, Clone)]
pub enum CallTarget {
    /// `await stub.name(*args)`; `args` is `marshal` of a tuple.
    Method {
        /// The method.
        name: String,
        /// Its arguments, encoded by the guest.
        args: Vec<u8>,
    },
    /// `await stub.fetch(request)`.
    Fetch(Request),
}

/// The answer to an [`ObjectCall`].
#[derive(Debug, Clone)]
pub enum CallResult {
    /// A method's return value (`marshal`, encoded by the object's guest).
    Value(Vec<u8>),
    /// The object's `fetch` response.
    Response(Response),
}

/// Why an [`ObjectCall`] failed.
#[derive(Debug, Clone, PartialEq)]
pub struct CallError {
    /// `exception` (the object raised; `message` is the exception's last traceback line, `Type: text`), or one
    /// of the outbound kinds (`timeout`, `error`, ...).
    pub kind: String,
    /// For people.
    pub message: String,
}

/// What the worker produced in one step.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// The answer to a `Fetch` event.
    Response {
        /// The event's id.
        id: u64,
        /// The response.
        response: Response,
    },
    /// An event could not be handled.
    Failed {
        /// The event's id.
        id: u64,
        /// Why.
        error: HandlerError,
    },
    /// A `Scheduled` or `Queue` event was handled.
    Done {
        /// The event's id.
        id: u64,
    },
    /// The worker starts an outbound HTTP request; answer it with [`Event::Completed`].
    Fetch {
        /// Names the call.
        op: u64,
        /// The request.
        request: OutboundRequest,
    },
    /// The worker calls a Durable Object; answer it with [`Event::Returned`].
    Call {
        /// Names the call.
        op: u64,
        /// The call.
        call: ObjectCall,
    },
    /// A Durable Object's method returned (the answer to an [`Event::Call`]).
    Return {
        /// The event's id.
        id: u64,
        /// The value, `marshal` encoded by the guest.
        value: Vec<u8>,
    },
}

/// The result of [`Entrypoint::step`].
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    /// What the worker produced, in order.
    pub events: Vec<Outgoing>,
    /// When the worker next has timed work (`asyncio.sleep`): step again then, even if nothing happens.
    pub next_timer: Option<Duration>,
    /// `wait_until` work still running: the instance takes no new event until this is 0.
    pub background: u32,
}

/// A Python worker, as a server sees it (see the module docs).
pub trait Entrypoint {
    /// The handlers the worker defines: any of `fetch`, `scheduled`, `queue`.
    fn handlers(&mut self) -> Result<Vec<String>>;

    /// Deliver `inbox` and run the worker until nothing in it can run.
    fn step(&mut self, inbox: Vec<Event>) -> Result<Outbox>;

    /// The WIT's `fetch`: one request, one answer, with outbound calls answered by `outbound` as they come.
    fn fetch(
        &mut self,
        request: Request,
        outbound: &mut dyn FnMut(OutboundRequest) -> std::result::Result<OutboundResponse, OutboundError>,
    ) -> Result<std::result::Result<Response, HandlerError>> {
        const ID: u64 = 0;
        let mut inbox = vec![Event::Fetch { id: ID, request }];
        loop {
            let outbox = self.step(std::mem::take(&mut inbox))?;
            for event in outbox.events {
                match event {
                    Outgoing::Response { id: ID, response } => return Ok(Ok(response)),
                    Outgoing::Failed { id: ID, error } => return Ok(Err(error)),
                    Outgoing::Fetch { op, request } => inbox.push(Event::Completed {
                        op,
                        result: outbound(request),
                    }),
                    _ => {}
                }
            }
            if inbox.is_empty() {
                match outbox.next_timer {
                    Some(wait) => std::thread::sleep(wait),
                    None => bail!("the worker is waiting for nothing and never answered"),
                }
            }
        }
    }

    /// The WIT's `scheduled`: one trigger, handled to the end, with outbound calls answered by `outbound`.
    fn scheduled(
        &mut self,
        event: ScheduledEvent,
        outbound: &mut dyn FnMut(OutboundRequest) -> std::result::Result<OutboundResponse, OutboundError>,
    ) -> Result<std::result::Result<(), HandlerError>> {
        handle_to_done(self, Event::Scheduled { id: 0, event }, outbound)
    }

    /// The WIT's `queue`: one batch, handled to the end, with outbound calls answered by `outbound`.
    fn queue(
        &mut self,
        batch: MessageBatch,
        outbound: &mut dyn FnMut(OutboundRequest) -> std::result::Result<OutboundResponse, OutboundError>,
    ) -> Result<std::result::Result<(), HandlerError>> {
        handle_to_done(self, Event::Queue { id: 0, batch }, outbound)
    }
}

/// Step `entry` with `event` (whose id is 0) until the worker reports it done or failed.
fn handle_to_done<E: Entrypoint + ?Sized>(
    entry: &mut E,
    event: Event,
    outbound: &mut dyn FnMut(OutboundRequest) -> std::result::Result<OutboundResponse, OutboundError>,
) -> Result<std::result::Result<(), HandlerError>> {
    let mut inbox = vec![event];
    loop {
        let outbox = entry.step(std::mem::take(&mut inbox))?;
        for event in outbox.events {
            match event {
                Outgoing::Done { id: 0 } => return Ok(Ok(())),
                Outgoing::Failed { id: 0, error } => return Ok(Err(error)),
                Outgoing::Fetch { op, request } => inbox.push(Event::Completed { op, result: outbound(request) }),
                _ => {}
            }
        }
        if inbox.is_empty() {
            match outbox.next_timer {
                Some(wait) => std::thread::sleep(wait),
                None => bail!("the worker is waiting for nothing and never finished the event"),
            }
        }
    }
}
