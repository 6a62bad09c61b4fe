//! The dynamic linker against a side module written here in WAT: a Python extension (multi-phase init) whose
//! module definition and method table hold pointers that only `__wasm_apply_data_relocs` can fill in, whose
//! methods live at `__table_base`, whose constructor changes its data, and which reads CPython's `None` through a
//! `GOT.mem` entry.

use std::process::Command;

/// Byte offsets of the library's data (at `__memory_base`).
const DEF: u32 = 0; // PyModuleDef, 52 bytes
const METHODS: u32 = 56; // two PyMethodDef (16 bytes each) and a zero sentinel
const COUNTER: u32 = 104;
const NAME: u32 = 108;
const DOC: u32 = 113;
const ANSWER: u32 = 117;
const NONE: u32 = 124;

fn side_module() -> Vec<u8> {
    let mut data = vec![0u8; 132];
    // PyObject_HEAD_INIT: an immortal reference count (3 << 29 on 32-bit).
    data[0..4].copy_from_slice(&(3u32 << 29).to_le_bytes());
    data[COUNTER as usize..COUNTER as usize + 4].copy_from_slice(&41u32.to_le_bytes());
    for (at, s) in [(NAME, "tiny"), (DOC, "doc"), (ANSWER, "answer"), (NONE, "none")] {
        data[at as usize..at as usize + s.len()].copy_from_slice(s.as_bytes());
    }
    let escaped: String = data.iter().map(|b| format!("\\{b:02x}")).collect();
    // (address to patch, memory offset it points at) and the method table's function slots.
    let store_mem = |at: u32, to: u32| {
        format!("(i32.store (i32.add (global.get $mb) (i32.const {at})) (i32.add (global.get $mb) (i32.const {to})))")
    };
    let store_fn = |at: u32, slot: u32| {
        format!("(i32.store (i32.add (global.get $mb) (i32.const {at})) (i32.add (global.get $tb) (i32.const {slot})))")
    };
    let store_i32 = |at: u32, v: u32| format!("(i32.store (i32.add (global.get $mb) (i32.const {at})) (i32.const {v}))");
    let relocs = [
        store_mem(DEF + 20, NAME),
        store_mem(DEF + 24, DOC),
        store_mem(DEF + 32, METHODS),
        store_mem(METHODS, ANSWER),
        store_fn(METHODS + 4, 0),
        store_i32(METHODS + 8, 4), // METH_NOARGS
        store_mem(METHODS + 16, NONE),
        store_fn(METHODS + 20, 1),
        store_i32(METHODS + 24, 4),
    ]
    .join("\n");
    let wat = format!(
        r#"(module
            (@dylink.0 (mem-info (memory 132 3) (table 2 0)))
            (import "env" "memory" (memory 0))
            (import "env" "__indirect_function_table" (table 0 funcref))
            (import "env" "__memory_base" (global $mb i32))
            (import "env" "__table_base" (global $tb i32))
            (import "GOT.mem" "_Py_NoneStruct" (global $none (mut i32)))
            (import "env" "PyModuleDef_Init" (func $def_init (param i32) (result i32)))
            (import "env" "PyLong_FromLong" (func $from_long (param i32) (result i32)))
            (elem (global.get $tb) func $answer $none_fn)
            (data (global.get $mb) "{escaped}")
            (func $answer (param i32 i32) (result i32)
                (call $from_long (i32.load (i32.add (global.get $mb) (i32.const {COUNTER})))))
            (func $none_fn (param i32 i32) (result i32) (global.get $none))
            (func (export "__wasm_apply_data_relocs") {relocs})
            (func (export "__wasm_call_ctors")
                (i32.store (i32.add (global.get $mb) (i32.const {COUNTER}))
                    (i32.add (i32.load (i32.add (global.get $mb) (i32.const {COUNTER}))) (i32.const 1))))
            (func (export "PyInit_tiny") (result i32) (call $def_init (global.get $mb))))"#
    );
    wat::parse_str(wat).unwrap()
}

fn run(dir: &std::path::Path, code: &str) -> (bool, String, String) {
    let out = Command::new(crate::support::bin())
        .args(["run", "--mount"])
        .arg(format!("{}:/ext", dir.display()))
        .args(["-c", code])
        .env("PYWORKERS_HOME", crate::support::home())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_hand_written_extension_is_relocated_constructed_and_callable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tiny.cpython-314-wasm32-emscripten.so"), side_module()).unwrap();
    let (ok, stdout, stderr) = run(
        dir.path(),
        "import sys; sys.path.insert(0, '/ext'); import tiny; print(tiny.answer(), tiny.none(), tiny.__doc__, tiny.__name__)",
    );
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "42 None doc tiny", "{stderr}");
}

#[test]
fn a_malformed_side_module_is_an_import_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut truncated = side_module();
    truncated.truncate(truncated.len() / 2);
    std::fs::write(dir.path().join("tiny.cpython-314-wasm32-emscripten.so"), truncated).unwrap();
    std::fs::write(dir.path().join("plain.cpython-314-wasm32-emscripten.so"), wat::parse_str("(module)").unwrap()).unwrap();
    let (ok, stdout, stderr) = run(
        dir.path(),
        "import sys; sys.path.insert(0, '/ext')\nfor m in ('tiny', 'plain'):\n    try:\n        __import__(m)\n    except ImportError as e:\n        print(m, 'ImportError', e)\n",
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("tiny ImportError"), "{stdout}\n{stderr}");
    assert!(stdout.contains("plain ImportError") && stdout.contains("dylink.0"), "{stdout}\n{stderr}");
}

#[test]
fn a_snapshot_holds_the_extension_and_refuses_a_changed_one() {
    let worker = tempfile::tempdir().unwrap();
    let so = worker.path().join("tiny.cpython-314-wasm32-emscripten.so");
    std::fs::write(&so, side_module()).unwrap();
    std::fs::write(
        worker.path().join("main.py"),
        "import tiny\nfrom workers import Response\n\n\ndef on_fetch(request):\n    return Response(str(tiny.answer()))\n",
    )
    .unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let snap = out_dir.path().join("snap.pyws");
    let out = Command::new(crate::support::bin())
        .arg("snapshot")
        .arg(worker.path())
        .arg("--output")
        .arg(&snap)
        .env("PYWORKERS_HOME", crate::support::home())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run = |code: &str| {
        Command::new(crate::support::bin())
            .args(["run", "--snapshot"])
            .arg(&snap)
            .arg("--worker")
            .arg(worker.path())
            .args(["-c", code])
            .env("PYWORKERS_HOME", crate::support::home())
            .output()
            .unwrap()
    };
    // The constructor ran once, before the snapshot: restoring does not run it again (41 + 1, not + 2).
    let out = run("import tiny; print(tiny.answer(), tiny.none(), tiny.__doc__)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42 None doc");
    // The same path with other bytes is refused: the worker's hash covers its files, and the snapshot's record of
    // each library's hash is checked again when its instances are made.
    let mut other = side_module();
    let at = other.windows(4).position(|w| w == 41u32.to_le_bytes()).unwrap();
    other[at] = 40;
    std::fs::write(&so, other).unwrap();
    let out = run("print('ran')");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ran"), "{stderr}");
}
