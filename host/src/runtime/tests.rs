//! Tests of the cache: pure checks with bytes, and one end-to-end run that really downloads, converts and compiles.

use super::digest::{check_bytes, check_sha256, sha256_file, sha256_hex};
use super::npm::Tools;
use super::stamp::{self, Stamp};
use super::tarball::{self, Member};
use super::*;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::time::Instant;

/// The engine configuration the interpreter uses; spelled out so this test does not depend on another module.
fn engine() -> wasmtime::Engine {
    let mut c = wasmtime::Config::new();
    c.wasm_exceptions(true);
    c.wasm_reference_types(true);
    c.wasm_function_references(true);
    c.wasm_gc(true);
    wasmtime::Engine::new(&c).expect("engine")
}

/// Pyodide's code module, loaded (or compiled once) through the cache as `interpreter::Pyodide` does.
fn load_code(runtime: &Runtime, engine: &wasmtime::Engine) -> wasmtime::Module {
    runtime
        .load_compiled(engine, "Pyodide", CODE_IDENTITY, || {
            let wasm = runtime.read_wasm()?;
            split::code_module(&wasm, &split::Shape::of(&wasm)?)
        })
        .unwrap()
}

const CODE_IDENTITY: &str = "runtime test: code module (split v2)";

/// Tools that do not exist: a step that tries to run them fails, proving whether it did.
fn no_tools() -> Tools {
    Tools {
        node: "/nonexistent/pyworkers-test/node".into(),
        npm: "/nonexistent/pyworkers-test/npm".into(),
    }
}

/// Overwrite one byte in place, keeping the size: the kind of damage a size check alone would miss.
fn flip_byte(path: &Path, offset: u64) {
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8; 1];
    file.seek(SeekFrom::Start(offset)).unwrap();
    std::io::Read::read_exact(&mut file, &mut byte).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(&[byte[0] ^ 0xff]).unwrap();
}

#[test]
fn hash_check_accepts_the_pin_and_rejects_anything_else() {
    // SHA-256("hello")
    let hello = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    assert_eq!(sha256_hex(b"hello"), hello);
    check_bytes("greeting", b"hello", hello, "n/a").unwrap();
    check_bytes("greeting", b"hello", &hello.to_uppercase(), "n/a").unwrap();
    let err = check_bytes("greeting", b"hellO", hello, "fetch it again")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("greeting has the wrong SHA-256"), "{err}");
    assert!(
        err.contains(hello) && err.ends_with("fetch it again"),
        "{err}"
    );
    assert!(check_sha256("x", "", hello, "r").is_err());
}

#[test]
fn default_home_prefers_the_environment() {
    assert_eq!(
        home_from(Some("/srv/pw".into()), Some("/home/u".into())),
        PathBuf::from("/srv/pw")
    );
    assert_eq!(
        home_from(Some("".into()), Some("/home/u".into())),
        PathBuf::from("/home/u/.cache/pyworkers")
    );
    assert_eq!(
        home_from(None, Some("/home/u".into())),
        PathBuf::from("/home/u/.cache/pyworkers")
    );
    assert!(home_from(None, None).ends_with("pyworkers"));
}

#[test]
fn stamps_notice_in_place_edits_and_verify_repairs_or_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.bin");
    fs::write(&file, b"0123456789").unwrap();
    let sha = sha256_hex(b"0123456789");
    assert!(!stamp::is_fresh(&file, &sha, "test"), "no stamp yet");
    assert!(
        stamp::verify(&file, &sha, "test").unwrap(),
        "valid contents get stamped"
    );
    assert!(stamp::is_fresh(&file, &sha, "test"));
    assert!(
        !stamp::is_fresh(&file, &sha, "other source"),
        "provenance is part of the stamp"
    );

    // Same size, same contents, but rewritten: the stamp no longer vouches, re-hashing restores it.
    fs::write(&file, b"0123456789").unwrap();
    assert!(!stamp::is_fresh(&file, &sha, "test"));
    assert!(stamp::verify(&file, &sha, "test").unwrap());
    assert!(stamp::is_fresh(&file, &sha, "test"));

    // Same size, different contents: detected, and the file is removed so it gets fetched again.
    flip_byte(&file, 3);
    assert!(!stamp::is_fresh(&file, &sha, "test"));
    assert!(!stamp::verify(&file, &sha, "test").unwrap());
    assert!(!file.exists() && !Stamp::path_for(&file).exists());
}

