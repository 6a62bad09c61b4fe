//! Serving a plain `wasi:http/proxy` component, as `wasmtime serve` does: compiled once (and cached), linked
//! once into a `ProxyPre`, then a fresh `Store` and instance for every request, so no request ever sees another's
//! state; or, with `--max-requests-per-instance N`, an instance that answered cleanly serves up to N requests, one
//! at a time (`wasmtime serve --max-instance-reuse-count N`). An instance that trapped is never reused. Limits:
//! the request deadline by epoch interruption, the memory cap by a `ResourceLimiter`, `--instances` instances at a
//! time, outbound `wasi:http/outgoing-handler` calls through the `--allow-host` policy. The guest's
//! stdout and stderr go to the server log, prefixed `[NAME#REQUEST]`.
//!
//! This handler never fails: a trap, an exhausted deadline or memory cap, or a guest that never answers becomes a
//! 500/503 response with a one-line body and a log line.

use super::outbound::AllowList;
use super::{log, text_response, Handler, RequestContext, ServeOptions};
use anyhow::{Context, Result};
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full, Limited};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Semaphore};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    UpdateDeadline,
};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// How often the epoch advances: the granularity of deadlines, and how often a busy guest yields its thread.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Largest response body buffered from a guest.
const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// Connect timeout for a guest's outgoing requests when it sets none (wasi-http's own default is 10 minutes).
const OUTGOING_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one `wasi:http/proxy` component. Cheap to share: `Arc` it for [`serve`](super::serve).
pub struct ComponentHandler {
    pre: ProxyPre<Host>,
    /// File name of the component, for log prefixes.
    name: String,
    vars: Vec<(String, String)>,
    max_memory: usize,
    allow_hosts: Arc<AllowList>,
    outgoing_timeout: Duration,
    instances: Semaphore,
    /// Requests one instance may serve (1: a fresh instance per request).
    reuse: u64,
    /// Instances that answered cleanly and may serve again, at most `max_idle` (`--instances`) of them.
    idle: Arc<Mutex<Vec<Reusable>>>,
    max_idle: usize,
    _ticker: EpochTicker,
}

/// An instance kept between requests, with how many it has served.
struct Reusable {
    store: Store<Host>,
    proxy: Proxy,
    served: u64,
}

