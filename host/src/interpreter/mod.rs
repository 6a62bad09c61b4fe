//! Boot Pyodide's CPython inside a wasmtime instance and run Python in it — without Pyodide's JavaScript.
//!
//! Boot = instantiate Pyodide's initial state with its code linked to it ([`Pyodide`]), install the call
//! trampoline, run the module's constructors, then configure and initialise CPython through the 3.14
//! `PyInitConfig_*` API (no struct offsets needed). A snapshot's instance skips the last two steps.

mod config;
mod pyodide;

pub use config::BootOptions;
pub use pyodide::{Overrides, Pyodide};

use crate::emscripten::{EmContext, EmscriptenView, GuestExit};
use anyhow::{Context, Result};
use wasmtime::{Engine, Instance, Store, Val};

/// The data of a store running Pyodide.
pub struct Host {
    /// Emscripten state: the file system, environment, clocks, randomness.
    pub em: EmContext,
}

impl EmscriptenView for Host {
    fn em(&mut self) -> &mut EmContext {
        &mut self.em
    }
}

/// Largest linear memory one instance may grow to.
pub const MAX_MEMORY_BYTES: u64 = 2 << 30;

/// Most side modules (`.so` extensions) one instance may load.
pub const MAX_SIDE_MODULES: u32 = 32;

/// An epoch deadline far enough away to mean "none" (the engine counts epochs for `serve`'s request deadlines;
/// adding this to any epoch a process reaches cannot overflow).
pub const NO_DEADLINE: u64 = u64::MAX / 2;

/// The wasmtime configuration Pyodide needs, for at most `instances` live at once: exnref exceptions (after the EH
/// conversion), GC types so the call trampoline can `ref.test` a callee's signature, and epoch interruption for
/// deadlines. Instances come from the pooling allocator with copy-on-write memory images, which is what makes
/// restoring a snapshot cost microseconds; the pool reserves address space per slot (several GiB each), so it is
/// sized to what the command needs — `run` needs one. The pool's size is not part of the compiled code's
/// compatibility, so every size shares one compiled module.
pub fn engine_config(instances: u32) -> wasmtime::Config {
    let instances = instances.max(1);
    let mut config = wasmtime::Config::new();
    config.wasm_exceptions(true);
    config.wasm_reference_types(true);
    config.wasm_function_references(true);
    config.wasm_gc(true);
    config.epoch_interruption(true);
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    // Each Pyodide instance is three core instances (its state, its code, the call trampoline), plus one per side
    // module it loads (up to `MAX_SIDE_MODULES`), with three tables (one funcref, two externref for the JS bridge)
    // and two memory slots: the state's linear memory and the store's GC heap, which the pool also backs with a
    // memory slot. Side modules import the memory and table, so they need no slots of their own.
    pool.total_core_instances((3 + MAX_SIDE_MODULES) * instances);
    pool.total_memories(2 * instances);
    pool.total_tables(3 * instances);
    pool.max_tables_per_module(3);
    // Pyodide's table has ~8,700 slots; side modules append theirs (pydantic_core: ~1,400).
    pool.table_elements(64 * 1024);
    pool.max_memory_size(MAX_MEMORY_BYTES as usize);
    pool.max_core_instance_size(4 << 20);
    pool.total_gc_heaps(instances);
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    config.memory_init_cow(true);
    // A snapshot's memory is ~30 MiB of which a third is non-zero: allow a copy-on-write image of that size even
    // though it is sparse, or Wasmtime would copy the data into every instance instead of mapping it.
    config.memory_guaranteed_dense_image_size(MAX_MEMORY_BYTES);
    config
}

/// A wasmtime engine configured for Pyodide, with room for `instances` live at once.
pub fn engine(instances: u32) -> Result<Engine> {
    Ok(Engine::new(&engine_config(instances))?)
}

/// A running CPython.
pub struct Interpreter {
    store: Store<Host>,
    instance: Instance,
    state: Instance,
    trampoline_index: u32,
}

