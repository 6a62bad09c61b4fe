//! Shared helpers: the built `pyworkers` binary, run against one cache prepared once per test process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The `pyworkers` binary Cargo built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pyworkers"))
}

/// The cache every test shares: `$PYWORKERS_HOME` if set (CI points it under `target/`), else the default.
/// `pyworkers setup` runs once, first, so tests never race to compile Pyodide.
pub fn home() -> &'static PathBuf {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let home = std::env::var_os("PYWORKERS_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(pyworkers::runtime::default_home);
        let out = Command::new(bin())
            .arg("setup")
            .env("PYWORKERS_HOME", &home)
            .output()
            .expect("running pyworkers setup");
        assert!(
            out.status.success(),
            "pyworkers setup failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        home
    })
}

/// `pyworkers ARGS...` with `stdin` as standard input.
pub fn pyworkers(args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(bin())
        .args(args)
        .env("PYWORKERS_HOME", home())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning pyworkers");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().expect("waiting for pyworkers")
}

/// Run `-c code`; returns (status, stdout, stderr).
pub fn run_code(code: &str) -> (i32, String, String) {
    let out = pyworkers(&["run", "-c", code], b"");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Pyodide loaded once per test process from the shared cache, with room for many live instances (tests run in
/// parallel threads).
pub fn pyodide() -> &'static std::sync::Arc<pyworkers::interpreter::Pyodide> {
    static PYODIDE: OnceLock<std::sync::Arc<pyworkers::interpreter::Pyodide>> = OnceLock::new();
    PYODIDE.get_or_init(|| {
        let runtime = pyworkers::runtime::Runtime::ensure(home()).unwrap();
        let engine = pyworkers::interpreter::engine(64).unwrap();
        std::sync::Arc::new(pyworkers::interpreter::Pyodide::load(&runtime, &engine).unwrap())
    })
}

/// A Rust guest built (release, wasm32-wasip2) from `manifest` (relative to the repository root) once per test
/// process; returns the `.wasm` named `artifact`. Cargo's own caching under `target/` makes a repeated build cheap.
pub fn wasm_guest(manifest: &str, artifact: &str) -> PathBuf {
    cargo_wasm(manifest, "wasm32-wasip2", None).join(artifact)
}

/// The Pyodide component's shim (`guest-adapters/emscripten-shim`), as the binary embeds it (`host/build.rs`): the
/// tests exercise exactly what `pyworkers component` ships.
pub fn shim() -> &'static [u8] {
    pyworkers::component::shim().expect("the shim is built with the host (rustup target add wasm32-wasip1)")
}

/// Build `manifest` (or one `package` of it) for `target`; returns the directory the artifacts are in.
fn cargo_wasm(manifest: &str, target: &str, package: Option<&str>) -> PathBuf {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let key = format!("{manifest} {target} {package:?}");
    built
        .entry(key)
        .or_insert_with(|| {
            let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("guests");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut command = Command::new(cargo);
            command.args(["build", "--release", "--target", target, "--manifest-path"]).arg(repo().join(manifest));
            if let Some(package) = package {
                command.args(["-p", package]);
            }
            let out = command
                .arg("--target-dir")
                .arg(&target_dir)
                // The outer build's flags (e.g. for the host) must not leak into the guest's.
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS")
                .output()
                .expect("running cargo to build a guest");
            assert!(
                out.status.success(),
                "building {manifest} for {target} failed (is the target installed? `rustup target add {target}`):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            target_dir.join(target).join("release")
        })
        .clone()
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The pinned third-party tool `name` (`tests/tools/install`: the real `wac` CLI, stock `wasmtime`):
/// `$PYWORKERS_<NAME>`, else `target/tools/bin/NAME` (installed on first use).
pub fn tool(name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(format!("PYWORKERS_{}", name.to_uppercase())) {
        return PathBuf::from(path);
    }
    static INSTALLED: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _once = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    let path = repo().join("target/tools/bin").join(name);
    if !path.exists() {
        eprintln!("tests: {} missing; running tests/tools/install (builds wac-cli and wasmtime-cli once)", path.display());
        let status = Command::new("bash")
            .arg(repo().join("tests/tools/install"))
            .status()
            .expect("running tests/tools/install");
        assert!(status.success(), "tests/tools/install failed");
    }
    path
}