/// A gzipped tar with the given members, like an npm tarball.
fn tgz(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, data) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
fn extraction_takes_only_named_members_and_refuses_wrong_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pkg.tgz");
    fs::write(
        &path,
        tgz(&[
            ("package/a.txt", b"alpha"),
            ("package/b.txt", b"beta"),
            ("package/c", b"gamma"),
        ]),
    )
    .unwrap();
    let out = dir.path().join("out");

    let good = [
        Member {
            name: "package/a.txt",
            dest: out.join("a"),
            sha256: Some(&sha256_hex(b"alpha")),
        },
        Member {
            name: "package/c",
            dest: out.join("c"),
            sha256: None,
        },
    ];
    tarball::extract(&path, "the test package", &good).unwrap();
    assert_eq!(fs::read(out.join("a")).unwrap(), b"alpha");
    assert_eq!(fs::read(out.join("c")).unwrap(), b"gamma");
    assert_eq!(
        fs::read_dir(&out).unwrap().count(),
        2,
        "nothing else extracted, no partial files left"
    );

    let wrong = sha256_hex(b"not beta");
    let bad = [Member {
        name: "package/b.txt",
        dest: out.join("b"),
        sha256: Some(&wrong),
    }];
    let err = tarball::extract(&path, "the test package", &bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("package/b.txt in the test package has the wrong SHA-256"),
        "{err}"
    );
    assert!(
        !out.join("b").exists(),
        "an unverified file never appears under its name"
    );
    assert_eq!(
        fs::read_dir(&out).unwrap().count(),
        2,
        "the partial file was cleaned up"
    );

    let missing = [Member {
        name: "package/zzz",
        dest: out.join("z"),
        sha256: None,
    }];
    assert!(tarball::extract(&path, "the test package", &missing).is_err());

    let sha = sha256_file(&path).unwrap();
    tarball::verify(&path, "the test package", &sha).unwrap();
    let err = tarball::verify(&path, "the test package", &wrong)
        .unwrap_err()
        .to_string();
    assert!(err.contains("npm returned a different package"), "{err}");
}

#[test]
fn cache_key_depends_on_module_and_engine() {
    let engine = engine();
    let a = compiled::key(&engine, EXNREF_SHA256);
    assert_eq!(
        a,
        compiled::key(&engine, EXNREF_SHA256),
        "stable within a process"
    );
    assert_eq!(
        a,
        compiled::key(&self::engine(), EXNREF_SHA256),
        "equal for equal configurations"
    );
    assert_ne!(a, compiled::key(&engine, PYODIDE_WASM_SHA256));
    let mut other = wasmtime::Config::new();
    other
        .wasm_exceptions(true)
        .wasm_reference_types(true)
        .wasm_function_references(true)
        .wasm_gc(true);
    other.cranelift_opt_level(wasmtime::OptLevel::None);
    assert_ne!(
        a,
        compiled::key(&wasmtime::Engine::new(&other).unwrap(), EXNREF_SHA256)
    );
    assert_eq!(a.len(), 64);
}

#[test]
fn missing_tools_give_an_actionable_error() {
    let home = tempfile::tempdir().unwrap();
    let err = Runtime::ensure_with(home.path(), &no_tools()).unwrap_err();
    let top = err.to_string();
    assert!(
        top.starts_with("node not found: install Node.js ≥ 18 and npm"),
        "{top}"
    );
    assert!(top.contains("pyworkers setup"), "{top}");
    let npm_only = Tools {
        node: "node".into(),
        ..no_tools()
    };
    let top = Runtime::ensure_with(home.path(), &npm_only)
        .unwrap_err()
        .to_string();
    assert!(top.starts_with("npm not found"), "{top}");
}

