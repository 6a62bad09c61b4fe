//! A `wasi:http/proxy` guest for the `serve` tests. Every path answers `hello from a component`, then the request
//! method and path, then the request body verbatim, except:
//! - `/spin` never returns (the deadline must stop it),
//! - `/bomb` allocates until memory runs out (the memory cap must stop it),
//! - `/sleep?ms=N` waits N milliseconds on the host clock first (for draining on shutdown),
//! - `/log` prints a line to stdout and one to stderr first (they belong in the server log, prefixed),
//! - `/fetch?url=U` makes an outgoing GET to U and answers its status, or the error code.

use std::io::{Read, Write};
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};

struct Hello;

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let method = method_name(&request.method());
        let path_with_query = request.path_with_query().unwrap_or_default();
        let (path, query) = match path_with_query.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (path_with_query.clone(), String::new()),
        };
        let body = read_body(&request);
        let mut answer = format!("hello from a component\n{method} {path}\n").into_bytes();
        match path.as_str() {
            "/spin" => spin(),
            "/bomb" => bomb(),
            "/sleep" => {
                let ms: u64 = param(&query, "ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                wasip2::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
            }
            "/log" => {
                println!("a line on stdout");
                eprintln!("a line on stderr");
            }
            "/fetch" => {
                let url = param(&query, "url").unwrap_or_default();
                answer = fetch(&url).into_bytes();
            }
            _ => answer.extend_from_slice(&body),
        }
        respond(out, 200, &answer);
    }
}

wasip2::http::proxy::export!(Hello);

fn method_name(method: &Method) -> String {
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
        Method::Other(other) => other.clone(),
    }
}

fn param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn read_body(request: &IncomingRequest) -> Vec<u8> {
    let body = request.consume().expect("body consumed once");
    let mut bytes = Vec::new();
    {
        let mut stream = body.stream().expect("stream taken once");
        stream
            .read_to_end(&mut bytes)
            .expect("reading the request body");
    }
    bytes
}

fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::new();
    headers
        .append("content-type", b"application/octet-stream")
        .unwrap();
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).unwrap();
    let outgoing = response.body().unwrap();
    ResponseOutparam::set(out, Ok(response));
    {
        let mut stream = outgoing.write().unwrap();
        stream.write_all(body).unwrap();
        stream.flush().unwrap();
    }
    OutgoingBody::finish(outgoing, None).unwrap();
}

#[allow(clippy::empty_loop)]
fn spin() -> ! {
    loop {}
}

fn bomb() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Filled with ones, so every page is really touched.
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

/// An outgoing GET; answers `status N` or `error E`.
fn fetch(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some(("https", rest)) => (Scheme::Https, rest),
        Some((_, rest)) => (Scheme::Http, rest),
        None => return "error bad url".into(),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    request.set_scheme(Some(&scheme)).unwrap();
    request.set_authority(Some(authority)).unwrap();
    request.set_path_with_query(Some(path)).unwrap();
    OutgoingBody::finish(request.body().unwrap(), None).unwrap();
    let pending = match wasip2::http::outgoing_handler::handle(request, None) {
        Ok(pending) => pending,
        Err(e) => return format!("error {e:?}"),
    };
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(Ok(response))) => format!("status {}", response.status()),
        Some(Ok(Err(e))) => format!("error {e:?}"),
        other => format!("error {other:?}"),
    }
}
