//! The Pyodide component: Pyodide's own state and code modules, the shim, and the modules generated around them
//! (`generate`), assembled into one component (`assemble`; the whole design is in `guest-adapters/README.md`).
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

mod archives;
mod assemble;
mod bridge;
mod fallbacks;
mod fixup;
mod generate;
mod plan;

pub use assemble::{assemble, Entropy, Parts, Program, PROGRAM_ARCHIVE, REACTOR_INTERFACE};
pub use generate::{archives_module, bridge_module, generate, shim, Generated};

pub use plan::{func_imports, FuncImport, Plan, NO_SIDE_MODULES, RUNTIME_NAME};

#[cfg(test)]
mod tests;
