//! The cache stays under its cap however many snapshots come and go, keeps what is in use, and says what it holds.

use crate::support::home;
use std::path::Path;
use std::process::Command;

/// A home of our own whose Pyodide files and compiled code are the shared cache's (symlinks: nothing downloaded or
/// compiled, and our evictions only ever remove links), so only what this test adds takes space in it.
fn home_sharing_pyodide() -> tempfile::TempDir {
    let shared = home();
    let tmp = tempfile::tempdir().unwrap();
    for dir in ["pyodide-314.0.7", "compiled"] {
        let (from_dir, to_dir) = (shared.join(dir), tmp.path().join(dir));
        std::fs::create_dir(&to_dir).unwrap();
        for entry in std::fs::read_dir(&from_dir).unwrap() {
            let name = entry.unwrap().file_name();
            if !name.to_string_lossy().starts_with('.') {
                std::os::unix::fs::symlink(from_dir.join(&name), to_dir.join(&name)).unwrap();
            }
        }
    }
    tmp
}

fn pyworkers(home: &Path, cap: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(crate::support::bin())
        .args(args)
        .env("PYWORKERS_HOME", home)
        .env("PYWORKERS_CACHE_SIZE", cap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyworkers {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn usage(home: &Path) -> u64 {
    pyworkers::runtime::usage::total(&pyworkers::runtime::usage::entries(home))
}

#[test]
fn cache_never_exceeds_its_cap_over_50_snapshot_and_run_cycles() {
    let home = home_sharing_pyodide();
    let cap: u64 = 48 << 20; // room for about four 11 MiB snapshot states
    let work = tempfile::tempdir().unwrap();
    let worker = work.path().join("w.py");
    let snap = work.path().join("w.snap");
    let mut states_seen = 0;
    for i in 0..50 {
        // A different worker each time, so each snapshot has new state to cache.
        std::fs::write(&worker, format!("VALUE = {i}\ndef value():\n    return VALUE\n")).unwrap();
        let (w, s) = (worker.to_str().unwrap(), snap.to_str().unwrap());
        pyworkers(home.path(), "48MiB", &["snapshot", w, "-o", s, "--hash-seed", "1"]);
        let out = pyworkers(
            home.path(),
            "48MiB",
            &["run", "--snapshot", s, "--worker", w, "-c", "import w; print(w.value())"],
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{i}\n"));
        let used = usage(home.path());
        assert!(used <= cap, "cycle {i}: the cache holds {used} bytes, over its cap of {cap}");
        states_seen = states_seen.max(
            pyworkers::runtime::usage::entries(home.path())
                .iter()
                .filter(|e| e.kind == "snapshot state")
                .count(),
        );
    }
    assert!(states_seen >= 2, "the cap left room for no snapshot state at all");
    // What is listed is what is there; `cache clean` empties it.
    let list = pyworkers(home.path(), "48MiB", &["cache"]);
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains("snapshot state") && list.contains("compiled code"), "{list}");
    pyworkers(home.path(), "48MiB", &["cache", "clean"]);
    assert!(pyworkers::runtime::usage::entries(home.path()).is_empty());
}

#[test]
fn a_bad_cache_size_is_a_clear_error() {
    let out = Command::new(crate::support::bin())
        .args(["cache", "--cache-size", "lots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a size such as 2GiB"), "{err}");
}
