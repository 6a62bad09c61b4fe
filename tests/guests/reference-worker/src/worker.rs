// The reference worker contract of `host/src/conformance/entrypoint/mod.rs`, in Rust: one component that is any of
// the three reference workers, chosen by `PYWORKERS_REFERENCE_WORKER` in its environment. Included by
// `reference-worker` (WRONG = false) and `entrypoint-wrong` (WRONG = true), which each define `WRONG` first.

use std::cell::RefCell;

use exports::pyworkers::runtime::entrypoint::{self, HandlerError, MessageBatch, Request, Response, ScheduledEvent};
use exports::pyworkers::runtime::snapshot::{self, Kind};

wit_bindgen::generate!({
    path: "../../../wit",
    inline: "
        package pyworkers:conformance;

        world reference-worker {
            include pyworkers:runtime/entrypoint-provider@0.1.0;
            include pyworkers:runtime/snapshot-provider@0.1.0;
        }
    ",
    world: "pyworkers:conformance/reference-worker",
});

thread_local! {
    /// The JSON of each scheduled and queue event handled, in order: what GET /events lists.
    static EVENTS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Which reference worker this instance is.
fn worker() -> String {
    std::env::var("PYWORKERS_REFERENCE_WORKER").unwrap_or_else(|_| "echo".into())
}

/// `text` as a JSON string.
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The path and the raw query of an absolute URL, as Python's `urlsplit` gives them.
fn path_and_query(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let rest = rest.find('/').map_or("", |at| &rest[at..]);
    rest.split_once('?').unwrap_or((rest, ""))
}

/// A formatted exception, in the shape of a Python traceback.
fn traceback(kind: &str, message: &str, function: &str) -> String {
    format!(
        "Traceback (most recent call last):\n  File \"tests/guests/reference-worker/src/worker.rs\", line {}, in {function}\n{kind}: {message}\n",
        line!()
    )
}

fn empty(status: u16) -> Response {
    Response { status, headers: Vec::new(), body: Vec::new() }
}

/// The request's headers as the echo answers them. WRONG: a repeated name keeps only its last value.
fn echoed(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    if !WRONG {
        return headers;
    }
    let mut seen: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        match seen.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = value,
            None => seen.push((name, value)),
        }
    }
    seen
}

/// The request's body as the echo answers it. WRONG: it ends at the first NUL, as a C string would.
fn echoed_body(mut body: Vec<u8>) -> Vec<u8> {
    if WRONG {
        if let Some(nul) = body.iter().position(|&b| b == 0) {
            body.truncate(nul);
        }
    }
    body
}

struct Reference;

impl entrypoint::Guest for Reference {
    fn handlers() -> Vec<String> {
        match worker().as_str() {
            "echo" => vec!["fetch".into(), "scheduled".into(), "queue".into()],
            _ => vec!["fetch".into()],
        }
    }

    fn fetch(request: Request) -> Result<Response, HandlerError> {
        if worker() != "echo" {
            return Ok(Response { status: 200, headers: Vec::new(), body: b"fetch-only".to_vec() });
        }
        let (path, query) = path_and_query(&request.url);
        if let Some(code) = path.strip_prefix("/status/") {
            return match code.parse::<u16>() {
                Ok(status) if (200..=599).contains(&status) => Ok(empty(status)),
                _ => Err(HandlerError::Exception(traceback("ValueError", &format!("bad status {code:?}"), "fetch"))),
            };
        }
        if path == "/raise" {
            return Err(HandlerError::Exception(traceback("RuntimeError", &format!("raised on purpose: {query}"), "fetch")));
        }
        if path == "/events" {
            let body = EVENTS.with(|events| format!("[{}]", events.borrow().join(", ")));
            return Ok(Response { status: 200, headers: Vec::new(), body: body.into_bytes() });
        }
        let mut headers = vec![("x-method".to_string(), request.method), ("x-url".to_string(), request.url)];
        headers.extend(echoed(request.headers));
        Ok(Response { status: 200, headers, body: echoed_body(request.body) })
    }

    fn scheduled(event: ScheduledEvent) -> Result<(), HandlerError> {
        if worker() != "echo" {
            return Err(HandlerError::NotDefined("on_scheduled".into()));
        }
        let json = format!(
            "{{\"type\": \"scheduled\", \"cron\": {}, \"scheduled_time\": {}}}",
            json_string(&event.cron),
            event.scheduled_time
        );
        EVENTS.with(|events| events.borrow_mut().push(json));
        Ok(())
    }

    fn queue(batch: MessageBatch) -> Result<(), HandlerError> {
        if worker() != "echo" {
            return Err(HandlerError::NotDefined("on_queue".into()));
        }
        let mut messages = Vec::new();
        for message in batch.messages {
            // Bodies are JSON text: embedded as they are, which is the value they parse to.
            let Ok(body) = String::from_utf8(message.body) else {
                return Err(HandlerError::Exception(traceback("UnicodeDecodeError", "a message body is not UTF-8", "queue")));
            };
            messages.push(format!(
                "{{\"id\": {}, \"timestamp\": {}, \"body\": {body}, \"attempts\": {}}}",
                json_string(&message.id),
                message.timestamp,
                message.attempts
            ));
        }
        let json = format!(
            "{{\"type\": \"queue\", \"queue\": {}, \"messages\": [{}]}}",
            json_string(&batch.queue),
            messages.join(", ")
        );
        EVENTS.with(|events| events.borrow_mut().push(json));
        Ok(())
    }
}

impl snapshot::Guest for Reference {
    /// Nothing to import; `draws-at-import`'s module would draw from `random` while a dedicated snapshot imports it,
    /// so that preparation is refused as the native one refuses it.
    fn prepare(kind: Kind) -> Result<(), String> {
        match (worker().as_str(), kind) {
            ("draws-at-import", Kind::Dedicated) => Err(
                "worker code drew from `random` at import time; every instance restored from this snapshot would \
                 share those values"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    fn restored() -> Result<(), String> {
        Ok(())
    }
}

export!(Reference);
