//! A dynamic linker for Emscripten side modules (`.so` files such as compiled Python extensions), doing in Rust
//! what Emscripten's JavaScript linker does for `dlopen`/`dlsym`: libc's `dlopen` (`dynlink.c`) fills a
//! `struct dso` and calls `_dlopen_js(dso)`, which loads the library into the same store, memory and table as the
//! main module; `_dlsym_js(dso, name, index_out)` answers a data symbol with its address and a function with a
//! table index. A failure becomes `dlerror()` text naming the cause (Python then raises `ImportError` with it).
//!
//! State is per store ([`Dylink`], in the Emscripten context): the libraries loaded, in order, the global symbol
//! scope (`RTLD_GLOBAL`), the shared GOT, and which table slot holds which function.

mod link;
mod metadata;
mod replay;
pub mod segments;

pub use link::{Loaded, Placement};
pub use metadata::Metadata;
pub use replay::{record, replay, Library, LibraryRecord, Record};


use super::{caller_func, malloc_str, EmscriptenView, GuestMemory};
use std::collections::HashMap;
use std::sync::Arc;
use wasmtime::{AsContextMut, Caller, Engine, Extern, Linker, Module, Val};

/// Turns a side module's bytes into a compiled module: the interpreter's implementation converts legacy
/// exception handling and caches the result by content; the default compiles as is.
pub trait Compiler: Send + Sync {
    /// Compile `wasm` (the file `name`) for `engine`.
    fn compile(&self, engine: &Engine, name: &str, wasm: &[u8]) -> anyhow::Result<Module>;
}

/// Compiles side modules with Wasmtime directly (no conversion, no cache): for tests and tools.
pub struct Direct;

impl Compiler for Direct {
    fn compile(&self, engine: &Engine, _name: &str, wasm: &[u8]) -> anyhow::Result<Module> {
        Module::new(engine, wasm).map_err(anyhow::Error::from)
    }
}

/// The linker's state in one store.
pub struct Dylink {
    /// How side modules are compiled.
    pub compiler: Arc<dyn Compiler>,
    /// Libraries loaded, in load order.
    pub loaded: Vec<Loaded>,
    /// `struct dso` address → index into `loaded`.
    handles: HashMap<u32, usize>,
    /// Exports of `RTLD_GLOBAL` libraries with the index of the library, first definition wins (the main module's
    /// are looked up directly).
    global: HashMap<String, (Extern, usize)>,
    /// Functions appended to the table for `dlsym` or a GOT entry, in order.
    appended: Vec<SlotRecord>,
    /// The global offset table: one mutable global per `GOT.mem`/`GOT.func` symbol, shared by every library.
    got: HashMap<String, wasmtime::Global>,
    /// Which GOT entries hold their final value.
    got_resolved: std::collections::HashSet<String>,
    /// Function (by its raw funcref) → table slot, built on first use.
    slots: Option<HashMap<usize, u32>>,
}

impl Default for Dylink {
    fn default() -> Self {
        Dylink::new(Arc::new(Direct))
    }
}

impl Dylink {
    /// No libraries yet; compile them with `compiler`.
    pub fn new(compiler: Arc<dyn Compiler>) -> Dylink {
        Dylink {
            compiler,
            loaded: Vec::new(),
            handles: HashMap::new(),
            global: HashMap::new(),
            got: HashMap::new(),
            got_resolved: Default::default(),
            slots: None,
            appended: Vec::new(),
        }
    }
}

/// A function the linker appended to the table: what a restored instance must append again, in the same place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRecord {
    /// The table slot.
    pub slot: u32,
    /// Index (load order) of the library that exports it; `None` for the main module.
    pub library: Option<u32>,
    /// The export's name.
    pub symbol: String,
}

/// `RTLD_GLOBAL` in Emscripten's libc.
const RTLD_GLOBAL: i32 = 256;
/// Offsets in libc's `struct dso` (`dynlink.c`), as Emscripten's JS reads and writes them.
mod dso {
    pub const FLAGS: u32 = 4;
    pub const MEM_ALLOCATED: u32 = 8;
    pub const MEM_ADDR: u32 = 12;
    pub const MEM_SIZE: u32 = 16;
    pub const TABLE_ADDR: u32 = 20;
    pub const TABLE_SIZE: u32 = 24;
    pub const FILE_DATA: u32 = 28;
    pub const FILE_DATA_SIZE: u32 = 32;
    pub const NAME: u32 = 36;
}

