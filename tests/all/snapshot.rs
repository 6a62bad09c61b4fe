//! Memory snapshots: capture, restore, independence, entropy, validation, reproducibility.

use crate::support::pyworkers;
use pyworkers::interpreter::Interpreter;
use pyworkers::snapshot::{Restorer, SnapshotData};
use pyworkers::vfs::Output;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const WORKER: &str = r#"
import json
print("worker imported", flush=True)
STATE = {"squares": [i * i for i in range(100)], "config": json.loads('{"name": "w"}')}
def hello():
    return f"hello {STATE['config']['name']} {sum(STATE['squares'])}"
"#;

/// A temp dir with `worker.py`, and a dedicated snapshot of it made once per test process.
fn fixture() -> &'static (tempfile::TempDir, PathBuf, PathBuf) {
    static FIXTURE: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let worker = dir.path().join("worker.py");
        std::fs::write(&worker, WORKER).unwrap();
        let snap = dir.path().join("worker.snap");
        let out = pyworkers(
            &[
                "snapshot",
                worker.to_str().unwrap(),
                "-o",
                snap.to_str().unwrap(),
                // Pinned, so reruns of the suite reuse the cached state module instead of adding one.
                "--hash-seed",
                "1",
            ],
            b"",
        );
        assert!(
            out.status.success(),
            "snapshot failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "worker imported\n",
            "the import ran while preparing"
        );
        (dir, worker, snap)
    })
}

