//! Process-level imports as linker definitions: exit and abort unwind as traps, heap growth grows the instance's
//! memory within [`pyworkers_emscripten::process::heap_growth`]'s plan, and the hooks that call back into the
//! guest (`__call_sighandler`, `_Py_emscripten_runtime`) reach its exports.

use super::table::imports;
use super::{malloc_str, with_memory, EmscriptenView, GuestExit, GuestMemory, ENV};
use pyworkers_emscripten::process::*;
use wasmtime::{Caller, Linker};

pub(super) fn add_to_linker<T: EmscriptenView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap(ENV, "exit", |code: i32| -> wasmtime::Result<()> {
        Err(GuestExit(code).into())
    })?;
    linker.func_wrap(ENV, "_abort_js", || -> wasmtime::Result<()> {
        wasmtime::bail!("Python aborted (abort() was called)")
    })?;
    linker.func_wrap(
        ENV,
        "__assert_fail",
        |mut c: Caller<'_, T>,
         cond: u32,
         file: u32,
         line: i32,
         func: u32|
         -> wasmtime::Result<()> {
            let msg = with_memory(&mut c, |m, _| {
                format!(
                    "assertion failed: {} at {}:{line} in {}",
                    m.cstr_lossy(cond),
                    m.cstr_lossy(file),
                    m.cstr_lossy(func)
                )
            });
            wasmtime::bail!(msg.unwrap_or_else(|| "assertion failed".into()))
        },
    )?;
    linker.func_wrap(
        ENV,
        "emscripten_resize_heap",
        |mut c: Caller<'_, T>, requested: u32| -> i32 {
            let cx = c.data_mut().em();
            let (Some(exports), max) = (cx.exports.clone(), cx.heap_max) else {
                return 0;
            };
            let current = exports.memory.data_size(&c) as u64;
            resize_heap(current, requested, max, |pages| exports.memory.grow(&mut c, pages).is_ok())
        },
    )?;
    linker.func_wrap(ENV, "emscripten_get_heap_max", |mut c: Caller<'_, T>| {
        heap_max(c.data_mut().em())
    })?;
    pyworkers_emscripten::log_imports!(imports! { linker, T, });
    linker.func_wrap(
        ENV,
        "_Py_emscripten_runtime",
        |mut c: Caller<'_, T>| -> wasmtime::Result<i32> {
            malloc_str(
                &mut c,
                concat!("pyworkers ", env!("CARGO_PKG_VERSION"), " (wasmtime)"),
            )
        },
    )?;
    linker.func_wrap(
        ENV,
        "__call_sighandler",
        |mut c: Caller<'_, T>, fp: i32, sig: i32| -> wasmtime::Result<()> {
            let Some(exports) = c.data_mut().em().exports.clone() else {
                return Ok(());
            };
            if let Some(f) = exports
                .table
                .get(&mut c, fp as u32 as u64)
                .and_then(|r| r.as_func().flatten().copied())
            {
                f.typed::<i32, ()>(&c)?.call(&mut c, sig)?;
            }
            Ok(())
        },
    )?;
    // There is no shell: `system(NULL)` says so, and any command fails with ENOSYS.
    linker.func_wrap(
        ENV,
        "_emscripten_system",
        |cmd: i32| if cmd == 0 { 0 } else { -52 },
    )?;
    Ok(())
}
