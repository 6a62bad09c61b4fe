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

/// A package module imported only while serving loads from bytecode compiled when site-packages was built, so a
/// fresh instance does not compile it again.
#[test]
fn a_module_imported_while_serving_has_bytecode_beside_it() {
    let project = six_project("six==1.17.0");
    std::fs::write(
        project.path().join("main.py"),
        "import os, sys\nfrom workers import Response\n\n\ndef on_fetch(request):\n    before = 'six' in sys.modules\n    import six\n    return Response(f\"{before} {os.path.isfile(six.__spec__.cached)} {six.__spec__.cached}\")\n",
    )
    .unwrap();
    let server = serve_env(project.path(), &[]);
    let body = text(&get(&server.url("/")).1);
    assert!(body.starts_with("False True /lib/site-packages/__pycache__/six.cpython-314.pyc"), "{body}");
    stop(server);
}

#[test]
fn a_package_without_a_wheel_for_the_platform_is_a_clear_error() {
    // PyYAML 6.0.2 publishes an sdist and wheels for native platforms, none pure and none for Pyodide's.
    let project = six_project("pyyaml==6.0.2");
    let out = serve_fails(project.path(), &[]);
    assert!(out.contains("no wheel of pyyaml==6.0.2") && out.contains("pyemscripten_2026_0_wasm32"), "{out}");
    assert!(!project.path().join("pyworkers.lock").exists());
}

#[test]
fn markupsafe_is_built_as_its_pure_python_fallback_from_the_sdist() {
    // MarkupSafe 3.0.2 has no wheel for Pyodide's platform; its sdist without the C speedups is the whole package.
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("requirements.txt"), "markupsafe==3.0.2\n").unwrap();
    std::fs::write(
        project.path().join("main.py"),
        "import markupsafe\nfrom workers import Response\n\n\ndef on_fetch(request):\n    import markupsafe._native\n    return Response(str(markupsafe.escape('<a>')))\n",
    )
    .unwrap();
    let server = serve_env(project.path(), &[]);
    assert_eq!(text(&get(&server.url("/")).1), "&lt;a&gt;");
    assert!(server.log().contains("building its pure-Python fallback"), "{}", server.log());
    stop(server);
    let lock = std::fs::read_to_string(project.path().join("pyworkers.lock")).unwrap();
    assert!(lock.contains("markupsafe-3.0.2-py3-none-any.whl"), "{lock}");
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

#[test]
fn a_bundle_serves_without_its_project_and_one_for_another_pyodide_is_refused() {
    let project = six_project("six==1.17.0");
    let bundle = project.path().join("worker.tar");
    let out = Command::new(env!("CARGO_BIN_EXE_pyworkers"))
        .arg("bundle")
        .arg(project.path())
        .arg("-o")
        .arg(&bundle)
        .env("PYWORKERS_HOME", crate::support::home())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read = pyworkers::bundle::Bundle::read(&bundle).unwrap();
    assert_eq!((read.module.as_str(), read.pyodide_version.as_str()), ("main", pyworkers::runtime::PYODIDE_VERSION));
    assert_eq!(read.packages.iter().map(|p| (p.name.as_str(), p.version.as_str())).collect::<Vec<_>>(), [("six", "1.17.0")]);
    assert!(read.site_packages.is_some());
    // Only the bundle, elsewhere, and no pip: it is all the server needs.
    let alone = tempfile::tempdir().unwrap();
    let moved = alone.path().join("worker.tar");
    std::fs::copy(&bundle, &moved).unwrap();
    drop(project);
    let server = serve_env(&moved, &[("PYWORKERS_PYTHON", "/nonexistent/python3")]);
    assert_eq!(text(&get(&server.url("/")).1), "1.17.0");
    assert!(!server.log().contains("pip:"), "{}", server.log());
    stop(server);
    // The same bundle claiming another Pyodide: serve, snapshot and run all refuse it, saying which.
    let other = alone.path().join("other.tar");
    pyworkers::bundle::Bundle { pyodide_version: "0.27.7".into(), ..read }.write(&other).unwrap();
    let out = serve_fails(&other, &[]);
    assert!(out.contains("bundled for Pyodide 0.27.7") && out.contains(pyworkers::runtime::PYODIDE_VERSION), "{out}");
    for args in [
        vec!["snapshot".to_string(), other.display().to_string(), "-o".into(), alone.path().join("x.snap").display().to_string()],
    ] {
        let out = crate::support::pyworkers(&args.iter().map(String::as_str).collect::<Vec<_>>(), b"");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("bundled for Pyodide 0.27.7"), "{err}");
    }
}

