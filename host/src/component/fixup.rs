//! The fix-up module: instantiated once Pyodide's code instance exists, it imports the exports the callbacks need
//! (module `code`), the fallbacks' table (module `fallbacks`), the bridge's (module `bridge`) and the call
//! trampoline (module `trampoline`, the host's own `trampoline.wat` instantiated over the code). It defines one
//! function per callback slot — typed after the import it answers — and from its start function stores them in
//! the fallbacks' table, stores the exports the shim calls in the bridge's, and installs the trampoline where
//! CPython looks for it (appended to the function table, its index at `_PyRuntime +
//! *_PyEM_EMSCRIPTEN_TRAMPOLINE_OFFSET`), as the native host's `emscripten::trampoline::install` does.

use super::plan::{string_literal, Callback, Plan};
use pyworkers_emscripten::boot::Export;
use std::fmt::Write;

/// The module's text.
pub(super) fn wat(plan: &Plan) -> String {
    let mut out = String::from("(module\n");
    out.push_str("  (type $handler (func (param i32)))\n");
    let _ = writeln!(out, "  (import \"fallbacks\" \"callbacks\" (table $callbacks {} funcref))", plan.slots);
    out.push_str(concat!(
        "  (import \"code\" \"memory\" (memory 0))\n",
        "  (import \"code\" \"__indirect_function_table\" (table $fns 0 funcref))\n",
        "  (import \"code\" \"malloc\" (func $malloc (param i32) (result i32)))\n",
        "  (import \"code\" \"free\" (func $free (param i32)))\n",
        "  (import \"code\" \"Py_IsInitialized\" (func $initialized (result i32)))\n",
        "  (import \"code\" \"PyErr_SetString\" (func $set_string (param i32 i32)))\n",
        "  (import \"code\" \"PyExc_RuntimeError\" (global $runtime_error i32))\n",
        "  (import \"code\" \"__dl_seterr\" (func $dl_seterr (param i32 i32)))\n",
        "  (import \"code\" \"_PyRuntime\" (global $py_runtime i32))\n",
        "  (import \"code\" \"_PyEM_EMSCRIPTEN_TRAMPOLINE_OFFSET\" (global $trampoline_offset i32))\n",
        "  (import \"trampoline\" \"trampoline_call\" (func $trampoline (param i32 i32 i32 i32 i32) (result i32)))\n",
    ));
    let mut fill = String::from(
        " (i32.store (i32.add (global.get $py_runtime) (i32.load (global.get $trampoline_offset)))\
         (local.tee $index (table.grow $fns (ref.func $trampoline) (i32.const 1))))\
         (if (i32.lt_s (local.get $index) (i32.const 0)) (then unreachable))",
    );
    let mut declared = vec!["$trampoline".to_string()];
    let _ = writeln!(out, "  (import \"bridge\" \"pyodide\" (table $pyodide {} funcref))", Export::ALL.len());
    for (slot, export) in Export::ALL.iter().enumerate() {
        // `malloc` and `free` are imported above, for the callbacks; a module may import a name once.
        let func = match export {
            Export::Malloc => "$malloc".to_string(),
            Export::Free => "$free".to_string(),
            _ => {
                let _ = writeln!(
                    out,
                    "  (import \"code\" \"{}\" (func $py{slot}{}))",
                    export.name(),
                    super::bridge::signature(*export)
                );
                format!("$py{slot}")
            }
        };
        let _ = write!(fill, " (table.set $pyodide (i32.const {slot}) (ref.func {func}))");
        declared.push(func);
    }
    for (import, slot, callback) in plan.callbacks() {
        let _ = writeln!(out, "  (type $t{slot} (func{}))", import.signature());
        let zeros = import.results_of(0);
        let body = match callback {
            Callback::Raise(message) => {
                let _ = writeln!(out, "  (data $d{slot} {})", string_literal(message.as_bytes()));
                format!(
                    "(if (i32.eqz (call $initialized)) (then unreachable)) {} \
                     (call $set_string (i32.load (global.get $runtime_error)) (local.get $p)) (call $free (local.get $p)) {zeros}",
                    cstr(slot, message.len())
                )
            }
            Callback::Dlerror(message) => {
                // `__dl_seterr(fmt, args)` formats with vsnprintf: never pass a `%`.
                let message = message.replace('%', "?");
                let _ = writeln!(out, "  (data $d{slot} {})", string_literal(message.as_bytes()));
                format!(
                    "{} (call $dl_seterr (local.get $p) (i32.const 0)) (call $free (local.get $p)) {zeros}",
                    cstr(slot, message.len())
                )
            }
            Callback::RuntimeName => {
                let name = super::plan::RUNTIME_NAME;
                let _ = writeln!(out, "  (data $d{slot} {})", string_literal(name.as_bytes()));
                format!("{} (local.get $p)", cstr(slot, name.len()))
            }
            Callback::SigHandler => "(if (ref.is_null (table.get $fns (local.get 0))) (then (return))) \
                 (call_indirect $fns (type $handler) (local.get 1) (local.get 0))"
                .into(),
        };
        let _ = writeln!(out, "  (func $cb{slot} (type $t{slot}) (local $p i32) {body})");
        let _ = write!(fill, " (table.set $callbacks (i32.const {slot}) (ref.func $cb{slot}))");
        declared.push(format!("$cb{slot}"));
    }
    let _ = writeln!(out, "  (elem declare func {})", declared.join(" "));
    let _ = writeln!(out, "  (func $fill (local $index i32){fill})\n  (start $fill)\n)");
    out
}

/// Instructions leaving a fresh NUL-terminated copy of passive segment `$d{slot}` (`len` bytes) in `$p`; traps
/// if Pyodide is out of memory.
fn cstr(slot: u32, len: usize) -> String {
    format!(
        "(local.set $p (call $malloc (i32.const {})))(if (i32.eqz (local.get $p)) (then unreachable)) \
         (memory.init $d{slot} (local.get $p) (i32.const 0) (i32.const {len})) \
         (i32.store8 offset={len} (local.get $p) (i32.const 0))",
        len + 1
    )
}
