//! Pyodide compiled for one engine: the code module (compiled once per cache, see `runtime::split`), the state
//! module of its initial state, the call trampoline, and the linker that answers its Emscripten imports. Loaded once
//! per process; every interpreter, booted or restored, is a state instance with the code linked to it.

use super::Host;
use crate::emscripten;
use crate::runtime::split::{self, Shape};
use crate::runtime::Runtime;
use anyhow::{Context, Result};
use sha2::Digest;
use wasmtime::{Engine, Extern, Instance, InstancePre, Linker, Module, Store};

/// Where each import of the code module comes from.
enum Slot {
    /// A host function of the linker, by (module, name).
    Host(String, String),
    /// An export of the state instance, by name.
    State(String),
}

/// Imports answered by other instances in the same store instead of this module's linker: how the Pyodide
/// component's core instances (`guest-adapters/emscripten-shim`, [`crate::component`]'s generated modules) are
/// tried natively, in the component's own instantiation order (state, then what answers the imports, then the code,
/// then what calls back into it).
pub trait Overrides {
    /// Called once the state instance exists, so what is instantiated here can import the state's memory: the
    /// imports it answers, keyed by (module, name).
    fn imports(&mut self, store: &mut Store<Host>, state: &Instance) -> Result<Vec<((String, String), Extern)>>;

    /// Called once the code instance exists, before anything in it runs: link what calls back into it.
    fn linked(&mut self, store: &mut Store<Host>, code: &Instance) -> Result<()> {
        let _ = (store, code);
        Ok(())
    }
}

/// Compiles the side modules an instance `dlopen`s through the runtime's compiled cache.
struct SideModules(Runtime);

impl emscripten::dylink::Compiler for SideModules {
    fn compile(&self, engine: &Engine, name: &str, wasm: &[u8]) -> Result<Module> {
        self.0.load_side_module(engine, name, wasm)
    }
}

/// Pyodide ready to instantiate (see the module docs).
pub struct Pyodide {
    engine: Engine,
    code: Module,
    initial: InstancePre<Host>,
    trampoline: Module,
    linker: Linker<Host>,
    slots: Vec<Slot>,
    runtime: Runtime,
    side_modules: std::sync::Arc<SideModules>,
}

impl Pyodide {
    /// Load the code module, the initial state and the trampoline for `engine` from `runtime`'s compiled cache,
    /// compiling whichever is missing (the code once, ~10 s; the others in milliseconds).
    pub fn load(runtime: &Runtime, engine: &Engine) -> Result<Pyodide> {
        let sha = runtime.wasm_sha256().to_string();
        let read = || -> Result<(Vec<u8>, Shape)> {
            let wasm = runtime.read_wasm()?;
            let shape = Shape::of(&wasm)?;
            Ok((wasm, shape))
        };
        let code = runtime.load_compiled(
            engine,
            "Pyodide",
            &format!("code module (split v2) of sha256 {sha}"),
            || {
                let (wasm, shape) = read()?;
                split::code_module(&wasm, &shape)
            },
        )?;
        let initial = runtime.load_compiled(
            engine,
            "Pyodide's initial state",
            &format!("initial state module (split v2) of sha256 {sha}"),
            || {
                let (wasm, shape) = read()?;
                shape.initial_state(&wasm)
            },
        )?;
        let wat_sha = hex::encode(sha2::Sha256::digest(emscripten::trampoline::WAT));
        let trampoline = runtime.load_compiled(
            engine,
            "the call trampoline",
            &format!("call trampoline of sha256 {wat_sha}"),
            || Ok(wat::parse_str(emscripten::trampoline::WAT)?),
        )?;
        let mut linker = Linker::new(engine);
        emscripten::add_to_linker(&mut linker, &code)?;
        let slots = code
            .imports()
            .map(|i| match i.module() {
                split::STATE_MODULE => Slot::State(i.name().to_string()),
                m => Slot::Host(m.to_string(), i.name().to_string()),
            })
            .collect();
        let initial = Linker::new(engine)
            .instantiate_pre(&initial)
            .map_err(anyhow::Error::from)
            .context("linking Pyodide's initial state")?;
        Ok(Pyodide {
            engine: engine.clone(),
            code,
            initial,
            trampoline,
            linker,
            slots,
            runtime: runtime.clone(),
            side_modules: std::sync::Arc::new(SideModules(runtime.clone())),
        })
    }

    /// The engine everything here is compiled for.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The runtime (cache) this was loaded from.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// SHA-256 of the converted module the code and states come from.
    pub fn sha256(&self) -> &str {
        self.runtime.wasm_sha256()
    }

    /// The shape every state module must have (parses Pyodide's module: for building a state, not per instance).
    pub fn shape(&self) -> Result<Shape> {
        Shape::of(&self.runtime.read_wasm()?)
    }

    /// Prepare a state module (Pyodide's initial one, or a snapshot's) for instantiating many times.
    pub fn state_pre(&self, state: &Module) -> Result<InstancePre<Host>> {
        Linker::new(&self.engine)
            .instantiate_pre(state)
            .map_err(anyhow::Error::from)
            .context("linking a state module")
    }

    /// The code module's bytes (Pyodide's module without its state), as compiled here: what the component holds.
    pub fn code_wasm(&self) -> Result<Vec<u8>> {
        let wasm = self.runtime.read_wasm()?;
        split::code_module(&wasm, &Shape::of(&wasm)?)
    }

    /// The initial state, ready to instantiate.
    pub fn initial(&self) -> &InstancePre<Host> {
        &self.initial
    }

    /// Instantiate `state` in `store` and link the code to it; installs the call trampoline. Returns the state
    /// instance, the code instance and the trampoline's table slot.
    pub(crate) fn instantiate(
        &self,
        store: &mut Store<Host>,
        state: &InstancePre<Host>,
        mut overrides: Option<&mut dyn Overrides>,
    ) -> Result<(Instance, Instance, u32)> {
        let state = state
            .instantiate(&mut *store)
            .map_err(anyhow::Error::from)
            .context("instantiating Pyodide's state")?;
        let answered: std::collections::HashMap<(String, String), Extern> = match overrides.as_deref_mut() {
            Some(o) => o.imports(&mut *store, &state)?.into_iter().collect(),
            None => Default::default(),
        };
        let mut imports: Vec<Extern> = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            let item = match slot {
                Slot::Host(module, name) => {
                    // No key is built when there are no overrides: the path every restored instance takes.
                    let overridden = match answered.is_empty() {
                        true => None,
                        false => answered.get(&(module.clone(), name.clone())).cloned(),
                    };
                    overridden.or_else(|| self.linker.get(&mut *store, module, name).ok())
                }
                Slot::State(name) => state.get_export(&mut *store, name),
            };
            imports.push(item.with_context(|| match slot {
                Slot::Host(m, n) => format!("no host function for {m}.{n}"),
                Slot::State(n) => format!("the state module has no `{n}`"),
            })?);
        }
        let code = Instance::new(&mut *store, &self.code, &imports)
            .map_err(anyhow::Error::from)
            .context("instantiating Pyodide")?;
        if let Some(o) = overrides {
            o.linked(&mut *store, &code)?;
        }
        let exports = emscripten::exports(&mut *store, &code)?;
        store.data_mut().em.exports = Some(exports);
        store.data_mut().em.dylink = emscripten::dylink::Dylink::new(self.side_modules.clone());
        let index = emscripten::trampoline::install(&mut *store, &self.trampoline, &code)?;
        Ok((state, code, index))
    }
}
