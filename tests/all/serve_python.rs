//! `pyworkers serve` with Python workers, end to end: a real `pyworkers serve` process per configuration, a real
//! HTTP client, and real files — each example under `examples/`, and a test worker (written below, [`TEST_WORKER`])
//! that misbehaves on purpose: exceptions, an endless loop, a memory bomb, slow requests, state, `ctx.wait_until`.
//!
//! Server starts are the expensive part (a process, and a snapshot made or found), so each test starts one server
//! per configuration and runs several checks against it.

use crate::serve::{client, get, runtime, send, text, Server, TestClient};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The worker the fault and limit tests serve. Every route is one check's counterpart:
///
/// - `/echo`: the body back as it came, `x-seen` = the request's `x-multi` values joined, and one `x-multi-out`
///   header per value, plus two `set-cookie`s;
/// - `/unicode/...`: JSON of the decoded path, query and body text;
/// - `/raise`: an exception; `/spin`: a loop that never ends; `/bomb`: allocates until memory runs out;
/// - `/count`: a module-level counter, and a token naming the instance (drawn on its first request);
/// - `/env`: `self.env.GREETING`;
/// - `/later?key=K`: `ctx.wait_until` work that records K 600 ms after the response; `/done?key=K` says if it did;
/// - `/sleep?ms=N`: answers after `asyncio.sleep`.
const TEST_WORKER: &str = r#"
import asyncio
import json
import os
from urllib.parse import parse_qs, unquote, urlsplit

from workers import Response, WorkerEntrypoint

count = 0
token = None
recorded = set()


async def record_later(key):
    await asyncio.sleep(0.6)
    recorded.add(key)


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        global count, token
        url = urlsplit(request.url)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path
        if path == "/echo":
            values = request.headers.getall("x-multi")
            headers = [("content-type", "application/octet-stream"), ("x-seen", ",".join(values))]
            headers += [("x-multi-out", v) for v in values]
            headers += [("set-cookie", "a=1"), ("set-cookie", "b=2")]
            return Response(await request.bytes(), headers=headers)
        if path.startswith("/unicode/"):
            data = {"path": unquote(path), "query": query, "body": await request.text()}
            return Response(json.dumps(data, ensure_ascii=False), headers={"content-type": "application/json"})
        if path == "/raise":
            raise ValueError("deliberate failure")
        if path == "/spin":
            while True:
                pass
        if path == "/bomb":
            hoard = []
            while True:
                hoard.append(bytearray(4 << 20))
        if path == "/count":
            if token is None:
                token = os.urandom(8).hex()
            count += 1
            return Response.json({"count": count, "instance": token})
        if path == "/env":
            return Response(str(self.env.GREETING))
        if path == "/later":
            self.ctx.wait_until(record_later(query["key"]))
            return Response("later")
        if path == "/done":
            return Response.json(query["key"] in recorded)
        if path == "/sleep":
            await asyncio.sleep(int(query["ms"]) / 1000)
            return Response("slept")
        return Response("no such route", status=404)
"#;

// ---- helpers -----------------------------------------------------------------------------------------------------

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

/// Serve `path` once the shared cache is prepared (so no server prepares Pyodide itself).
fn serve(path: &Path, args: &[&str]) -> Server {
    crate::support::home();
    Server::serve(path, args)
}

/// A directory holding `main.py` with `source`; kept alive as long as the returned guard.
fn worker_dir(source: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.py"), source).unwrap();
    dir
}

/// What a response is made of.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn text(&self) -> String {
        text(&self.body)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn all(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.as_bytes())
            .collect()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }
}

