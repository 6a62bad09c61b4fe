//! KV, D1, assets, queues and Durable Objects end to end: real `pyworkers serve` processes on copies of the examples
//! (and of `tests/projects`), a real HTTP client, the `pyworkers d1`/`kv` CLI on the same state files, restarts and
//! `kill -9`.

use crate::serve::{client, runtime, send, text, Server};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::path::{Path, PathBuf};
use std::process::Command;

fn example_copy(name: &str) -> tempfile::TempDir {
    copy_of(&format!("examples/{name}"))
}

/// A copy of the repository's directory `rel` in a new temporary directory.
fn copy_of(rel: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != ".pyworkers" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn serve(path: &Path, args: &[&str]) -> Server {
    crate::support::home();
    Server::serve(path, args)
}

/// `pyworkers ARGS` in `cwd`: (exit code, stdout, stderr).
fn cli(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pyworkers")).args(args).current_dir(cwd).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, http::HeaderMap, Bytes) {
    let mut b = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
    runtime().block_on(async {
        let r = client().request(req).await.expect("sending the request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.into_body().collect().await.unwrap().to_bytes())
    })
}

fn json(url: &str) -> serde_json::Value {
    let (status, _, body) = request("GET", url, &[], b"");
    assert!(status < 500, "{status}: {}", text(&body));
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&body)))
}

