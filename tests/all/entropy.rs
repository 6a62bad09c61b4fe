//! `entropy`: the native service beyond the WIT (seeds, exact state round trips; what the WIT promises is the
//! conformance suite's, in `tests/all/conformance.rs`), then in a booted guest: `os.urandom` follows the host's
//! source, and `_pyworkers.entropy` catches import-time draws and replaces what the standard library cached once
//! an instance is restored.

use std::sync::{Arc, OnceLock};

use pyworkers::emscripten::EmContext;
use pyworkers::entropy::{Entropy, EntropyState, Mode};
use pyworkers::interpreter::{BootOptions, Interpreter, Outcome};
use pyworkers::vfs::Output;

const SEED: [u8; 32] = [42; 32];

fn bytes(entropy: &mut Entropy, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    entropy.fill(&mut buf);
    buf
}

#[test]
fn same_seed_same_stream() {
    let (mut a, mut b) = (Entropy::deterministic(SEED), Entropy::deterministic(SEED));
    for len in [0, 1, 3, 32, 1000, 4096] {
        assert_eq!(bytes(&mut a, len), bytes(&mut b, len), "fill({len})");
    }
    assert_eq!(a.mode(), Mode::Deterministic);
    assert_eq!(a.state(), b.state());
}

#[test]
fn different_seeds_differ() {
    let mut other = SEED;
    other[31] ^= 1;
    let mut a = Entropy::deterministic(SEED);
    let mut b = Entropy::deterministic(other);
    assert_ne!(bytes(&mut a, 32), bytes(&mut b, 32));
}

#[test]
fn stream_advances() {
    let mut a = Entropy::deterministic(SEED);
    assert_ne!(bytes(&mut a, 32), bytes(&mut a, 32));
}

#[test]
fn reseed_is_a_one_way_switch_to_live() {
    let mut a = Entropy::deterministic(SEED);
    let mut b = Entropy::deterministic(SEED);
    bytes(&mut a, 10);
    bytes(&mut b, 10);
    a.reseed();
    b.reseed();
    assert_eq!(a.mode(), Mode::Live);
    assert_ne!(bytes(&mut a, 32), bytes(&mut b, 32));
    // Again: still live, and the deterministic continuation is gone.
    let mut twin = Entropy::deterministic(SEED);
    bytes(&mut twin, 10);
    a.reseed();
    assert_eq!(a.mode(), Mode::Live);
    assert_ne!(bytes(&mut a, 32), bytes(&mut twin, 32));
}

#[test]
fn live_instances_differ() {
    let (mut a, mut b) = (Entropy::live(), Entropy::live());
    assert_eq!(a.mode(), Mode::Live);
    assert_ne!(bytes(&mut a, 32), bytes(&mut b, 32));
    assert_eq!(Entropy::default().mode(), Mode::Live);
}

#[test]
fn state_round_trips_mid_stream() {
    let mut a = Entropy::deterministic(SEED);
    // Odd lengths: a partly used 32-bit word must not shift the continuation.
    for len in [5, 1, 77, 300] {
        bytes(&mut a, len);
    }
    let state = a.state();
    assert_eq!(state.mode, Mode::Deterministic);
    assert_eq!(state.seed, SEED);
    assert!(state.word_pos > 0);
    let mut b = Entropy::from_state(&state);
    assert_eq!(b.state(), state);
    for len in [3, 64, 1000] {
        assert_eq!(bytes(&mut a, len), bytes(&mut b, len));
    }

    let copied = EntropyState { ..state };
    assert_eq!(Entropy::from_state(&copied).state(), state);
}

#[test]
fn live_state_restores_live() {
    let mut a = Entropy::deterministic(SEED);
    bytes(&mut a, 8);
    a.reseed();
    let state = a.state();
    assert_eq!(state.mode, Mode::Live);
    assert_eq!(
        state.seed, [0; 32],
        "a live state must not carry the old seed"
    );
    assert_eq!(Entropy::from_state(&state).mode(), Mode::Live);
}

#[test]
fn debug_hides_the_seed() {
    let shown = format!("{:?}", Entropy::deterministic(SEED));
    assert!(shown.contains("Deterministic"), "{shown}");
    assert!(!shown.contains("42"), "{shown}");
}

// --- In the guest ---------------------------------------------------------------------------------------------

fn stdlib() -> pyworkers::tarfs::SharedBytes {
    static STDLIB: OnceLock<pyworkers::tarfs::SharedBytes> = OnceLock::new();
    STDLIB
        .get_or_init(|| {
            Arc::new(std::fs::read(crate::support::pyodide().runtime().stdlib_zip_path()).unwrap())
        })
        .clone()
}

