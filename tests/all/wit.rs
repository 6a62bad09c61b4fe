//! The WIT package parses and declares the interfaces and worlds the architecture names. These check
//! declarations only: behaviour behind them (native, through the generated host traits, and as components) is
//! the conformance suites', in `conformance.rs`.

#[test]
fn wit_package_declares_the_interfaces_and_worlds_documented() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve.push_dir(&dir).expect("wit/ parses");
    let package = &resolve.packages[pkg];
    assert_eq!(package.name.to_string(), "pyworkers:runtime@0.1.0");
    for iface in ["tarfs", "entropy", "snapshot", "entrypoint"] {
        assert!(
            package.interfaces.contains_key(iface),
            "interface {iface} missing"
        );
    }
    for world in ["python-worker", "tarfs-provider", "entropy-provider", "entrypoint-provider", "snapshot-provider"] {
        assert!(package.worlds.contains_key(world), "world {world} missing");
    }
    // Every interface is documented.
    for (name, id) in &package.interfaces {
        assert!(
            resolve.interfaces[*id].docs.contents.is_some(),
            "interface {name} has no /// docs"
        );
    }
}
