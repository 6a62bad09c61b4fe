//! A worker whose file system and randomness are other components' exports. It embeds its bundle as a tar archive
//! (`build.rs`) and hands it to the imported `tarfs`; every random byte it shows comes from the imported `entropy`.
//! So plugging in a different `entropy` component changes `/random` and nothing else.
//!
//! - `/` answers `hello from a composed worker`.
//! - `/file/PATH` answers the bundle's file at PATH (200), or `404 not-found` (the `tarfs` error code's name).
//! - `/dir/PATH` answers the directory's entries, one `KIND NAME` per line.
//! - `/random?n=N` switches the source to live (`reseed`, as a restored instance does before serving), then answers
//!   `mode=MODE bytes=HEX` with N bytes (at most 1024).
//! - `/count` answers how many requests this instance has served, this one included: 1 unless the server reuses
//!   instances. `/trap` counts, then traps.

use pyworkers::runtime::entropy::{self, Mode};
use pyworkers::runtime::tarfs::{Archive, EntryKind, ErrorCode};
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use wasip2::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

wit_bindgen::generate!({
    inline: "
        package pyworkers-test:composed-worker;
        world composed-worker {
            import pyworkers:runtime/tarfs@0.1.0;
            import pyworkers:runtime/entropy@0.1.0;
        }
    ",
    path: "../../../wit",
    generate_all,
});

/// Requests this instance has served.
static SERVED: AtomicU32 = AtomicU32::new(0);

/// The worker's bundle.
static BUNDLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bundle.tar"));

struct Worker;

impl wasip2::exports::http::incoming_handler::Guest for Worker {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let served = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
        let target = request.path_with_query().unwrap_or_default();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let (status, body) = match path {
            "/count" => (200, format!("{served}\n")),
            "/trap" => panic!("trapping on purpose, after {served} requests"),
            _ => answer(path, query),
        };
        respond(out, status, body.as_bytes());
    }
}

wasip2::http::proxy::export!(Worker);

fn answer(path: &str, query: &str) -> (u16, String) {
    if path == "/" {
        return (200, "hello from a composed worker\n".into());
    }
    if let Some(file) = path.strip_prefix("/file/") {
        return match bundle().and_then(|a| read_file(&a, file)) {
            Ok(text) => (200, text),
            Err(code) => (404, format!("{}\n", code_name(code))),
        };
    }
    if let Some(dir) = path.strip_prefix("/dir") {
        return match bundle().and_then(|a| a.read_dir(dir)) {
            Ok(entries) => (200, entries.iter().map(|e| format!("{} {}\n", kind_name(e.kind), e.name)).collect()),
            Err(code) => (404, format!("{}\n", code_name(code))),
        };
    }
    if path == "/random" {
        let n = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("n="))
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(16)
            .min(1024);
        entropy::reseed();
        let mode = match entropy::current_mode() {
            Mode::Deterministic => "deterministic",
            Mode::Live => "live",
        };
        let bytes: String = entropy::fill(n).iter().map(|b| format!("{b:02x}")).collect();
        return (200, format!("mode={mode} bytes={bytes}\n"));
    }
    (404, "no such route\n".into())
}

fn bundle() -> Result<Archive, ErrorCode> {
    Archive::open(BUNDLE)
}

fn read_file(archive: &Archive, path: &str) -> Result<String, ErrorCode> {
    let size = archive.stat(path)?.size;
    let bytes = archive.read(path, 0, size)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn code_name(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::NotFound => "not-found",
        ErrorCode::NotADirectory => "not-a-directory",
        ErrorCode::IsADirectory => "is-a-directory",
        ErrorCode::EscapesRoot => "escapes-root",
        ErrorCode::TooManyLinks => "too-many-links",
        ErrorCode::InvalidPath => "invalid-path",
        ErrorCode::InvalidArchive => "invalid-archive",
    }
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Directory => "directory",
        EntryKind::Symlink => "symlink",
    }
}

fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::new();
    headers.append("content-type", b"text/plain; charset=utf-8").unwrap();
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
