//! Packages end to end: a project's dependencies resolved by pip for Pyodide's platform, pinned in
//! `pyworkers.lock`, and served from the lock and the wheel cache with no resolver at all. These tests need the
//! package index (as CI has) for the first resolve or download; the wheels they use are small, except Django's.

use crate::serve::{get, text, Server};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn serve_env(path: &Path, env: &[(&str, &str)]) -> Server {
    crate::support::home();
    Server::serve_env(path, &[], env)
}

fn stop(mut server: Server) {
    server.sigterm();
    assert!(server.wait(Duration::from_secs(6)).is_some_and(|s| s.success()));
}

/// A project whose worker answers with `six`'s version, depending on `requirement`.
fn six_project(requirement: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("requirements.txt"), format!("{requirement}\n")).unwrap();
    std::fs::write(
        dir.path().join("main.py"),
        "import six\nfrom workers import Response\n\n\ndef on_fetch(request):\n    return Response(six.__version__)\n",
    )
    .unwrap();
    dir
}

#[test]
fn django_example_is_served_through_wsgi() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/django");
    let server = serve_env(&example, &[]);
    let (status, body) = get(&server.url("/"));
    assert_eq!(status, 200, "{}", text(&body));
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["greeting"], "hello from django");
    assert!(json["django"].as_str().is_some_and(|v| v.starts_with('6')), "{json}");
    let (status, body) = get(&server.url("/hello/ann?q=x"));
    assert_eq!((status, text(&body)), (200, r#"{"hello": "ann", "query": "x"}"#.to_string()));
    let (status, _) = get(&server.url("/nowhere"));
    assert_eq!(status, 404);
    assert!(server.log().contains("from pyworkers.lock"), "{}", server.log());
    stop(server);
}

#[test]
fn the_lock_is_written_once_then_used_without_pip() {
    let project = six_project("six==1.17.0");
    let server = serve_env(project.path(), &[]);
    assert_eq!(text(&get(&server.url("/")).1), "1.17.0");
    assert!(server.log().contains("resolved, pyworkers.lock written"), "{}", server.log());
    stop(server);
    let lock = std::fs::read_to_string(project.path().join("pyworkers.lock")).unwrap();
    assert!(lock.contains("name = \"six\"") && lock.contains("sha256 = "), "{lock}");
    // pip cannot even start now: the lock and the cached wheel are all it takes, and the snapshot is reused.
    let server = serve_env(project.path(), &[("PYWORKERS_PYTHON", "/nonexistent/python3")]);
    assert_eq!(text(&get(&server.url("/")).1), "1.17.0");
    let log = server.log();
    assert!(log.contains("from pyworkers.lock; 0 downloaded"), "{log}");
    assert!(log.contains("snapshot found in the cache"), "{log}");
    assert!(!log.contains("pip:"), "{log}");
    stop(server);
    // A changed requirement resolves again, and without pip that is an error saying so.
    std::fs::write(project.path().join("requirements.txt"), "six>=1.16\n").unwrap();
    let out = serve_fails(project.path(), &[("PYWORKERS_PYTHON", "/nonexistent/python3")]);
    assert!(out.contains("needs pip") && out.contains("PYWORKERS_PYTHON"), "{out}");
}

#[test]
fn a_package_without_a_wheel_for_the_platform_is_a_clear_error() {
    // MarkupSafe publishes an sdist and wheels for native platforms, none pure and none for Pyodide's.
    let project = six_project("markupsafe==3.0.2");
    let out = serve_fails(project.path(), &[]);
    assert!(out.contains("no wheel of markupsafe") && out.contains("pyemscripten_2026_0_wasm32"), "{out}");
    assert!(!project.path().join("pyworkers.lock").exists());
}

/// Run `pyworkers serve` expecting it to fail before serving; its stderr.
fn serve_fails(path: &Path, env: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pyworkers"))
        .arg("serve")
        .arg(path)
        .args(["--addr", "127.0.0.1:0"])
        .env("PYWORKERS_HOME", crate::support::home())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve did not fail: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}
