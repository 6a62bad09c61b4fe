//! A Python worker's typed faces over the raw `pyworkers:runtime/reactor` that a worker's Pyodide component
//! exports (`pyworkers component --worker`): `wasi:http/incoming-handler`, and the WIT's own
//! `pyworkers:runtime/entrypoint` (`handlers`, `fetch`, `scheduled`, `queue`: what the conformance suite drives).
//! `wac plug` this component with that one and the result is a `wasi:http/proxy` component that `pyworkers serve`
//! and stock `wasmtime serve` serve.
//!
//! Each request or event becomes one event frame and the reactor is stepped until the worker answers it, as the
//! native host's `Entrypoint::fetch` does, over the same frames (`host/python/_pyworkers/entrypoint.py`) and the
//! same marshaller (`crates/marshal`). This adapter speaks the part of the protocol a component can serve today:
//!
//! - the instance is configured on its first request: `vars` are the environment variables the server gives
//!   (`wasmtime serve --env NAME=VALUE`), as strings; no bindings; not a Durable Object;
//! - outbound `fetch` and Durable Object calls are answered as denied (no network or objects in the component);
//! - the worker's timers (`asyncio.sleep`) are waited out with `wasi:clocks`;
//! - a handler that raises is a 500 whose body names the exception's last line, the traceback going to stderr,
//!   worded as `pyworkers serve` words it.

use exports::pyworkers::runtime::entrypoint::{self as typed, HandlerError};
use pyworkers::runtime::reactor;
use pyworkers_marshal::frames::{self, QueueMessage};
use pyworkers_marshal::{dumps, loads, Value};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use wasip2::http::types::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam, Scheme};

wit_bindgen::generate!({
    inline: "
        package pyworkers:worker-adapter;
        world worker-adapter {
            import pyworkers:runtime/reactor@0.1.0;
            export pyworkers:runtime/entrypoint@0.1.0;
        }
    ",
    path: "../../wit",
    generate_all,
});

/// The largest request body the adapter reads (as `pyworkers serve`'s default limit).
const MAX_BODY: usize = 100 << 20;

/// Whether this instance's worker has been configured.
static CONFIGURED: AtomicBool = AtomicBool::new(false);

/// The id of the next event (unique within the instance).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A response: status, headers, body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// How the worker finished an event.
enum Finished {
    /// A `fetch` was answered.
    Response(Answer),
    /// A `scheduled` or `queue` event was handled.
    Done,
    /// The handler is not defined (what it looked for), or raised (the traceback).
    Failed(HandlerError),
}

struct Adapter;

impl wasip2::exports::http::incoming_handler::Guest for Adapter {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let (status, headers, body) = match serve(&request) {
            Ok(answer) => answer,
            Err((status, line)) => {
                eprintln!("pyworkers worker adapter: {line}");
                (status, vec![("content-type".into(), "text/plain; charset=utf-8".into())], format!("{line}\n").into_bytes())
            }
        };
        respond(out, status, &headers, &body);
    }
}

wasip2::http::proxy::export!(Adapter);

/// The WIT's one-call-one-answer functions. The WIT has no error for the runtime itself failing (the worker did
/// not load, a frame did not read), so that traps, as a native instance's failure is an error of the call.
impl typed::Guest for Adapter {
    fn handlers() -> Vec<String> {
        let names = configure().and_then(|()| invoke("handlers", &Value::Bytes(Vec::new()))).unwrap_or_else(|e| trap(&e));
        let names = names.as_seq("handlers").unwrap_or_else(|e| trap(&e.to_string()));
        names.iter().map(|n| n.as_str("handler name").map(str::to_string).unwrap_or_else(|e| trap(&e.to_string()))).collect()
    }

    fn fetch(request: typed::Request) -> Result<typed::Response, HandlerError> {
        let event = |id| frames::fetch(id, &request.method, &request.url, &request.headers, request.body.clone());
        match run(event).unwrap_or_else(|e| trap(&e)) {
            Finished::Response((status, headers, body)) => Ok(typed::Response { status, headers, body }),
            Finished::Failed(error) => Err(error),
            Finished::Done => trap("the worker answered a fetch with done"),
        }
    }

