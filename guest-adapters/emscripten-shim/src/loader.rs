//! The component's loader: mount the archives the component carries, boot CPython with the shared sequence
//! (`pyworkers_emscripten::boot`) and run the program — all through calls into Pyodide's exports, which the
//! component's bridge makes on the shim's behalf (`call_indirect` through a table its fix-up filled once Pyodide's
//! code existed: the shim is instantiated before it, so it cannot import them directly).

use crate::{Bridge, CONTEXT};
use pyworkers_emscripten::boot::{self, BootError, BootOptions, Export};
use pyworkers_emscripten::{Context, GuestMemory};
use pyworkers_tarfs::Archive;
use pyworkers_vfs::{layout, Fs};
use std::convert::Infallible;
use std::sync::Arc;

/// Pyodide's exports, as the bridge forwards them (names are Pyodide's own).
mod pyodide {
    #[link(wasm_import_module = "pyodide")]
    extern "C" {
        pub fn malloc(size: u32) -> u32;
        pub fn free(ptr: u32);
        pub fn __wasm_call_ctors();
        pub fn PyInitConfig_Create() -> u32;
        pub fn PyInitConfig_Free(config: u32);
        pub fn PyInitConfig_GetError(config: u32, err: u32) -> i32;
        pub fn PyInitConfig_SetInt(config: u32, name: u32, value: i64) -> i32;
        pub fn PyInitConfig_SetStr(config: u32, name: u32, value: u32) -> i32;
        pub fn PyInitConfig_SetStrList(config: u32, name: u32, len: u32, items: u32) -> i32;
        pub fn Py_InitializeFromInitConfig(config: u32) -> i32;
        pub fn PyRun_SimpleString(code: u32) -> i32;
        pub fn PyImport_ImportModule(name: u32) -> u32;
        pub fn PyObject_GetAttrString(object: u32, name: u32) -> u32;
        pub fn PyBytes_FromStringAndSize(data: u32, len: u32) -> u32;
        pub fn PyObject_CallOneArg(callable: u32, arg: u32) -> u32;
        pub fn PyBytes_Size(bytes: u32) -> i32;
        pub fn PyBytes_AsString(bytes: u32) -> u32;
        pub fn Py_DecRef(object: u32);
        pub fn PyErr_Print();
    }
}

/// The archives the component carries, by index: each is copied into this module's memory on request.
mod archives {
    #[link(wasm_import_module = "archives")]
    extern "C" {
        /// Length of archive `index` in bytes.
        pub fn len(index: u32) -> u32;
        /// Copy archive `index` whole to `dst` in this module's memory.
        pub fn copy(index: u32, dst: *mut u8);
    }
}

/// The component's randomness: an imported `pyworkers:runtime/entropy` component or `wasi:random`, whichever the
/// component was built with, behind one adapter module.
mod entropy {
    #[link(wasm_import_module = "entropy")]
    extern "C" {
        /// Fill `len` bytes at `dst` in this module's memory; returns how many were filled (at most 65536).
        pub fn fill(dst: *mut u8, len: u32) -> u32;
        /// Switch the source to live entropy, for good (the `entropy` interface's `reseed`).
        pub fn reseed();
    }
}

/// Fill `buf` from the component's randomness (the context's external entropy).
fn draw(buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        let want = rest.len().min(65536) as u32;
        // SAFETY: `rest` is at least `want` writable bytes of this module's memory.
        let got = unsafe { entropy::fill(rest.as_mut_ptr(), want) } as usize;
        // A source that gives nothing would loop forever: stop the guest instead.
        assert!(got > 0 && got <= want as usize, "the entropy source returned {got} of {want} bytes");
        done += got;
    }
}

/// Archive indices: the stdlib zip, the stdlib bytecode tar, the runtime's Python tar, and the program: its source
/// (`shim_run`), or for a worker its files as a tar, its module's name and its vars (`worker`).
const STDLIB_ZIP: u32 = 0;
const STDLIB_BYTECODE: u32 = 1;
const RUNTIME_LIB: u32 = 2;
pub(crate) const PROGRAM: u32 = 3;
pub(crate) const WORKER_MODULE: u32 = 4;
pub(crate) const WORKER_VARS: u32 = 5;

