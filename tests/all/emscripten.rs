//! The Emscripten ABI as the real guest sees it, end to end through `pyworkers run`. The imports themselves are
//! unit-tested without wasm in `crates/emscripten/src/tests.rs`; these check the guest's libc and CPython read what
//! the host writes, and that the same unit suite passes compiled *to* wasm, as the Pyodide component will hold it.

use crate::support::{repo, run_code, tool};
use std::path::Path;
use std::process::Command;

/// The engine-free ABI and VFS crates' own test suites, built for `wasm32-wasip2` and run by stock `wasmtime`:
/// the code the Pyodide component is to compile gives the same answers inside a wasm guest as natively.
#[test]
fn abi_and_vfs_suites_pass_compiled_to_wasm() {
    let wasmtime = tool("wasmtime");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "--release", "--target", "wasm32-wasip2", "-p", "pyworkers-emscripten", "-p", "pyworkers-vfs"])
        .arg("--manifest-path")
        .arg(repo().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm32-abi"))
        .env("CARGO_TARGET_WASM32_WASIP2_RUNNER", &wasmtime)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("running cargo test for wasm32-wasip2");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the wasm32 suites failed:\n{stdout}\n{stderr}");
    // Both crates' wasm test binaries ran (cargo cannot execute a `.wasm` itself: only the runner can).
    for krate in ["pyworkers_emscripten-", "pyworkers_vfs-"] {
        assert!(
            stderr.lines().any(|l| l.contains("Running") && l.contains(krate) && l.contains(".wasm")),
            "{krate}*.wasm was not run:\n{stderr}"
        );
    }
    let passed: Vec<usize> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(passed.iter().sum::<usize>() >= 30, "too few tests ran: {passed:?}\n{stdout}");
}

#[test]
fn import_ctypes_is_an_import_error_that_says_why() {
    for code in ["import ctypes", "import _ctypes"] {
        let (status, out, err) = run_code(code);
        assert_eq!((status, out.as_str()), (1, ""), "{code}: stderr: {err}");
        assert!(
            err.contains("ImportError: ctypes is not available in pyworkers"),
            "{code}: {err}"
        );
        assert!(
            err.contains("libffi") && err.contains("dlopen"),
            "{code}: {err}"
        );
        assert!(!err.contains("MemoryError"), "{code}: {err}");
    }
    // Code that probes for ctypes the usual way carries on.
    let (status, out, err) =
        run_code("try:\n    import ctypes\nexcept ImportError as e:\n    print('no', e.name)\n");
    assert_eq!((status, out.as_str()), (0, "no _ctypes\n"), "stderr: {err}");
}

#[test]
fn stat_listdir_and_time_read_what_the_host_writes() {
    let code = r#"
import os, time
os.makedirs("/tmp/d")
for i in range(300):
    with open(f"/tmp/d/f{i:03}", "wb") as f:
        f.write(b"x" * i)
names = sorted(os.listdir("/tmp/d"))
assert names == [f"f{i:03}" for i in range(300)], names[:5]
st = os.stat("/tmp/d/f123")
assert (st.st_size, oct(st.st_mode), st.st_nlink, st.st_blksize) == (123, "0o100644", 1, 4096), st
os.utime("/tmp/d/f123", ns=(1, 1_234_567_890_123_000_000))
assert os.stat("/tmp/d/f123").st_mtime_ns == 1_234_567_890_123_000_000
fd = os.open("/tmp/d/f009", os.O_RDONLY)
a, b = bytearray(4), bytearray(10)
assert os.readv(fd, [a, b]) == 9 and bytes(b[:5]) == b"xxxxx"
assert time.gmtime(951827696)[:8] == (2000, 2, 29, 12, 34, 56, 1, 60)
assert time.mktime((1999, 13, 1, 0, 0, 0, 0, 0, 0)) == 946684800
print("ok")
"#;
    let (status, out, err) = run_code(code);
    assert_eq!((status, out.as_str()), (0, "ok\n"), "stderr: {err}");
}
