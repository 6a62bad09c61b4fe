//! Conformance: each interface's suite (`host/src/conformance`) against the native implementation and against
//! the components in `guest-adapters/` (and, for `entrypoint` and `snapshot`, the Rust reference worker
//! `tests/guests/reference-worker`), which must agree row for row; `pyworkers conformance` on the command line;
//! and deliberately broken components (`tests/guests/entropy-stuck`, `tests/guests/entrypoint-wrong`) failing
//! exactly the properties they break.

use pyworkers::conformance::{self, Interface, Outcome, Report, Subject};
use std::path::PathBuf;

fn adapter(artifact: &str) -> PathBuf {
    crate::support::wasm_guest("guest-adapters/Cargo.toml", artifact)
}

fn component_for(interface: Interface) -> PathBuf {
    match interface {
        Interface::Tarfs => adapter("tarfs_component.wasm"),
        Interface::Entropy => adapter("entropy_component.wasm"),
        Interface::Entrypoint | Interface::Snapshot => reference_worker(),
    }
}

/// The reference worker contract in Rust: exports `entrypoint` and `snapshot`.
fn reference_worker() -> PathBuf {
    crate::support::wasm_guest("tests/guests/reference-worker/Cargo.toml", "reference_worker.wasm")
}

/// The reference worker with two bugs.
fn wrong_worker() -> PathBuf {
    crate::support::wasm_guest("tests/guests/entrypoint-wrong/Cargo.toml", "entrypoint_wrong.wasm")
}

/// `conformance::run` with the shared cache (set up first), as the native `entrypoint` and `snapshot` need Pyodide.
fn run(interface: Interface, subject: &Subject) -> Report {
    conformance::run_with_home(interface, subject, crate::support::home()).unwrap()
}

/// The `snapshot` rows a component cannot show: they need the suite to capture it or to draw Python randomness.
const SNAPSHOT_NEEDS_CAPTURE: [&str; 3] =
    ["preparation-deterministic", "restores-share-prepared-state", "restored-reseeds"];

fn stuck_entropy() -> PathBuf {
    crate::support::wasm_guest("tests/guests/entropy-stuck/Cargo.toml", "entropy_stuck.wasm")
}

fn verdicts(report: &Report) -> Vec<(&'static str, bool)> {
    report.rows.iter().map(|row| (row.name, row.outcome == Outcome::Pass)).collect()
}

fn native_and_component_agree(interface: Interface) {
    let native = run(interface, &Subject::Native);
    assert!(native.passed(), "{native}");
    assert!(native.not_checked().is_empty(), "{native}");
    let component = run(interface, &Subject::Component(component_for(interface)));
    assert!(component.passed(), "{component}");
    assert_eq!(verdicts(&native), verdicts(&component), "the same rows, the same verdicts");
}

#[test]
fn tarfs_native_and_component_pass_the_same_suite() {
    native_and_component_agree(Interface::Tarfs);
}

#[test]
fn entropy_native_and_component_pass_the_same_suite() {
    native_and_component_agree(Interface::Entropy);
}

#[test]
fn entrypoint_native_and_reference_component_pass_the_same_suite() {
    native_and_component_agree(Interface::Entrypoint);
}

#[test]
fn snapshot_native_passes_every_row_and_the_component_every_row_it_can_show() {
    let native = run(Interface::Snapshot, &Subject::Native);
    assert!(native.passed() && native.not_checked().is_empty(), "{native}");
    let component = run(Interface::Snapshot, &Subject::Component(reference_worker()));
    assert!(component.passed(), "{component}");
    assert_eq!(component.not_checked(), SNAPSHOT_NEEDS_CAPTURE, "{component}");
    let names = |r: &Report| r.rows.iter().map(|row| row.name).collect::<Vec<_>>();
    assert_eq!(names(&native), names(&component), "the same rows");
    for row in &component.rows {
        if !SNAPSHOT_NEEDS_CAPTURE.contains(&row.name) {
            assert_eq!(row.outcome, Outcome::Pass, "{component}");
        }
    }
}