/// Where a worker's files are mounted, as natively (`_pyworkers.snapshot.WORKER_ROOT`).
const WORKER_ROOT: &str = "/app";

/// Calls into Pyodide through the bridge. A trap unwinds the whole component call, so no call returns an error.
pub(crate) struct Pyodide;

impl boot::Python for Pyodide {
    type Error = Infallible;

    fn call(&mut self, export: Export, args: &[i64]) -> Result<i64, Infallible> {
        let a = |i: usize| args.get(i).copied().unwrap_or(0) as u32;
        // SAFETY: each import takes plain integers (pointers into Pyodide's memory, which it checks itself).
        Ok(unsafe {
            match export {
                Export::Malloc => i64::from(pyodide::malloc(a(0))),
                Export::Free => {
                    pyodide::free(a(0));
                    0
                }
                Export::WasmCallCtors => {
                    pyodide::__wasm_call_ctors();
                    0
                }
                Export::ConfigCreate => i64::from(pyodide::PyInitConfig_Create()),
                Export::ConfigFree => {
                    pyodide::PyInitConfig_Free(a(0));
                    0
                }
                Export::ConfigGetError => i64::from(pyodide::PyInitConfig_GetError(a(0), a(1))),
                Export::ConfigSetInt => i64::from(pyodide::PyInitConfig_SetInt(a(0), a(1), args.get(2).copied().unwrap_or(0))),
                Export::ConfigSetStr => i64::from(pyodide::PyInitConfig_SetStr(a(0), a(1), a(2))),
                Export::ConfigSetStrList => i64::from(pyodide::PyInitConfig_SetStrList(a(0), a(1), a(2), a(3))),
                Export::InitializeFromInitConfig => i64::from(pyodide::Py_InitializeFromInitConfig(a(0))),
                Export::RunSimpleString => i64::from(pyodide::PyRun_SimpleString(a(0))),
                Export::ImportModule => i64::from(pyodide::PyImport_ImportModule(a(0))),
                Export::GetAttrString => i64::from(pyodide::PyObject_GetAttrString(a(0), a(1))),
                Export::BytesFromStringAndSize => i64::from(pyodide::PyBytes_FromStringAndSize(a(0), a(1))),
                Export::CallOneArg => i64::from(pyodide::PyObject_CallOneArg(a(0), a(1))),
                Export::BytesSize => i64::from(pyodide::PyBytes_Size(a(0))),
                Export::BytesAsString => i64::from(pyodide::PyBytes_AsString(a(0))),
                Export::DecRef => {
                    pyodide::Py_DecRef(a(0));
                    0
                }
                Export::ErrPrint => {
                    pyodide::PyErr_Print();
                    0
                }
            }
        })
    }

    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), Infallible> {
        // Pointers come from Pyodide's own `malloc`; a bad one would be a bug here, so trap rather than go on.
        Bridge.write_bytes(ptr, bytes).expect("write inside Pyodide's memory");
        Ok(())
    }

    fn read(&mut self, ptr: u32, out: &mut [u8]) -> Result<(), Infallible> {
        Bridge.read_into(ptr, out).expect("read inside Pyodide's memory");
        Ok(())
    }
}

/// Archive `index`, copied into a block of this module's memory that lives as long as the instance (what the file
/// system mounts borrows it).
pub(crate) fn archive(index: u32) -> &'static [u8] {
    Box::leak(carried(index).into_boxed_slice())
}

/// A copy of archive `index`.
pub(crate) fn carried(index: u32) -> Vec<u8> {
    // SAFETY: the import takes no pointers.
    let len = unsafe { archives::len(index) } as usize;
    let mut block = vec![0u8; len];
    // SAFETY: `block` is exactly `len` writable bytes of this module's memory.
    unsafe { archives::copy(index, block.as_mut_ptr()) };
    block
}

/// Why running the program failed before it could start.
fn failed(message: &str) -> i32 {
    eprintln!("pyworkers: {message}");
    1
}

