//! A Python worker's typed face: `wasi:http/incoming-handler` over the raw `pyworkers:runtime/reactor` that a
//! worker's Pyodide component exports (`pyworkers component --worker`). `wac plug` this component with that one
//! and the result is a `wasi:http/proxy` component that `pyworkers serve` and stock `wasmtime serve` serve.
//!
//! Each request becomes one `fetch` event and the reactor is stepped until the worker answers it, as the native
//! host's `Entrypoint::fetch` does, over the same frames (`host/python/_pyworkers/entrypoint.py`) and the same
//! marshaller (`crates/marshal`). This adapter speaks the part of the protocol a component can serve today:
//!
//! - the instance is configured on its first request: `vars` are the environment variables the server gives
//!   (`wasmtime serve --env NAME=VALUE`), as strings; no bindings; not a Durable Object;
//! - outbound `fetch` and Durable Object calls are answered as denied (no network or objects in the component);
//! - the worker's timers (`asyncio.sleep`) are waited out with `wasi:clocks`;
//! - a handler that raises is a 500 whose body names the exception's last line, the traceback going to stderr,
//!   worded as `pyworkers serve` words it.

use pyworkers::runtime::reactor;
use pyworkers_marshal::{dumps, loads, Value};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use wasip2::http::types::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam, Scheme};

wit_bindgen::generate!({
    inline: "
        package pyworkers:worker-adapter;
        world worker-adapter {
            import pyworkers:runtime/reactor@0.1.0;
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

/// A finished answer: status, headers, body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

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

/// The worker's answer to `request`, or a status and a line saying why there is none.
fn serve(request: &IncomingRequest) -> Result<Answer, (u16, String)> {
    let internal = |line: String| (500, line);
    configure().map_err(internal)?;
    let body = read_body(request)?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let headers = request
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), String::from_utf8_lossy(&value).into_owned()))
        .collect::<Vec<_>>();
    let event = Value::Tuple(vec![
        Value::str("fetch"),
        Value::Int(id as i64),
        Value::str(method(request.method())),
        Value::str(url(request)),
        header_list(&headers),
        Value::Bytes(body),
    ]);
    let mut inbox = vec![event];
    loop {
        let outbox = invoke("step", &Value::List(std::mem::take(&mut inbox))).map_err(internal)?;
        let [events, next_timer, _background] = outbox.as_seq("step's answer").map_err(|e| internal(e.to_string()))? else {
            return Err(internal("step answered something other than (outbox, next_timer, background)".into()));
        };
        for event in events.as_seq("outbox").map_err(|e| internal(e.to_string()))? {
            if let Some(answer) = handle(event, id, &mut inbox).map_err(|e| internal(format!("reading the worker's outbox: {e}")))? {
                return answer;
            }
        }
        if inbox.is_empty() {
            match next_timer {
                Value::Float(s) if s.is_finite() && *s >= 0.0 => sleep(*s),
                Value::Int(s) if *s >= 0 => sleep(*s as f64),
                _ => return Err(internal("the worker is waiting for nothing and never answered".into())),
            }
        }
    }
}

/// Act on one outbox event: the request's answer, if it is that; an answer to push for an outbound call.
fn handle(event: &Value, id: u64, inbox: &mut Vec<Value>) -> anyhow::Result<Option<Result<Answer, (u16, String)>>> {
    let items = event.as_seq("outbox event")?;
    let at = |i: usize| items.get(i).ok_or_else(|| anyhow::Error::msg("outbox event too short"));
    let ours = |i: usize| -> anyhow::Result<bool> { Ok(at(i)?.as_int("event id")? == id as i64) };
    match at(0)?.as_str("event kind")? {
        "response" if ours(1)? => {
            let status = u16::try_from(at(2)?.as_int("status")?).unwrap_or(0);
            let headers = at(3)?
                .as_seq("headers")?
                .iter()
                .map(|pair| match pair.as_seq("header")? {
                    [k, v] => Ok((k.as_str("header name")?.to_string(), v.as_str("header value")?.to_string())),
                    _ => Err(anyhow::Error::msg("a header is not a (name, value) pair")),
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(Some(Ok((status, headers, at(4)?.as_bytes("body")?.to_vec()))))
        }
        "error" if ours(1)? => {
            let text = at(3)?.as_str("error text")?;
            Ok(Some(Err(match at(2)?.as_str("error kind")? {
                "not-defined" => (500, format!("the worker defines no handler for this event (looked for {text})")),
                _ => {
                    eprintln!("{}", text.trim_end());
                    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("exception");
                    (500, format!("the worker raised an exception: {}", last.trim()))
                }
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

fn header_list(headers: &[(String, String)]) -> Value {
    Value::List(headers.iter().map(|(k, v)| Value::Tuple(vec![Value::str(k.clone()), Value::str(v.clone())])).collect())
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