#[test]
fn the_suites_cover_what_the_interfaces_promise() {
    let names = |cases: Vec<&'static str>| cases;
    let tarfs = names(conformance::tarfs::cases().iter().map(|c| c.name).collect());
    for needed in ["empty-archives", "gnu-long-names", "pax-headers", "symlinks", "hard-links", "traversal",
                   "symlink-escapes", "invalid-paths", "hostile-member-names", "every-error-code"] {
        assert!(tarfs.contains(&needed), "tarfs suite lacks {needed}");
    }
    let entropy = names(conformance::entropy::cases().iter().map(|c| c.name).collect());
    for needed in ["equal-seeds-equal-streams", "diverges-after-reseed", "reseed-is-one-way", "zero-length",
                   "large-lengths"] {
        assert!(entropy.contains(&needed), "entropy suite lacks {needed}");
    }
    let entrypoint = names(conformance::entrypoint::cases().iter().map(|c| c.name).collect());
    for needed in ["handlers-listed", "round-trip", "repeated-headers", "binary-bodies", "empty-bodies",
                   "status-codes", "handler-exception", "not-defined", "scheduled-delivered", "queue-delivered"] {
        assert!(entrypoint.contains(&needed), "entrypoint suite lacks {needed}");
    }
    let snapshot = names(conformance::snapshot::cases().iter().map(|c| c.name).collect());
    for needed in ["prepare-baseline", "prepare-dedicated", "restored-after-prepare", "any-order-answered",
                   "restored-reseeds"] {
        assert!(snapshot.contains(&needed), "snapshot suite lacks {needed}");
    }
}