/// An interpreter whose every random byte, from CPython's start-up on, comes from `entropy`.
fn boot(entropy: Entropy) -> Interpreter {
    let vfs = pyworkers::vfs::layout::standard(stdlib(), None, pyworkers::PYWORKERS_LIB_TAR).unwrap();
    let mut em = EmContext::new(vfs);
    em.entropy = entropy;
    Interpreter::boot(crate::support::pyodide(), em, &BootOptions::default()).unwrap()
}

/// Run `code`; returns how it ended and what it printed to stdout and stderr.
fn run(interp: &mut Interpreter, code: &str) -> (Outcome, String, String) {
    let em = &mut interp.host().em;
    em.vfs.stdout = Output::Capture(Vec::new());
    em.vfs.stderr = Output::Capture(Vec::new());
    let code = format!("{code}\nimport sys; sys.stdout.flush(); sys.stderr.flush()");
    let outcome = interp.run_source(&code).unwrap();
    // A failing run skips the trailing flush; flush anyway so its output is seen.
    interp
        .run_source("import sys; sys.stdout.flush(); sys.stderr.flush()")
        .unwrap();
    let vfs = &interp.host().em.vfs;
    let text = |o: &Output| String::from_utf8_lossy(o.captured().unwrap()).into_owned();
    (outcome, text(&vfs.stdout), text(&vfs.stderr))
}

fn run_ok(interp: &mut Interpreter, code: &str) -> String {
    let (outcome, out, err) = run(interp, code);
    assert_eq!(outcome, Outcome::Completed, "{code}\nstderr:\n{err}");
    out
}

const URANDOM: &str = "import os; print(os.urandom(16).hex())";

#[test]
fn guest_urandom_follows_a_deterministic_seed() {
    let mut a = boot(Entropy::deterministic(SEED));
    let mut b = boot(Entropy::deterministic(SEED));
    let first = run_ok(&mut a, URANDOM);
    assert_eq!(first.trim().len(), 32, "{first}");
    assert_eq!(first, run_ok(&mut b, URANDOM));
    // And the hash secret CPython drew at start-up is shared too.
    let hash = "print(hash('pyworkers'))";
    assert_eq!(run_ok(&mut a, hash), run_ok(&mut b, hash));
    assert_eq!(a.host().em.entropy.mode(), Mode::Deterministic);
}

#[test]
fn guest_urandom_is_live_by_default() {
    let mut a = boot(Entropy::live());
    let mut b = boot(Entropy::live());
    assert_ne!(run_ok(&mut a, URANDOM), run_ok(&mut b, URANDOM));
}

const BEFORE: &str = "import _pyworkers.entropy as e; e.before_prepare()";
const AFTER: &str = "import _pyworkers.entropy as e; e.after_prepare()";
const RANDOM_DREW: &str =
    "worker code drew from `random` at import time; every instance restored from this \
                           snapshot would share those values";

#[test]
fn importing_random_while_preparing_passes() {
    let mut py = boot(Entropy::deterministic(SEED));
    run_ok(
        &mut py,
        "import sys; assert 'random' not in sys.modules, 'random imported at boot'",
    );
    run_ok(&mut py, BEFORE);
    run_ok(
        &mut py,
        "import random, secrets, tempfile, uuid, email.generator",
    );
    run_ok(&mut py, AFTER);
    // The watch is over: drawing now is the worker's business.
    run_ok(
        &mut py,
        "import random, sys; random.random(); assert not any(type(f).__name__ == '_Finder' and \
                     f.__module__ == '_pyworkers.entropy' for f in sys.meta_path)",
    );
}

fn assert_random_drew(py: &mut Interpreter) {
    let (outcome, _, err) = run(py, AFTER);
    assert_eq!(outcome, Outcome::Raised, "after_prepare() should raise");
    assert!(err.contains("RuntimeError"), "{err}");
    assert!(err.contains(RANDOM_DREW), "{err}");
}

#[test]
fn drawing_from_random_while_preparing_raises() {
    let mut py = boot(Entropy::deterministic(SEED));
    run_ok(&mut py, BEFORE);
    run_ok(&mut py, "import random");
    run_ok(&mut py, "random.random()");
    assert_random_drew(&mut py);
}

#[test]
fn drawing_from_random_imported_before_preparing_raises() {
    let mut py = boot(Entropy::deterministic(SEED));
    run_ok(&mut py, "import random");
    run_ok(&mut py, BEFORE);
    run_ok(&mut py, "random.choice('abc')");
    assert_random_drew(&mut py);
}