    fn scheduled(event: typed::ScheduledEvent) -> Result<(), HandlerError> {
        done(run(|id| frames::scheduled(id, &event.cron, event.scheduled_time)))
    }

    fn queue(batch: typed::MessageBatch) -> Result<(), HandlerError> {
        done(run(|id| {
            let messages = batch.messages.iter().map(|m| QueueMessage {
                id: &m.id,
                timestamp: m.timestamp,
                body: &m.body,
                attempts: m.attempts,
            });
            frames::queue(id, &batch.queue, messages)
        }))
    }
}

export!(Adapter);

fn done(finished: Result<Finished, String>) -> Result<(), HandlerError> {
    match finished.unwrap_or_else(|e| trap(&e)) {
        Finished::Done => Ok(()),
        Finished::Failed(error) => Err(error),
        Finished::Response(_) => trap("the worker answered a scheduled or queue event with a response"),
    }
}

fn trap(message: &str) -> ! {
    panic!("pyworkers worker adapter: {message}")
}

/// The worker's answer to `request`, or a status and a line saying why there is none.
fn serve(request: &IncomingRequest) -> Result<Answer, (u16, String)> {
    let body = read_body(request)?;
    let headers = request
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), String::from_utf8_lossy(&value).into_owned()))
        .collect::<Vec<_>>();
    let (method, url) = (method(request.method()), url(request));
    match run(|id| frames::fetch(id, &method, &url, &headers, body)).map_err(|line| (500, line))? {
        Finished::Response(answer) => Ok(answer),
        Finished::Failed(HandlerError::NotDefined(name)) => {
            Err((500, format!("the worker defines no handler for this event (looked for {name})")))
        }
        Finished::Failed(HandlerError::Exception(traceback)) => {
            eprintln!("{}", traceback.trim_end());
            let last = traceback.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("exception");
            Err((500, format!("the worker raised an exception: {}", last.trim())))
        }
        Finished::Done => Err((500, "the worker answered a request with done".into())),
    }
}

/// Deliver the event `event(id)` makes and step the worker until it finishes it: the native `Entrypoint::fetch`
/// loop. `Err` says in words why the runtime itself failed.
fn run(event: impl FnOnce(u64) -> Value) -> Result<Finished, String> {
    configure()?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut inbox = vec![event(id)];
    loop {
        let outbox = invoke("step", &Value::List(std::mem::take(&mut inbox)))?;
        let [events, next_timer, _background] = outbox.as_seq("step's answer").map_err(|e| e.to_string())? else {
            return Err("step answered something other than (outbox, next_timer, background)".into());
        };
        for event in events.as_seq("outbox").map_err(|e| e.to_string())? {
            if let Some(finished) = handle(event, id, &mut inbox).map_err(|e| format!("reading the worker's outbox: {e}"))? {
                return Ok(finished);
            }
        }
        if inbox.is_empty() {
            match next_timer {
                Value::Float(s) if s.is_finite() && *s >= 0.0 => sleep(*s),
                Value::Int(s) if *s >= 0 => sleep(*s as f64),
                _ => return Err("the worker is waiting for nothing and never finished the event".into()),
            }
        }
    }
}

