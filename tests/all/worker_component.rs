//! Python workers as components: `pyworkers component --worker` builds the Pyodide component holding a worker
//! (exporting `pyworkers:runtime/reactor`), the real `wac plug` puts the worker adapter (`guest-adapters/worker`,
//! exporting `wasi:http/incoming-handler`) on it, and the composed file must answer as the native server answers
//! the same worker — under `pyworkers serve` and under stock `wasmtime serve -W exceptions=y,gc=y -Scli`.

use crate::compose::{adapter, plugged, Wasmtime};
use crate::serve::{client, runtime, send, text, Server};
use crate::support::{pyworkers, repo};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What stock `wasmtime serve` needs for the Pyodide component: Pyodide's exception handling, and a pooling
/// allocator with room for Pyodide's three tables (`-Scli`, for its stdio, environment and exit, is added by
/// [`Wasmtime::serve_with`]).
const WASMTIME_FLAGS: &[&str] = &[
    "-W",
    "exceptions=y,gc=y",
    "-O",
    "pooling-max-tables-per-module=3,pooling-table-elements=65536,pooling-max-core-instance-size=4194304",
];

/// A worker that exercises what a component can do and what it refuses.
const PROBE: &str = r#"
import asyncio, os, random
from workers import Response, WorkerEntrypoint, fetch

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = request.url.split("/", 3)[3].split("?")[0]
        if path == "raise":
            raise RuntimeError("raised on purpose")
        if path == "spin":
            while True:
                pass
        if path == "bomb":
            hoard = []
            while True:
                hoard.append(bytearray(8 << 20))
        if path == "sleep":
            await asyncio.sleep(0.05)
            return Response("slept")
        if path == "outbound":
            try:
                await fetch("http://example.invalid/")
            except PermissionError as e:
                return Response(f"denied: {e}", status=403)
            return Response("the fetch went out", status=500)
        if path == "env":
            return Response(f"{self.env.GREETING} {getattr(self.env, 'FROM_SERVER', '-')}")
        if path == "random":
            return Response(os.urandom(8).hex() + random.randbytes(8).hex())
        if path == "echo":
            body = await request.bytes()
            return Response(body, headers=[("x-method", request.method), ("x-seen", request.headers.get("x-probe", ""))])
        return Response("not found", status=404)
"#;

/// `pyworkers component --worker PATH -o NAME.wasm`, then `wac plug` the adapter onto it; once per name.
fn served(name: &str, path: &Path) -> PathBuf {
    served_with(name, path, None)
}

/// [`served`], with `entropy` (a component exporting `pyworkers:runtime/entropy`) plugged into the worker's
/// component first (`--import-entropy`): `wac plug` fills the imports of its first argument only, so it takes two.
fn served_with(name: &str, path: &Path, entropy: Option<PathBuf>) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<std::collections::HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    built
        .entry(name.to_string())
        .or_insert_with(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("worker-components");
            std::fs::create_dir_all(&dir).unwrap();
            let mut worker = dir.join(format!("{name}-pyodide.wasm"));
            let mut args = vec!["component", "--worker", path.to_str().unwrap(), "-o", worker.to_str().unwrap()];
            if entropy.is_some() {
                args.push("--import-entropy");
            }
            let out = pyworkers(&args, b"");
            assert!(out.status.success(), "pyworkers component --worker failed:\n{}", String::from_utf8_lossy(&out.stderr));
            if let Some(entropy) = entropy {
                worker = plugged(&format!("{name}-with-entropy"), &worker, &[entropy]);
            }
            plugged(&format!("{name}-served"), &adapter("worker_adapter.wasm"), &[worker])
        })
        .clone()
}

/// The probe worker's project directory, written once per test process.
fn probe_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("worker-components/probe");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.py"), PROBE).unwrap();
        std::fs::write(dir.join("wrangler.jsonc"), r#"{"name": "probe", "main": "main.py", "vars": {"GREETING": "hi"}}"#)
            .unwrap();
        dir
    })
    .clone()
}

