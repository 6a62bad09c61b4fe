//! The `entrypoint` suite: requests and responses round-trip whole (method, full URL, headers with repeated
//! names in order, binary, empty and 1 MiB bodies, status codes), handler errors carry what the WIT promises
//! (`exception` with the traceback text, `not-defined` naming the handler), `handlers()` lists what is defined,
//! and scheduled and queue events reach the worker.
//!
//! # The reference worker contract
//!
//! `entrypoint` is exported by a Python worker, so the suite needs a worker whose answers it can predict. A subject
//! is any implementation that can run these three *reference workers* (the Python sources are beside this file;
//! the native subject runs exactly them on Pyodide, a component must behave as they do). A component is told which
//! one to be by the environment variable [`WORKER_VARIABLE`] (`echo`, `fetch-only` or `draws-at-import`), read
//! through `wasi:cli/environment`.
//!
//! **`echo`** (`reference_worker.py`) defines `fetch`, `scheduled` and `queue`. Its `fetch`, by the URL's path:
//! - `/status/N`: status `N` (200..=599), no headers, an empty body.
//! - `/raise`: raises `RuntimeError(f"raised on purpose: {query}")`, `query` being the URL's raw query string; the
//!   answer is `exception(text)` where `text` is the formatted traceback: its first line is
//!   `Traceback (most recent call last):`, its last `RuntimeError: raised on purpose: {query}`.
//! - `/events`: status 200, the body a JSON array of the scheduled and queue events this instance handled, in
//!   order: `{"type": "scheduled", "cron": str, "scheduled_time": int}` and `{"type": "queue", "queue": str,
//!   "messages": [{"id": str, "timestamp": int, "body": <the message body parsed as JSON>, "attempts": int}]}`
//!   (times in milliseconds since the Unix epoch). Message bodies are JSON text, as the host delivers them.
//! - anything else: status 200, the body the request's body byte for byte, the headers `("x-method", method)`,
//!   `("x-url", url)` and then the request's headers exactly as received (names repeated, in order).
//!
//! Its `scheduled` and `queue` record the event (above) and succeed. Its module also has `draw()`, 8 bytes from
//! `random` then 8 from `os.urandom`, which the native `snapshot` subject calls (a component is not asked for it). The suite sends lower-case header names, as
//! the host does, and never sends `x-method` or `x-url` itself.
//!
//! **`fetch-only`** (`fetch_only_worker.py`) defines only `fetch` (as a function, `on_fetch`): every request gets
//! status 200, no headers, the body `fetch-only`. `scheduled` and `queue` answer `not-defined` with a name that
//! contains `scheduled` / `queue` (the native one names `on_scheduled` / `on_queue`).
//!
//! **`draws-at-import`** (`draws_at_import_worker.py`, used by the `snapshot` suite) draws from `random` while its
//! module is imported.
//!
//! Each instance is fresh: an instance's `/events` shows only its own events.

mod subjects;

use super::check::{check, check_eq};
use super::{Case, Check, Fresh};
pub use self::subjects::{component, component_per_worker, native, ComponentWorkers, NativeWorkers};
pub use crate::entrypoint::{HandlerError, Message, MessageBatch, Request, Response, ScheduledEvent};

/// The environment variable that tells a component subject which reference worker to be.
pub const WORKER_VARIABLE: &str = "PYWORKERS_REFERENCE_WORKER";

/// The reference workers of the contract (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// Echoes requests, raises on `/raise`, records events.
    Echo,
    /// Defines `fetch` only.
    FetchOnly,
    /// Draws from `random` at import time.
    DrawsAtImport,
}

impl Reference {
    /// Its name, the value of [`WORKER_VARIABLE`].
    pub fn name(self) -> &'static str {
        match self {
            Reference::Echo => "echo",
            Reference::FetchOnly => "fetch-only",
            Reference::DrawsAtImport => "draws-at-import",
        }
    }

    /// Its module name and Python source.
    pub fn source(self) -> (&'static str, &'static str) {
        match self {
            Reference::Echo => ("reference_worker", include_str!("reference_worker.py")),
            Reference::FetchOnly => ("fetch_only_worker", include_str!("fetch_only_worker.py")),
            Reference::DrawsAtImport => ("draws_at_import_worker", include_str!("draws_at_import_worker.py")),
        }
    }
}

/// A call's answer: the outer `Err` means the implementation trapped, the inner one is its `handler-error`.
pub type Answer<T> = anyhow::Result<Result<T, HandlerError>>;