#[test]
fn lenient_prepare_warns_instead() {
    let mut py = boot(Entropy::deterministic(SEED));
    run_ok(&mut py, BEFORE);
    run_ok(&mut py, "import random; random.random()");
    let (outcome, out, err) = run(
        &mut py,
        "import _pyworkers.entropy as e; print(len(e.after_prepare(strict=False)))",
    );
    assert_eq!(outcome, Outcome::Completed, "{err}");
    assert_eq!(out.trim(), "1");
    assert!(err.contains(RANDOM_DREW), "{err}");
}

#[test]
fn import_time_secrets_are_reported() {
    let mut py = boot(Entropy::deterministic(SEED));
    run_ok(&mut py, BEFORE);
    run_ok(&mut py, "import secrets\nTOKEN = secrets.token_hex()");
    let (outcome, _, err) = run(&mut py, AFTER);
    assert_eq!(outcome, Outcome::Raised);
    assert!(
        err.contains("worker code drew from `os.urandom` at import time"),
        "{err}"
    );
    assert!(
        err.contains("<string>:2"),
        "the report names the worker's line: {err}"
    );
    assert!(
        !err.contains(RANDOM_DREW),
        "SystemRandom is not `random`'s generator: {err}"
    );
    // os.urandom and random's SystemRandom are the real ones again.
    run_ok(
        &mut py,
        "import os, random, posix; assert os.urandom is posix.urandom and random._urandom is posix.urandom",
    );
}

#[test]
fn stdlib_draws_that_restored_replaces_are_not_reported() {
    let mut py = boot(Entropy::deterministic(SEED));
    run_ok(&mut py, BEFORE);
    run_ok(
        &mut py,
        "import uuid, multiprocessing.process; uuid.getnode()",
    );
    run_ok(&mut py, AFTER);
}

const VALUES: &str = "import os, random, secrets, tempfile, uuid, multiprocessing.process as mp\n\
                      print(random.random(), secrets.token_hex(), os.urandom(16).hex(), uuid.uuid4(), \
                      uuid.getnode(), next(tempfile._get_candidate_names()), mp.current_process().authkey.hex())";

#[test]
fn restored_instances_diverge() {
    let prepare = |py: &mut Interpreter| {
        run_ok(py, BEFORE);
        run_ok(
            py,
            "import random, secrets, tempfile, uuid, multiprocessing.process",
        );
        run_ok(py, AFTER);
    };
    let mut a = boot(Entropy::deterministic(SEED));
    let mut b = boot(Entropy::deterministic(SEED));
    prepare(&mut a);
    prepare(&mut b);
    // What a snapshot would freeze: the same generator state in both.
    let state = "import random; print(hash(random.getstate()))";
    assert_eq!(run_ok(&mut a, state), run_ok(&mut b, state));

    for py in [&mut a, &mut b] {
        py.host().em.entropy.reseed();
        run_ok(py, "import _pyworkers.entropy as e; e.restored()");
    }
    let (va, vb) = (run_ok(&mut a, VALUES), run_ok(&mut b, VALUES));
    let (va, vb): (Vec<&str>, Vec<&str>) = (
        va.split_whitespace().collect(),
        vb.split_whitespace().collect(),
    );
    let names = [
        "random.random()",
        "secrets.token_hex()",
        "os.urandom(16)",
        "uuid.uuid4()",
        "uuid.getnode()",
        "tempfile name",
        "multiprocessing authkey",
    ];
    assert_eq!(va.len(), names.len(), "{va:?}");
    for (i, name) in names.into_iter().enumerate() {
        assert_ne!(va[i], vb[i], "{name} is shared between restored instances");
    }
}

#[test]
fn without_restored_the_stdlib_keeps_snapshot_values() {
    // The control for `restored_instances_diverge`: live entropy alone does not fix cached generators.
    let mut a = boot(Entropy::deterministic(SEED));
    let mut b = boot(Entropy::deterministic(SEED));
    let code = "import random, tempfile; next(tempfile._get_candidate_names())";
    run_ok(&mut a, code);
    run_ok(&mut b, code);
    a.host().em.entropy.reseed();
    b.host().em.entropy.reseed();
    let cached =
        "import random, tempfile; print(random.random(), next(tempfile._get_candidate_names()))";
    assert_eq!(run_ok(&mut a, cached), run_ok(&mut b, cached));
    assert_ne!(run_ok(&mut a, URANDOM), run_ok(&mut b, URANDOM));
}

#[test]
fn restored_imports_nothing() {
    let mut py = boot(Entropy::live());
    let out = run_ok(
        &mut py,
        "import sys, random, tempfile, uuid, multiprocessing.process, _pyworkers.entropy as e\n\
         before = set(sys.modules)\ne.restored()\nprint(sorted(set(sys.modules) - before))",
    );
    assert_eq!(out.trim(), "[]");
}
