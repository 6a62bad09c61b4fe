//! The `wasi_snapshot_preview1` imports as linker definitions over [`pyworkers_emscripten::wasi`]; `proc_exit`
//! unwinds as a [`GuestExit`] trap.

use super::table::imports;
use super::{EmscriptenView, GuestExit, WASI};
use wasmtime::Linker;

pub(super) fn add_to_linker<T: EmscriptenView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    pyworkers_emscripten::wasi_imports!(imports! { linker, T, });
    linker.func_wrap(WASI, "proc_exit", |code: i32| -> wasmtime::Result<()> {
        Err(GuestExit(code).into())
    })?;
    Ok(())
}