/// One instance of a worker, through the WIT's functions.
pub trait Worker {
    /// `handlers()`.
    fn handlers(&mut self) -> anyhow::Result<Vec<String>>;
    /// `fetch(request)`.
    fn fetch(&mut self, request: Request) -> Answer<Response>;
    /// `scheduled(event)`.
    fn scheduled(&mut self, event: ScheduledEvent) -> Answer<()>;
    /// `queue(batch)`.
    fn queue(&mut self, batch: MessageBatch) -> Answer<()>;
}

/// An implementation that runs the reference workers: each `start` is a fresh instance.
pub trait Workers {
    /// A fresh instance of `worker`.
    fn start(&self, worker: Reference) -> anyhow::Result<Box<dyn Worker>>;
}

/// The suite, in report order.
pub fn cases() -> &'static [Case<dyn Workers>] {
    &[
        Case {
            name: "handlers-listed",
            about: "handlers() names exactly the handlers the worker defines",
            run: handlers_listed,
        },
        Case {
            name: "round-trip",
            about: "method, full URL, headers and body reach the handler and come back",
            run: round_trip,
        },
        Case {
            name: "repeated-headers",
            about: "repeated header names survive, in order, both ways",
            run: repeated_headers,
        },
        Case {
            name: "binary-bodies",
            about: "non-UTF-8 bodies, NUL bytes and a 1 MiB body come back byte for byte",
            run: binary_bodies,
        },
        Case { name: "empty-bodies", about: "an empty request body and an empty response body", run: empty_bodies },
        Case { name: "status-codes", about: "the handler's status code is the response's, 200..599", run: status_codes },
        Case {
            name: "handler-exception",
            about: "a raising handler answers `exception` with its traceback; the instance carries on",
            run: handler_exception,
        },
        Case {
            name: "not-defined",
            about: "events without a handler answer `not-defined` naming it",
            run: not_defined,
        },
        Case {
            name: "scheduled-delivered",
            about: "scheduled events reach the handler with their cron and time, in order",
            run: scheduled_delivered,
        },
        Case {
            name: "queue-delivered",
            about: "queue batches reach the handler with every message's id, time, body and attempts",
            run: queue_delivered,
        },
    ]
}

/// The origin every request of the suite goes to.
const ORIGIN: &str = "https://conformance.example:8443";

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
    Request {
        method: method.into(),
        url: format!("{ORIGIN}{path}"),
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        body: body.to_vec(),
    }
}

/// `fetch(request)`, which must answer a response.
fn fetch_ok(worker: &mut dyn Worker, request: Request) -> anyhow::Result<Response> {
    let call = format!("fetch({} {})", request.method, request.url);
    match worker.fetch(request) {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(error)) => anyhow::bail!("{call}: expected a response, got {error:?}"),
        Err(trap) => Err(trap.context(format!("{call} trapped"))),
    }
}

/// The headers the echo worker answers `request` with.
fn echoed_headers(request: &Request) -> Vec<(String, String)> {
    let mut headers = vec![("x-method".to_string(), request.method.clone()), ("x-url".to_string(), request.url.clone())];
    headers.extend(request.headers.iter().cloned());
    headers
}

/// Where two bodies first differ, for a message that does not print a megabyte.
fn body_difference(got: &[u8], want: &[u8]) -> Option<String> {
    if got == want {
        return None;
    }
    let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    Some(format!("{} bytes came back for {} sent; first difference at byte {at}", got.len(), want.len()))
}

