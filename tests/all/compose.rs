//! Composition with the real tools: `wac plug` puts the `guest-adapters` components (`tarfs`, `entropy`) into a
//! worker that imports them (`tests/guests/composed-worker`), and the composed file is served by `pyworkers serve`
//! and by stock `wasmtime serve`, which must give the same answers. Swapping in another `entropy` component
//! (`tests/guests/entropy-zeros`) changes what the worker sees and nothing else.
//!
//! The tools are pinned and installed by `tests/tools/install` into `target/tools/bin` (`.ci/run` does it before
//! the tests; a test that finds one missing runs the script itself). `PYWORKERS_WAC` and `PYWORKERS_WASMTIME` name
//! other binaries.

use crate::serve::{get, text, Server};
use crate::support::{repo, tool};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

// ---- the components ------------------------------------------------------------------------------------------

fn worker() -> PathBuf {
    crate::support::wasm_guest(
        "tests/guests/composed-worker/Cargo.toml",
        "composed_worker.wasm",
    )
}

pub(crate) fn adapter(artifact: &str) -> PathBuf {
    crate::support::wasm_guest("guest-adapters/Cargo.toml", artifact)
}

pub(crate) fn zeros() -> PathBuf {
    crate::support::wasm_guest(
        "tests/guests/entropy-zeros/Cargo.toml",
        "entropy_zeros.wasm",
    )
}

/// `wac plug WORKER --plug PLUG... -o NAME.wasm`, once per name.
pub(crate) fn plugged(name: &str, worker: &Path, plugs: &[PathBuf]) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("compose")
        .join(format!("{name}.wasm"));
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let mut wac = Command::new(tool("wac"));
    wac.arg("plug").arg(worker);
    for plug in plugs {
        wac.arg("--plug").arg(plug);
    }
    let done = wac.arg("-o").arg(&out).output().expect("running wac");
    assert!(
        done.status.success(),
        "wac plug failed:\n{}",
        String::from_utf8_lossy(&done.stderr)
    );
    out
}

/// The worker with the real `tarfs` and `entropy` components plugged in.
fn composed() -> &'static Path {
    static COMPOSED: OnceLock<PathBuf> = OnceLock::new();
    COMPOSED.get_or_init(|| {
        let plugs = [
            adapter("tarfs_component.wasm"),
            adapter("entropy_component.wasm"),
        ];
        plugged("composed", &worker(), &plugs)
    })
}

/// The same worker and `tarfs`, with the all-zeros `entropy` instead.
fn composed_zeros() -> &'static Path {
    static COMPOSED: OnceLock<PathBuf> = OnceLock::new();
    COMPOSED.get_or_init(|| {
        plugged(
            "composed-zeros",
            &worker(),
            &[adapter("tarfs_component.wasm"), zeros()],
        )
    })
}

