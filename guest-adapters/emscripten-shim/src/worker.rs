//! The worker's entry point: `pyworkers:runtime/reactor`'s `invoke`, as the canonical ABI's core functions the
//! component lifts (`shim_invoke`, its post-return `shim_invoke_post`, and `cabi_realloc` for the arguments).
//!
//! The first call boots CPython over the carried archives with the worker's files at `/app`, imports the worker
//! the way a dedicated snapshot is prepared natively (`_pyworkers.snapshot.prepare`), then runs `restored()`: the
//! same sequence a natively served instance has been through before its first event, without the snapshot in
//! between. Each call is then `_pyworkers.entrypoint.<function>(argument)` through the shared
//! [`boot::lookup`]/[`boot::call_bytes`], as the native host makes it; `configure` first gets the vars the
//! component carries (the project's) as the defaults of the `env` it is given.

use crate::loader::{self, archive, carried, Pyodide, WORKER_MODULE, WORKER_VARS};
use pyworkers_marshal::{dumps, loads, Value};
use pyworkers_emscripten::boot::{self, BootError};
use std::alloc::Layout;
use std::cell::RefCell;

/// The Python module whose functions `invoke` calls.
const MODULE: &str = "_pyworkers.entrypoint";

/// The functions `invoke` may call: the host's whole use of the module.
const FUNCTIONS: [&str; 3] = ["handlers", "configure", "step"];

