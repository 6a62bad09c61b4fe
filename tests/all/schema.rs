//! The Cap'n Proto code checked in under `host/src/snapshot/` is exactly what `capnpc` generates from the schema.
//!
//! Building needs no `capnp` compiler because the generated Rust is in the repository; this test keeps the two from
//! drifting. It needs the `capnp` binary (Debian package `capnproto`) to parse the schema, and says so when it is
//! missing rather than failing a machine that only builds.

use std::path::Path;

#[test]
fn generated_code_is_current() {
    check("snapshot", "snapshot");
    check("bundle", "bundle");
}

/// `host/schema/NAME.capnp` against `host/src/MODULE/NAME_capnp.rs`.
fn check(name: &str, module: &str) {
    let host = Path::new(env!("CARGO_MANIFEST_DIR"));
    let checked_in = host.join(format!("src/{module}/{name}_capnp.rs"));
    if std::process::Command::new("capnp")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: `capnp` is not installed (Debian package `capnproto`), so the schema cannot be regenerated");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    capnpc::CompilerCommand::new()
        .src_prefix(host.join("schema"))
        .file(host.join(format!("schema/{name}.capnp")))
        .default_parent_module(vec![module.into()])
        .output_path(out.path())
        .run()
        .expect("capnp compiles the schema");
    let fresh = std::fs::read_to_string(out.path().join(format!("{name}_capnp.rs"))).unwrap();
    if std::env::var_os("PYWORKERS_WRITE_CAPNP").is_some() {
        std::fs::write(&checked_in, &fresh).unwrap();
    }
    let current = std::fs::read_to_string(&checked_in).unwrap();
    assert!(
        fresh == current,
        "{} is stale: regenerate it from host/schema/{name}.capnp (run this test with PYWORKERS_WRITE_CAPNP=1)",
        checked_in.display()
    );
}
