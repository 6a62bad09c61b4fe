//! The `__syscall_*` imports as linker definitions: the shared table ([`pyworkers_emscripten::syscall_imports`])
//! bound over the instance's memory. The constant answers (`getuid`, file `mmap`, `_try_*`) are the shared
//! policy's, served by `unsupported`.

use super::table::imports;
use super::EmscriptenView;
use wasmtime::Linker;

pub(super) fn add_to_linker<T: EmscriptenView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    pyworkers_emscripten::syscall_imports!(imports! { linker, T, });
    Ok(())
}
