//! The Python side of `serve`: the `workers` SDK and the `_pyworkers.entrypoint` protocol, driven directly.
//!
//! Each test runs one script from `tests/python/` under `pyworkers run`, with that directory mounted at `/tests`
//! (workers in `/tests/workers`). The scripts play the host: `load`, `configure`, `step` with marshal frames,
//! asserting the outbox; each prints `ok` when every assertion held.

use crate::support::pyworkers;
use std::path::Path;

fn python_dir() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/python")
        .canonicalize()
        .expect("tests/python exists")
        .display()
        .to_string()
}

/// Run `tests/python/<script>` as `__main__`; returns its stdout, failing the test on a non-zero exit.
fn run_script(script: &str) -> String {
    let mount = format!("{}:/tests", python_dir());
    let code = format!(
        "import sys, runpy; sys.path.insert(0, '/tests'); runpy.run_path('/tests/{script}', run_name='__main__')"
    );
    let out = pyworkers(&["run", "--mount", &mount, "-c", &code], b"");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn assert_ok(script: &str) {
    let out = run_script(script);
    assert_eq!(out.lines().last(), Some("ok"), "{script} printed:\n{out}");
}

#[test]
fn hello_responds_in_one_step() {
    assert_ok("test_hello.py");
}

#[test]
fn handler_styles_are_discovered() {
    assert_ok("test_styles.py");
}

#[test]
fn failures_become_error_events() {
    assert_ok("test_errors.py");
}

#[test]
fn request_response_and_headers() {
    assert_ok("test_messages.py");
}

#[test]
fn outbound_fetch_timers_wait_until_and_cancel() {
    assert_ok("test_outbound.py");
}

#[test]
fn asgi_and_wsgi_apps() {
    assert_ok("test_adapters.py");
}

#[test]
fn scheduled_and_queue_events() {
    assert_ok("test_events.py");
}

#[test]
fn http_client_and_urllib_go_through_the_host() {
    assert_ok("test_httpclient.py");
}

#[test]
fn ffi_without_javascript() {
    assert_ok("test_ffi.py");
}

/// Python's share of a hello-world request. The bound is loose (the machine is shared); the figure is printed.
#[test]
fn hello_step_is_fast() {
    let out = run_script("test_perf.py");
    let us: f64 = out
        .trim()
        .strip_prefix("step_us_per_request ")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {out:?}"));
    eprintln!("step(): {us:.2} µs per hello request");
    assert!(
        us < 200.0,
        "step() takes {us} µs per hello request (expected ~10)"
    );
}

/// A dedicated snapshot finds the worker's handlers while it is prepared; a restored instance lists them and serves.
#[test]
fn dedicated_snapshot_loads_handlers() {
    let dir = tempfile::tempdir().unwrap();
    let worker = Path::new(&python_dir()).join("workers/style_on_fetch3.py");
    let snap = dir.path().join("w.snap");
    let out = pyworkers(
        &[
            "snapshot",
            worker.to_str().unwrap(),
            "-o",
            snap.to_str().unwrap(),
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "snapshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = r#"
import marshal, sys
from _pyworkers import entrypoint as e
assert "workers" in sys.modules and "_pyworkers.entrypoint" in sys.modules
print(marshal.loads(e.handlers(b"")))
e.configure(marshal.dumps({"vars": {"GREETING": "restored"}, "name": "i1"}, 2))
out, timer, background = marshal.loads(e.step(marshal.dumps([("fetch", 1, "GET", "http://x/", [], b"")], 2)))
print(out[0][4].decode())
"#;
    let out = pyworkers(
        &[
            "run",
            "--snapshot",
            snap.to_str().unwrap(),
            "--worker",
            worker.to_str().unwrap(),
            "-c",
            code,
        ],
        b"",
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "('fetch', 'queue')\nthree restored True False\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