/// How a piece of Python ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It ran to the end.
    Completed,
    /// It raised; the traceback was printed to stderr.
    Raised,
    /// It called `exit(status)` (e.g. `SystemExit` reaching the top, or `os._exit`).
    Exited(i32),
}

impl Outcome {
    /// The process exit status this outcome maps to, as `python` would report it.
    pub fn exit_status(self) -> i32 {
        match self {
            Outcome::Completed => 0,
            Outcome::Raised => 1,
            Outcome::Exited(code) => code,
        }
    }
}

impl Interpreter {
    /// Instantiate Pyodide in its initial state and initialise CPython over `em`'s file system.
    pub fn boot(pyodide: &Pyodide, em: EmContext, options: &BootOptions) -> Result<Interpreter> {
        Interpreter::boot_with(pyodide, em, options, None)
    }

    /// [`Interpreter::boot`] with some imports answered by other instances in the same store ([`Overrides`]).
    pub fn boot_with(
        pyodide: &Pyodide,
        em: EmContext,
        options: &BootOptions,
        overrides: Option<&mut dyn Overrides>,
    ) -> Result<Interpreter> {
        let mut interp = Interpreter::instantiate_with(pyodide, pyodide.initial(), em, overrides)?;
        interp
            .call("__wasm_call_ctors", &[])
            .map_err(anyhow::Error::from)
            .context("running Pyodide's constructors")?;
        config::initialize(&mut interp, options)?;
        interp.store.data_mut().em.python_ready = true;
        Ok(interp)
    }

    /// A new store over `em` with `state` instantiated and Pyodide's code linked to it; nothing run yet. For a
    /// snapshot's state, CPython is already initialised.
    pub(crate) fn instantiate(
        pyodide: &Pyodide,
        state: &wasmtime::InstancePre<Host>,
        em: EmContext,
    ) -> Result<Interpreter> {
        Interpreter::instantiate_with(pyodide, state, em, None)
    }

    fn instantiate_with(
        pyodide: &Pyodide,
        state: &wasmtime::InstancePre<Host>,
        em: EmContext,
        overrides: Option<&mut dyn Overrides>,
    ) -> Result<Interpreter> {
        let mut store = Store::new(pyodide.engine(), Host { em });
        store.set_epoch_deadline(NO_DEADLINE);
        let (state, instance, trampoline_index) = pyodide.instantiate(&mut store, state, overrides)?;
        Ok(Interpreter {
            store,
            instance,
            state,
            trampoline_index,
        })
    }

    /// The instance of the state module: it owns the memory and every global.
    pub fn state_instance(&self) -> &Instance {
        &self.state
    }

    /// The store's engine.
    pub fn engine(&self) -> &Engine {
        self.store.engine()
    }

    /// The guest's linear memory.
    pub fn memory(&self) -> Result<wasmtime::Memory> {
        self.store
            .data()
            .em
            .exports
            .as_ref()
            .map(|e| e.memory)
            .context("the instance has no memory export")
    }

    /// The function-table slot of the call trampoline.
    pub fn trampoline_index(&self) -> u32 {
        self.trampoline_index
    }

    /// The store (for its data: the file system, captured output).
    pub fn store_mut(&mut self) -> &mut Store<Host> {
        &mut self.store
    }

    /// The store's data.
    pub fn host(&mut self) -> &mut Host {
        self.store.data_mut()
    }

    /// The instance.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// Call export `name` with i32 arguments; returns its i32 result (0 if it returns nothing).
    pub(crate) fn call(&mut self, name: &str, args: &[i32]) -> wasmtime::Result<i32> {
        let func = self
            .instance
            .get_func(&mut self.store, name)
            .ok_or_else(|| wasmtime::format_err!("Pyodide has no `{name}` export"))?;
        let args: Vec<Val> = args.iter().map(|&a| Val::I32(a)).collect();
        let mut results = vec![Val::I32(0); func.ty(&self.store).results().len()];
        func.call(&mut self.store, &args, &mut results)?;
        Ok(results.first().and_then(Val::i32).unwrap_or(0))
    }

