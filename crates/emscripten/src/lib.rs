//! The Emscripten ABI of `pyodide.asm.wasm` as plain functions: raw pointers and errno conventions in, typed calls
//! on the services (`vfs`, entropy, clocks) out. Each import is `function(memory, context, params...) -> answer`,
//! where the memory is any [`GuestMemory`] and the context is a [`Context`]; no wasm engine appears here.
//!
//! That is what lets one implementation serve two embedders: the native host (`pyworkers`) binds these functions
//! to wasmtime linker definitions over a borrowed slice of the instance's memory, and the Pyodide component
//! compiles the same functions to wasm32 and reaches Pyodide's memory through copies. Imports that must call back
//! into the guest (`malloc`, signal handlers, dynamic linking) or unwind it (`exit`) belong to the embedder.
//!
//! Nothing here panics on guest input: a bad pointer is `EFAULT`, an impossible request an errno.
#![deny(missing_docs)]

pub mod boot;
pub mod clock;
mod imports;
pub mod layout;
pub mod memory;
pub mod process;
pub mod syscalls;
#[cfg(test)]
mod tests;
pub mod time;
pub mod unsupported;
pub mod wasi;

pub use clock::Clock;
pub use memory::{GuestMemory, SliceMemory};
/// The errno type the import tables' fallback answers are written in.
pub use pyworkers_vfs::Errno;

use pyworkers_entropy::Entropy;
use pyworkers_vfs::Vfs;

/// Everything the Emscripten imports read or change.
pub struct Context {
    /// The file system.
    pub vfs: Vfs,
    /// `KEY=value` strings for `environ_get`.
    pub environ: Vec<String>,
    /// What `_emscripten_get_progname` reports.
    pub program: String,
    /// The guest's clocks.
    pub clock: Clock,
    /// Every random byte the guest sees (`random_get`, hence `getentropy` and `os.urandom`) comes from here.
    pub entropy: Entropy,
    /// Largest linear memory the guest may grow to, in bytes.
    pub heap_max: u64,
    /// The file-mode creation mask.
    pub umask: u32,
    /// Set once CPython is initialised: only then may an import raise a Python exception.
    pub python_ready: bool,
    /// When set, every random byte the guest sees comes from this function instead of [`Context::entropy`]: how
    /// the Pyodide component draws from whatever answers its randomness (an imported `entropy` component, or
    /// `wasi:random`), outside this crate.
    pub external_entropy: Option<fn(&mut [u8])>,
}

impl Context {
    /// A context over `vfs` with an empty environment, a live clock and OS randomness.
    pub fn new(vfs: Vfs) -> Context {
        Context {
            vfs,
            environ: Vec::new(),
            program: "python".into(),
            clock: Clock::live(0),
            entropy: Entropy::live(),
            heap_max: 2 << 30,
            umask: 0o022,
            python_ready: false,
            external_entropy: None,
        }
    }
}
