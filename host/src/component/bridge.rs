//! The bridge module: the one place that sees Pyodide's memory and the shim's together. It imports Pyodide's
//! memory (module `state`), the shim's own memory (module `shim`) and a page of scratch memory for the component's
//! WASI calls (module `io`, two pages: return areas and buffers in the first, lists returned to it in the second) — each defined by a one-memory module instantiated before it, so nothing that needs
//! them waits for anything, and re-exports the last two for the instances after it. It copies between the memories for
//! the shim (`guest_pages`, `grow`, `copy_in`, `copy_out`), and forwards the shim's calls into Pyodide
//! ([`pyworkers_emscripten::boot::Export`], under Pyodide's own names) through its table `pyodide`, which the
//! fix-up fills once Pyodide's code exists.

use pyworkers_emscripten::boot::{Export, Ty};
use std::fmt::Write;

/// The text of one export's signature.
pub(super) fn signature(export: Export) -> String {
    let ty = |t: &Ty| match t {
        Ty::I32 => "i32",
        Ty::I64 => "i64",
    };
    let (params, result) = export.signature();
    let mut out = String::new();
    if !params.is_empty() {
        let _ = write!(out, " (param {})", params.iter().map(ty).collect::<Vec<_>>().join(" "));
    }
    if let Some(result) = result {
        let _ = write!(out, " (result {})", ty(&result));
    }
    out
}

/// A module defining one memory of `pages` pages, exported as `memory`.
pub(super) fn memory(pages: u64) -> String {
    format!("(module (memory (export \"memory\") {pages}))")
}

/// The module's text.
pub(super) fn wat() -> String {
    let mut out = format!(
        r#"(module
  (import "state" "memory" (memory $guest 0))
  (import "shim" "memory" (memory $shim 0))
  (import "io" "memory" (memory $io 0))
  (export "shim_memory" (memory $shim))
  (export "io_memory" (memory $io))
  ;; The `realloc` of the calls lowered with the scratch memory: any list they return lands at its second page.
  (func (export "io_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536)) (then unreachable))
    (i32.const 65536))
  (table $pyodide (export "pyodide") {slots} funcref)
  (func (export "guest_pages") (result i32) (memory.size $guest))
  (func (export "grow") (param $pages i32) (result i32) (memory.grow $guest (local.get $pages)))
  (func (export "copy_in") (param $local i32) (param $guest i32) (param $len i32)
    (memory.copy $shim $guest (local.get $local) (local.get $guest) (local.get $len)))
  (func (export "copy_out") (param $guest i32) (param $local i32) (param $len i32)
    (memory.copy $guest $shim (local.get $guest) (local.get $local) (local.get $len)))
"#,
        slots = Export::ALL.len()
    );
    for (slot, export) in Export::ALL.iter().enumerate() {
        let sig = signature(*export);
        let args: String = (0..export.signature().0.len()).map(|i| format!("(local.get {i}) ")).collect();
        let _ = writeln!(out, "  (type $t{slot} (func{sig}))");
        let _ = writeln!(
            out,
            "  (func (export \"{}\") (type $t{slot}) (call_indirect $pyodide (type $t{slot}) {args}(i32.const {slot})))",
            export.name()
        );
    }
    out.push_str(")\n");
    out
}