/// Echo `request` and check that all of it came back.
fn check_echo(worker: &mut dyn Worker, request: Request) -> Check {
    let what = format!("{} {}", request.method, request.url);
    let (headers, body) = (echoed_headers(&request), request.body.clone());
    let response = fetch_ok(worker, request)?;
    check_eq!(response.status, 200, "status of the echo of {what}");
    check_eq!(response.headers, headers, "headers of the echo of {what}");
    if let Some(why) = body_difference(&response.body, &body) {
        anyhow::bail!("body of the echo of {what}: {why}");
    }
    Ok(())
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

fn handlers_listed(fresh: Fresh<'_, dyn Workers>) -> Check {
    let workers = fresh()?;
    check_eq!(sorted(workers.start(Reference::Echo)?.handlers()?), ["fetch", "queue", "scheduled"], "handlers() of echo");
    check_eq!(workers.start(Reference::FetchOnly)?.handlers()?, ["fetch"], "handlers() of fetch-only");
    Ok(())
}

fn round_trip(fresh: Fresh<'_, dyn Workers>) -> Check {
    let mut worker = fresh()?.start(Reference::Echo)?;
    let headers = [("content-type", "text/plain; charset=utf-8"), ("x-trace", "a1b2"), ("accept", "*/*")];
    check_echo(&mut *worker, request("POST", "/echo/deeper/path?q=1&r=two%20words", &headers, b"hello, worker"))?;
    for (method, path) in [
        ("GET", "/"),
        ("PUT", "/items/42"),
        ("DELETE", "/items/42?hard=true"),
        ("PATCH", "/items/%E2%9C%93"),
        ("OPTIONS", "/any"),
        ("HEAD", "/head"),
    ] {
        let body: &[u8] = if matches!(method, "GET" | "HEAD" | "OPTIONS") { b"" } else { b"{\"n\": 1}" };
        check_echo(&mut *worker, request(method, path, &[("x-call", method)], body))?;
    }
    Ok(())
}

fn repeated_headers(fresh: Fresh<'_, dyn Workers>) -> Check {
    let mut worker = fresh()?.start(Reference::Echo)?;
    let headers = [
        ("set-cookie", "a=1"),
        ("x-other", "between"),
        ("set-cookie", "b=2; Path=/"),
        ("accept", "text/html"),
        ("set-cookie", "c=3"),
        ("accept", "application/json, text/plain"),
        ("x-empty", ""),
    ];
    check_echo(&mut *worker, request("POST", "/repeat", &headers, b"repeat"))
}

/// `len` bytes from a fixed xorshift stream: every byte value, NULs included, never valid UTF-8 for long.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn binary_bodies(fresh: Fresh<'_, dyn Workers>) -> Check {
    let mut worker = fresh()?.start(Reference::Echo)?;
    let all_bytes: Vec<u8> = (0..=255).collect();
    let bodies: [(&str, Vec<u8>); 6] = [
        ("one NUL", vec![0]),
        ("NULs around text", b"\0a\0b\0\0".to_vec()),
        ("invalid UTF-8", vec![0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0x80]),
        ("every byte value", all_bytes),
        ("a lone CR and LF", b"\r\n\r\n\r".to_vec()),
        ("1 MiB of noise", noise(1 << 20)),
    ];
    for (what, body) in bodies {
        let sent = request("POST", "/binary", &[("content-type", "application/octet-stream")], &body);
        check_echo(&mut *worker, sent).map_err(|e| e.context(what))?;
    }
    Ok(())
}

fn empty_bodies(fresh: Fresh<'_, dyn Workers>) -> Check {
    let mut worker = fresh()?.start(Reference::Echo)?;
    check_echo(&mut *worker, request("POST", "/empty", &[("content-length", "0")], b""))?;
    let response = fetch_ok(&mut *worker, request("GET", "/status/200", &[], b""))?;
    check_eq!(response.body, Vec::<u8>::new(), "body of GET /status/200");
    check_eq!(response.headers, Vec::<(String, String)>::new(), "headers of GET /status/200");
    Ok(())
}

fn status_codes(fresh: Fresh<'_, dyn Workers>) -> Check {
    let mut worker = fresh()?.start(Reference::Echo)?;
    for status in [200u16, 201, 204, 299, 301, 302, 304, 400, 404, 418, 451, 500, 503, 599] {
        let response = fetch_ok(&mut *worker, request("GET", &format!("/status/{status}"), &[], b""))?;
        check_eq!(response.status, status, "status of GET /status/{status}");
    }
    Ok(())
}

fn handler_exception(fresh: Fresh<'_, dyn Workers>) -> Check {
    let mut worker = fresh()?.start(Reference::Echo)?;
    for query in ["why=conformance", "why=second%20time&n=2"] {
        let path = format!("/raise?{query}");
        let text = match worker.fetch(request("GET", &path, &[], b"")) {
            Ok(Err(HandlerError::Exception(text))) => text,
            Ok(other) => anyhow::bail!("GET {path}: expected an exception, got {other:?}"),
            Err(trap) => return Err(trap.context(format!("GET {path} trapped"))),
        };
        let lines: Vec<&str> = text.lines().filter(|line| !line.trim().is_empty()).collect();
        check_eq!(lines.first().copied(), Some("Traceback (most recent call last):"), "first line of the exception");
        let last = format!("RuntimeError: raised on purpose: {query}");
        check_eq!(lines.last().copied(), Some(last.as_str()), "last line of the exception");
        check!(lines.len() >= 3, "the exception of GET {path} has no frames: {text:?}");
        // A failed event fails that event only.
        check_echo(&mut *worker, request("POST", "/after-raise", &[], b"still here"))?;
    }
    Ok(())
}