/// Define `_dlopen_js` and `_dlsym_js`.
pub fn add_to_linker<T: EmscriptenView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "_dlopen_js", |mut caller: Caller<'_, T>, handle: i32| -> wasmtime::Result<i32> {
        dlopen(&mut caller, handle as u32)
    })?;
    linker.func_wrap(
        "env",
        "_dlsym_js",
        |mut caller: Caller<'_, T>, handle: i32, symbol: i32, _index: i32| -> wasmtime::Result<i32> {
            dlsym(&mut caller, handle as u32, symbol as u32)
        },
    )?;
    Ok(())
}

/// Why a load failed: a message for `dlerror`, or a trap/exit that must unwind.
pub(crate) enum Failure {
    /// The library cannot be linked: tell the caller through `dlerror`.
    Link(String),
    /// The guest trapped or exited (e.g. in a constructor): unwind as the guest would.
    Unwind(wasmtime::Error),
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Link(s)
    }
}

fn dlopen<T: EmscriptenView>(caller: &mut Caller<'_, T>, handle: u32) -> wasmtime::Result<i32> {
    let (name, flags, file) = {
        let Some(exports) = caller.data_mut().em().exports.clone() else {
            wasmtime::bail!("dlopen before instantiation")
        };
        let mem = super::SliceMemory::new(exports.memory.data_mut(&mut *caller));
        let flags = mem.read_u32(handle.wrapping_add(dso::FLAGS)).unwrap_or(0) as i32;
        let data = mem.read_u32(handle.wrapping_add(dso::FILE_DATA)).unwrap_or(0);
        let size = mem.read_u32(handle.wrapping_add(dso::FILE_DATA_SIZE)).unwrap_or(0);
        let file = if data != 0 && size != 0 {
            mem.bytes(data, size).ok().map(|s| s.into_owned())
        } else {
            None
        };
        (mem.cstr_lossy(handle.wrapping_add(dso::NAME)), flags, file)
    };
    let global = flags & RTLD_GLOBAL != 0;
    match link::load(&mut caller.as_context_mut(), &name, global, Some(handle), file, 0) {
        Ok(()) => Ok(1),
        Err(Failure::Link(msg)) => {
            tracing::debug!(library = %name, error = %msg, "dlopen failed");
            set_dlerror(caller, &format!("could not load dynamic lib: {name}\n{msg}"))?;
            Ok(0)
        }
        Err(Failure::Unwind(e)) => Err(e),
    }
}

fn dlsym<T: EmscriptenView>(caller: &mut Caller<'_, T>, handle: u32, symbol: u32) -> wasmtime::Result<i32> {
    let Some(exports) = caller.data_mut().em().exports.clone() else {
        wasmtime::bail!("dlsym before instantiation")
    };
    let name = super::SliceMemory::new(exports.memory.data_mut(&mut *caller)).cstr_lossy(symbol);
    let dl = &caller.data_mut().em().dylink;
    let (found, lib, owner) = match dl.handles.get(&handle) {
        Some(&i) => (dl.loaded[i].exports.get(&name).cloned(), dl.loaded[i].placement.name.clone(), Some(i)),
        None => (None, format!("(unknown handle {handle:#x})"), None),
    };
    let value = match found {
        Some(Extern::Func(f)) => Some(link::slot_of(&mut caller.as_context_mut(), f, owner, &name)? as i32),
        Some(Extern::Global(g)) => g.get(&mut *caller).i32(),
        _ => None,
    };
    match value {
        Some(v) => Ok(v),
        None => {
            set_dlerror(caller, &format!("Tried to lookup unknown symbol \"{name}\" in dynamic lib: {lib}"))?;
            Ok(0)
        }
    }
}

/// Make `msg` what `dlerror()` returns next.
pub(super) fn set_dlerror<T: EmscriptenView>(caller: &mut Caller<'_, T>, msg: &str) -> wasmtime::Result<()> {
    let Some(seterr) = caller_func(caller, "__dl_seterr") else {
        return Ok(());
    };
    // `__dl_seterr(fmt, args)` formats with vsnprintf: never pass a `%`.
    let ptr = malloc_str(caller, &msg.replace('%', "?"))?;
    if ptr != 0 {
        seterr.call(&mut *caller, &[Val::I32(ptr), Val::I32(0)], &mut [])?;
        // `__dl_seterr` copies the formatted message into its own buffer.
        if let Some(exports) = caller.data_mut().em().exports.clone() {
            exports.free.call(&mut *caller, ptr)?;
        }
    }
    Ok(())
}