impl ComponentHandler {
    /// Compile (or load from the cache under `options.home`) the component at `options.path` and link it against
    /// the `wasi:http/proxy` world.
    pub fn load(options: &ServeOptions) -> Result<ComponentHandler> {
        let path = &options.path;
        let wasm = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let engine = engine()?;
        let component = super::compiled::load(&engine, &options.home, &wasm)
            .with_context(|| format!("loading {}", path.display()))?;
        let mut linker = Linker::<Host>::new(&engine);
        // All of WASI, not just the proxy world's interfaces: components built with a language's standard
        // library import e.g. `wasi:cli/environment` even when they only serve HTTP (`wasmtime serve -Scli`). It
        // grants nothing: no directory is preopened and every socket address is refused.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(ProxyPre::new)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "{} is not a wasi:http/proxy component that pyworkers can run",
                    path.display()
                )
            })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "component".to_string());
        Ok(ComponentHandler {
            pre,
            name,
            vars: options.vars.clone(),
            max_memory: usize::try_from(options.max_memory).unwrap_or(usize::MAX),
            allow_hosts: Arc::new(options.allow_hosts.clone()),
            outgoing_timeout: options.timeout,
            instances: Semaphore::new(options.instances.max(1)),
            reuse: options.max_requests_per_instance.unwrap_or(1),
            idle: Arc::new(Mutex::new(Vec::new())),
            max_idle: options.instances.max(1),
            _ticker: EpochTicker::start(engine)?,
        })
    }

    /// Run the request in a fresh instance; `Err` is the response to give instead, already logged.
    async fn run(
        &self,
        req: http::Request<Bytes>,
        context: RequestContext,
    ) -> Result<http::Response<Bytes>, http::Response<Bytes>> {
        let prefix = format!("[{}#{}]", self.name, context.id);
        let fail = |status: StatusCode, why: &str| {
            log::line(&format!("{prefix} {why}"));
            text_response(status, why)
        };
        let memory_exceeded = Arc::new(AtomicBool::new(false));
        let kept = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let (mut store, proxy, served) = match kept {
            Some(kept) => (kept.store, Some(kept.proxy), kept.served),
            None => (self.new_store(), None, 0),
        };
        begin_request(
            &mut store,
            &prefix,
            context.deadline,
            memory_exceeded.clone(),
        );

        let (sender, receiver) = oneshot::channel();
        let req = req.map(|body| {
            Full::new(body)
                .map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} })
        });
        let setup = (|| -> wasmtime::Result<_> {
            let mut http = store.data_mut().http();
            let request = http.new_incoming_request(Scheme::Http, req)?;
            let out = http.new_response_outparam(sender)?;
            Ok((request, out))
        })();
        let (request, out) = setup.map_err(|e| {
            fail(
                StatusCode::BAD_REQUEST,
                &format!("the request cannot be given to the component: {e:#}"),
            )
        })?;

        // The guest keeps running after it hands over the response head (it may still be writing the body), so
        // it runs in its own task while this one reads the response.
        // Once it has answered cleanly, the instance goes back for another request if it may serve one.
        let pre = self.pre.clone();
        let keep = (served + 1 < self.reuse).then(|| (self.idle.clone(), self.max_idle));
        let guest = tokio::spawn(async move {
            let proxy = match proxy {
                Some(proxy) => proxy,
                None => pre.instantiate_async(&mut store).await?,
            };
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, out)
                .await?;
            if let Some((idle, max)) = keep {
                let mut idle = idle.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() < max {
                    idle.push(Reusable {
                        store,
                        proxy,
                        served: served + 1,
                    });
                }
            }
            Ok(())
        });

        let explain = |error: wasmtime::Error| -> http::Response<Bytes> {
            if error.chain().any(|e| e.is::<DeadlineExceeded>()) {
                fail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the component did not answer within the deadline (--timeout)",
                )
            } else if memory_exceeded.load(Ordering::Relaxed) {
                fail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the component ran out of memory (--max-memory)",
                )
            } else {
                log::line(&format!("{prefix} trapped: {error:?}"));
                text_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("the component failed: {}", error.root_cause()),
                )
            }
        };
        // Why the guest's task ended, if it failed.
        let guest_failure = |guest: tokio::task::JoinHandle<wasmtime::Result<()>>| async move {
            match guest.await {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error),
                Err(join) => Some(wasmtime::Error::msg(format!(
                    "the component's task failed: {join}"
                ))),
            }
        };

        let response = match receiver.await {
            Ok(Ok(response)) => response,
            Ok(Err(code)) => {
                return Err(fail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("the component answered with an error: {code:?}"),
                ))
            }
            // The store (holding the sender) is gone without a response: the task says why.
            Err(_) => {
                return Err(match guest_failure(guest).await {
                    Some(error) => explain(error),
                    None => fail(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the component returned without setting a response",
                    ),
                })
            }
        };
        let (parts, body) = response.into_parts();
        match collect(body, context.deadline).await {
            Ok(body) => Ok(http::Response::from_parts(parts, body)),
            Err(Unfinished::Deadline) => {
                guest.abort();
                Err(fail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the component did not finish its response within the deadline (--timeout)",
                ))
            }
            Err(Unfinished::TooLarge) => {
                guest.abort();
                Err(fail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("the component's response is larger than {MAX_RESPONSE_BYTES} bytes"),
                ))
            }
            // A body that breaks off usually means the guest trapped while writing it: its task says so.
            Err(Unfinished::Broken(why)) => {
                let failure =
                    tokio::time::timeout_at(context.deadline.into(), guest_failure(guest)).await;
                Err(match failure {
                    Ok(Some(error)) => explain(error),
                    _ => fail(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &format!("the component's response body failed: {why}"),
                    ),
                })
            }
        }
    }

    /// A store for a new instance; [`begin_request`] readies it for each request it serves.
    fn new_store(&self) -> Store<Host> {
        let stdout = GuestLog::new();
        let stderr = GuestLog::new();
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .envs(&self.vars)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let host = Host {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: Hooks {
                allow_hosts: self.allow_hosts.clone(),
                prefix: String::new(),
                timeout: self.outgoing_timeout,
            },
            limiter: MemoryCap {
                max: self.max_memory,
                exceeded: Arc::new(AtomicBool::new(false)),
            },
            logs: [stdout, stderr],
        };
        let mut store = Store::new(self.pre.engine(), host);
        store.limiter(|host| &mut host.limiter);
        store
    }
}

/// What changes per request in a store: the log prefix, the memory-cap flag, and the deadline. Every tick, a busy
/// guest yields its thread (so one spinning request cannot starve the others) and is stopped once the deadline
/// has passed.
fn begin_request(
    store: &mut Store<Host>,
    prefix: &str,
    deadline: Instant,
    memory_exceeded: Arc<AtomicBool>,
) {
    let host = store.data_mut();
    host.hooks.prefix = prefix.to_string();
    host.limiter.exceeded = memory_exceeded;
    for log in &host.logs {
        log.set_prefix(prefix);
    }
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Err(wasmtime::Error::new(DeadlineExceeded))
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store.set_epoch_deadline(1);
}

impl Handler for ComponentHandler {
    async fn handle(&self, req: http::Request<Bytes>) -> http::Response<Bytes> {
        let context = req
            .extensions()
            .get::<RequestContext>()
            .copied()
            .unwrap_or_else(|| RequestContext {
                id: 0,
                deadline: Instant::now() + Duration::from_secs(30),
            });
        let Ok(_permit) = self.instances.acquire().await else {
            return text_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            );
        };
        match self.run(req, context).await {
            Ok(response) | Err(response) => response,
        }
    }
}