async fn exchange(client: &TestClient, request: http::Request<Full<Bytes>>) -> Reply {
    let response = client.request(request).await.expect("sending the request");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

/// One request on a fresh client, with optional headers and body.
fn call(method: &str, url: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Reply {
    let mut builder = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    runtime().block_on(exchange(&client(), request))
}

fn get_reply(url: &str) -> Reply {
    call("GET", url, &[], b"")
}

/// The server's log must show exactly one line containing `needle` within 5 s.
fn one_line_with(server: &Server, needle: &str) -> String {
    let log = server.wait_for_log(needle);
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(needle)).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line with {needle:?} in:\n{log}"
    );
    lines[0].to_string()
}

// ---- examples ----------------------------------------------------------------------------------------------------

#[test]
fn hello_example_greets() {
    let server = serve(&example("hello"), &[]);
    let reply = get_reply(&server.url("/"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "hello world");
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain;charset=UTF-8")
    );
}

#[test]
fn json_api_example_routes_methods_statuses_and_headers() {
    // One instance, so the notes created by one request are there for the next.
    let server = serve(&example("json-api"), &["--instances", "1"]);
    let index = get_reply(&server.url("/"));
    assert_eq!(index.status, 200);
    assert_eq!(index.header("content-type"), Some("application/json"));
    assert_eq!(index.header("x-api-version"), Some("1"));
    // Vars from wrangler.jsonc, a string and a number.
    assert_eq!(index.json()["api"], "notes");
    assert_eq!(index.json()["version"], "1");

    let created = call("POST", &server.url("/notes"), &[], br#"{"text": "first"}"#);
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(
        created.json(),
        serde_json::json!({"id": 1, "text": "first"})
    );
    assert_eq!(created.header("location"), Some("/notes/1"));
    let second = call(
        "POST",
        &server.url("/notes"),
        &[],
        "{\"text\": \"zwei \u{e9}\"}".as_bytes(),
    );
    assert_eq!(second.status, 201);

    let list = get_reply(&server.url("/notes"));
    assert_eq!(
        list.json(),
        serde_json::json!({"notes": [{"id": 1, "text": "first"}, {"id": 2, "text": "zwei \u{e9}"}]})
    );
    assert_eq!(
        get_reply(&server.url("/notes/2")).json()["text"],
        "zwei \u{e9}"
    );

    let bad = call("POST", &server.url("/notes"), &[], b"not json");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"], "the body must be JSON");

    let deleted = call("DELETE", &server.url("/notes/1"), &[], b"");
    assert_eq!(deleted.status, 200);
    let gone = get_reply(&server.url("/notes/1"));
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["error"], "no note 1");
    assert_eq!(get_reply(&server.url("/nowhere")).status, 404);

    let not_allowed = call("PUT", &server.url("/notes"), &[], b"{}");
    assert_eq!(not_allowed.status, 405);
    assert_eq!(not_allowed.header("allow"), Some("GET, POST"));

    let tags = call(
        "GET",
        &server.url("/tags"),
        &[("x-tag", b"a"), ("x-tag", b"b c")],
        b"",
    );
    assert_eq!(tags.json(), serde_json::json!({"tags": ["a", "b c"]}));
    assert_eq!(tags.all("x-tag"), [&b"a"[..], b"b c"]);
    // No unsupported keys in this project, so no warning.
    assert!(!server.log().contains("warning"), "{}", server.log());
}

#[test]
fn fetch_example_reaches_an_allowed_upstream_both_ways_and_is_refused_without_the_flag() {
    let rt = runtime();
    let upstream = rt.block_on(start_upstream());
    let var = format!("UPSTREAM=http://{upstream}");

    let allowed = serve(
        &example("fetch"),
        &["--var", &var, "--allow-host", "127.0.0.1"],
    );
    for (route, via) in [("/async", "workers.fetch"), ("/sync", "urllib.request")] {
        let reply = get_reply(&allowed.url(&format!("{route}?path=/data/%C3%A9")));
        assert_eq!(reply.status, 200, "{route}: {}", reply.text());
        assert_eq!(
            reply.json(),
            serde_json::json!({
                "via": via,
                "status": 200,
                "body": "upstream saw GET /data/%C3%A9 x-from=pyworkers",
            }),
            "{route}"
        );
    }
    // An upstream error status is an answer, not a failure.
    let missing = get_reply(&allowed.url("/sync?path=/missing"));
    assert_eq!(missing.json()["status"], 404);

    let denied = serve(&example("fetch"), &["--var", &var]);
    for route in ["/async", "/sync"] {
        let reply = get_reply(&denied.url(&format!("{route}?path=/data")));
        assert_eq!(reply.status, 403, "{route}: {}", reply.text());
        assert_eq!(
            reply.text(),
            format!(
                "outbound request refused: outbound request to {upstream} denied: allow it with --allow-host 127.0.0.1"
            ),
            "{route}"
        );
    }
}

