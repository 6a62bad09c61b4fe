//! Imports for capabilities pyworkers does not have, carried out as linker functions typed after each import. The
//! decision — which errno, code or Python exception — is the shared policy
//! ([`pyworkers_emscripten::unsupported`]), so the Pyodide component fails the same way; this module only
//! performs it (setting `dlerror`, raising in Python). Never a host panic.

use super::{caller_func, malloc_str, EmscriptenView, GuestMemory};
use pyworkers_emscripten::unsupported::{classify, Failure, ASYNC_DLOPEN};
use wasmtime::{Caller, FuncType, Linker, Val, ValType};

/// Define `module.name` with type `ty` as a clean failure.
pub(super) fn define<T: EmscriptenView>(
    linker: &mut Linker<T>,
    module: &str,
    name: &str,
    ty: FuncType,
) -> wasmtime::Result<()> {
    let failure = classify(name);
    let fname = name.to_string();
    linker.func_new(
        module,
        name,
        ty.clone(),
        move |mut caller, _params, results| {
            if failure == Failure::Dl {
                super::dylink::set_dlerror(&mut caller, ASYNC_DLOPEN)?;
            }
            if let Some(msg) = failure.message(&fname) {
                raise_runtime_error(&mut caller, &msg)?;
            }
            let code = failure.code();
            for (slot, ty) in results.iter_mut().zip(ty.results()) {
                *slot = match ty {
                    ValType::I32 => Val::I32(code),
                    ValType::I64 => Val::I64(code as i64),
                    ValType::F32 => Val::F32(0),
                    ValType::F64 => Val::F64(0),
                    _ => Val::null_extern_ref(),
                };
            }
            Ok(())
        },
    )?;
    Ok(())
}

/// Set a Python `RuntimeError(msg)` in the calling thread state, if the interpreter is up.
pub(super) fn raise_runtime_error<T: EmscriptenView>(
    caller: &mut Caller<'_, T>,
    msg: &str,
) -> wasmtime::Result<()> {
    if !caller.data_mut().em().python_ready {
        wasmtime::bail!("{msg} (called before Python was initialised)");
    }
    let (Some(set_string), Some(wasmtime::Extern::Global(exc))) = (
        caller_func(caller, "PyErr_SetString"),
        caller.get_export("PyExc_RuntimeError"),
    ) else {
        wasmtime::bail!("{msg}");
    };
    let Val::I32(exc_var) = exc.get(&mut *caller) else {
        wasmtime::bail!("{msg}")
    };
    let Some(exports) = caller.data_mut().em().exports.clone() else {
        wasmtime::bail!("{msg}")
    };
    let exc_obj = {
        let mem = super::SliceMemory::new(exports.memory.data_mut(&mut *caller));
        mem.read_u32(exc_var as u32)
            .map_err(|_| wasmtime::format_err!("{msg}"))?
    };
    let ptr = malloc_str(caller, msg)?;
    set_string.call(
        &mut *caller,
        &[Val::I32(exc_obj as i32), Val::I32(ptr)],
        &mut [],
    )?;
    exports.free.call(&mut *caller, ptr)?;
    Ok(())
}
