//! The fallbacks module: one export `MODULE.NAME` per import in the plan, typed after the import, plus the
//! `callbacks` table the fix-up fills. It imports only the shim's `proc_exit` (for `exit`), so it can be
//! instantiated before Pyodide's code.

use super::plan::{Answer, Plan};
use std::fmt::Write;

/// The module's text.
pub(super) fn wat(plan: &Plan) -> String {
    let mut out = String::from("(module\n");
    out.push_str("  (import \"wasi_snapshot_preview1\" \"proc_exit\" (func $proc_exit (param i32)))\n");
    // Null until the fix-up runs: a callback made before Pyodide exists traps ("uninitialized element").
    let _ = writeln!(out, "  (table $callbacks (export \"callbacks\") {} funcref)", plan.slots);
    for (index, (import, answer)) in plan.entries.iter().enumerate() {
        let _ = writeln!(out, "  (type $t{index} (func{}))", import.signature());
        let body = match answer {
            Answer::Constant(code) => import.results_of(*code),
            Answer::Trap => "unreachable".into(),
            Answer::Exit => "(call $proc_exit (local.get 0)) unreachable".into(),
            Answer::System => "(select (i32.const -52) (i32.const 0) (local.get 0))".into(),
            Answer::Call { slot, .. } => {
                let args: String = (0..import.params.len()).map(|i| format!("(local.get {i}) ")).collect();
                format!("(call_indirect $callbacks (type $t{index}) {args}(i32.const {slot}))")
            }
        };
        let _ = writeln!(
            out,
            "  (func (export {}) (type $t{index}) {body})",
            super::plan::string_literal(format!("{}.{}", import.module, import.name).as_bytes())
        );
    }
    out.push_str(")\n");
    out
}