/// A local upstream: answers `upstream saw METHOD PATH x-from=VALUE`, or 404 for `/missing`.
async fn start_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(
                |req: http::Request<hyper::body::Incoming>| async move {
                    let from = req
                        .headers()
                        .get("x-from")
                        .map(|v| v.to_str().unwrap_or("?").to_string())
                        .unwrap_or_default();
                    let status = if req.uri().path() == "/missing" {
                        404
                    } else {
                        200
                    };
                    let body = format!(
                        "upstream saw {} {} x-from={from}",
                        req.method(),
                        req.uri().path()
                    );
                    Ok::<_, std::convert::Infallible>(
                        http::Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::from(body)))
                            .unwrap(),
                    )
                },
            );
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    addr
}

#[test]
fn scheduled_example_runs_on_the_test_route_and_fetch_reports_it() {
    let server = serve(
        &example("scheduled"),
        &["--test-scheduled", "--instances", "1"],
    );
    assert_eq!(
        get_reply(&server.url("/")).json(),
        serde_json::json!({"runs": []})
    );
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64;
    let fired = get_reply(&server.url("/__scheduled?cron=*/5+*+*+*+*"));
    assert_eq!(fired.status, 200, "{}", fired.text());
    assert_eq!(fired.text().trim_end(), "Ran scheduled event");
    let runs = get_reply(&server.url("/")).json();
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["cron"], "*/5 * * * *");
    let at = runs[0]["scheduled_time"].as_f64().unwrap();
    assert!(
        (at - before).abs() < 60_000.0,
        "scheduled_time {at} vs now {before}"
    );
}

#[test]
fn asgi_example_serves_its_app_with_env_and_lifespan_state() {
    let server = serve(&example("asgi"), &["--var", "GREETING=bonjour"]);
    let index = get_reply(&server.url("/"));
    assert_eq!(index.status, 200);
    assert_eq!(index.text(), "bonjour from ASGI (started: true)");
    let body = [0u8, 159, 146, 150, 255];
    let echo = call(
        "POST",
        &server.url("/echo"),
        &[("content-type", b"application/x-demo")],
        &body,
    );
    assert_eq!(echo.status, 200);
    assert_eq!(&echo.body[..], &body[..]);
    assert_eq!(echo.header("content-type"), Some("application/x-demo"));
    assert_eq!(echo.header("x-path"), Some("/echo"));
    let missing = get_reply(&server.url("/nothing"));
    assert_eq!(missing.status, 404);
    assert_eq!(missing.text(), "not found: /nothing");
}

#[test]
fn multi_module_example_imports_its_package() {
    let server = serve(&example("multi-module"), &[]);
    let index = get_reply(&server.url("/"));
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        index.text().contains("<h1>multi-module</h1>"),
        "{}",
        index.text()
    );
    let hello = get_reply(&server.url("/hello/%3Cb%3EAda"));
    assert!(
        hello.text().ends_with("<p>Hello, &lt;b&gt;Ada!</p>"),
        "{}",
        hello.text()
    );
    assert_eq!(
        get_reply(&server.url("/modules")).json(),
        serde_json::json!({"modules": ["app", "app.render", "app.routes", "main"]})
    );
}