fn run_snapshot(snap: &Path, worker: Option<&Path>, code: &str) -> (i32, String, String) {
    let mut args = vec!["run", "--snapshot", snap.to_str().unwrap()];
    if let Some(w) = worker {
        args.extend(["--worker", w.to_str().unwrap()]);
    }
    args.extend(["-c", code]);
    let out = pyworkers(&args, b"");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn import_time_state_survives_restore() {
    let (_, worker, snap) = fixture();
    let (status, out, err) = run_snapshot(
        snap,
        Some(worker),
        "import sys, worker; print(worker.hello(), 'worker' in sys.modules)",
    );
    assert_eq!(status, 0, "{err}");
    // No "worker imported": the module was restored, not re-executed.
    assert_eq!(out, "hello w 328350 True\n");
}

/// An in-process restorer for the fixture snapshot, capturing stdout.
fn restorer() -> Restorer {
    let (_, worker, snap) = fixture();
    let pyodide = crate::support::pyodide();
    let data = SnapshotData::decode(&std::fs::read(snap).unwrap()).unwrap();
    let mut vfs = pyworkers::stdlib::vfs(pyodide).unwrap();
    let info = data.worker.clone().unwrap();
    let worker = pyworkers::snapshot::Worker::load(worker, "main").unwrap();
    assert_eq!(
        worker.sha256, info.bundle_sha256,
        "the same file loads to the same bundle"
    );
    vfs.mount(&info.mount, pyworkers::vfs::Fs::Tar(worker.archive), false)
        .unwrap();
    Restorer::new(pyodide, data, vfs).unwrap()
}

fn instance(r: &Restorer) -> Interpreter {
    r.instantiate(|em| em.vfs.stdout = Output::Capture(Vec::new()))
        .unwrap()
}

fn output(interp: &mut Interpreter, code: &str) -> String {
    let before = interp.host().em.vfs.stdout.captured().unwrap().len();
    let outcome = interp.run_source(code).unwrap();
    assert_eq!(
        outcome,
        pyworkers::interpreter::Outcome::Completed,
        "{code}"
    );
    let all = interp.host().em.vfs.stdout.captured().unwrap();
    String::from_utf8_lossy(&all[before..]).into_owned()
}

#[test]
fn restored_instances_are_independent() {
    let r = restorer();
    let mut a = instance(&r);
    let mut b = instance(&r);
    output(&mut a, "import worker; worker.STATE['config']['name'] = 'changed'; open('/tmp/a.txt', 'w').write('a')");
    let out = output(
        &mut b,
        "import worker, os; print(worker.hello(), os.path.exists('/tmp/a.txt'), flush=True)",
    );
    assert_eq!(out, "hello w 328350 False\n");
    let out = output(
        &mut a,
        "import worker; print(worker.hello(), open('/tmp/a.txt').read(), flush=True)",
    );
    assert_eq!(out, "hello changed 328350 a\n");
}

/// Objects from the snapshot are immortal (their reference counts are never written, so their pages stay
/// shared); objects made after restore live and die as usual, and stay alive while only a snapshot object holds
/// them.
#[test]
fn prepared_objects_are_immortal_and_new_ones_are_collected_as_usual() {
    let r = restorer();
    let mut a = instance(&r);
    let out = output(
        &mut a,
        "import sys, worker; print(sys._is_immortal(worker.hello), sys._is_immortal(worker.STATE), \
         sys._is_immortal(worker.hello.__code__), sys._is_immortal(worker.STATE['config']), sys._is_immortal([]), flush=True)",
    );
    assert_eq!(out, "True True True True False\n");
    let out = output(
        &mut a,
        "import gc, weakref, worker\n\
         class C: pass\n\
         kept, dropped, cycle = C(), C(), C()\n\
         cycle.me = cycle\n\
         worker.STATE['kept'] = kept\n\
         refs = [weakref.ref(o) for o in (kept, dropped, cycle)]\n\
         del kept, dropped, cycle\n\
         gc.collect()\n\
         print([r() is not None for r in refs], flush=True)",
    );
    assert_eq!(out, "[True, False, False]\n", "held by a snapshot object / freed / collected as a cycle");
}

#[test]
fn entropy_is_deterministic_before_restored_and_diverges_after() {
    let r = restorer();
    let code = "import os, random, secrets, uuid; print(os.urandom(16).hex(), random.random(), secrets.token_hex(8), uuid.uuid4(), flush=True)";
    let mut a = instance(&r);
    let mut b = instance(&r);
    // Before restored(): both continue the same deterministic stream.
    assert_eq!(output(&mut a, code), output(&mut b, code));
    let mut c = instance(&r);
    let mut d = instance(&r);
    Restorer::restored(&mut c).unwrap();
    Restorer::restored(&mut d).unwrap();
    let (oc, od) = (output(&mut c, code), output(&mut d, code));
    let (fc, fd): (Vec<&str>, Vec<&str>) = (
        oc.split_whitespace().collect(),
        od.split_whitespace().collect(),
    );
    assert_eq!(fc.len(), 4);
    for (x, y) in fc.iter().zip(&fd) {
        assert_ne!(x, y, "restored instances share a random value: {oc} / {od}");
    }
}

#[test]
fn stdlib_modules_work_after_restore() {
    let r = restorer();
    let mut i = instance(&r);
    Restorer::restored(&mut i).unwrap();
    let code = r#"
import json, re, datetime, decimal, asyncio, email.message
async def main():
    await asyncio.sleep(0)
    return json.dumps({"d": str(decimal.Decimal("1.10") * 3)})
m = email.message.EmailMessage(); m["To"] = "a@b.c"
print(asyncio.run(main()), re.findall(r"\d", "a1b2"), datetime.date(2020, 1, 1).isoformat(), m["To"], flush=True)
"#;
    assert_eq!(
        output(&mut i, code),
        "{\"d\": \"3.30\"} ['1', '2'] 2020-01-01 a@b.c\n"
    );
}

#[test]
fn damaged_snapshots_are_refused() {
    let (dir, worker, snap) = fixture();
    let good = std::fs::read(snap).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "magic",
            [b"NOTASNAP".as_slice(), &good[8..]].concat(),
            "not a pyworkers snapshot",
        ),
        (
            "version",
            {
                let mut b = good.clone();
                b[8] = 99;
                b
            },
            "format version 99",
        ),
        ("truncated", good[..good.len() / 2].to_vec(), "damaged"),
        (
            "bitflip",
            {
                let mut b = good.clone();
                let i = b.len() / 3;
                b[i] ^= 0x10;
                b
            },
            "damaged",
        ),
        ("empty", Vec::new(), "not a pyworkers snapshot"),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(format!("bad-{name}.snap"));
        std::fs::write(&path, bytes).unwrap();
        let (status, _, err) = run_snapshot(&path, Some(worker), "print(1)");
        assert_eq!(status, 2, "{name}: {err}");
        assert!(
            err.contains(expected),
            "{name}: expected `{expected}` in: {err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn a_different_worker_or_pyodide_is_refused() {
    let (dir, worker, snap) = fixture();
    let other = dir.path().join("other").join("worker.py");
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    std::fs::write(&other, format!("{WORKER}\nEXTRA = 1\n")).unwrap();
    let (status, _, err) = run_snapshot(snap, Some(&other), "print(1)");
    assert_eq!(status, 2);
    assert!(
        err.contains("differs from the one this snapshot was made with"),
        "{err}"
    );
    let (status, _, err) = run_snapshot(snap, None, "print(1)");
    assert_eq!(status, 2);
    assert!(err.contains("pass the same worker with --worker"), "{err}");

    let mut data = SnapshotData::decode(&std::fs::read(snap).unwrap()).unwrap();
    data.pyodide_sha256 = "0".repeat(64);
    let path = dir.path().join("other-pyodide.snap");
    std::fs::write(&path, data.encode().unwrap()).unwrap();
    let (status, _, err) = run_snapshot(&path, Some(worker), "print(1)");
    assert_eq!(status, 2);
    assert!(err.contains("different Pyodide"), "{err}");

    let mut data = SnapshotData::decode(&std::fs::read(snap).unwrap()).unwrap();
    assert_eq!(
        data.stdlib_bytecode_sha256.len(),
        64,
        "the snapshot records the bytecode archive it was made with"
    );
    data.stdlib_bytecode_sha256 = "f".repeat(64);
    let path = dir.path().join("other-bytecode.snap");
    std::fs::write(&path, data.encode().unwrap()).unwrap();
    let (status, _, err) = run_snapshot(&path, Some(worker), "print(1)");
    assert_eq!(status, 2);
    assert!(
        err.contains("different standard-library bytecode archive"),
        "{err}"
    );

    let mut data = SnapshotData::decode(&std::fs::read(snap).unwrap()).unwrap();
    data.pyworkers_version = "0.0.0-other".into();
    let path = dir.path().join("other-version.snap");
    std::fs::write(&path, data.encode().unwrap()).unwrap();
    let (status, _, err) = run_snapshot(&path, Some(worker), "print(1)");
    assert_eq!(status, 2);
    assert!(err.contains("made by pyworkers 0.0.0-other"), "{err}");
}

#[test]
fn pinned_hash_seed_snapshots_are_reproducible() {
    let (dir, worker, _) = fixture();
    let make = |name: &str, seed: Option<&str>| -> Vec<u8> {
        let out_path = dir.path().join(name);
        let mut args = vec![
            "snapshot",
            worker.to_str().unwrap(),
            "-o",
            out_path.to_str().unwrap(),
        ];
        if let Some(s) = seed {
            args.extend(["--hash-seed", s]);
        }
        let out = pyworkers(&args, b"");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(out_path).unwrap()
    };
    let a = make("a.snap", Some("7"));
    let b = make("b.snap", Some("7"));
    assert!(
        a == b,
        "two snapshots of the same inputs with --hash-seed 7 differ"
    );
    // Without a pinned seed, each snapshot gets its own secret hash seed.
    let c = make("c.snap", None);
    let d = make("d.snap", None);
    assert!(c != d);
    let data = SnapshotData::decode(&a).unwrap();
    assert_eq!(data.hash_seed, pyworkers::snapshot::HashSeed::Pinned(7));
}

#[test]
fn baseline_snapshot_runs_scripts_without_worker_files() {
    let (dir, _, _) = fixture();
    let base = dir.path().join("baseline.snap");
    let out = pyworkers(
        &[
            "snapshot",
            "--kind",
            "baseline",
            "-o",
            base.to_str().unwrap(),
            "--hash-seed",
            "1",
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = SnapshotData::decode(&std::fs::read(&base).unwrap()).unwrap();
    assert!(data.worker.is_none());
    let (status, out, err) = run_snapshot(
        &base,
        None,
        "import sys, os; print('json' in sys.modules, os.path.exists('/app'))",
    );
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "True False\n");
    let script = dir.path().join("script.py");
    std::fs::write(&script, "import sys; print(sys.argv[1:]); sys.exit(4)").unwrap();
    let out = pyworkers(
        &[
            "run",
            "--snapshot",
            base.to_str().unwrap(),
            script.to_str().unwrap(),
            "x",
        ],
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "['x']\n");
}
