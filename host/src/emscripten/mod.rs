//! The Emscripten ABI in Rust: every import of `pyodide.asm.wasm`, answered without JavaScript.
//!
//! The imports themselves are plain functions in the `pyworkers-emscripten` crate (shared with the Pyodide
//! component, which compiles them to wasm32); this module binds them to wasmtime linker definitions over the
//! instance's memory and adds what needs the engine: calls back into the guest, traps, dynamic linking. It holds
//! no policy. Imports with no meaning here — the JavaScript
//! bridge, sockets — fail cleanly: an errno, or a Python exception that names the missing
//! capability. Nothing here panics on guest input, and all state lives in the `Store`'s data.

pub mod dylink;
mod process;
mod syscalls;
mod table;
mod time;
pub mod trampoline;
mod unsupported;
mod wasi;

pub use pyworkers_emscripten::{layout, Clock, Context, GuestMemory, SliceMemory};

use crate::vfs::Vfs;
use wasmtime::Result;
use wasmtime::{Caller, Extern, Func, Linker, Memory, Module, Table};

/// The guest called `exit(code)` (or `proc_exit`): unwinds the wasm stack as a trap carrying the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestExit(pub i32);

impl std::fmt::Display for GuestExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "guest exited with status {}", self.0)
    }
}

impl std::error::Error for GuestExit {}

/// Exports of the instance that host functions need; filled in right after instantiation.
#[derive(Clone)]
pub struct Exports {
    /// The instance itself (the main module, whose exports side modules link against).
    pub main: wasmtime::Instance,
    /// The linear memory.
    pub memory: Memory,
    /// `__indirect_function_table`.
    pub table: Table,
    /// `malloc(size) -> ptr`.
    pub malloc: wasmtime::TypedFunc<i32, i32>,
    /// `free(ptr)`.
    pub free: wasmtime::TypedFunc<i32, ()>,
}

/// Everything the Emscripten imports read or change: the engine-independent [`Context`] (which it dereferences
/// to, so `em.vfs` and the like read as before) plus the instance's exports and its side modules.
pub struct EmContext {
    /// The state the shared imports see.
    pub core: Context,
    /// Instance exports; `None` only while instantiating.
    pub exports: Option<Exports>,
    /// The side modules loaded with `dlopen`.
    pub dylink: dylink::Dylink,
}

impl EmContext {
    /// A context over `vfs` with an empty environment and OS randomness.
    pub fn new(vfs: Vfs) -> EmContext {
        EmContext {
            core: Context::new(vfs),
            exports: None,
            dylink: dylink::Dylink::default(),
        }
    }
}

impl std::ops::Deref for EmContext {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.core
    }
}

impl std::ops::DerefMut for EmContext {
    fn deref_mut(&mut self) -> &mut Context {
        &mut self.core
    }
}

/// Implemented by the `Store` data of an instance running Pyodide, so host functions reach the context without
/// global state.
pub trait EmscriptenView: Send + 'static {
    /// The context.
    fn em(&mut self) -> &mut EmContext;
}

/// Module names of the imports this layer serves.
const ENV: &str = "env";
const WASI: &str = "wasi_snapshot_preview1";

/// Define every function import of `module` in `linker`: the ones Pyodide's CPython uses are implemented, the rest
/// fail cleanly. Memory and globals come from a state module (`runtime::split`), not from here.
pub fn add_to_linker<T: EmscriptenView>(linker: &mut Linker<T>, module: &Module) -> Result<()> {
    // Fallbacks first, real implementations after: the later definition of a name shadows the earlier.
    linker.allow_shadowing(true);
    for import in module.imports() {
        if let wasmtime::ExternType::Func(ty) = import.ty() {
            unsupported::define(linker, import.module(), import.name(), ty)?;
        }
    }
    syscalls::add_to_linker(linker)?;
    wasi::add_to_linker(linker)?;
    time::add_to_linker(linker)?;
    process::add_to_linker(linker)?;
    trampoline::add_fallback(linker)?;
    dylink::add_to_linker(linker)?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Read the exports host functions need from a fresh instance.
pub fn exports<T>(
    store: &mut wasmtime::Store<T>,
    instance: &wasmtime::Instance,
) -> Result<Exports> {
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| wasmtime::format_err!("no `memory` export"))?;
    let table = instance
        .get_table(&mut *store, "__indirect_function_table")
        .ok_or_else(|| wasmtime::format_err!("no `__indirect_function_table` export"))?;
    Ok(Exports {
        main: *instance,
        memory,
        table,
        malloc: instance.get_typed_func(&mut *store, "malloc")?,
        free: instance.get_typed_func(&mut *store, "free")?,
    })
}

/// Run `f` over the guest's memory and the context together.
fn with_memory<T: EmscriptenView, R>(
    caller: &mut Caller<'_, T>,
    f: impl FnOnce(&mut SliceMemory<'_>, &mut EmContext) -> R,
) -> Option<R> {
    let memory = caller.data_mut().em().exports.as_ref()?.memory;
    let (bytes, data) = memory.data_and_store_mut(caller);
    Some(f(&mut SliceMemory::new(bytes), data.em()))
}

/// Look up export `name` of the calling instance.
fn caller_func<T>(caller: &mut Caller<'_, T>, name: &str) -> Option<Func> {
    match caller.get_export(name) {
        Some(Extern::Func(f)) => Some(f),
        _ => None,
    }
}

/// Copy `s` (NUL-terminated) into fresh guest memory from `malloc`; 0 if out of memory.
fn malloc_str<T: EmscriptenView>(caller: &mut Caller<'_, T>, s: &str) -> Result<i32> {
    let Some(exports) = caller.data_mut().em().exports.clone() else {
        return Ok(0);
    };
    let ptr = exports.malloc.call(&mut *caller, s.len() as i32 + 1)?;
    if ptr != 0 {
        let mem = exports.memory.data_mut(&mut *caller);
        let mut mem = SliceMemory::new(mem);
        if mem.write_cstr(ptr as u32, s, s.len() + 1).is_err() {
            return Ok(0);
        }
    }
    Ok(ptr)
}
