use super::*;
use wasmtime::{Engine, Instance, Module, Store, Val};

/// A stand-in for Pyodide's code module: only its imports matter.
fn code(imports: &str) -> Vec<u8> {
    wat::parse_str(format!("(module {imports})")).unwrap()
}

/// A stand-in for the shim exporting `env.NAME` for each of `names`.
fn shim(names: &[&str]) -> Vec<u8> {
    let exports: String = names.iter().map(|n| format!("(func (export \"env.{n}\"))")).collect();
    wat::parse_str(format!("(module (import \"env\" \"memory\" (memory 2)) {exports})")).unwrap()
}

#[test]
fn fallbacks_answer_with_the_shared_policy_typed_after_each_import() {
    let wasm = code(
        r#"(import "env" "getaddrinfo" (func (param i32 i32 i32 i32) (result i32)))
           (import "env" "__syscall_socket" (func (param i32 i32 i32 i32 i32 i32) (result i32)))
           (import "env" "JsvFunction_Check" (func (param externref) (result i32)))
           (import "env" "__hiwire_deduplicate_new" (func (result externref)))
           (import "env" "_emscripten_system" (func (param i32) (result i32)))
           (import "env" "exit" (func (param i32)))
           (import "env" "JsProxy_GetAttr_js" (func (param i32 i32) (result i32)))
           (import "env" "answered_elsewhere" (func))"#,
    );
    let generated = generate(&wasm, &shim(&["answered_elsewhere"])).unwrap();
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let proc_exit = wasmtime::Func::wrap(&mut store, |code: i32| -> wasmtime::Result<()> {
        Err(wasmtime::format_err!("proc_exit({code})"))
    });
    let module = Module::new(&engine, &generated.fallbacks).unwrap();
    let fallbacks = Instance::new(&mut store, &module, &[proc_exit.into()]).unwrap();
    let mut call = |name: &str, args: &[Val]| -> wasmtime::Result<Option<Val>> {
        let f = fallbacks.get_func(&mut store, &format!("env.{name}")).unwrap_or_else(|| panic!("no env.{name}"));
        let mut results: Vec<Val> = f.ty(&store).results().map(|t| Val::default_for_ty(&t).unwrap()).collect();
        f.call(&mut store, args, &mut results)?;
        Ok(results.pop())
    };
    let int = |v: Option<Val>| v.and_then(|v| v.i32());
    assert_eq!(int(call("getaddrinfo", &[Val::I32(0); 4]).unwrap()), Some(-4));
    assert_eq!(int(call("__syscall_socket", &[Val::I32(0); 6]).unwrap()), Some(-52));
    assert_eq!(int(call("JsvFunction_Check", &[Val::null_extern_ref()]).unwrap()), Some(0));
    assert!(call("__hiwire_deduplicate_new", &[]).unwrap().unwrap().externref().unwrap().is_none());
    assert_eq!(int(call("_emscripten_system", &[Val::I32(0)]).unwrap()), Some(0));
    assert_eq!(int(call("_emscripten_system", &[Val::I32(1024)]).unwrap()), Some(-52));
    let exit = call("exit", &[Val::I32(3)]).unwrap_err();
    assert!(format!("{exit:?}").contains("proc_exit(3)"), "exit must end the run through proc_exit: {exit:?}");
    // A callback before the fix-up has filled the table: a trap, not a wrong answer.
    assert!(call("JsProxy_GetAttr_js", &[Val::I32(0); 2]).is_err());
    assert!(fallbacks.get_func(&mut store, "env.answered_elsewhere").is_none());
}

#[test]
fn imports_nothing_can_answer_are_refused_when_generating() {
    let unknown = code(r#"(import "elsewhere" "f" (func))"#);
    let err = generate(&unknown, &shim(&[])).err().unwrap().to_string();
    assert!(err.contains("elsewhere.f"), "{err}");
    let wasi = code(r#"(import "wasi_snapshot_preview1" "fd_pread" (func (param i32 i32 i32 i64 i32) (result i32)))"#);
    let err = generate(&wasi, &shim(&[])).err().unwrap().to_string();
    assert!(err.contains("fd_pread"), "{err}");
    let retyped = code(r#"(import "env" "__call_sighandler" (func (param i32)))"#);
    let err = generate(&retyped, &shim(&[])).err().unwrap().to_string();
    assert!(err.contains("__call_sighandler"), "{err}");
}

#[test]
fn string_literals_survive_any_byte() {
    let text = "quote \" backslash \\ tick ` percent % \u{e9}\n";
    let wasm = wat::parse_str(format!(
        "(module (memory (export \"m\") 1) (data (i32.const 0) {}))",
        plan::string_literal(text.as_bytes())
    ))
    .unwrap();
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &Module::new(&engine, &wasm).unwrap(), &[]).unwrap();
    let memory = instance.get_memory(&mut store, "m").unwrap();
    assert_eq!(&memory.data(&store)[..text.len()], text.as_bytes());
}
