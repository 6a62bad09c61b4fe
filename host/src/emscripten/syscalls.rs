//! The `__syscall_*` imports as linker definitions: the shared table ([`pyworkers_emscripten::syscall_imports`])
//! bound over the instance's memory, plus the few answers that need no state.

use super::table::imports;
use super::{EmscriptenView, ENV};
use crate::vfs::Errno;
use wasmtime::Linker;

pub(super) fn add_to_linker<T: EmscriptenView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    pyworkers_emscripten::syscall_imports!(imports! { linker, T, });
    // Answers that need neither memory nor context.
    linker.func_wrap(ENV, "__syscall_getuid32_js", || 0i32)?;
    // `_try_*`: Pyodide asks whether a JS socket wants this call; there are none.
    linker.func_wrap(ENV, "_try_fcntl64", |_: i32, _: i32, _: i32, _: i32| 0i32)?;
    linker.func_wrap(ENV, "_try_shutdown", |_: i32, _: i32, _: i32| 0i32)?;
    // mmap of files is not supported (anonymous mmap never reaches the host).
    linker.func_wrap(
        ENV,
        "_mmap_js",
        |_: i32, _: i32, _: i32, _: i32, _: i64, _: i32, _: i32| -i32::from(Errno::NODEV.0),
    )?;
    linker.func_wrap(
        ENV,
        "_munmap_js",
        |_: i32, _: i32, _: i32, _: i32, _: i32, _: i64| 0i32,
    )?;
    linker.func_wrap(
        ENV,
        "_msync_js",
        |_: i32, _: i32, _: i32, _: i32, _: i32, _: i64| 0i32,
    )?;
    Ok(())
}
