//! The parts of the Pyodide component that are generated from Pyodide's own module rather than compiled from Rust.
//!
//! Inside the component, Pyodide's code module imports every function from core instances created before it: the
//! Emscripten shim (`guest-adapters/emscripten-shim`, the shared ABI and VFS) and the *fallbacks* module made here,
//! which answers each remaining import the way the shared policy ([`pyworkers_emscripten::unsupported`]) says,
//! typed after the import. A few answers must call back into Pyodide (raising a Python exception needs `malloc`
//! and `PyErr_SetString`, a signal handler is a function pointer): the fallbacks call those through a funcref
//! table of their own, which the *fix-up* module — instantiated once the code instance exists, importing its
//! exports — fills from its start function. That is the cycle (Pyodide needs its imports before it exists; some
//! answers need Pyodide) broken the way `wit-component` breaks it for adapters.
//!
//! Both modules are written as WebAssembly text and parsed with `wat`: they are a few hundred lines of mechanical
//! code whose shape is easiest to check read as text.

mod fallbacks;
mod fixup;
mod plan;

pub use plan::{func_imports, FuncImport, Plan, NO_SIDE_MODULES, RUNTIME_NAME};

/// What the two generated modules are, for one Pyodide code module.
pub struct Generated {
    /// The fallbacks: exports `MODULE.NAME` for each import it answers, and `callbacks`, its table.
    pub fallbacks: Vec<u8>,
    /// The fix-up: imports `fallbacks.callbacks` and Pyodide's exports (module `code`), fills the table on start.
    pub fixup: Vec<u8>,
}

/// Generate the fallbacks and the fix-up for the function imports of Pyodide's code module `code` that
/// `answered(module, name)` says are not answered elsewhere (by the shim).
pub fn generate(code: &[u8], answered: impl Fn(&str, &str) -> bool) -> anyhow::Result<Generated> {
    let imports = func_imports(code)?;
    let plan = Plan::new(imports.into_iter().filter(|i| !answered(&i.module, &i.name)))?;
    Ok(Generated {
        fallbacks: wat::parse_str(fallbacks::wat(&plan))?,
        fixup: wat::parse_str(fixup::wat(&plan))?,
    })
}

#[cfg(test)]
mod tests;