/// The engine components run on: async (guests yield on epochs and await host I/O) with epoch interruption, and
/// instances from the pooling allocator, as `wasmtime serve` does. A fresh instance per request then reuses a
/// slot's mappings; without the pool every instance maps and unmaps its memories, and those calls serialise on the
/// process's address-space lock (16 connections were no faster than one). The pool reserves address space for 1,000
/// memories; where that is refused (small virtual address spaces) instances are allocated on demand instead.
fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // What the Pyodide component (`pyworkers component --worker`) is built with: Pyodide's exception handling,
    // and the bridge's several memories (`wasmtime serve -W exceptions=y,gc=y` for the same file).
    config.wasm_exceptions(true);
    config.wasm_gc(true);
    config.wasm_function_references(true);
    config.wasm_multi_memory(true);
    let mut pooled = config.clone();
    // Room for the Pyodide component's code module: three tables (one funcref of ~8,700 slots, two externref for
    // the JS bridge) and a large instance (its ~270 imports and its globals), as the native engine allows.
    let mut pool = PoolingAllocationConfig::default();
    pool.max_tables_per_module(3);
    pool.table_elements(64 * 1024);
    pool.max_core_instance_size(4 << 20);
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&pooled)
        .or_else(|error| {
            log::line(&format!(
                "the pooling allocator is unavailable ({error}); allocating instances on demand"
            ));
            Engine::new(&config)
        })
        .map_err(anyhow::Error::from)
        .context("configuring the component engine")
}

enum Unfinished {
    Deadline,
    TooLarge,
    Broken(String),
}

/// Read a guest's whole response body before the deadline.
async fn collect(body: HyperOutgoingBody, deadline: Instant) -> Result<Bytes, Unfinished> {
    let collected = tokio::time::timeout_at(
        deadline.into(),
        Limited::new(body, MAX_RESPONSE_BYTES).collect(),
    )
    .await
    .map_err(|_| Unfinished::Deadline)?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Unfinished::TooLarge),
        Err(e) => Err(Unfinished::Broken(e.to_string())),
    }
}

/// The error the epoch callback stops a guest with once its request's deadline has passed.
#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request's deadline passed")
    }
}

impl std::error::Error for DeadlineExceeded {}

/// Store data of one instance.
struct Host {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: Hooks,
    limiter: MemoryCap,
    /// The guest's stdout and stderr, whose prefix names the request being served.
    logs: [GuestLog; 2],
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// `wasi:http` behaviour for our guests: outgoing requests only to allowed hosts.
struct Hooks {
    allow_hosts: Arc<AllowList>,
    prefix: String,
    timeout: Duration,
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<wasmtime_wasi_http::WasiBody>,
    Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn std::future::Future<Output = SendResult> + Send> {
        drop(fut);
        let uri = request.uri();
        let host = uri.host().unwrap_or("").to_string();
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        if let Err(denied) = self.allow_hosts.check(&host, port) {
            log::line(&format!("{} {denied}", self.prefix));
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let mut options = options.unwrap_or_default();
        options.connect_timeout = options.connect_timeout.or(Some(OUTGOING_CONNECT_TIMEOUT));
        options.first_byte_timeout = options.first_byte_timeout.or(Some(self.timeout));
        options.between_bytes_timeout = options.between_bytes_timeout.or(Some(self.timeout));
        Box::new(async move {
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>,
            ))
        })
    }
}

/// The `--max-memory` cap on each linear memory; remembers being hit, so the trap that follows (typically an
/// allocator's abort) can be reported as what it is.
struct MemoryCap {
    max: usize,
    exceeded: Arc<AtomicBool>,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.max;
        if !allowed {
            self.exceeded.store(true, Ordering::Relaxed);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Each element costs a pointer; a million is far beyond any real component and bounds the host's cost.
        Ok(desired <= 1_000_000)
    }
}

/// A guest's stdout or stderr, as prefixed lines in the server log.
#[derive(Clone)]
struct GuestLog(Arc<Mutex<log::PrefixedLines>>);

impl GuestLog {
    fn new() -> GuestLog {
        GuestLog(Arc::new(Mutex::new(log::PrefixedLines::new(""))))
    }

    fn set_prefix(&self, prefix: &str) {
        if let Ok(mut lines) = self.0.lock() {
            lines.set_prefix(prefix);
        }
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(GuestLogWriter(self.0.clone()))
    }
}

struct GuestLogWriter(Arc<Mutex<log::PrefixedLines>>);

impl tokio::io::AsyncWrite for GuestLogWriter {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        // Writing a log line to stderr is quick enough to do inline; a poisoned lock only loses log output.
        if let Ok(mut lines) = self.0.lock() {
            lines.write(buf);
        }
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on its own thread, until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("pyworkers-epoch".into())
            .spawn({
                let stop = stop.clone();
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                }
            })
            .context("starting the epoch thread that enforces deadlines")?;
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
