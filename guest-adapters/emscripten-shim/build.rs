//! The shim's own linear memory is imported, not defined: the component's state module creates it (beside
//! Pyodide's), so the bridge that copies between the two can be instantiated before the shim that calls it. It is
//! exported again as `memory`, where WASI preview 1 (and the preview 1 adapter of a component) look for the
//! buffers the shim's own `std` passes.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=--import-memory");
    println!("cargo:rustc-cdylib-link-arg=--export-memory");
}
