//! A component file under test: compiled once, then a fresh store and instance per case.
//!
//! The component may import any of WASI (a Rust guest's standard library imports `wasi:cli`, `wasi:random`, ...),
//! and `wasi:http`'s types, which grants it nothing but randomness, clocks and a stderr that goes to ours: no
//! preopened directory, no network (an outgoing request is refused); the `entrypoint` and `snapshot` suites also
//! set one environment variable. Its memory is capped, so a runaway guest fails its row rather than the machine.

use std::path::Path;

use anyhow::{Context, Result};
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// The most linear memory one instance under test may have.
const MAX_MEMORY: usize = 1 << 30;

/// A compiled component, linked against WASI.
pub struct ComponentFile {
    engine: Engine,
    linker: Linker<State>,
    component: Component,
    name: String,
}

/// A store's data: WASI for the component's standard library, and the memory cap.
pub struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    deny: DenyOutgoing,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.deny }
    }
}

/// `wasi:http` for a component under test: its types (a worker that also serves HTTP imports them), and every
/// outgoing request refused.
struct DenyOutgoing;

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<wasmtime_wasi_http::WasiBody>,
    Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for DenyOutgoing {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn std::future::Future<Output = SendResult> + Send> {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

impl ComponentFile {
    /// Read and compile the component at `path`.
    pub fn load(path: &Path) -> Result<ComponentFile> {
        let wasm = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let mut config = Config::new();
        config.wasm_component_model(true);
        // What a Python worker's Pyodide component is built with: exception handling, several memories.
        config.wasm_exceptions(true);
        config.wasm_gc(true);
        config.wasm_function_references(true);
        config.wasm_multi_memory(true);
        let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
        let component = Component::new(&engine, &wasm)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("{} is not a component wasmtime can compile", path.display()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(anyhow::Error::from)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker).map_err(anyhow::Error::from)?;
        Ok(ComponentFile { engine, linker, component, name: path.display().to_string() })
    }

    /// Link the component once, for many instances; fails if it imports something beyond WASI.
    pub(super) fn pre(&self) -> Result<InstancePre<State>> {
        self.linker
            .instantiate_pre(&self.component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("{} imports something other than WASI", self.name))
    }

    /// Say which world `self` failed to match, for a component that does not export the interface.
    pub(super) fn not_a(&self, world: &str, error: wasmtime::Error) -> anyhow::Error {
        anyhow::Error::from(error).context(format!("{} does not export what the `{world}` world asks", self.name))
    }

    /// A fresh store for one instance.
    pub(super) fn store(&self) -> Store<State> {
        self.store_with_env(&[])
    }

    /// A fresh store for one instance whose environment (`wasi:cli/environment`) holds `env`: how a suite tells a
    /// component which of its contract's variants to be (see [`super::entrypoint`]).
    pub(super) fn store_with_env(&self, env: &[(&str, &str)]) -> Store<State> {
        let wasi = WasiCtx::builder().inherit_stderr().envs(env).build();
        let limits = StoreLimitsBuilder::new().memory_size(MAX_MEMORY).build();
        let mut store = Store::new(&self.engine, State { wasi, http: WasiHttpCtx::new(), deny: DenyOutgoing, table: ResourceTable::new(), limits });
        store.limiter(|state| &mut state.limits);
        store
    }
}
