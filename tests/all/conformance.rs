//! Conformance: each interface's suite (`host/src/conformance`) against the native implementation and against
//! the components in `guest-adapters/`, which must agree row for row; `pyworkers conformance` on the command line;
//! and a deliberately broken component (`tests/guests/entropy-stuck`) failing exactly the properties it breaks.

use pyworkers::conformance::{self, Interface, Outcome, Report, Subject};
use std::path::PathBuf;

fn adapter(artifact: &str) -> PathBuf {
    crate::support::wasm_guest("guest-adapters/Cargo.toml", artifact)
}

fn component_for(interface: Interface) -> PathBuf {
    match interface {
        Interface::Tarfs => adapter("tarfs_component.wasm"),
        Interface::Entropy => adapter("entropy_component.wasm"),
    }
}

fn stuck_entropy() -> PathBuf {
    crate::support::wasm_guest("tests/guests/entropy-stuck/Cargo.toml", "entropy_stuck.wasm")
}

fn verdicts(report: &Report) -> Vec<(&'static str, bool)> {
    report.rows.iter().map(|row| (row.name, row.outcome == Outcome::Pass)).collect()
}

fn native_and_component_agree(interface: Interface) {
    let native = conformance::run(interface, &Subject::Native).unwrap();
    assert!(native.passed(), "{native}");
    let component = conformance::run(interface, &Subject::Component(component_for(interface))).unwrap();
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
}

/// `pyworkers conformance ARGS...`: (exit code, stdout, stderr).
fn cli(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(crate::support::bin())
        .arg("conformance")
        .args(args)
        .output()
        .expect("running pyworkers conformance");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// The rows of a printed table as (verdict, name).
fn table(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some(v @ ("PASS" | "FAIL")), Some(name)) => Some((v.to_string(), name.to_string())),
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
        assert!(rows.len() >= 9 && rows.iter().all(|(v, _)| v == "PASS"), "{native}");
        assert_eq!(rows, table(&component));
        let count = rows.len();
        assert!(component.ends_with(&format!("{count} of {count} properties hold\n")), "{component}");
    }
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
fn cli_refuses_unknown_interfaces_and_unusable_components() {
    let (code, _, err) = cli(&["snapshot"]);
    assert_ne!(code, 0);
    assert!(err.contains("no conformance suite for `snapshot`; suites exist for: tarfs, entropy"), "{err}");

    let entropy = component_for(Interface::Entropy);
    let (code, out, err) = cli(&["tarfs", entropy.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("does not export what the `tarfs-provider` world asks"), "{err}");

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