/// Mount the standard layout from the carried archives (and `worker` at `/app`, if given), make the context, and
/// boot CPython with the shared sequence. The reason, in words, if it could not.
pub(crate) fn start(worker: Option<&'static [u8]>) -> Result<Pyodide, String> {
    let bytecode = Archive::open_shared(Arc::new(archive(STDLIB_BYTECODE)))
        .map_err(|e| format!("the stdlib bytecode archive does not open: {e:?}"))?;
    let mut vfs = layout::standard(Arc::new(archive(STDLIB_ZIP)), Some(Arc::new(bytecode)), archive(RUNTIME_LIB))
        .map_err(|e| format!("the standard layout does not mount: {e:?}"))?;
    if let Some(worker) = worker {
        let tar = Archive::open_shared(Arc::new(worker)).map_err(|e| format!("the worker's archive does not open: {e:?}"))?;
        vfs.mount(WORKER_ROOT, Fs::Tar(Arc::new(tar)), false)
            .map_err(|e| format!("the worker's archive does not mount at {WORKER_ROOT}: {e:?}"))?;
    }
    let mut cx = Context::new(vfs);
    cx.environ = layout::environment();
    // No snapshot is made of this instance, so nothing needs the deterministic stream: live randomness from the
    // start, the hash secret included.
    // SAFETY: the import takes no arguments.
    unsafe { entropy::reseed() };
    cx.external_entropy = Some(draw);
    CONTEXT.with(|c| *c.borrow_mut() = Some(cx));

    // No borrow of the context is held across a call into Pyodide: its imports borrow it.
    let mut py = Pyodide;
    let _ = boot::Python::call(&mut py, Export::WasmCallCtors, &[]);
    match boot::initialize(&mut py, &BootOptions::default()) {
        Ok(()) => {}
        Err(BootError::Config(message)) => return Err(format!("initialising CPython: {message}")),
        Err(BootError::Call(never)) => match never {},
    }
    CONTEXT.with(|c| c.borrow_mut().as_mut().map(|cx| cx.python_ready = true));
    Ok(py)
}

/// Run `code` in `__main__` (`PyRun_SimpleString`): `Ok(false)` if it raised (the traceback is on stderr).
pub(crate) fn run_source(py: &mut Pyodide, code: &str) -> Result<bool, String> {
    let code = match boot::alloc_str(py, code) {
        Ok(ptr) => ptr,
        Err(BootError::Config(message)) => return Err(message),
        Err(BootError::Call(never)) => match never {},
    };
    // SAFETY: `code` is a NUL-terminated string in Pyodide's memory.
    let status = unsafe { pyodide::PyRun_SimpleString(code) };
    // SAFETY: `code` came from Pyodide's `malloc`.
    unsafe { pyodide::free(code) };
    flush();
    Ok(status == 0)
}

/// Write what the file system buffered (open files, `/tmp`) through.
pub(crate) fn flush() {
    CONTEXT.with(|c| c.borrow_mut().as_mut().map(|cx| cx.vfs.flush()));
}

/// Mount the standard layout from the carried archives, boot CPython and run the program's source as `__main__`
/// the way `python -c` would (the runtime's `_pyworkers.cli.run_command`): it ends the run with `exit(status)`.
/// 0 if it ran to the end; 1 if it raised (the traceback is on stderr) or the interpreter could not start (the
/// reason is on stderr): the component lifts this as `wasi:cli/run`'s `result`.
#[no_mangle]
pub extern "C" fn shim_run() -> i32 {
    let mut py = match start(None) {
        Ok(py) => py,
        Err(message) => return failed(&message),
    };
    // The runtime's own runner, as `pyworkers run -c` uses: it flushes stdio and ends with `os._exit(status)`,
    // which reaches `wasi:cli/exit` through the fallbacks and `proc_exit`. The source travels as hex, so no byte
    // of it needs escaping.
    let hex: String = archive(PROGRAM).iter().map(|b| format!("{b:02x}")).collect();
    let run = format!("import _pyworkers.cli as c; c.run_command(bytes.fromhex('{hex}').decode('utf-8', 'surrogateescape'))");
    match run_source(&mut py, &run) {
        Ok(completed) => i32::from(!completed),
        Err(message) => failed(&message),
    }
}
