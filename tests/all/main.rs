//! pyworkers' test suite: one binary, a module per topic.

mod bindings;
mod bytecode;
mod cache;
mod cli;
mod compose;
mod dylink;
mod conformance;
mod emscripten;
mod entropy;
mod packages;
mod pyodide_component;
mod schema;
mod sdk;
mod serve;
mod serve_python;
mod shim;
mod snapshot;
mod support;
mod tarfs;
mod vfs;
mod wit;
mod worker_component;