/// A booted worker: the functions of [`MODULE`], looked up once (new references, kept for the instance's life).
struct Worker {
    functions: Vec<(&'static str, i64)>,
}

thread_local! {
    /// The worker, once booted; or why it could not be (said again to every call: a half-booted interpreter is
    /// not tried twice).
    static WORKER: RefCell<Option<Result<Worker, String>>> = const { RefCell::new(None) };
}

/// Boot CPython and import the worker.
fn boot_worker() -> Result<Worker, String> {
    let module = String::from_utf8(carried(WORKER_MODULE)).map_err(|_| "the worker's module name is not UTF-8")?;
    if !boot::is_module_name(&module) {
        return Err(format!("`{module}` is not a Python module name"));
    }
    let mut py = loader::start(Some(archive(loader::PROGRAM)))?;
    let prepare = format!(
        "import _pyworkers.snapshot as s; s.prepare('dedicated', '{module}', strict=False); s.restored()"
    );
    if !loader::run_source(&mut py, &prepare)? {
        return Err(format!("importing the worker module `{module}` raised (traceback on stderr)"));
    }
    let mut functions = Vec::new();
    for name in FUNCTIONS {
        match boot::lookup(&mut py, MODULE, name) {
            Ok(Some(func)) => functions.push((name, func)),
            Ok(None) => return Err(format!("the runtime's Python has no {MODULE}.{name} (traceback on stderr)")),
            Err(e) => return Err(words(e)),
        }
    }
    Ok(Worker { functions })
}

fn words(error: BootError<std::convert::Infallible>) -> String {
    match error {
        BootError::Config(message) => message,
        BootError::Call(never) => match never {},
    }
}

/// `invoke(function, argument)`, in Rust terms.
fn invoke(function: &str, argument: &[u8]) -> Result<Vec<u8>, String> {
    let func = WORKER.with(|w| {
        let mut w = w.borrow_mut();
        let worker = w.get_or_insert_with(boot_worker).as_ref().map_err(|e| e.clone())?;
        worker
            .functions
            .iter()
            .find(|(name, _)| *name == function)
            .map(|(_, func)| *func)
            .ok_or_else(|| format!("`{function}` is not one of {FUNCTIONS:?}"))
    })?;
    let merged;
    let argument = match function {
        "configure" => {
            merged = with_carried_vars(argument)?;
            &merged[..]
        }
        _ => argument,
    };
    let result = boot::call_bytes(&mut Pyodide, func, argument).map_err(words);
    loader::flush();
    result?.ok_or_else(|| format!("{MODULE}.{function} raised (traceback on stderr)"))
}

/// The `configure` frame `frame` with the carried vars under its own `vars`: a name the caller gives wins.
fn with_carried_vars(frame: &[u8]) -> Result<Vec<u8>, String> {
    let carried = loads(&carried(WORKER_VARS)).map_err(|e| format!("the component's vars do not read: {e}"))?;
    let Value::Dict(carried) = carried else { return Err("the component's vars are not a dict".into()) };
    let Value::Dict(mut entries) = loads(frame).map_err(|e| format!("the configure frame does not read: {e}"))? else {
        return Err("the configure frame is not a dict".into());
    };
    match entries.iter_mut().find(|(k, _)| matches!(k, Value::Str(k) if k == "vars")) {
        Some((_, Value::Dict(given))) => {
            let mut vars: Vec<(Value, Value)> = carried.into_iter().filter(|(k, _)| !given.iter().any(|(g, _)| g == k)).collect();
            vars.append(given);
            *given = vars;
        }
        Some(_) => return Err("the configure frame's vars are not a dict".into()),
        None => entries.push((Value::str("vars"), Value::Dict(carried))),
    }
    Ok(dumps(&Value::Dict(entries)))
}

// The canonical ABI. The component lifts `shim_invoke` with this module's memory, `cabi_realloc` and
// `shim_invoke_post` (`host/src/component/assemble.rs`).

/// Where a call's result is: the `result` discriminant (0 ok, 1 error) and the payload's pointer and length.
#[repr(C, align(4))]
struct ReturnArea {
    discriminant: u8,
    ptr: *mut u8,
    len: usize,
}

static mut RETURN_AREA: ReturnArea = ReturnArea { discriminant: 0, ptr: std::ptr::null_mut(), len: 0 };

/// The lifted `invoke`: the arguments are blocks the caller allocated with [`cabi_realloc`] (ours from now on).
///
/// # Safety
/// Called only by the component's lift, with valid blocks from [`cabi_realloc`] (align 1).
#[no_mangle]
pub unsafe extern "C" fn shim_invoke(fptr: *mut u8, flen: usize, aptr: *mut u8, alen: usize) -> *mut u8 {
    // SAFETY: the caller's contract: blocks of exactly these lengths, allocated by `cabi_realloc` with align 1.
    let function = unsafe { owned(fptr, flen) };
    let argument = unsafe { owned(aptr, alen) };
    // The lift validated the string's UTF-8.
    let function = String::from_utf8_lossy(&function);
    let (discriminant, payload) = match invoke(&function, &argument) {
        Ok(bytes) => (0, bytes),
        Err(message) => (1, message.into_bytes()),
    };
    let payload = payload.into_boxed_slice();
    let len = payload.len();
    let ptr = Box::into_raw(payload).cast::<u8>();
    // SAFETY: wasm32 has one thread, and the area is read by the lift before anything calls in again.
    unsafe {
        let area = &raw mut RETURN_AREA;
        (*area).discriminant = discriminant;
        (*area).ptr = ptr;
        (*area).len = len;
        area.cast()
    }
}

/// Free what [`shim_invoke`] returned, once the lift has copied it out.
///
/// # Safety
/// `area` is what [`shim_invoke`] returned.
#[no_mangle]
pub unsafe extern "C" fn shim_invoke_post(area: *mut u8) {
    // SAFETY: `area` is `RETURN_AREA`, whose payload is a boxed slice of `len` bytes.
    unsafe {
        let area = area.cast::<ReturnArea>();
        drop(owned((*area).ptr, (*area).len));
        (*area).ptr = std::ptr::null_mut();
        (*area).len = 0;
    }
}

/// The bytes of a block of `len` bytes at `ptr` allocated with align 1 (by `cabi_realloc` or a boxed slice).
unsafe fn owned(ptr: *mut u8, len: usize) -> Box<[u8]> {
    if len == 0 {
        return Box::default();
    }
    // SAFETY: the caller's contract.
    unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) }
}

/// The canonical ABI's allocator, for the arguments the lift copies in: `realloc(old, old_len, align, new_len)`.
///
/// # Safety
/// `old`/`old_len`/`align` describe a block this function returned, or `old` is null.
#[no_mangle]
pub unsafe extern "C" fn cabi_realloc(old: *mut u8, old_len: usize, align: usize, new_len: usize) -> *mut u8 {
    let Ok(layout) = Layout::from_size_align(new_len, align) else { std::process::abort() };
    if new_len == 0 {
        // A dangling, aligned pointer: `owned` never frees an empty block.
        return align as *mut u8;
    }
    // SAFETY: the caller's contract; `layout` is non-zero in size.
    let ptr = unsafe {
        if old.is_null() || old_len == 0 {
            std::alloc::alloc(layout)
        } else {
            std::alloc::realloc(old, Layout::from_size_align_unchecked(old_len, align), new_len)
        }
    };
    if ptr.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    ptr
}