/// The real thing: npm, binaryen, Cranelift. Slow on a cold cache (~40 s), so it is one test with one home.
#[test]
fn ensure_and_load_module_end_to_end() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();

    // Cold, from two threads at once: one fills the cache, the other waits for the lock and finds it filled.
    let start = Instant::now();
    let runtimes: Vec<Runtime> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2).map(|_| s.spawn(|| Runtime::ensure(home))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    println!(
        "ensure, cold (two concurrent callers): {:.2?}",
        start.elapsed()
    );
    let runtime = &runtimes[0];
    assert_eq!(runtime.wasm_sha256(), EXNREF_SHA256);
    assert_eq!(sha256_file(runtime.wasm_path()).unwrap(), EXNREF_SHA256);
    assert_eq!(
        sha256_file(runtime.stdlib_zip_path()).unwrap(),
        STDLIB_ZIP_SHA256
    );
    assert_eq!(runtime.home(), std::path::absolute(home).unwrap());
    let dir = runtime.dir.clone();
    assert!(!dir.join("pyodide.asm.mjs").exists());
    let leftovers: Vec<_> = fs::read_dir(home)
        .unwrap()
        .chain(fs::read_dir(&dir).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".partial-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Warm: stamps only; tools that do not exist prove npm and node are not run.
    let start = Instant::now();
    let warm = Runtime::ensure_with(home, &no_tools()).unwrap();
    println!("ensure, warm: {:.2?}", start.elapsed());
    assert_eq!(warm.wasm_path(), runtime.wasm_path());

    // A lost stamp costs a re-hash, not a download.
    fs::remove_file(Stamp::path_for(runtime.stdlib_zip_path())).unwrap();
    let start = Instant::now();
    Runtime::ensure_with(home, &no_tools()).unwrap();
    println!(
        "ensure, re-hash after a lost stamp: {:.2?}",
        start.elapsed()
    );

    // A corrupted library is detected (warm ensure without tools fails to repair it) and re-fetched.
    flip_byte(runtime.stdlib_zip_path(), 1000);
    let err = Runtime::ensure_with(home, &no_tools())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not found"), "{err}");
    let start = Instant::now();
    Runtime::ensure(home).unwrap();
    println!(
        "ensure, repairing python_stdlib.zip: {:.2?}",
        start.elapsed()
    );
    assert_eq!(
        sha256_file(runtime.stdlib_zip_path()).unwrap(),
        STDLIB_ZIP_SHA256
    );

    // A truncated converted module is converted again.
    fs::OpenOptions::new()
        .write(true)
        .open(runtime.wasm_path())
        .unwrap()
        .set_len(1000)
        .unwrap();
    let start = Instant::now();
    Runtime::ensure(home).unwrap();
    println!(
        "ensure, re-converting pyodide.exnref.wasm: {:.2?}",
        start.elapsed()
    );
    assert_eq!(sha256_file(runtime.wasm_path()).unwrap(), EXNREF_SHA256);

    // Compile once, then deserialize.
    let engine = engine();
    let start = Instant::now();
    let module = load_code(&runtime, &engine);
    println!("load_module, compiling: {:.2?}", start.elapsed());
    assert!(module.exports().any(|e| e.name() == "PyRun_SimpleString"));
    let start = Instant::now();
    let module = load_code(&runtime, &engine);
    println!("load_module, deserializing: {:.2?}", start.elapsed());
    assert!(module
        .exports()
        .any(|e| e.name() == "Py_InitializeFromInitConfig"));
    let cwasm = home.join("compiled").join(format!(
        "{}.cwasm",
        compiled::key(&engine, CODE_IDENTITY)
    ));
    assert!(cwasm.exists());

    // A damaged artifact is never deserialized: it is recompiled.
    flip_byte(&cwasm, 4096);
    let start = Instant::now();
    let module = load_code(&runtime, &engine);
    println!(
        "load_module, recompiling a damaged artifact: {:.2?}",
        start.elapsed()
    );
    assert!(module.exports().any(|e| e.name() == "PyRun_SimpleString"));
    let stamp = Stamp::read(&cwasm).unwrap();
    assert_eq!(sha256_file(&cwasm).unwrap(), stamp.sha256);
}

/// Using a stamped entry marks the stamp, never the file: anything keyed on the file's times (a snapshot's
/// verified record) must stay valid across uses, or every start re-hashes the snapshot.
#[test]
fn touching_a_stamped_entry_leaves_the_file_times_alone() {
    use std::os::unix::fs::MetadataExt;
    let home = tempfile::tempdir().unwrap();
    let runtime = Runtime::at(home.path());
    let file = home.path().join("snapshots").join("k.snap");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(&file, b"snapshot bytes").unwrap();
    runtime.stamp(&file, None, "test").unwrap();
    let stamp = Stamp::read(&file).expect("a stamp was written");
    assert_eq!(stamp.sha256, sha256_hex(b"snapshot bytes"));
    let before = fs::metadata(&file).unwrap();
    let stamp_before = fs::metadata(Stamp::path_for(&file)).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    runtime.touch(&file);
    let after = fs::metadata(&file).unwrap();
    assert_eq!((before.mtime(), before.mtime_nsec()), (after.mtime(), after.mtime_nsec()));
    assert_eq!((before.ctime(), before.ctime_nsec()), (after.ctime(), after.ctime_nsec()));
    let stamp_after = fs::metadata(Stamp::path_for(&file)).unwrap().modified().unwrap();
    assert!(stamp_after > stamp_before, "the use was recorded on the stamp");
    // A second stamp() keeps the existing stamp rather than re-hashing.
    runtime.stamp(&file, Some("not the digest"), "test").unwrap();
    assert_eq!(Stamp::read(&file).unwrap().sha256, stamp.sha256);
}