#[test]
fn a_side_module_with_a_missing_symbol_is_an_import_error_naming_it() {
    // A wheel built here, tagged for Pyodide's platform, holding a real (tiny) side module that imports a function
    // nothing defines. Served from a lock that pins it, so nothing is resolved or downloaded.
    let project = tempfile::tempdir().unwrap();
    let home = crate::support::home();
    let wheel = "native-1.0-cp314-cp314-pyemscripten_2026_0_wasm32.whl";
    let wheel_path = project.path().join(wheel);
    let side_module = wat::parse_str(
        r#"(module
            (@dylink.0 (mem-info (memory 16 2) (table 1 0)))
            (import "env" "pyworkers_no_such_function" (func $missing))
            (func (export "PyInit__speedups") (result i32) (call $missing) (i32.const 0)))"#,
    )
    .unwrap();
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&wheel_path).unwrap());
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, body) in [
            ("native/__init__.py", &b"from ._speedups import add\n"[..]),
            ("native/_speedups.cpython-314-wasm32-emscripten.so", &side_module[..]),
            ("native-1.0.dist-info/METADATA", &b"Metadata-Version: 2.1\nName: native\nVersion: 1.0\n"[..]),
        ] {
            zip.start_file(name, opts).unwrap();
            std::io::Write::write_all(&mut zip, body).unwrap();
        }
        zip.finish().unwrap();
    }
    let cache = pyworkers::packages::wheel::Cache::new(home);
    let (sha256, _) = cache.put(&wheel_path).unwrap();
    std::fs::write(project.path().join("requirements.txt"), "native==1.0\n").unwrap();
    let reqs = pyworkers::packages::requirements::read(project.path()).unwrap().unwrap();
    let package = pyworkers::packages::lock::Package { name: "native".into(), version: "1.0".into(), wheel: wheel.into(), sha256 };
    pyworkers::packages::lock::Lock::new(reqs.inputs_sha256(), vec![package])
        .write(&project.path().join("pyworkers.lock"))
        .unwrap();
    std::fs::write(
        project.path().join("main.py"),
        "from workers import Response\n\n\ndef on_fetch(request):\n    try:\n        import native\n    except ImportError as e:\n        return Response(str(e))\n    return Response('imported')\n",
    )
    .unwrap();
    let server = serve_env(project.path(), &[("PYWORKERS_PYTHON", "/nonexistent/python3")]);
    let body = text(&get(&server.url("/")).1);
    assert!(body.contains("undefined symbol: pyworkers_no_such_function"), "{body}");
    assert!(body.contains("_speedups.cpython-314-wasm32-emscripten.so"), "{body}");
    stop(server);
}