    /// Copy `s` into guest memory (NUL-terminated) with `malloc`; free it with [`Interpreter::free`].
    pub(crate) fn alloc_str(&mut self, s: &str) -> Result<i32> {
        let ptr = pyworkers_emscripten::boot::alloc_str(self, s).map_err(config::boot_error)?;
        Ok(ptr as i32)
    }

    /// Free guest memory from [`Interpreter::alloc_str`].
    pub(crate) fn free(&mut self, ptr: i32) -> Result<()> {
        Ok(self.call("free", &[ptr]).map(|_| ())?)
    }

    /// Call `module.function()` with no arguments through the C API (no source to compile, so the cheapest call
    /// into Python there is). An exception is printed to stderr, like an uncaught one.
    pub fn call_function(&mut self, module: &str, function: &str) -> Result<Outcome> {
        let (m, f) = (self.alloc_str(module)?, self.alloc_str(function)?);
        let result = (|| -> wasmtime::Result<bool> {
            let module = self.call("PyImport_ImportModule", &[m])?;
            if module == 0 {
                return Ok(false);
            }
            let func = self.call("PyObject_GetAttrString", &[module, f])?;
            self.call("Py_DecRef", &[module])?;
            if func == 0 {
                return Ok(false);
            }
            let value = self.call("PyObject_CallNoArgs", &[func])?;
            self.call("Py_DecRef", &[func])?;
            if value == 0 {
                return Ok(false);
            }
            self.call("Py_DecRef", &[value])?;
            Ok(true)
        })();
        let outcome = match result {
            Ok(true) => Outcome::Completed,
            Ok(false) => {
                self.call("PyErr_Print", &[])?;
                Outcome::Raised
            }
            Err(e) => match e.downcast_ref::<GuestExit>() {
                Some(GuestExit(code)) => Outcome::Exited(*code),
                None => return Err(anyhow::Error::from(e).context("Python crashed")),
            },
        };
        self.store.data_mut().em.vfs.flush();
        self.free(m)?;
        self.free(f)?;
        Ok(outcome)
    }

    /// A new reference to `module.attribute` (imports the module), or `None` with the exception printed.
    pub(crate) fn lookup(&mut self, module: &str, attribute: &str) -> Result<Option<i32>> {
        let found = pyworkers_emscripten::boot::lookup(self, module, attribute).map_err(config::boot_error)?;
        Ok(found.map(|object| object as i32))
    }

    /// Call the Python callable `func` with one `bytes` argument and return the `bytes` it returns: the one shape
    /// of every host → Python call in `entrypoint` (the shared `boot::call_bytes`, then the VFS flushed). `Ok(None)`
    /// if it raised (the traceback is printed); `Err` if the instance trapped or ran out of guest memory, after
    /// which it must not be used again.
    pub(crate) fn call_bytes(&mut self, func: i32, arg: &[u8]) -> Result<Option<Vec<u8>>> {
        let out = pyworkers_emscripten::boot::call_bytes(self, i64::from(func), arg).map_err(config::boot_error);
        self.store.data_mut().em.vfs.flush();
        out
    }

    /// Give the guest `ticks` epochs (see `NO_DEADLINE`) before a running call traps with `Trap::Interrupt`.
    pub fn set_deadline(&mut self, ticks: u64) {
        self.store.set_epoch_deadline(ticks);
    }

    /// Run `code` as `__main__` code (`PyRun_SimpleString`): an uncaught exception prints its traceback.
    pub fn run_source(&mut self, code: &str) -> Result<Outcome> {
        let ptr = self.alloc_str(code)?;
        let result = self.call("PyRun_SimpleString", &[ptr]);
        self.store.data_mut().em.vfs.flush();
        match result {
            Ok(0) => {
                self.free(ptr)?;
                Ok(Outcome::Completed)
            }
            Ok(_) => {
                self.free(ptr)?;
                Ok(Outcome::Raised)
            }
            Err(e) => match e.downcast_ref::<GuestExit>() {
                Some(GuestExit(code)) => Ok(Outcome::Exited(*code)),
                None => Err(anyhow::Error::from(e).context("Python crashed")),
            },
        }
    }
}