/// The component's import and export names, read by Wasmtime.
fn interface(path: &Path) -> (Vec<String>, Vec<String>) {
    let engine = wasmtime::Engine::default();
    let component = wasmtime::component::Component::from_file(&engine, path).unwrap();
    let ty = component.component_type();
    let imports = ty
        .imports(&engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let exports = ty
        .exports(&engine)
        .map(|(name, _)| name.to_string())
        .collect();
    (imports, exports)
}

// ---- stock `wasmtime serve` ----------------------------------------------------------------------------------

/// `wasmtime serve -Scli --addr 127.0.0.1:0 COMPONENT`: `-Scli` gives the guest `wasi:cli` (its stdio and
/// environment), which a `wasi:http/proxy` built by Rust's `wasm32-wasip2` imports; nothing else is needed.
pub(crate) struct Wasmtime {
    child: Child,
    addr: SocketAddr,
}

impl Wasmtime {
    fn serve(component: &Path) -> Wasmtime {
        Wasmtime::serve_with(component, &[])
    }

    pub(crate) fn serve_with(component: &Path, args: &[&str]) -> Wasmtime {
        let mut child = Command::new(tool("wasmtime"))
            .args(["serve", "-Scli", "--addr", "127.0.0.1:0"])
            .args(args)
            .arg(component)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning wasmtime serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stderr);
            let mut seen = String::new();
            let mut line = String::new();
            while lines.read_line(&mut line).unwrap_or(0) > 0 {
                seen.push_str(&line);
                if let Some(addr) = line.trim().strip_prefix("Serving HTTP on http://") {
                    let _ = tx.send(Ok(addr.trim_end_matches('/').to_string()));
                    // Keep draining so the server never blocks on a full pipe.
                    let _ = lines.read_to_end(&mut Vec::new());
                    return;
                }
                line.clear();
            }
            let _ = tx.send(Err(seen));
        });
        let addr = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(Ok(addr)) => addr.parse().expect("wasmtime serve's address"),
            other => {
                let _ = child.kill();
                panic!("wasmtime serve did not start: {other:?}")
            }
        };
        Wasmtime { child, addr }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Wasmtime {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- the tests -----------------------------------------------------------------------------------------------

/// Every route but `/random`: what the bundle and `tarfs` decide.
const ROUTES: &[&str] = &[
    "/",
    "/file/greeting.txt",
    "/file/data/items.json",
    "/file/missing.txt",
    "/file/data",
    "/file/greeting.txt/x",
    "/file/../../etc/passwd",
    "/file//etc/passwd",
    "/dir/",
    "/dir/data",
    "/dir/greeting.txt",
    "/nowhere",
];

fn answers(url: impl Fn(&str) -> String) -> Vec<(String, u16, String)> {
    ROUTES
        .iter()
        .map(|route| {
            let (status, body) = get(&url(route));
            (route.to_string(), status, text(&body))
        })
        .collect()
}

/// The body of a GET that must answer 200.
fn ok_text(url: &str) -> String {
    let (status, body) = get(url);
    assert_eq!(status, 200, "{}", text(&body));
    text(&body)
}

#[test]
fn wac_plug_satisfies_the_runtime_imports() {
    let (imports, _) = interface(&worker());
    for needed in [
        "pyworkers:runtime/tarfs@0.1.0",
        "pyworkers:runtime/entropy@0.1.0",
    ] {
        assert!(
            imports.iter().any(|i| i == needed),
            "the worker alone imports {needed}: {imports:?}"
        );
    }
    for path in [composed(), composed_zeros()] {
        let (imports, exports) = interface(path);
        let runtime: Vec<_> = imports
            .iter()
            .filter(|i| i.starts_with("pyworkers:"))
            .collect();
        assert!(
            runtime.is_empty(),
            "{} still imports {runtime:?}",
            path.display()
        );
        assert!(
            imports.iter().all(|i| i.starts_with("wasi:")),
            "{imports:?}"
        );
        assert!(
            exports
                .iter()
                .any(|e| e.starts_with("wasi:http/incoming-handler@0.2")),
            "{} exports {exports:?}",
            path.display()
        );
    }
}

#[test]
fn composed_component_answers_the_same_under_pyworkers_and_wasmtime_serve() {
    let ours = Server::serve(composed(), &[]);
    let stock = Wasmtime::serve(composed());
    let expected = answers(|p| ours.url(p));
    assert_eq!(
        expected,
        answers(|p| stock.url(p)),
        "pyworkers serve vs wasmtime serve"
    );

    let bundle = repo().join("tests/guests/composed-worker/bundle");
    let read = |name: &str| std::fs::read_to_string(bundle.join(name)).unwrap();
    let answer = |route: &str| {
        let (_, status, body) = expected.iter().find(|(r, ..)| r == route).unwrap();
        (*status, body.as_str())
    };
    assert_eq!(answer("/"), (200, "hello from a composed worker\n"));
    assert_eq!(
        answer("/file/greeting.txt"),
        (200, read("greeting.txt").as_str())
    );
    assert_eq!(
        answer("/file/data/items.json"),
        (200, read("data/items.json").as_str())
    );
    assert_eq!(answer("/file/missing.txt"), (404, "not-found\n"));
    assert_eq!(answer("/file/data"), (404, "is-a-directory\n"));
    assert_eq!(answer("/file/greeting.txt/x"), (404, "not-a-directory\n"));
    assert_eq!(answer("/file/../../etc/passwd"), (404, "escapes-root\n"));
    assert_eq!(
        answer("/dir/"),
        (200, "directory data\nfile greeting.txt\n")
    );
    assert_eq!(answer("/dir/data"), (200, "file items.json\n"));
    assert_eq!(answer("/dir/greeting.txt"), (404, "not-a-directory\n"));
    assert_eq!(answer("/nowhere"), (404, "no such route\n"));
    // An absolute path in the bundle is the bundle's root, never the host's.
    assert_eq!(answer("/file//etc/passwd"), (404, "not-found\n"));

    // Randomness comes from the plugged-in `entropy`, live after the reseed, fresh on every request.
    for url in [ours.url("/random?n=16"), stock.url("/random?n=16")] {
        let (a, b) = (ok_text(&url), ok_text(&url));
        assert!(
            a.starts_with("mode=live bytes=") && a.len() == "mode=live bytes=\n".len() + 32,
            "{a}"
        );
        assert_ne!(a, b, "two requests saw the same random bytes");
        assert_ne!(a, format!("mode=live bytes={}\n", "00".repeat(16)));
    }
}

#[test]
fn swapping_the_entropy_component_changes_what_the_worker_sees_and_nothing_else() {
    let real = Server::serve(composed(), &[]);
    let ours = Server::serve(composed_zeros(), &[]);
    let stock = Wasmtime::serve(composed_zeros());
    let zeros = format!("mode=live bytes={}\n", "00".repeat(32));
    assert_eq!(ok_text(&ours.url("/random?n=32")), zeros);
    assert_eq!(ok_text(&stock.url("/random?n=32")), zeros);
    assert_ne!(ok_text(&real.url("/random?n=32")), zeros);
    // Everything that does not touch randomness is unchanged.
    let expected = answers(|p| real.url(p));
    assert_eq!(answers(|p| ours.url(p)), expected);
    assert_eq!(answers(|p| stock.url(p)), expected);
}

/// `/count` `n` times in a row: how many requests the instance that answered each had served.
fn counts(url: &str, n: usize) -> Vec<String> {
    (0..n).map(|_| ok_text(url).trim().to_string()).collect()
}

#[test]
fn reused_instances_keep_their_state_up_to_the_limit_and_a_trap_ends_one() {
    let fresh = Server::serve(composed(), &[]);
    assert_eq!(
        counts(&fresh.url("/count"), 3),
        ["1", "1", "1"],
        "components get a fresh instance by default"
    );

    let ours = Server::serve(
        composed(),
        &["--max-requests-per-instance", "3", "--instances", "1"],
    );
    let stock = Wasmtime::serve_with(
        composed(),
        &[
            "--max-instance-reuse-count",
            "3",
            "--idle-instance-timeout",
            "60s",
        ],
    );
    for (server, url) in [("pyworkers", ours.url("")), ("wasmtime", stock.url(""))] {
        let count = format!("{url}/count");
        assert_eq!(counts(&count, 4), ["1", "2", "3", "1"], "{server}");
        // The second instance traps on its second request, one before its limit: it is dropped, not given the
        // next request (which would then count 3).
        let (status, _) = get(&format!("{url}/trap"));
        assert_eq!(status, 500, "{server}");
        assert_eq!(counts(&count, 2), ["1", "2"], "{server}");
    }
    let log = ours.wait_for_log("trapping on purpose");
    assert!(
        log.contains("trapping on purpose, after 2 requests"),
        "{log}"
    );
}
