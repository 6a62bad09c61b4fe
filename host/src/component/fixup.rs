//! The fix-up module: instantiated once Pyodide's code instance exists, it imports the exports the callbacks need
//! (module `code`) and the fallbacks' table (module `fallbacks`), defines one function per callback slot — typed
//! after the import it answers — and stores them in the table from its start function.

use super::plan::{string_literal, Callback, Plan};
use std::fmt::Write;

/// The module's text.
pub(super) fn wat(plan: &Plan) -> String {
    let mut out = String::from("(module\n");
    out.push_str(concat!(
        "  (type $args3 (func (param i32 i32 i32) (result i32)))\n",
        "  (type $args2 (func (param i32 i32) (result i32)))\n",
        "  (type $args1 (func (param i32) (result i32)))\n",
        "  (type $args0 (func (result i32)))\n",
        "  (type $handler (func (param i32)))\n",
    ));
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
    ));
    let mut fill = String::new();
    let mut declared = Vec::new();
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
            Callback::Trampoline => "(local.set $callee (table.get $fns (local.get 0))) \
                 (if (ref.test (ref $args3) (local.get $callee)) (then (return (call_indirect $fns (type $args3) (local.get 1) (local.get 2) (local.get 3) (local.get 0))))) \
                 (if (ref.test (ref $args2) (local.get $callee)) (then (return (call_indirect $fns (type $args2) (local.get 1) (local.get 2) (local.get 0))))) \
                 (if (ref.test (ref $args1) (local.get $callee)) (then (return (call_indirect $fns (type $args1) (local.get 1) (local.get 0))))) \
                 (if (ref.test (ref $args0) (local.get $callee)) (then (return (call_indirect $fns (type $args0) (local.get 0))))) \
                 unreachable"
                .into(),
        };
        let _ = writeln!(out, "  (func $cb{slot} (type $t{slot}) (local $p i32) (local $callee funcref) {body})");
        let _ = write!(fill, " (table.set $callbacks (i32.const {slot}) (ref.func $cb{slot}))");
        declared.push(format!("$cb{slot}"));
    }
    if !declared.is_empty() {
        let _ = writeln!(out, "  (elem declare func {})", declared.join(" "));
    }
    let _ = writeln!(out, "  (func $fill{fill})\n  (start $fill)\n)");
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
