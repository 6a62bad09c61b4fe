//! Shared helpers: the built `pyworkers` binary, run against one cache prepared once per test process.

use std::path::PathBuf;
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
    use std::collections::HashMap;
    use std::path::Path;
    use std::sync::Mutex;
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let target_dir = built.entry(manifest.to_string()).or_insert_with(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("guests");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
            .arg(root.join(manifest))
            .arg("--target-dir")
            .arg(&target_dir)
            // The outer build's flags (e.g. for the host) must not leak into the guest's.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .expect("running cargo to build a guest");
        assert!(
            out.status.success(),
            "building {manifest} failed (is the target installed? `rustup target add wasm32-wasip2`):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target_dir
    });
    target_dir.join("wasm32-wasip2/release").join(artifact)
}