#[test]
fn kv_counter_persists_across_restarts_and_kill_9_and_the_cli_sees_it() {
    let project = example_copy("kv-counter");
    let dir = project.path();
    {
        let server = serve(dir, &["--instances", "2"]);
        assert_eq!(json(&server.url("/a"))["count"], 1);
        assert_eq!(json(&server.url("/a"))["count"], 2);
        assert_eq!(json(&server.url("/b"))["count"], 1);
        assert_eq!(json(&server.url("/_meta/a"))["metadata"]["path"], "/a");
        let listing = json(&server.url("/_list?limit=1"));
        assert_eq!(listing["keys"][0]["name"], "a");
        assert_eq!(listing["list_complete"], false);
        assert!(listing["cursor"].is_string());
        assert_eq!(json(&server.url("/_list?prefix=b"))["keys"].as_array().unwrap().len(), 1);
        assert!(!server.log().contains("does not support"), "{}", server.log());
        // Dropping the server kills it with SIGKILL: what it acknowledged must be on disk.
    }
    assert!(dir.join(".pyworkers/state/kv.sqlite3").is_file());
    let (code, out, err) = cli(dir, &["kv", "key", "get", "a", "--binding", "COUNTS", "--local"]);
    assert_eq!((code, out.as_str()), (0, "2"), "{err}");
    let (code, _, err) = cli(dir, &["kv", "key", "put", "c", "41", "--binding", "COUNTS"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(dir, &["kv", "key", "put", "gone", "1", "--binding", "COUNTS", "--ttl=-1"]);
    assert_eq!(code, 0, "{err}");
    let server = serve(dir, &[]);
    assert_eq!(json(&server.url("/a?peek"))["count"], 2);
    assert_eq!(json(&server.url("/c"))["count"], 42);
    assert_eq!(json(&server.url("/gone?peek"))["count"], 0, "an expired key reads as missing");
    let (status, _, _) = request("DELETE", &server.url("/b"), &[], b"");
    assert_eq!(status, 200);
    drop(server);
    let (code, out, _) = cli(dir, &["kv", "key", "list", "--binding", "COUNTS"]);
    assert_eq!(code, 0);
    let names: Vec<String> = serde_json::from_str::<serde_json::Value>(&out).unwrap().as_array().unwrap().iter()
        .map(|k| k["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, vec!["a", "c"]);
    let (code, _, err) = cli(dir, &["kv", "key", "get", "b", "--binding", "COUNTS"]);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn d1_notes_migrations_queries_batches_isolation_and_assets() {
    let project = example_copy("d1-notes");
    let dir = project.path();
    let (code, out, err) = cli(dir, &["d1", "migrations", "apply", "DB", "--local"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "applied 0001_create_notes.sql\napplied 0002_add_tag.sql\n");
    let (_, out, _) = cli(dir, &["d1", "migrations", "apply", "DB"]);
    assert_eq!(out, "no migrations to apply\n");
    let server = serve(dir, &["--instances", "2"]);
    let (status, _, body) = request("POST", &server.url("/api/notes"), &[], br#"{"text": "it's; DROP TABLE notes; --", "tag": "x"}"#);
    assert_eq!(status, 201, "{}", text(&body));
    let note: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(note["text"], "it's; DROP TABLE notes; --");
    assert_eq!(json(&server.url(&format!("/api/notes/{}", note["id"])))["tag"], "x");
    assert_eq!(json(&server.url("/api/notes?tag=x"))["notes"].as_array().unwrap().len(), 1);
    // A batch is one transaction: the second statement fails (NOT NULL), so the first is undone.
    let (status, _, body) = request("POST", &server.url("/api/notes/batch"), &[], br#"[{"text": "a"}, {"text": null}]"#);
    assert_eq!(status, 400);
    assert!(text(&body).contains("NOT NULL constraint failed"), "{}", text(&body));
    assert_eq!(json(&server.url("/api/notes"))["notes"].as_array().unwrap().len(), 1);
    let (status, _, body) = request("POST", &server.url("/api/notes/batch"), &[], br#"[{"text": "a"}, {"text": "b"}]"#);
    assert_eq!((status, text(&body)), (200, r#"{"inserted": 2}"#.to_string()));
    // SQL errors carry SQLite's message; ATTACH is refused.
    let err = json(&server.url("/api/sql?q=SELEC%201"));
    assert!(err["error"].as_str().unwrap().contains("syntax error"), "{err}");
    let outside = dir.join("outside.sqlite3");
    let q = format!("/api/sql?q=ATTACH%20DATABASE%20'{}'%20AS%20x", outside.display());
    let err = json(&server.url(&q));
    assert!(err["error"].as_str().unwrap().contains("too many attached databases"), "{err}");
    assert!(!outside.exists());
    // Assets: before the worker, Cloudflare's types, ETag/304, traversal refused, env.ASSETS.fetch.
    let (status, headers, body) = request("GET", &server.url("/"), &[], b"");
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(text(&body).contains("<h1>Notes</h1>"));
    let etag = headers["etag"].to_str().unwrap().to_string();
    let (status, _, body) = request("GET", &server.url("/"), &[("if-none-match", &etag)], b"");
    assert_eq!((status, body.len()), (304, 0));
    let (_, headers, _) = request("GET", &server.url("/style.css"), &[], b"");
    assert_eq!(headers["content-type"], "text/css; charset=utf-8");
    for evil in ["/../wrangler.jsonc", "/%2e%2e/wrangler.jsonc", "/%2E%2E%2Fwrangler.jsonc", "/..%2f..%2fetc%2fpasswd"] {
        let (status, _, body) = request("GET", &server.url(evil), &[], b"");
        assert!(!text(&body).contains("d1_databases") && !text(&body).contains("root:"), "{evil} leaked");
        assert_eq!(status, 404, "{evil}");
    }
    let (status, headers, body) = request("GET", &server.url("/api/home"), &[], b"");
    assert_eq!(status, 200, "{}", text(&body));
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(text(&body).contains("<h1>Notes</h1>"));
    drop(server);
    // The CLI reads what the server wrote (a table, and JSON).
    let (code, out, err) = cli(dir, &["d1", "execute", "DB", "--local", "--command", "SELECT text FROM notes ORDER BY id"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("│ text") && out.contains("│ b "), "{out}");
    let sql = dir.join("q.sql");
    std::fs::write(&sql, "SELECT count(*) AS n FROM notes;").unwrap();
    let (code, out, err) = cli(dir, &["d1", "execute", "DB", "--file", "q.sql", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["results"][0]["n"], 3);
}

#[test]
fn concurrent_writers_never_see_database_is_locked() {
    let project = example_copy("d1-notes");
    let dir = project.path();
    assert_eq!(cli(dir, &["d1", "migrations", "apply", "DB"]).0, 0);
    let server = serve(dir, &["--instances", "2"]);
    let url = server.url("/api/notes");
    let rt = runtime();
    // Meanwhile another process (the CLI) writes the same database file.
    let cli_dir = dir.to_path_buf();
    let other = std::thread::spawn(move || {
        (0..5)
            .map(|i| cli(&cli_dir, &["d1", "execute", "DB", "--command", &format!("INSERT INTO notes (text) VALUES ('cli {i}')")]))
            .collect::<Vec<_>>()
    });
    let statuses: Vec<u16> = rt.block_on(async {
        let c = client();
        let mut tasks = Vec::new();
        for i in 0..200 {
            let (c, url) = (c.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                send(&c, "POST", &url, format!(r#"{{"text": "note {i}"}}"#).into_bytes()).await.0
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    for (code, _, err) in other.join().unwrap() {
        assert_eq!(code, 0, "{err}");
    }
    assert!(statuses.iter().all(|&s| s == 201), "{statuses:?}\n{}", server.log());
    assert_eq!(json(&server.url("/api/notes"))["notes"].as_array().unwrap().len(), 205);
    assert!(!server.log().contains("locked"), "{}", server.log());
}

#[test]
fn missing_bindings_are_attribute_errors_and_corrupt_state_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("wrangler.jsonc"),
        r#"{ "main": "src/entry.py", "kv_namespaces": [{ "binding": "KV", "id": "k" }], "r2_buckets": [],
             "d1_databases": [{ "binding": "SQL", "database_name": "scratch" }] }"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("src/entry.py"),
        r#"
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        kv = self.env.KV
        await kv.put("j", '{"n": [1, 2]}', metadata={"m": True})
        await kv.put("raw", b"\x00\xff")
        got = {
            "json": await kv.get("j", type="json"),
            "bytes": list(await kv.get("raw", type="bytes")),
            "missing": await kv.get("nope"),
            "meta": await kv.get_with_metadata("j"),
        }
        try:
            self.env.DB
        except AttributeError as e:
            got["db"] = str(e)
        try:
            self.env.NS.get_by_name("x")
        except AttributeError as e:
            got["ns"] = str(e)
        db = self.env.SQL
        got["exec"] = (await db.exec("CREATE TABLE IF NOT EXISTS t (a, b); DELETE FROM t;"))["count"]
        run = await db.prepare("INSERT INTO t VALUES (?, ?), (?, ?)").bind(1, "x", 2.5, None).run()
        got["changes"] = run.meta["changes"]
        got["first_b"] = await db.prepare("SELECT * FROM t ORDER BY a").first("b")
        got["raw"] = await db.prepare("SELECT a, b FROM t ORDER BY a").raw(column_names=True)
        got["none"] = await db.prepare("SELECT * FROM t WHERE a = ?").bind(99).first()
        blob = await db.prepare("SELECT ? AS b, ? AS t").bind(b"\x00\xff", True).all()
        got["blob"] = [blob.results[0]["b"], type(blob.results[0]["b"]).__name__, blob.results[0]["t"]]
        got["blob_raw"] = await db.prepare("SELECT ?").bind(b"ab").raw()
        return Response.json(got)
"#,
    )
    .unwrap();
    let server = serve(dir.path(), &["--state", ":memory:"]);
    let got = json(&server.url("/"));
    assert_eq!(got["json"], serde_json::json!({"n": [1, 2]}));
    assert_eq!(got["bytes"], serde_json::json!([0, 255]));
    assert_eq!(got["missing"], serde_json::Value::Null);
    assert_eq!(got["meta"]["metadata"], serde_json::json!({"m": true}));
    assert!(got["db"].as_str().unwrap().contains("'DB'"), "{got}");
    assert!(got["ns"].as_str().unwrap().contains("'NS'"), "no Durable Object binding, no env.NS: {got}");
    assert_eq!(got["exec"], 2);
    assert_eq!(got["changes"], 2);
    assert_eq!(got["first_b"], "x");
    assert_eq!(got["raw"], serde_json::json!([["a", "b"], [1, "x"], [2.5, null]]));
    assert_eq!(got["none"], serde_json::Value::Null);
    assert_eq!(got["blob"], serde_json::json!([[0, 255], "list", 1]), "a BLOB reads back as a list of ints, a bool as 0/1");
    assert_eq!(got["blob_raw"], serde_json::json!([[[97, 98]]]));
    let log = server.log();
    let warning: Vec<&str> = log.lines().filter(|l| l.contains("does not support")).collect();
    assert_eq!(warning.len(), 1);
    assert!(warning[0].ends_with("r2_buckets"), "{}", warning[0]);
    drop(server);
    assert!(!dir.path().join(".pyworkers").exists(), "--state :memory: writes nothing");
    // A state file that is not SQLite stops the server at start, named, and is left as it was.
    let state: PathBuf = dir.path().join("elsewhere");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("kv.sqlite3"), vec![0x5a; 8192]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pyworkers"))
        .args(["serve", dir.path().to_str().unwrap(), "--addr", "127.0.0.1:0", "--state", state.to_str().unwrap()])
        .env("PYWORKERS_HOME", crate::support::home())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("kv.sqlite3") && err.contains("cannot be read as SQLite"), "{err}");
    assert_eq!(std::fs::read(state.join("kv.sqlite3")).unwrap(), vec![0x5a; 8192]);
}

#[test]
fn run_worker_first_reaches_assets_through_env_with_a_404_page_and_no_symlink_escape() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::create_dir_all(root.join("site/img")).unwrap();
    std::fs::write(root.join("site/index.html"), "<p>home</p>").unwrap();
    std::fs::write(root.join("site/404.html"), "<p>lost</p>").unwrap();
    std::fs::write(root.join("site/img/logo.svg"), "<svg/>").unwrap();
    std::fs::write(root.join("secret.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink(root.join("secret.txt"), root.join("site/leak.txt")).unwrap();
    std::fs::write(
        root.join("wrangler.jsonc"),
        r#"{ "main": "src/entry.py",
             "assets": { "directory": "site", "binding": "ASSETS", "run_worker_first": true, "not_found_handling": "404-page" } }"#,
    )
    .unwrap();
    std::fs::write(
        root.join("src/entry.py"),
        r#"
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if "/api/" in request.url:
            return Response("from the worker")
        response = await self.env.ASSETS.fetch(request)
        response.headers.set("x-via", "worker")
        return response
"#,
    )
    .unwrap();
    let server = serve(root, &["--state", ":memory:"]);
    let (status, headers, body) = request("GET", &server.url("/"), &[], b"");
    assert_eq!((status, text(&body).as_str()), (200, "<p>home</p>"));
    assert_eq!(headers["x-via"], "worker", "run_worker_first: the worker saw it");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let (_, headers, _) = request("GET", &server.url("/img/logo.svg"), &[], b"");
    assert_eq!(headers["content-type"], "image/svg+xml");
    let (status, _, body) = request("GET", &server.url("/api/x"), &[], b"");
    assert_eq!((status, text(&body).as_str()), (200, "from the worker"));
    let (status, _, body) = request("GET", &server.url("/nowhere/deep"), &[], b"");
    assert_eq!((status, text(&body).as_str()), (404, "<p>lost</p>"));
    let (status, _, body) = request("GET", &server.url("/leak.txt"), &[], b"");
    assert_eq!(status, 404);
    assert!(!text(&body).contains("top secret"));
}

#[test]
fn assets_site_serves_files_with_cloudflare_types_routes_the_api_and_refuses_traversal() {
    let project = example_copy("assets-site");
    let dir = project.path();
    std::fs::write(dir.join("secret.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("public/leak.txt")).unwrap();
    std::os::unix::fs::symlink(dir.join("src"), dir.join("public/src-link")).unwrap();
    let server = serve(dir, &["--state", ":memory:"]);
    assert!(!server.log().contains("does not support"), "{}", server.log());
    let get = |path: &str, headers: &[(&str, &str)]| request("GET", &server.url(path), headers, b"");
    // Files, with the content types Cloudflare sends; / is index.html, a nested page is found without .html.
    for (path, content_type, needle) in [
        ("/", "text/html; charset=utf-8", "<h1><img src=\"/logo.svg\""),
        ("/style.css", "text/css; charset=utf-8", "font-family"),
        ("/logo.svg", "image/svg+xml", "<circle"),
        ("/app.js", "text/javascript; charset=utf-8", "/api/status"),
        ("/docs/", "text/html; charset=utf-8", "<h1>Docs</h1>"),
        ("/docs/guide", "text/html; charset=utf-8", "<h1>Guide</h1>"),
    ] {
        let (status, headers, body) = get(path, &[]);
        assert_eq!(status, 200, "{path}: {}", text(&body));
        assert_eq!(headers["content-type"], content_type, "{path}");
        assert!(text(&body).contains(needle), "{path}: {}", text(&body));
        assert!(headers.get("x-worker").is_none(), "{path}: served before the worker");
        assert_eq!(headers["cache-control"], "public, max-age=0, must-revalidate");
    }
    // ETag and If-None-Match (strong or weak) → 304 with no body; a stale tag gets the file.
    let (_, headers, _) = get("/style.css", &[]);
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let (status, headers, body) = get("/style.css", &[("if-none-match", &etag)]);
    assert_eq!((status, body.len()), (304, 0));
    assert_eq!(headers["etag"].to_str().unwrap(), etag);
    assert_eq!(get("/style.css", &[("if-none-match", &format!("W/{etag}"))]).0, 304);
    assert_eq!(get("/style.css", &[("if-none-match", "\"stale\"")]).0, 200);
    let (status, _, body) = request("HEAD", &server.url("/style.css"), &[], b"");
    assert_eq!((status, body.len()), (200, 0));
    assert_eq!(request("POST", &server.url("/index.html"), &[], b"").0, 405, "a file is not the worker's to POST to");
    // The API: run_worker_first sends /api/* to the worker, even where a file would match…
    let (status, headers, body) = get("/api/status", &[]);
    assert_eq!(status, 200, "{}", text(&body));
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    let status_json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status_json, serde_json::json!({"ok": true, "method": "GET", "path": "/api/status"}));
    let (status, _, body) = request("POST", &server.url("/api/status"), &[], b"{}");
    assert_eq!((status, text(&body).contains("\"POST\"")), (200, true));
    assert_eq!(json(&server.url("/api/nope"))["error"], "no API at /api/nope");
    // …except /api/docs/*, a negative rule: straight to the assets, a miss there is the 404 page, not the worker.
    let (status, headers, body) = get("/api/docs/", &[]);
    assert_eq!((status, headers.get("x-worker").is_none()), (200, true));
    assert!(text(&body).contains("<h1>API docs</h1>"));
    let (status, headers, body) = get("/api/docs/missing", &[]);
    assert_eq!((status, headers.get("x-worker").is_none()), (404, true));
    assert!(text(&body).contains("<h1>Not found</h1>"), "{}", text(&body));
    // /private/* runs the worker first: the file exists but needs the header; then env.ASSETS.fetch serves it.
    let (status, _, _) = get("/private/report", &[]);
    assert_eq!(status, 401);
    let (status, headers, body) = get("/private/report", &[("authorization", "Bearer letmein")]);
    assert_eq!((status, headers["x-worker"].to_str().unwrap()), (200, "private"));
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(text(&body).contains("Quarterly report"));
    // html_handling "auto-trailing-slash": one spelling per page, the others redirected to it (307).
    for (from, to) in [("/docs/guide.html", "/docs/guide"), ("/docs", "/docs/"), ("/index.html", "/"), ("/docs/index.html?a=1", "/docs/?a=1")] {
        let (status, headers, _) = get(from, &[]);
        assert_eq!((status, headers["location"].to_str().unwrap()), (307, to), "{from}");
    }
    let (status, headers, _) = get("/private/report.html", &[("authorization", "Bearer letmein")]);
    assert_eq!((status, headers["location"].to_str().unwrap()), (307, "/private/report"), "env.ASSETS redirects too");
    // env.ASSETS.fetch from the API.
    let asset = json(&server.url("/api/asset?path=/docs/guide"));
    assert_eq!((asset["status"].as_i64(), asset["content_type"].as_str()), (Some(200), Some("text/html; charset=utf-8")));
    assert_eq!(json(&server.url("/api/asset?path=/docs/nope"))["status"], 404);
    // not_found_handling = "404-page": a miss that is not a navigation goes to the worker (which asks env.ASSETS:
    // the nearest 404.html, with 404); a navigation gets the 404 page from the assets, before the worker.
    let (status, headers, body) = get("/docs/nope", &[]);
    assert_eq!((status, headers["x-worker"].to_str().unwrap()), (404, "miss"));
    assert!(text(&body).contains("No such doc"), "the nearest 404.html: {}", text(&body));
    let (status, headers, body) = get("/nowhere/deeper", &[("sec-fetch-mode", "navigate")]);
    assert_eq!((status, headers.get("x-worker").is_none()), (404, true));
    assert!(text(&body).contains("<h1>Not found</h1>"));
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    // Nothing outside public/: `..`, encoded `..`, a symlink to a file or directory outside.
    for evil in [
        "/../wrangler.jsonc",
        "/%2e%2e/wrangler.jsonc",
        "/%2E%2E%2Fwrangler.jsonc",
        "/docs/%2e%2e/%2e%2e/wrangler.jsonc",
        "/..%2f..%2fetc%2fpasswd",
        "/leak.txt",
        "/src-link/entry.py",
    ] {
        let (status, _, body) = get(evil, &[]);
        let body = text(&body);
        assert!(!body.contains("top secret") && !body.contains("run_worker_first") && !body.contains("WorkerEntrypoint"), "{evil} leaked: {body}");
        assert_eq!(status, 404, "{evil}");
    }
}

#[test]
fn single_page_application_serves_index_to_navigations_only() {
    let project = example_copy("assets-site");
    let dir = project.path();
    let config = std::fs::read_to_string(dir.join("wrangler.jsonc")).unwrap();
    std::fs::write(dir.join("wrangler.jsonc"), config.replace("\"404-page\"", "\"single-page-application\"")).unwrap();
    let server = serve(dir, &["--state", ":memory:"]);
    // A navigation to a client-side route gets index.html with 200, from the assets.
    let (status, headers, body) = request("GET", &server.url("/app/settings"), &[("sec-fetch-mode", "navigate")], b"");
    assert_eq!((status, headers.get("x-worker").is_none()), (200, true));
    assert!(text(&body).contains("assets-site</h1>"));
    // Anything else that misses goes to the worker (here it passes it to env.ASSETS, which applies the SPA rule).
    let (status, headers, body) = request("GET", &server.url("/app/data.json"), &[("sec-fetch-mode", "cors")], b"");
    assert_eq!((status, headers["x-worker"].to_str().unwrap()), (200, "miss"));
    assert!(text(&body).contains("assets-site</h1>"));
    // The API still comes first, navigation or not.
    let (status, _, body) = request("GET", &server.url("/api/status"), &[("sec-fetch-mode", "navigate")], b"");
    assert_eq!((status, text(&body).contains("\"ok\": true")), (200, true), "{}", text(&body));
}

#[test]
fn queues_example_batches_acks_retries_and_dead_letters() {
    let project = example_copy("queues");
    let dir = project.path();
    let server = serve(dir, &[]);
    assert!(!server.log().contains("does not support"), "{}", server.log());
    let post = |path: &str, body: &str| {
        let (status, _, reply) = request("POST", &server.url(path), &[], body.as_bytes());
        assert_eq!(status, 202, "{}", text(&reply));
    };
    let deliveries = || -> Vec<serde_json::Value> { json(&server.url("/processed"))["deliveries"].as_array().unwrap().clone() };
    // Wait until `done` holds of the deliveries so far.
    let until = |what: &str, done: &dyn Fn(&[serde_json::Value]) -> bool| -> Vec<serde_json::Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let d = deliveries();
            if done(&d) {
                return d;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: {d:?}\n{}", server.log());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let of = |d: &[serde_json::Value], n: i64| -> Vec<(String, i64, i64, String)> {
        d.iter()
            .filter(|r| r["body"]["n"] == n)
            .map(|r| {
                (
                    r["queue"].as_str().unwrap().to_string(),
                    r["batch_size"].as_i64().unwrap(),
                    r["attempt"].as_i64().unwrap(),
                    r["outcome"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let row = |q: &str, size: i64, attempt: i64, outcome: &str| (q.to_string(), size, attempt, outcome.to_string());
    // Three messages fill a batch (max_batch_size 3): delivered together at once.
    post("/send-batch", r#"[{"n": 1}, {"n": 2}, {"n": 3}]"#);
    let d = until("a full batch", &|d| d.len() >= 3);
    for n in 1..=3 {
        assert_eq!(of(&d, n), [row("jobs", 3, 1, "ack")]);
    }
    // One message alone waits for max_batch_timeout (1 s) before it is delivered, in a batch of one.
    let sent = std::time::Instant::now();
    post("/send", r#"{"n": 4}"#);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(of(&deliveries(), 4).is_empty(), "delivered before its batch was due");
    let d = until("a timed-out batch", &|d| !of(d, 4).is_empty());
    assert!(sent.elapsed() >= std::time::Duration::from_millis(900), "after {:?}", sent.elapsed());
    assert_eq!(of(&d, 4), [row("jobs", 1, 1, "ack")]);
    // retry(): delivered again with attempts + 1; acked on the second attempt.
    post("/send-batch", r#"[{"n": 5, "fail": 1}, {"n": 6, "fail": 99}, {"n": 7}]"#);
    // Retried more than max_retries (2) times: to the dead-letter queue.
    let d = until("retries and the dead-letter queue", &|d| !of(d, 6).iter().all(|r| r.0 == "jobs") && of(d, 5).len() == 2);
    assert_eq!(of(&d, 5), [row("jobs", 3, 1, "retry"), row("jobs", 2, 2, "ack")]);
    assert_eq!(of(&d, 7), [row("jobs", 3, 1, "ack")], "acked once, never delivered again");
    let six = of(&d, 6);
    assert_eq!(six.len(), 4, "{six:?}");
    assert_eq!(six[..3].iter().map(|r| (r.2, r.3.as_str())).collect::<Vec<_>>(), [(1, "retry"), (2, "retry"), (3, "retry")]);
    assert_eq!((six[3].0.as_str(), six[3].2, six[3].3.as_str()), ("jobs-dlq", 1, "dead"));
    // retry_all() then ack_all(); a handler that raises retries every message it did not ack.
    post("/send-batch", r#"[{"n": 8, "all": "retry-once"}, {"n": 9}]"#);
    let d = until("retry_all", &|d| of(d, 9).len() == 2);
    assert_eq!(of(&d, 8), [row("jobs", 2, 1, "retry-all"), row("jobs", 2, 2, "ack-all")]);
    assert_eq!(of(&d, 9), [row("jobs", 2, 1, "retry-all"), row("jobs", 2, 2, "ack-all")]);
    post("/send-batch", r#"[{"n": 10, "raise": true}, {"n": 11}]"#);
    let d = until("a raising handler", &|d| of(d, 10).len() == 2);
    assert_eq!(of(&d, 10), [row("jobs", 2, 1, "raised"), row("jobs", 1, 2, "ack")]);
    assert_eq!(of(&d, 11), [row("jobs", 2, 1, "ack")], "acked before the handler raised: not redelivered");
    assert!(server.log().contains("a message asked the handler to raise"), "{}", server.log());
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(deliveries().len(), d.len(), "nothing else is delivered");
}

#[test]
fn queued_messages_survive_kill_9_and_are_delivered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src")).unwrap();
    let config = |timeout: u32| {
        format!(
            r#"{{ "main": "src/entry.py", "kv_namespaces": [{{ "binding": "SEEN", "id": "seen" }}],
                 "queues": {{ "producers": [{{ "binding": "JOBS", "queue": "jobs" }}],
                             "consumers": [{{ "queue": "jobs", "max_batch_size": 100, "max_batch_timeout": {timeout} }}] }} }}"#
        )
    };
    std::fs::write(
        root.join("src/entry.py"),
        r#"
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.method == "POST":
            await self.env.JOBS.send({"n": 7})
            return Response("queued")
        return Response(str(await self.env.SEEN.get("got")))

    async def queue(self, batch):
        await self.env.SEEN.put("got", ",".join(str(m.body["n"]) for m in batch.messages))
"#,
    )
    .unwrap();
    std::fs::write(root.join("wrangler.jsonc"), config(3600)).unwrap();
    {
        let server = serve(root, &[]);
        assert_eq!(request("POST", &server.url("/"), &[], b"").0, 200);
        assert_eq!(request("GET", &server.url("/"), &[], b"").2, "None", "not delivered before its batch is due");
        // Dropped: SIGKILL.
    }
    std::fs::write(root.join("wrangler.jsonc"), config(0)).unwrap();
    let server = serve(root, &[]);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = text(&request("GET", &server.url("/"), &[], b"").2);
        if got == "7" {
            break;
        }
        assert!(std::time::Instant::now() < until, "never delivered: {got}\n{}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// GET `url` concurrently `n` times: the bodies, as JSON.
fn concurrently(url: &str, n: usize) -> Vec<serde_json::Value> {
    runtime().block_on(async {
        let c = client();
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (c, url) = (c.clone(), url.to_string());
                tokio::spawn(async move { send(&c, "GET", &url, Vec::new()).await })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            let (status, body) = t.await.unwrap();
            assert_eq!(status, 200, "{}", text(&body));
            out.push(serde_json::from_slice(&body).unwrap());
        }
        out
    })
}

#[test]
fn durable_objects_rpc_fetch_storage_sql_ids_errors_and_reentrancy() {
    let project = copy_of("tests/projects/durable");
    let server = serve(project.path(), &["--state", ":memory:"]);
    assert!(!server.log().contains("does not support"), "{}", server.log());
    // RPC: plain values both ways (bytes, tuples, big ints, keyword arguments, to_js-wrapped values).
    let echo = json(&server.url("/echo"));
    assert_eq!(
        echo["repr"],
        r#"{'args': (1, 'two', b'\x03', [4, (5, 6)], {'k': None}, {'js': True}), 'kwargs': {'big': 1180591620717411303424, 'f': 1.5}}"#
    );
    assert!(echo["unsendable"].as_str().unwrap().contains("object cannot be sent"), "{echo}");
    // block_concurrency_while in the constructor holds the first call until it is done.
    assert_eq!(json(&server.url("/loaded?name=fresh")), 0);
    // In-memory state lives in the object between calls; a sync method is called like an async one.
    assert_eq!(json(&server.url("/calls")), 1);
    assert_eq!(json(&server.url("/calls")), 2);
    assert_eq!(json(&server.url("/calls?name=other")), 1, "another name is another object");
    assert_eq!(json(&server.url("/calls")), 3);
    let who = json(&server.url("/whoami"));
    assert_eq!((who["name"].as_str(), who["class"].as_str()), (Some("main"), Some("Counter")));
    assert_eq!(who["id"].as_str().unwrap().len(), 64);
    assert_ne!(who["id"], json(&server.url("/whoami?name=other"))["id"]);
    // stub.fetch reaches the object's fetch with the method, path and body; its response comes back.
    let (status, _, body) = request("GET", &server.url("/fetch"), &[], b"");
    assert_eq!((status, text(&body).as_str()), (200, "202 counter POST /hello in main: payload"));
    // Exceptions: a builtin type is re-raised as itself, another as DurableObjectError naming it; uncaught, a 500.
    assert_eq!(json(&server.url("/fail?kind=value")), serde_json::json!({"type": "ValueError", "message": "bad value 42"}));
    let custom = json(&server.url("/fail?kind=custom"));
    assert_eq!(custom["type"], "DurableObjectError");
    assert_eq!(custom["message"], "entry.Oops: custom failure");
    let (status, _, body) = request("GET", &server.url("/fail-uncaught"), &[], b"");
    assert_eq!((status, text(&body).trim()), (500, "the worker raised an exception: ValueError: bad value 42"));
    assert!(server.wait_for_log("raise Oops(\"custom failure\")").contains("[Counter "), "the object's traceback is logged");
    // Re-entrant calls do not deadlock: an object calling itself, and A → B → A → B.
    assert_eq!(json(&server.url("/self")), "3>2>1>bottom");
    assert_eq!(json(&server.url("/pingpong?name=a&other=b")), serde_json::json!(["a", "b", "a", "b"]));
    // Storage: get/put (one and many), delete (one and many), list with prefix, ranges, limit, reverse.
    let s = json(&server.url("/storage"));
    assert_eq!(s["a"], 1);
    assert_eq!(s["many"], serde_json::json!({"a": 1, "b": [1, 2]}));
    assert_eq!(s["bytes"], serde_json::json!([0, 1]));
    assert_eq!(s["tuple"], serde_json::json!([3, 4]));
    assert_eq!(s["missing"], serde_json::Value::Null);
    assert_eq!(s["all"], serde_json::json!(["a", "ab", "b", "c", "d", "e"]));
    assert_eq!(s["prefix"], serde_json::json!(["a", "ab"]));
    assert_eq!(s["range"], serde_json::json!(["ab", "b", "c"]));
    assert_eq!(s["after"], serde_json::json!(["c", "d"]));
    assert_eq!(s["reverse"], serde_json::json!(["e", "d"]));
    assert_eq!(s["values"], serde_json::json!({"c": {"x": null}}));
    assert_eq!((s["deleted_one"].as_bool(), s["deleted_missing"].as_bool(), s["deleted_many"].as_i64()), (Some(true), Some(false), Some(2)));
    assert_eq!(s["left"], serde_json::json!(["ab", "d", "e"]));
    assert!(s["unstorable"].as_str().unwrap().contains("JSON values and bytes"), "{s}");
    assert_eq!(s["transactions"], serde_json::json!({"t2": 2}), "a rolled-back transaction stores nothing");
    assert_eq!(s["after_delete_all"], serde_json::json!([]));
    // SQL: bound values, cursors, counts, multiple statements, the policed statements, transaction_sync.
    let q = json(&server.url("/sql"));
    assert_eq!(q["written"], 2);
    assert_eq!(q["columns"], serde_json::json!(["id", "name", "score"]));
    assert_eq!(
        q["rows"],
        serde_json::json!([{"id": 1, "name": "a'); DROP TABLE t; --", "score": 1.5}, {"id": 2, "name": "b", "score": null}])
    );
    assert_eq!(q["read"], 2);
    assert_eq!(q["one"], serde_json::json!({"name": "b"}));
    assert_eq!(q["iter"], serde_json::json!([1, 2]));
    assert_eq!(q["raw"], serde_json::json!([[1, "a'); DROP TABLE t; --"], [2, "b"]]));
    assert_eq!(q["size"], true);
    for refused in ["SELECT * FROM _cf_KV", "ATTACH DATABASE 'x.db' AS x", "BEGIN", "PRAGMA synchronous=OFF"] {
        assert!(q[refused].as_str().unwrap().contains("Authorization denied"), "{refused}: {}", q[refused]);
    }
    assert!(q["SELEC 1"].as_str().unwrap().contains("syntax error"), "{q}");
    assert!(q["one_of_none"].as_str().unwrap().contains("got no results"), "{q}");
    assert_eq!(q["after_rollback"], 2, "transaction_sync rolled the insert back");
    // Ids: unique ids round-trip through strings, names give stable ids, foreign and malformed ids are refused.
    let ids = json(&server.url("/ids"));
    assert_eq!(ids["unique_roundtrip"], true);
    assert_eq!(ids["unique_name"], serde_json::Value::Null);
    assert_eq!((ids["named"].as_bool(), ids["differs"].as_bool()), (Some(true), Some(true)));
    assert!(ids["bad"].as_str().unwrap().contains("64 hexadecimal digits"), "{ids}");
    assert!(ids["foreign"].as_str().unwrap().contains("not an id of this namespace"), "{ids}");
    // A new_classes object has the key-value API and no SQL.
    let plain = json(&server.url("/plain"));
    assert_eq!(plain["remember"], serde_json::json!({"n": [1, 2]}));
    assert!(plain["sql"].as_str().unwrap().contains("new_sqlite_classes"), "{plain}");
}

#[test]
fn calls_to_one_durable_object_run_one_at_a_time() {
    let project = copy_of("tests/projects/durable");
    let server = serve(project.path(), &["--state", ":memory:"]);
    // Each increment reads, awaits a sleep, then writes: 40 at once on one object, and 20 on another meanwhile.
    let (race, other) = std::thread::scope(|s| {
        let race = s.spawn(|| concurrently(&server.url("/increment?name=race"), 40));
        let other = s.spawn(|| concurrently(&server.url("/increment?name=other"), 20));
        (race.join().unwrap(), other.join().unwrap())
    });
    for (results, n) in [(race, 40), (other, 20)] {
        let mut counts: Vec<i64> = results.iter().map(|r| r["count"].as_i64().unwrap()).collect();
        counts.sort();
        assert_eq!(counts, (1..=n).collect::<Vec<_>>(), "no update lost, each call saw the one before");
        assert!(results.iter().all(|r| r["overlap"] == false), "a call ran while another was inside");
    }
}

#[test]
fn durable_object_storage_survives_restarts_memory_does_not() {
    let project = example_copy("do-chat");
    let dir = project.path();
    let post = |server: &Server, room: &str, message: &str| {
        let body = format!(r#"{{"author": "ann", "text": "{message}"}}"#);
        let (status, _, body) = request("POST", &server.url(&format!("/rooms/{room}/messages")), &[], body.as_bytes());
        assert_eq!(status, 201, "{}", text(&body));
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()
    };
    let visit = |server: &Server, room: &str| {
        let (status, _, body) = request("POST", &server.url(&format!("/rooms/{room}/visit")), &[], b"");
        assert_eq!(status, 200);
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["visits"].as_i64().unwrap()
    };
    let texts = |server: &Server, room: &str| -> Vec<String> {
        json(&server.url(&format!("/rooms/{room}/messages")))["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_string())
            .collect()
    };
    {
        let server = serve(dir, &[]);
        assert!(!server.log().contains("does not support"), "{}", server.log());
        assert_eq!(post(&server, "lobby", "hello")["id"], 1);
        assert_eq!(post(&server, "lobby", "again")["id"], 2);
        assert_eq!(post(&server, "kitchen", "elsewhere")["id"], 1, "each room has its own database");
        let (status, _, body) = request("POST", &server.url("/rooms/lobby/messages"), &[], br#"{"text": ""}"#);
        assert_eq!((status, text(&body).as_str()), (400, r#"{"error": "a message needs some text"}"#));
        assert_eq!((visit(&server, "lobby"), visit(&server, "lobby")), (1, 2));
        let room = json(&server.url("/rooms/lobby"));
        assert_eq!((room["room"].as_str(), room["messages"].as_i64(), room["visits"].as_i64()), (Some("lobby"), Some(2), Some(2)));
        // Dropped: SIGKILL. What each awaited call stored is on disk.
    }
    let files: Vec<_> = std::fs::read_dir(dir.join(".pyworkers/state/do/ChatRoom")).unwrap().collect();
    assert!(files.len() >= 2, "one database per object");
    {
        let server = serve(dir, &["--durable-object-idle", "1s"]);
        assert_eq!(texts(&server, "lobby"), ["hello", "again"]);
        assert_eq!(texts(&server, "kitchen"), ["elsewhere"]);
        assert_eq!(visit(&server, "lobby"), 1, "a new server, a new instance: memory starts afresh");
        assert_eq!(visit(&server, "lobby"), 2);
        // Idle past --durable-object-idle: evicted. Memory goes, storage stays.
        std::thread::sleep(std::time::Duration::from_millis(1800));
        assert_eq!(visit(&server, "lobby"), 1, "evicted while idle");
        assert_eq!(post(&server, "lobby", "after eviction")["id"], 3);
    }
}

#[test]
fn a_bundle_keeps_its_bindings_and_assets() {
    let home = crate::support::home();
    let bundle = |example: &str, into: &Path| {
        let project = example_copy(example);
        let out = Command::new(env!("CARGO_BIN_EXE_pyworkers"))
            .arg("bundle")
            .arg(project.path())
            .arg("-o")
            .arg(into)
            .env("PYWORKERS_HOME", &home)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        err
        // The project is deleted here: the bundle must be all the server needs.
    };
    let alone = tempfile::tempdir().unwrap();
    let site = alone.path().join("site.tar");
    let said = bundle("assets-site", &site);
    assert!(said.contains("bindings from") && said.contains("assets"), "{said}");
    let read = pyworkers::bundle::Bundle::read(&site).unwrap();
    assert!(read.assets.is_some() && read.bindings.as_ref().unwrap().contains_key("assets"));
    {
        let server = serve(&site, &["--state", ":memory:"]);
        let (status, headers, body) = request("GET", &server.url("/"), &[], b"");
        assert_eq!((status, headers["content-type"].to_str().unwrap()), (200, "text/html; charset=utf-8"));
        assert!(text(&body).contains("assets-site</h1>"));
        assert_eq!(json(&server.url("/api/status"))["ok"], true, "run_worker_first came along");
        let (status, headers, body) = request("GET", &server.url("/docs/nope"), &[], b"");
        assert_eq!((status, headers["x-worker"].to_str().unwrap()), (404, "miss"));
        assert!(text(&body).contains("No such doc"), "env.ASSETS came along: {}", text(&body));
    }
    let counter = alone.path().join("counter.tar");
    bundle("kv-counter", &counter);
    {
        let server = serve(&counter, &[]);
        assert_eq!(json(&server.url("/a"))["count"], 1);
        assert_eq!(json(&server.url("/a"))["count"], 2);
    }
    assert!(alone.path().join(".pyworkers/state/kv.sqlite3").is_file(), "the state lives next to the bundle");
    let server = serve(&counter, &[]);
    assert_eq!(json(&server.url("/a?peek"))["count"], 2, "and survives a restart");
}