fn not_defined(fresh: Fresh<'_, dyn Workers>) -> Check {
    let mut worker = fresh()?.start(Reference::FetchOnly)?;
    match worker.scheduled(ScheduledEvent { cron: "* * * * *".into(), scheduled_time: 1_700_000_000_000 })? {
        Err(HandlerError::NotDefined(name)) => {
            check!(name.contains("scheduled"), "not-defined for scheduled names {name:?}")
        }
        other => anyhow::bail!("scheduled on fetch-only: expected not-defined, got {other:?}"),
    }
    match worker.queue(MessageBatch { queue: "jobs".into(), messages: vec![] })? {
        Err(HandlerError::NotDefined(name)) => check!(name.contains("queue"), "not-defined for queue names {name:?}"),
        other => anyhow::bail!("queue on fetch-only: expected not-defined, got {other:?}"),
    }
    let response = fetch_ok(&mut *worker, request("GET", "/", &[], b""))?;
    check_eq!((response.status, response.body.as_slice()), (200, &b"fetch-only"[..]), "fetch on fetch-only");
    Ok(())
}

/// GET /events, parsed.
fn events(worker: &mut dyn Worker) -> anyhow::Result<serde_json::Value> {
    let response = fetch_ok(worker, request("GET", "/events", &[], b""))?;
    check_eq!(response.status, 200, "status of GET /events");
    serde_json::from_slice(&response.body).map_err(|e| anyhow::anyhow!("GET /events is not JSON ({e})"))
}

fn scheduled_delivered(fresh: Fresh<'_, dyn Workers>) -> Check {
    let mut worker = fresh()?.start(Reference::Echo)?;
    check_eq!(events(&mut *worker)?, serde_json::json!([]), "events of a fresh instance");
    let sent = [("*/5 * * * *", 1_700_000_000_123u64), ("0 0 1 1 *", 1_704_067_200_000)];
    for (cron, time) in sent {
        match worker.scheduled(ScheduledEvent { cron: cron.into(), scheduled_time: time })? {
            Ok(()) => {}
            Err(error) => anyhow::bail!("scheduled({cron:?}): {error:?}"),
        }
    }
    let want: Vec<_> = sent
        .iter()
        .map(|(cron, time)| serde_json::json!({"type": "scheduled", "cron": cron, "scheduled_time": time}))
        .collect();
    check_eq!(events(&mut *worker)?, serde_json::Value::Array(want), "events after two scheduled");
    Ok(())
}

fn queue_delivered(fresh: Fresh<'_, dyn Workers>) -> Check {
    let mut worker = fresh()?.start(Reference::Echo)?;
    let message = |id: &str, timestamp: u64, body: &str, attempts: u32| Message {
        id: id.into(),
        timestamp,
        body: body.as_bytes().to_vec(),
        attempts,
    };
    let batches = [
        MessageBatch {
            queue: "jobs".into(),
            messages: vec![
                message("m-1", 1_700_000_000_456, r#"{"task": "resize", "sizes": [1, 2]}"#, 1),
                message("m-2", 1_700_000_001_000, r#""plain text""#, 3),
                message("m-3", 1_700_000_002_789, "null", 7),
            ],
        },
        MessageBatch { queue: "other-queue".into(), messages: vec![] },
    ];
    let mut want = Vec::new();
    for batch in batches {
        let messages: Vec<_> = batch
            .messages
            .iter()
            .map(|m| {
                let body: serde_json::Value = serde_json::from_slice(&m.body).expect("the suite's bodies are JSON");
                serde_json::json!({"id": m.id, "timestamp": m.timestamp, "body": body, "attempts": m.attempts})
            })
            .collect();
        want.push(serde_json::json!({"type": "queue", "queue": batch.queue, "messages": messages}));
        let queue = batch.queue.clone();
        match worker.queue(batch)? {
            Ok(()) => {}
            Err(error) => anyhow::bail!("queue({queue:?}): {error:?}"),
        }
    }
    check_eq!(events(&mut *worker)?, serde_json::Value::Array(want), "events after two batches");
    Ok(())
}
