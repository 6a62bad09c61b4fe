//! The C call trampoline CPython-on-Emscripten needs (see `trampoline.wat`).
//!
//! Pyodide's JS builds it as a tiny wasm module at start-up; we build ours from WAT written here, instantiate it
//! over the main instance's table, append its function to the table and store that index where CPython looks
//! (`_PyRuntime + *_PyEM_EMSCRIPTEN_TRAMPOLINE_OFFSET`). Without it, CPython falls back to the
//! `_PyEM_TrampolineCall_JS` import, which [`add_fallback`] serves by asking the callee's arity — correct, slower.

use super::EmscriptenView;
use wasmtime::{error::Context as _, Result};
use wasmtime::{AsContextMut, Instance, Linker, Module, Ref, Val};

/// The trampoline's WebAssembly text (compiled once into the compiled-module cache by `interpreter::Pyodide`).
pub const WAT: &str = include_str!("trampoline.wat");

/// Instantiate the trampoline over `main`'s table, append it to the table and point CPython at it. Returns the
/// table index used, which a snapshot must recreate at the same place.
pub fn install<T: 'static>(
    mut store: impl AsContextMut<Data = T>,
    trampoline: &Module,
    main: &Instance,
) -> Result<u32> {
    let mut store = store.as_context_mut();
    let table = main
        .get_table(&mut store, "__indirect_function_table")
        .context("no function table export")?;
    let memory = main
        .get_memory(&mut store, "memory")
        .context("no memory export")?;
    // Imports in the order `trampoline.wat` declares them: memory, then the table.
    let tramp = Instance::new(&mut store, trampoline, &[memory.into(), table.into()])?;
    let func = tramp
        .get_func(&mut store, "trampoline_call")
        .context("trampoline has no export")?;
    let index = table.grow(&mut store, 1, Ref::Func(Some(func)))?;
    let global_u32 = |store: &mut wasmtime::StoreContextMut<'_, T>, name: &str| -> Result<u32> {
        match main
            .get_global(&mut *store, name)
            .map(|g| g.get(&mut *store))
        {
            Some(Val::I32(v)) => Ok(v as u32),
            _ => wasmtime::bail!("Pyodide module has no `{name}` export"),
        }
    };
    let runtime = global_u32(&mut store, "_PyRuntime")?;
    let offset_var = global_u32(&mut store, "_PyEM_EMSCRIPTEN_TRAMPOLINE_OFFSET")?;
    let mut word = [0u8; 4];
    memory.read(&store, offset_var as usize, &mut word)?;
    let slot = runtime as usize + u32::from_le_bytes(word) as usize;
    memory.write(&mut store, slot, &(index as u32).to_le_bytes())?;
    Ok(index as u32)
}

/// Serve `_PyEM_TrampolineCall_JS(f, a, b, c)` from the host: call `f` with as many arguments as it takes.
pub fn add_fallback<T: EmscriptenView>(linker: &mut Linker<T>) -> Result<()> {
    linker.func_wrap(
        "env",
        "_PyEM_TrampolineCall_JS",
        |mut c: wasmtime::Caller<'_, T>, f: i32, a: i32, b: i32, d: i32| -> Result<i32> {
            let Some(exports) = c.data_mut().em().exports.clone() else {
                wasmtime::bail!("trampoline called before instantiation")
            };
            let func = exports
                .table
                .get(&mut c, f as u32 as u64)
                .and_then(|r| r.as_func().flatten().copied())
                .context("call through a null function pointer")?;
            let arity = func.ty(&c).params().len();
            let args = [Val::I32(a), Val::I32(b), Val::I32(d)];
            let mut result = [Val::I32(0)];
            func.call(&mut c, &args[..arity.min(3)], &mut result)?;
            Ok(result[0].i32().unwrap_or(0))
        },
    )?;
    Ok(())
}