// ---- the test worker: messages, limits, faults -------------------------------------------------------------------

#[test]
fn messages_limits_and_faults_with_recovery_after_each() {
    let dir = worker_dir(TEST_WORKER);
    // One instance, so state and wait_until work are observable by the next request.
    let server = serve(
        dir.path(),
        &[
            "--instances",
            "1",
            "--timeout",
            "1s",
            "--max-memory",
            "64MiB",
            "--max-body",
            "4096",
            "--var",
            "GREETING=hi from --var",
        ],
    );
    let ok = |what: &str| {
        let reply = get_reply(&server.url("/env"));
        assert_eq!(reply.status, 200, "after {what}: {}", reply.text());
        assert_eq!(reply.text(), "hi from --var", "after {what}");
    };
    ok("start");

    // Repeated headers in and out; a binary body exactly at --max-body round-trips byte for byte.
    let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let echo = call(
        "POST",
        &server.url("/echo"),
        &[
            ("x-multi", b"one"),
            ("x-multi", b"two"),
            ("x-multi", b"three"),
        ],
        &binary,
    );
    assert_eq!(echo.status, 200, "{}", echo.text());
    assert!(
        echo.body[..] == binary[..],
        "the binary body came back changed"
    );
    assert_eq!(echo.header("x-seen"), Some("one,two,three"));
    assert_eq!(echo.all("x-multi-out"), [&b"one"[..], b"two", b"three"]);
    assert_eq!(echo.all("set-cookie"), [&b"a=1"[..], b"b=2"]);
    // One byte beyond is refused before the worker sees it.
    let refused = call("POST", &server.url("/echo"), &[], &vec![b'x'; 4097]);
    assert_eq!(refused.status, 413);
    assert!(refused.text().contains("--max-body"), "{}", refused.text());
    // A body that is not UTF-8 is bytes all the same.
    let latin = b"caf\xe9 \xff\xfe\x00 \x80";
    let echo = call("PUT", &server.url("/echo"), &[], latin);
    assert_eq!(&echo.body[..], &latin[..]);

    // Unicode in the path, the query and the body.
    let reply = call(
        "POST",
        &server.url("/unicode/caf%C3%A9/%E2%9C%93?q=%E6%97%A5%E6%9C%AC&snake=%F0%9F%90%8D"),
        &[("content-type", b"text/plain; charset=utf-8")],
        "h\u{e9}llo w\u{f6}rld \u{1f40d}".as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        serde_json::json!({
            "path": "/unicode/caf\u{e9}/\u{2713}",
            "query": {"q": "\u{65e5}\u{672c}", "snake": "\u{1f40d}"},
            "body": "h\u{e9}llo w\u{f6}rld \u{1f40d}",
        })
    );

    // State is kept across requests by default: the counter goes up.
    let counts: Vec<u64> = (0..3)
        .map(|_| {
            get_reply(&server.url("/count")).json()["count"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(counts, [counts[0], counts[0] + 1, counts[0] + 2]);

    // wait_until work runs after the response: the response does not wait the 600 ms the work takes, and a later
    // request sees what the work did.
    let start = Instant::now();
    let later = get_reply(&server.url("/later?key=k1"));
    assert_eq!(later.text(), "later");
    assert!(
        start.elapsed() < Duration::from_millis(600),
        "the response waited for wait_until work: {:?}",
        start.elapsed()
    );
    assert_eq!(get_reply(&server.url("/done?key=k1")).json(), true);
    assert_eq!(get_reply(&server.url("/done?key=k2")).json(), false);

    // An exception: 500 with a one-line body, the traceback in the log, then business as usual.
    let failed = get_reply(&server.url("/raise"));
    assert_eq!(failed.status, 500);
    assert_eq!(
        failed.text().trim_end().lines().count(),
        1,
        "{:?}",
        failed.text()
    );
    assert!(
        failed.text().contains("ValueError: deliberate failure"),
        "{}",
        failed.text()
    );
    let log = server.wait_for_log("Traceback");
    assert!(log.contains("Traceback (most recent call last)"), "{log}");
    ok("an exception");

    // An endless loop is stopped at the deadline.
    let start = Instant::now();
    let spun = get_reply(&server.url("/spin"));
    let took = start.elapsed();
    assert_eq!(spun.status, 503, "{}", spun.text());
    assert!(spun.text().contains("--timeout"), "{}", spun.text());
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "answered after {took:?}"
    );
    ok("an endless loop");
    // Its instance was discarded: the counter starts again in the new one.
    assert_eq!(get_reply(&server.url("/count")).json()["count"], 1);

    // A memory bomb hits --max-memory and is contained.
    let bombed = get_reply(&server.url("/bomb"));
    assert_eq!(bombed.status, 500, "{}", bombed.text());
    assert_eq!(
        bombed.text().trim_end().lines().count(),
        1,
        "{:?}",
        bombed.text()
    );
    // Python sees the cap as MemoryError; had the guest trapped instead, its instance would have been discarded.
    assert!(
        bombed.text().contains("MemoryError") || bombed.text().contains("discarded"),
        "{}",
        bombed.text()
    );
    ok("a memory bomb");
    let echo = call("POST", &server.url("/echo"), &[], b"still fine");
    assert_eq!(&echo.body[..], b"still fine");
}

#[test]
fn load_state_per_instance_and_sigterm_drains() {
    let dir = worker_dir(TEST_WORKER);
    let mut server = serve(dir.path(), &[]);
    let rt = runtime();
    let client = client();

    // 2,000 sequential requests on one connection; each instance's counter goes up by one per request it serves.
    let url = server.url("/count");
    let mut last = std::collections::HashMap::<String, u64>::new();
    rt.block_on(async {
        for i in 0..2000 {
            let (status, body) = send(&client, "GET", &url, Vec::new()).await;
            assert_eq!(status, 200, "request {i}: {}", text(&body));
            let reply: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let instance = reply["instance"].as_str().unwrap().to_string();
            let count = reply["count"].as_u64().unwrap();
            let previous = last.insert(instance, count).unwrap_or(0);
            assert_eq!(
                count,
                previous + 1,
                "request {i}: state lost or shared: {reply}"
            );
        }
    });
    assert!(
        last.values().any(|&n| n > 1),
        "no instance served twice: {last:?}"
    );

    // 64 at once, half of them waiting in asyncio.sleep while the rest run.
    let replies = rt.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let client = client.clone();
                let url = if i % 2 == 0 {
                    server.url("/sleep?ms=50")
                } else {
                    server.url(&format!("/echo?n={i}"))
                };
                tokio::spawn(async move {
                    send(&client, "POST", &url, format!("body {i}").into_bytes()).await
                })
            })
            .collect();
        let mut replies = Vec::new();
        for task in tasks {
            replies.push(task.await.unwrap());
        }
        replies
    });
    for (i, (status, body)) in replies.iter().enumerate() {
        assert_eq!(*status, 200, "request {i}: {}", text(body));
        let expected = if i % 2 == 0 {
            "slept".to_string()
        } else {
            format!("body {i}")
        };
        assert_eq!(text(body), expected, "request {i}");
    }

    // SIGTERM while a request sleeps: it is answered, then the server exits 0.
    let url = server.url("/sleep?ms=1500");
    let in_flight = std::thread::spawn(move || get(&url));
    std::thread::sleep(Duration::from_millis(400));
    server.sigterm();
    let (status, body) = in_flight.join().unwrap();
    assert_eq!((status, text(&body).as_str()), (200, "slept"));
    let exit = server.wait(Duration::from_secs(6));
    assert!(
        exit.is_some_and(|s| s.success()),
        "exit: {exit:?}; log:\n{}",
        server.log()
    );
}

