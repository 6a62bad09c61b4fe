//! pyworkers: run Python Workers on Wasmtime with the real, Emscripten-built Pyodide.
//!
//! The crate is laid out by concept: [`runtime`] obtains and compiles Pyodide, [`emscripten`] answers the
//! module's imports, [`vfs`] owns the guest's file system ([`tarfs`] archives and memory-backed directories), and
//! [`interpreter`] boots CPython and runs code in it.
#![deny(missing_docs)]

pub mod bindings;
pub mod component;
pub mod conformance;
pub mod bundle;
pub mod emscripten;
pub mod entropy;
pub mod entrypoint;
pub mod interpreter;
pub mod packages;
pub mod runtime;
pub mod serve;
pub mod snapshot;
pub mod stdlib;
pub mod tarfs;
pub use pyworkers_vfs as vfs;

pub use pyworkers_vfs::layout::PYWORKERS_LIB;

/// This build's identity as snapshots record it: the crate version plus a digest of the runtime's own Python, which
/// a snapshot's memory holds, so a build whose embedded Python differs never restores another build's snapshot.
pub fn build_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(PYWORKERS_LIB_TAR));
        format!("{}+{}", env!("CARGO_PKG_VERSION"), &digest[..12])
    })
}

/// The runtime's own Python packages, as a tar archive built from `host/python/` at compile time.
pub static PYWORKERS_LIB_TAR: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/pyworkers_lib.tar"));
