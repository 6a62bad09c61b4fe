//! Imports for capabilities pyworkers does not have: the JavaScript bridge (there is no JS engine), sockets and
//! name resolution (no network), asynchronous `dlopen` (JS promises), libffi closures. Each fails the way its caller
//! can report: an errno, a failure code, or a Python `RuntimeError` naming what is missing. Never a trap on a path
//! Python code can reach, never a host panic.

use super::{caller_func, malloc_str, EmscriptenView, GuestMemory, ENV};
use crate::vfs::Errno;
use wasmtime::{Caller, FuncType, Linker, Val, ValType};

/// How an unsupported import answers.
enum Failure {
    /// Return `-errno` (syscalls).
    Errno(Errno),
    /// Return this code (resolver functions' `EAI_*`).
    Code(i32),
    /// "No"/NULL: there are no JavaScript objects, so every `*_Check` is false and no JS socket takes over a call.
    No,
    /// Record a `dlerror()` message and return NULL.
    Dl,
    /// Raise `RuntimeError` in Python and return a zero/NULL result.
    Raise(&'static str),
}

fn classify(name: &str) -> Failure {
    match name {
        n if n.starts_with("__syscall_") => Failure::Errno(Errno::NOSYS),
        "getaddrinfo" | "getnameinfo" => Failure::Code(-4), // EAI_FAIL
        "getprotobyname" | "_emscripten_lookup_name" => Failure::Code(0),
        n if n.ends_with("_Check") || n == "is_comlink_proxy" => Failure::No,
        "_emscripten_dlopen_js" | "_dlsym_catchup_js" => Failure::Dl,
        // "Does a JavaScript socket want this call?" No: the caller goes on with the ordinary syscall.
        n if n.starts_with("_maybe_") => Failure::No,
        n if n.starts_with("ffi_") => Failure::Raise("libffi closures (ctypes callbacks)"),
        n if n.starts_with("emscripten_promise") => Failure::Raise("JavaScript promises"),
        _ => Failure::Raise("the JavaScript bridge"),
    }
}

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
            let code = match &failure {
                Failure::Errno(e) => -(e.0 as i32),
                Failure::Code(c) => *c,
                Failure::No => 0,
                Failure::Dl => {
                    super::dylink::set_dlerror(
                        &mut caller,
                        "pyworkers has no asynchronous dlopen (it needs JavaScript promises); use dlopen",
                    )?;
                    0
                }
                Failure::Raise(what) => {
                    let msg = format!("pyworkers has no {what}: `{fname}` is not available");
                    raise_runtime_error(&mut caller, &msg)?;
                    0
                }
            };
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
    let _ = ENV;
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
