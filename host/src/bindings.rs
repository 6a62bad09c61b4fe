//! The one `bindgen!` over `wit/`: host-side types and traits for the `pyworkers:runtime` interfaces.
//!
//! The native services (`crate::tarfs`, `crate::entropy`) implement the generated traits, so they honour exactly
//! the contract a WebAssembly component implementing the same interface would.

#![allow(missing_docs)] // generated code: its documentation is the WIT's `///` comments

wasmtime::component::bindgen!({
    path: "../wit",
    world: "python-worker",
    with: {
        "pyworkers:runtime/tarfs.archive": crate::tarfs::Archive,
    },
});

pub use self::pyworkers::runtime::{entropy, tarfs};