fn probe() -> PathBuf {
    served("probe", &probe_dir())
}

/// (status, headers named in `keep`, body) of one request.
fn ask(url: &str, method: &str, headers: &[(&str, &str)], body: &[u8], keep: &[&str]) -> (u16, Vec<(String, String)>, String) {
    runtime().block_on(async {
        let mut request = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request.body(http_body_util::Full::new(bytes::Bytes::from(body.to_vec()))).unwrap();
        let response = client().request(request).await.expect("sending the request");
        let status = response.status().as_u16();
        let kept = response
            .headers()
            .iter()
            .filter(|(k, _)| keep.contains(&k.as_str()))
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_string()))
            .collect();
        let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
        (status, kept, text(&body))
    })
}

#[test]
fn the_worker_component_imports_only_wasi_and_exports_only_the_reactor() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("worker-components");
    std::fs::create_dir_all(&dir).unwrap();
    let out_path = dir.join("hello-interface.wasm");
    let hello = repo().join("examples/hello");
    let out = pyworkers(&["component", "--worker", hello.to_str().unwrap(), "-o", out_path.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("worker module `main`"), "{}", String::from_utf8_lossy(&out.stderr));
    let mut config = wasmtime::Config::new();
    config.wasm_exceptions(true).wasm_gc(true).wasm_function_references(true).wasm_multi_memory(true);
    let engine = wasmtime::Engine::new(&config).unwrap();
    let component = wasmtime::component::Component::from_file(&engine, &out_path).unwrap();
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(&engine).map(|(n, _)| n.to_string()).collect();
    let exports: Vec<String> = ty.exports(&engine).map(|(n, _)| n.to_string()).collect();
    assert!(imports.iter().all(|n| n.starts_with("wasi:")), "{imports:?}");
    assert_eq!(exports, [pyworkers::component::REACTOR_INTERFACE]);
}