#[test]
fn pydantic_core_loads_and_validates_under_serve_from_its_snapshot() {
    // pydantic-core is a Rust extension (an Emscripten side module) from PyPI's pyemscripten wheel: the dedicated
    // snapshot holds it loaded, and every fresh instance links it again at the same bases.
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("pyproject.toml"),
        "[project]\nname = \"pyd\"\nversion = \"0.1.0\"\ndependencies = [\"pydantic==2.14.4\", \"pydantic-core==2.50.5\"]\n",
    )
    .unwrap();
    std::fs::write(
        project.path().join("main.py"),
        r#"import json
from pydantic import BaseModel, ValidationError
from workers import Response


class User(BaseModel):
    id: int
    name: str


def on_fetch(request):
    q = request.url.split("?", 1)[1] if "?" in request.url else ""
    args = dict(p.split("=", 1) for p in q.split("&") if "=" in p)
    try:
        user = User(**args)
    except ValidationError as e:
        return Response(json.dumps([err["type"] for err in e.errors()]), status=422)
    return Response(user.model_dump_json())
"#,
    )
    .unwrap();
    crate::support::home();
    let server = Server::serve_env(project.path(), &["--max-requests-per-instance", "1"], &[]);
    for _ in 0..2 {
        let (status, body) = get(&server.url("/?id=3&name=ann"));
        assert_eq!((status, text(&body)), (200, r#"{"id":3,"name":"ann"}"#.to_string()));
    }
    let (status, body) = get(&server.url("/?id=x"));
    assert_eq!((status, text(&body)), (422, r#"["int_parsing", "missing"]"#.to_string()));
    stop(server);
}

/// An upstream for the HTTP-client example: `/echo` answers JSON of what it saw (method, path, `x-from`,
/// `content-type`, body) with two `x-multi` headers; `/redirect` is a 302 to `/echo?hop=1`; `/slow` answers after 3 s.
async fn start_json_upstream() -> std::net::SocketAddr {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                let header = |name: &str| req.headers().get(name).map(|v| v.to_str().unwrap_or("?").to_string());
                let (from, kind) = (header("x-from"), header("content-type"));
                let (method, path) = (req.method().to_string(), req.uri().to_string());
                let response = match req.uri().path() {
                    "/redirect" => http::Response::builder()
                        .status(302)
                        .header("location", "/echo?hop=1")
                        .body(Full::new(Bytes::new())),
                    route => {
                        if route == "/slow" {
                            tokio::time::sleep(Duration::from_secs(3)).await;
                        }
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let seen = serde_json::json!({
                            "method": method, "path": path, "x-from": from, "content-type": kind,
                            "body": String::from_utf8_lossy(&body),
                        });
                        http::Response::builder()
                            .header("content-type", "application/json")
                            .header("x-multi", "one")
                            .header("x-multi", "two")
                            .body(Full::new(Bytes::from(seen.to_string())))
                    }
                };
                Ok::<_, std::convert::Infallible>(response.unwrap())
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    addr
}

#[test]
fn http_clients_example_reaches_an_allowed_upstream_with_requests_httpx_and_urllib3() {
    let rt = crate::serve::runtime();
    let upstream = rt.block_on(start_json_upstream());
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/http-clients");
    let var = format!("UPSTREAM=http://{upstream}");
    crate::support::home();
    let server = crate::serve::Server::serve(&example, &["--var", &var, "--allow-host", "127.0.0.1"]);
    let json = |server: &crate::serve::Server, route: &str| {
        let (status, body) = get(&server.url(route));
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|_| panic!("{route}: {}", text(&body)));
        (status, value)
    };
    for client in ["requests", "httpx", "httpx-async", "urllib3"] {
        let (status, seen) = json(&server, &format!("/{client}?path=/echo"));
        assert_eq!(status, 200, "{client}: {seen}");
        assert_eq!(seen["status"], 200, "{client}: {seen}");
        assert_eq!(seen["multi"], serde_json::json!(["one", "two"]), "{client}: repeated headers: {seen}");
        assert_eq!(seen["get"]["method"], "GET", "{client}: {seen}");
        assert_eq!(seen["post"]["method"], "POST", "{client}: {seen}");
        assert_eq!(seen["post"]["x-from"], client, "{client}: {seen}");
        assert_eq!(seen["post"]["content-type"], "application/json", "{client}: {seen}");
        let posted: serde_json::Value = serde_json::from_str(seen["post"]["body"].as_str().unwrap()).unwrap();
        assert_eq!(posted, serde_json::json!({"client": client}), "{client}: {seen}");
        // The client follows the redirect itself: the host hands it the 302.
        let (status, seen) = json(&server, &format!("/{client}?path=/redirect"));
        assert_eq!(status, 200, "{client}: {seen}");
        assert_eq!(seen["history"], serde_json::json!([302]), "{client}: {seen}");
        assert_eq!(seen["get"]["path"], "/echo?hop=1", "{client}: {seen}");
        assert_eq!(seen["url"], format!("http://{upstream}/echo?hop=1"), "{client}: {seen}");
        // The client's timeout is the host's deadline for the call, and the client's own timeout error.
        let started = std::time::Instant::now();
        let (status, seen) = json(&server, &format!("/{client}?path=/slow&timeout=0.5"));
        assert_eq!(status, 502, "{client}: {seen}");
        assert!(started.elapsed() < Duration::from_millis(2500), "{client}: {:?}", started.elapsed());
        let error = seen["error"].as_str().unwrap();
        assert!(error.contains("Timeout"), "{client}: {seen}");
    }
    let log = server.log();
    assert!(log.contains("snapshot made") || log.contains("snapshot found"), "{log}");
    assert!(!log.contains("Traceback"), "{log}");
    stop(server);

    // Without the flag, each client's error names it.
    let server = crate::serve::Server::serve(&example, &["--var", &var]);
    for client in ["requests", "httpx", "httpx-async", "urllib3"] {
        let (status, seen) = json(&server, &format!("/{client}?path=/echo"));
        assert_eq!(status, 502, "{client}: {seen}");
        let message = seen["message"].as_str().unwrap();
        assert!(message.contains("denied: allow it with --allow-host 127.0.0.1"), "{client}: {seen}");
    }
    stop(server);
}

/// POST `body` as JSON; status and body.
fn post_json(url: &str, body: &str) -> (u16, bytes::Bytes) {
    use http_body_util::BodyExt;
    let rt = crate::serve::runtime();
    rt.block_on(async {
        let request = http::Request::builder()
            .method("POST")
            .uri(url)
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(body.to_string())))
            .unwrap();
        let response = crate::serve::client().request(request).await.expect("sending the request");
        let status = response.status().as_u16();
        (status, response.into_body().collect().await.unwrap().to_bytes())
    })
}