#[test]
fn a_fresh_instance_per_request_keeps_no_state() {
    let dir = worker_dir(TEST_WORKER);
    let server = serve(dir.path(), &["--max-requests-per-instance", "1"]);
    let mut instances = std::collections::HashSet::new();
    for i in 0..12 {
        let reply = get_reply(&server.url("/count"));
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["count"], 1, "request {i}");
        instances.insert(reply.json()["instance"].as_str().unwrap().to_string());
    }
    assert_eq!(instances.len(), 12, "an instance served twice");
}

// ---- projects: configuration, the snapshot cache, --watch ---------------------------------------------------------

/// A worker answering `version` to every request.
fn versioned(version: &str) -> String {
    format!(
        "from workers import Response, WorkerEntrypoint\n\n\nclass Default(WorkerEntrypoint):\n    \
         async def fetch(self, request):\n        return Response({version:?})\n"
    )
}

#[test]
fn unsupported_config_keys_warn_once_and_an_unchanged_worker_is_found_in_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    // Unique content, so the first start has to make the snapshot.
    let nonce = format!("{:?}-{}", Instant::now(), std::process::id());
    std::fs::write(
        dir.path().join("src/entry.py"),
        format!("# {nonce}\n{}", versioned("configured")),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("wrangler.jsonc"),
        r#"{
            // Cloudflare bindings pyworkers does not have yet.
            "name": "configured",
            "main": "src/entry.py",
            "kv_namespaces": [{ "binding": "KV", "id": "x" }],
            "r2_buckets": [{ "binding": "R2", "bucket_name": "x" }],
            "services": [{ "binding": "AUTH", "service": "auth" }],
        }"#,
    )
    .unwrap();
    for (run, found) in [(1, "snapshot made"), (2, "snapshot found in the cache")] {
        let mut server = serve(dir.path(), &[]);
        let reply = get_reply(&server.url("/"));
        assert_eq!(reply.text(), "configured", "run {run}");
        let warning = one_line_with(&server, "warning");
        assert!(
            warning.ends_with("r2_buckets, services") && warning.contains("wrangler.jsonc"),
            "run {run}: {warning}"
        );
        let line = one_line_with(&server, "worker configured");
        assert!(line.contains(found), "run {run}: {line}");
        server.sigterm();
        assert!(server
            .wait(Duration::from_secs(6))
            .is_some_and(|s| s.success()));
    }
}