#[test]
fn component_refuses_what_it_cannot_carry_yet() {
    let out = pyworkers(&["component", "--worker", repo().join("examples/kv-counter").to_str().unwrap(), "-o", "/dev/null"], b"");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("declares bindings"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = pyworkers(&["component", "--worker", repo().join("examples/fastapi").to_str().unwrap(), "-o", "/dev/null"], b"");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has Python packages"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = pyworkers(&["component", "--worker", "/nonexistent/worker", "-o", "/dev/null"], b"");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn hello_component_answers_under_pyworkers_serve_and_wasmtime_serve() {
    let served = served("hello", &repo().join("examples/hello"));
    let ours = Server::serve(&served, &[]);
    let stock = Wasmtime::serve_with(&served, WASMTIME_FLAGS);
    for url in [ours.url("/"), stock.url("/any/path?q=1")] {
        let (status, _, body) = ask(&url, "GET", &[], b"", &[]);
        assert_eq!((status, body.as_str()), (200, "hello world"), "{url}");
    }
}

/// The JSON example's answers that do not depend on earlier requests (`wasmtime serve` gives every request a
/// fresh instance), from the native server and from the composed component under both servers: all the same.
#[test]
fn json_example_answers_the_same_natively_and_as_a_component_under_both_servers() {
    let project = repo().join("examples/json-api");
    let served = served("json-api", &project);
    let native = Server::serve(&project, &[]);
    let ours = Server::serve(&served, &[]);
    let stock = Wasmtime::serve_with(&served, WASMTIME_FLAGS);
    let keep = ["content-type", "location", "allow", "x-tag", "x-api-version"];
    let requests: &[(&str, &str, &[(&str, &str)], &[u8])] = &[
        ("GET", "/", &[], b""),
        ("GET", "/notes", &[], b""),
        ("POST", "/notes", &[("content-type", "application/json")], br#"{"text": "hi"}"#),
        ("POST", "/notes", &[], b"not json"),
        ("GET", "/notes/7", &[], b""),
        ("PUT", "/notes", &[], b""),
        ("GET", "/tags", &[("x-tag", "a"), ("x-tag", "b")], b""),
        ("GET", "/nowhere", &[], b""),
    ];
    let answers = |url: &dyn Fn(&str) -> String| -> Vec<_> {
        requests.iter().map(|(method, path, headers, body)| ask(&url(path), method, headers, body, &keep)).collect()
    };
    let expected = answers(&|p| native.url(p));
    assert_eq!(expected[0].0, 200, "{:?}", expected[0]);
    assert!(expected[0].2.contains("\"api\": \"notes\""), "{:?}", expected[0]);
    assert_eq!(expected[2].0, 201, "{:?}", expected[2]);
    assert_eq!(answers(&|p| ours.url(p)), expected, "the component under pyworkers serve vs native");
    assert_eq!(answers(&|p| stock.url(p)), expected, "the component under wasmtime serve vs native");
}

#[test]
fn a_component_worker_raises_sleeps_reads_env_and_is_denied_the_network() {
    let served = probe();
    let ours = Server::serve_env(&served, &["--var", "FROM_SERVER=yes"], &[]);
    let stock = Wasmtime::serve_with(&served, &[WASMTIME_FLAGS, &["--env", "FROM_SERVER=yes"]].concat());
    for url in [ours.url(""), stock.url("")] {
        let at = |p: &str| format!("{url}{p}");
        let (status, _, body) = ask(&at("/raise"), "GET", &[], b"", &[]);
        assert_eq!(status, 500, "{body}");
        assert_eq!(body.trim(), "the worker raised an exception: RuntimeError: raised on purpose");
        assert_eq!(ask(&at("/sleep"), "GET", &[], b"", &[]).2, "slept");
        let (status, _, body) = ask(&at("/outbound"), "GET", &[], b"", &[]);
        assert_eq!(status, 403, "{body}");
        assert!(body.starts_with("denied: outbound HTTP is not available"), "{body}");
        assert_eq!(ask(&at("/env"), "GET", &[], b"", &[]).2, "hi yes", "the project's vars and the server's");
        let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let (status, headers, _) = ask(&at("/echo"), "PUT", &[("x-probe", "p")], &binary, &["x-method", "x-seen"]);
        assert_eq!(status, 200);
        assert_eq!(headers, [("x-method".to_string(), "PUT".to_string()), ("x-seen".to_string(), "p".to_string())]);
        let (status, body) = runtime().block_on(send(&client(), "POST", &at("/echo"), binary.clone()));
        assert_eq!(status, 200);
        assert!(body[..] == binary[..], "the binary body came back changed ({} bytes)", body.len());
        let (a, b) = (ask(&at("/random"), "GET", &[], b"", &[]).2, ask(&at("/random"), "GET", &[], b"", &[]).2);
        assert_eq!(a.len(), 32, "{a}");
        assert_ne!(a, b, "two instances drew the same randomness");
    }
}

/// The same worker with the all-zeros `entropy` component and with the real one: what it draws changes, and
/// nothing else does.
#[test]
fn swapping_the_entropy_component_changes_what_a_python_worker_draws_and_nothing_else() {
    let zeros = served_with("probe-zeros", &probe_dir(), Some(crate::compose::zeros()));
    let real = served_with("probe-real-entropy", &probe_dir(), Some(adapter("entropy_component.wasm")));
    let zeros = Server::serve(&zeros, &[]);
    let real = Server::serve(&real, &[]);
    let draw = |server: &Server| ask(&server.url("/random"), "GET", &[], b"", &[]).2;
    let (z1, z2) = (draw(&zeros), draw(&zeros));
    assert_eq!(&z1[..16], "0".repeat(16), "os.urandom under the zeros component: {z1}");
    assert_eq!(z1, z2, "with all-zero entropy every instance draws the same");
    let (r1, r2) = (draw(&real), draw(&real));
    assert_ne!(&r1[..16], "0".repeat(16));
    assert_ne!(r1, r2, "the real entropy component is live in every instance");
    for path in ["/env", "/sleep", "/raise", "/nowhere"] {
        assert_eq!(
            ask(&zeros.url(path), "GET", &[], b"", &[]),
            ask(&real.url(path), "GET", &[], b"", &[]),
            "{path} must not depend on the entropy component"
        );
    }
}

/// The `entrypoint` conformance suite against the Pyodide worker components of the reference workers (one
/// component per worker, with the adapter's typed `entrypoint` export): every row passes, as natively.
#[test]
fn the_entrypoint_suite_passes_against_python_worker_components_as_natively() {
    use pyworkers::conformance::{self, Interface, Outcome, Subject};
    let sources = repo().join("host/src/conformance/entrypoint");
    let workers = vec![
        ("echo".to_string(), served("reference-echo", &sources.join("reference_worker.py"))),
        ("fetch-only".to_string(), served("reference-fetch-only", &sources.join("fetch_only_worker.py"))),
    ];
    let home = crate::support::home();
    let report = conformance::run_with_home(Interface::Entrypoint, &Subject::Workers(workers), home).unwrap();
    assert!(report.passed(), "{report}");
    let native = conformance::run_with_home(Interface::Entrypoint, &Subject::Native, home).unwrap();
    let verdicts = |r: &conformance::Report| r.rows.iter().map(|row| (row.name, row.outcome == Outcome::Pass)).collect::<Vec<_>>();
    assert_eq!(verdicts(&report), verdicts(&native), "the same rows, the same verdicts");
}

#[test]
fn conformance_takes_one_component_per_reference_worker_only_for_entrypoint() {
    let out = pyworkers(&["conformance", "entrypoint", "--worker", "nobody=x.wasm"], b"");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a reference worker"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = pyworkers(&["conformance", "entrypoint", "--worker", "echo"], b"");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAME=FILE"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = pyworkers(&["conformance", "tarfs", "--worker", "echo=x.wasm"], b"");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only the entrypoint suite"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// An infinite loop and a memory bomb inside a Python worker's component: stopped at the deadline and at the
/// memory cap, answered with an error, and the next request is served.
#[test]
fn a_spinning_or_hoarding_component_worker_is_stopped_and_the_next_request_is_served() {
    let server = Server::serve(&probe(), &["--timeout", "2s", "--max-memory", "256MiB"]);
    let start = std::time::Instant::now();
    let (status, _, body) = ask(&server.url("/spin"), "GET", &[], b"", &[]);
    let took = start.elapsed();
    assert!(status == 503 || status == 500, "got {status}: {body}");
    assert!(took < std::time::Duration::from_secs(10), "answered after {took:?}");
    let (status, _, body) = ask(&server.url("/bomb"), "GET", &[], b"", &[]);
    assert_eq!(status, 500, "{body}");
    assert_eq!(ask(&server.url("/env"), "GET", &[], b"", &[]).2, "hi -");
}

/// A worker whose module raises while it is imported: every request is a 500 that says so, under both servers,
/// and the servers stay up.
#[test]
fn a_worker_that_fails_to_import_answers_500_saying_so() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("worker-components/broken");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.py"), "raise RuntimeError('broken on purpose')\n").unwrap();
    let served = served("broken", &dir);
    let ours = Server::serve(&served, &[]);
    let stock = Wasmtime::serve_with(&served, WASMTIME_FLAGS);
    for url in [ours.url("/"), stock.url("/")] {
        for _ in 0..2 {
            let (status, _, body) = ask(&url, "GET", &[], b"", &[]);
            assert_eq!(status, 500, "{body}");
            assert!(body.contains("importing the worker module `main` raised"), "{body}");
        }
    }
    assert!(ours.wait_for_log("broken on purpose").contains("RuntimeError: broken on purpose"), "{}", ours.log());
}