#[test]
fn fastapi_example_renders_jinja2_and_validates_with_pydantic() {
    // FastAPI + pydantic (pydantic-core linked by the host) + Jinja2 (MarkupSafe's pure-Python fallback, found
    // through pip's conflict report since several requirements pull it in), served through the ASGI adapter.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fastapi");
    let project = tempfile::tempdir().unwrap();
    for rel in ["wrangler.jsonc", "pyproject.toml", "src/entry.py", "src/templates/index.html"] {
        let to = project.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(example.join(rel), to).unwrap();
    }
    if example.join("pyworkers.lock").is_file() {
        std::fs::copy(example.join("pyworkers.lock"), project.path().join("pyworkers.lock")).unwrap();
    }
    let server = serve_env(project.path(), &[]);
    let (status, body) = get(&server.url("/"));
    let page = text(&body);
    assert_eq!(status, 200, "{page}\n{}", server.log());
    assert!(page.contains("<h1>hello from fastapi</h1>") && page.contains("<li>tea: 3.50</li>"), "{page}");
    assert!(page.contains("&lt;escaped &amp; safe&gt;"), "Jinja2 autoescape: {page}");

    let (status, body) = post_json(&server.url("/items"), r#"{"name": "scone", "price": 2, "tags": ["warm"]}"#);
    assert_eq!(status, 201, "{}", text(&body));
    let item: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(item, serde_json::json!({"name": "scone", "price": 2.0, "tags": ["warm"]}));

    let (status, body) = post_json(&server.url("/items"), r#"{"name": "", "price": -1}"#);
    assert_eq!(status, 422, "{}", text(&body));
    let errors: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let kinds: Vec<&str> = errors["detail"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["string_too_short", "greater_than"], "{errors}");

    assert_eq!(text(&get(&server.url("/items/7")).1), r#"{"id":7}"#);
    assert_eq!(get(&server.url("/items/seven")).0, 422);
    stop(server);
}