/// Act on one outbox event: how event `id` finished, if it is that; an answer to push for an outbound call.
fn handle(event: &Value, id: u64, inbox: &mut Vec<Value>) -> anyhow::Result<Option<Finished>> {
    let items = event.as_seq("outbox event")?;
    let at = |i: usize| items.get(i).ok_or_else(|| anyhow::Error::msg("outbox event too short"));
    let ours = |i: usize| -> anyhow::Result<bool> { Ok(at(i)?.as_int("event id")? == id as i64) };
    match at(0)?.as_str("event kind")? {
        "response" if ours(1)? => {
            let status = u16::try_from(at(2)?.as_int("status")?).unwrap_or(0);
            let headers = frames::read_headers(at(3)?)?;
            Ok(Some(Finished::Response((status, headers, at(4)?.as_bytes("body")?.to_vec()))))
        }
        "done" if ours(1)? => Ok(Some(Finished::Done)),
        "error" if ours(1)? => {
            let text = at(3)?.as_str("error text")?.to_string();
            Ok(Some(Finished::Failed(match at(2)?.as_str("error kind")? {
                "not-defined" => HandlerError::NotDefined(text),
                _ => HandlerError::Exception(text),
            })))
        }
        // An outbound call: this component has no network and no Durable Objects to reach.
        kind @ ("fetch" | "call") => {
            let op = at(1)?.as_int("op")?;
            let (answer, message) = match kind {
                "fetch" => ("result", "outbound HTTP is not available to a worker served as a component"),
                _ => ("returned", "Durable Objects are not available to a worker served as a component"),
            };
            inbox.push(Value::Tuple(vec![
                Value::str(answer),
                Value::Int(op),
                Value::Bool(false),
                Value::Tuple(vec![Value::str("denied"), Value::str(message)]),
            ]));
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Configure the worker once per instance: its `env` from the environment the server gives.
fn configure() -> Result<(), String> {
    if CONFIGURED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let vars = wasip2::cli::environment::get_environment()
        .into_iter()
        .map(|(k, v)| (Value::Str(k), Value::Str(v)))
        .collect();
    let config = Value::Dict(vec![
        (Value::str("vars"), Value::Dict(vars)),
        (Value::str("name"), Value::str("worker")),
        (Value::str("bindings"), Value::Dict(Vec::new())),
        (Value::str("object"), Value::None),
    ]);
    invoke("configure", &config).map_err(|e| format!("configuring the worker: {e}"))?;
    CONFIGURED.store(true, Ordering::Relaxed);
    Ok(())
}

/// `_pyworkers.entrypoint.<function>(argument)` through the reactor.
fn invoke(function: &str, argument: &Value) -> Result<Value, String> {
    let answer = reactor::invoke(function, &dumps(argument))?;
    loads(&answer).map_err(|e| format!("reading what {function} answered: {e}"))
}

/// The request's body, at most [`MAX_BODY`] bytes.
fn read_body(request: &IncomingRequest) -> Result<Vec<u8>, (u16, String)> {
    let bad = |what: &str| (400, format!("the request's body could not be read ({what})"));
    let body = request.consume().map_err(|()| bad("consumed twice"))?;
    let mut bytes = Vec::new();
    {
        let mut stream = body.stream().map_err(|()| bad("no stream"))?;
        let mut limited = (&mut stream).take(MAX_BODY as u64 + 1);
        limited.read_to_end(&mut bytes).map_err(|e| bad(&e.to_string()))?;
    }
    if bytes.len() > MAX_BODY {
        return Err((413, format!("the request's body is larger than {} MiB", MAX_BODY >> 20)));
    }
    Ok(bytes)
}

fn method(method: Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other,
    }
}

/// The full URL the worker sees, scheme and host included.
fn url(request: &IncomingRequest) -> String {
    let scheme = match request.scheme() {
        Some(Scheme::Https) => "https".to_string(),
        Some(Scheme::Other(other)) => other,
        Some(Scheme::Http) | None => "http".to_string(),
    };
    let authority = request.authority().unwrap_or_else(|| "localhost".into());
    let path = request.path_with_query().unwrap_or_else(|| "/".into());
    format!("{scheme}://{authority}{path}")
}

fn sleep(seconds: f64) {
    let nanos = (seconds * 1e9).min(u64::MAX as f64) as u64;
    wasip2::clocks::monotonic_clock::subscribe_duration(nanos).block();
}

/// Send the answer. A header the server refuses (invalid, or one it sets itself) is left out and said on stderr;
/// a status it refuses becomes a 500.
fn respond(out: ResponseOutparam, status: u16, headers: &[(String, String)], body: &[u8]) {
    let fields = Fields::new();
    for (name, value) in headers {
        if let Err(e) = fields.append(name, value.as_bytes()) {
            eprintln!("pyworkers worker adapter: the response header {name:?} was left out ({e:?})");
        }
    }
    let response = OutgoingResponse::new(fields);
    if response.set_status_code(status).is_err() {
        eprintln!("pyworkers worker adapter: the worker answered status {status}, which is not one");
        let _ = response.set_status_code(500);
    }
    let Ok(outgoing) = response.body() else { return };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(mut stream) = outgoing.write() {
        // The client may be gone; nothing is left to tell then.
        let _ = stream.write_all(body).and_then(|()| Write::flush(&mut stream));
    }
    let _ = OutgoingBody::finish(outgoing, None);
}