#[test]
fn watch_switches_to_an_edited_worker_without_failing_a_request() {
    let dir = worker_dir(&versioned("v1"));
    let server = serve(dir.path(), &["--watch"]);
    assert_eq!(get_reply(&server.url("/")).text(), "v1");
    let url = server.url("/");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A client that keeps asking throughout the change.
    let hammer = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let rt = runtime();
            let client = client();
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                seen.push(rt.block_on(send(&client, "GET", &url, Vec::new())));
                std::thread::sleep(Duration::from_millis(5));
            }
            seen
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    // Replace the file whole, as editors do, so the watcher never reads half of it.
    let edited = dir.path().join("main.py.new");
    std::fs::write(&edited, versioned("v2")).unwrap();
    std::fs::rename(&edited, dir.path().join("main.py")).unwrap();
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until && get_reply(&server.url("/")).text() != "v2" {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = hammer.join().unwrap();
    let failed: Vec<_> = seen.iter().filter(|(status, _)| *status != 200).collect();
    assert!(failed.is_empty(), "failed during the change: {failed:?}");
    assert!(seen.iter().all(|(_, body)| body == "v1" || body == "v2"));
    assert_eq!(
        seen.last().map(|(_, body)| text(body)).as_deref(),
        Some("v2"),
        "the change never showed; log:\n{}",
        server.log()
    );
    assert!(
        server.log().contains("worker changed: new snapshot"),
        "{}",
        server.log()
    );
}