/// `pyworkers conformance ARGS...`: (exit code, stdout, stderr).
fn cli(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(crate::support::bin())
        .arg("conformance")
        .args(args)
        .env("PYWORKERS_HOME", crate::support::home())
        .output()
        .expect("running pyworkers conformance");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// The rows of a printed table as (verdict, name): `PASS`, `FAIL` or `SKIP`.
fn table(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some(v @ ("PASS" | "FAIL" | "SKIP")), Some(name)) => Some((v.to_string(), name.to_string())),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn cli_runs_a_suite_natively_and_against_a_component() {
    for interface in Interface::ALL {
        let (code, native, err) = cli(&[interface.name()]);
        assert_eq!(code, 0, "{native}{err}");
        assert!(native.starts_with(&format!("{} conformance: native\n", interface.name())), "{native}");
        let path = component_for(interface);
        let (code, component, err) = cli(&[interface.name(), path.to_str().unwrap()]);
        assert_eq!(code, 0, "{component}{err}");
        let rows = table(&native);
        assert!(rows.len() >= 8 && rows.iter().all(|(v, _)| v == "PASS"), "{native}");
        let count = rows.len();
        assert!(native.ends_with(&format!("{count} of {count} properties hold\n")), "{native}");
        if interface == Interface::Snapshot {
            // The same rows; those that need a capture are SKIP on a component, with the reason under them.
            let expected: Vec<(String, String)> = rows
                .iter()
                .map(|(_, name)| {
                    let verdict = if SNAPSHOT_NEEDS_CAPTURE.contains(&name.as_str()) { "SKIP" } else { "PASS" };
                    (verdict.to_string(), name.clone())
                })
                .collect();
            assert_eq!(table(&component), expected, "{component}");
            assert!(component.contains("the suite cannot capture this subject"), "{component}");
            let checked = count - SNAPSHOT_NEEDS_CAPTURE.len();
            let closing = format!("{checked} of {checked} properties hold; 3 not checked on this subject\n");
            assert!(component.ends_with(&closing), "{component}");
        } else {
            assert_eq!(rows, table(&component));
            assert!(component.ends_with(&format!("{count} of {count} properties hold\n")), "{component}");
        }
    }
}

#[test]
fn a_reference_worker_that_mangles_headers_and_bodies_fails_exactly_those_rows() {
    let path = wrong_worker();
    let (code, out, err) = cli(&["entrypoint", path.to_str().unwrap()]);
    assert_eq!(code, 1, "a failing suite exits 1:\n{out}{err}");
    let failed: Vec<String> = table(&out).into_iter().filter(|(v, _)| v == "FAIL").map(|(_, n)| n).collect();
    assert_eq!(failed, ["repeated-headers", "binary-bodies"], "{out}");
    assert!(out.contains("0 bytes came back for 1 sent"), "the reason names the truncation:\n{out}");
    assert!(out.ends_with("8 of 10 properties hold; 2 do not\n"), "{out}");

    let report = run(Interface::Entrypoint, &Subject::Component(path));
    assert_eq!(report.failures(), ["repeated-headers", "binary-bodies"]);
    // The honest build of the same code passes: the two bugs are what fails.
    assert!(run(Interface::Entrypoint, &Subject::Component(reference_worker())).passed());
}

#[test]
fn a_component_that_keeps_its_stream_after_reseed_fails_exactly_those_rows() {
    let path = stuck_entropy();
    let (code, out, err) = cli(&["entropy", path.to_str().unwrap()]);
    assert_eq!(code, 1, "a failing suite exits 1:\n{out}{err}");
    let failed: Vec<String> = table(&out).into_iter().filter(|(v, _)| v == "FAIL").map(|(_, n)| n).collect();
    assert_eq!(failed, ["diverges-after-reseed", "reseed-is-one-way"], "{out}");
    assert!(out.contains("reseed-switches-to-live"), "the mode it reports is right, so that row passes:\n{out}");
    assert!(out.ends_with("7 of 9 properties hold; 2 do not\n"), "{out}");

    let report = conformance::run(Interface::Entropy, &Subject::Component(path)).unwrap();
    assert_eq!(report.failures(), ["diverges-after-reseed", "reseed-is-one-way"]);
}

#[test]
fn cli_help_names_every_suite_and_the_reference_worker_variable() {
    let (code, out, err) = cli(&["--help"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tarfs, entropy, entrypoint or snapshot"), "{out}");
    assert!(out.contains("PYWORKERS_REFERENCE_WORKER"), "{out}");
    assert!(out.contains(conformance::entrypoint::WORKER_VARIABLE), "{out}");
}

#[test]
fn cli_refuses_unknown_interfaces_and_unusable_components() {
    let (code, _, err) = cli(&["hostcalls"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("no conformance suite for `hostcalls`; suites exist for: tarfs, entropy, entrypoint, snapshot"),
        "{err}"
    );

    let entropy = component_for(Interface::Entropy);
    let (code, out, err) = cli(&["tarfs", entropy.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("does not export what the `tarfs-provider` world asks"), "{err}");
    for (interface, world) in [("entrypoint", "entrypoint-provider"), ("snapshot", "snapshot-provider")] {
        let (code, out, err) = cli(&[interface, entropy.to_str().unwrap()]);
        assert_eq!(code, 2, "{out}");
        assert!(err.contains(&format!("does not export what the `{world}` world asks")), "{err}");
    }

    let not_wasm = std::env::temp_dir().join(format!("pyworkers-conformance-{}.wasm", std::process::id()));
    std::fs::write(&not_wasm, b"\0asm\x01\0\0\0 truncated").unwrap();
    let (code, _, err) = cli(&["entropy", not_wasm.to_str().unwrap()]);
    std::fs::remove_file(&not_wasm).unwrap();
    assert_eq!(code, 2);
    assert!(err.contains("is not a component wasmtime can compile"), "{err}");

    let (code, _, err) = cli(&["entropy", "/nonexistent/x.wasm"]);
    assert_eq!(code, 2);
    assert!(err.contains("reading /nonexistent/x.wasm"), "{err}");
}
