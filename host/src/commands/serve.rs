//! `pyworkers serve`: parse the flags into [`ServeOptions`], pick the handler (a `.wasm` component, else a Python
//! worker), and run the HTTP front end on a multi-threaded runtime with one worker thread per core.

use super::Common;
use anyhow::{Context, Result};
use clap::Args;
use pyworkers::serve::component::ComponentHandler;
use pyworkers::serve::options::{self, ServeOptions};
use pyworkers::serve::outbound::AllowList;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub struct Serve {
    /// What to serve: a worker `.py` file, a worker directory, a project directory with `wrangler.jsonc`,
    /// `wrangler.json` or `wrangler.toml`, or a `wasi:http/proxy` component (`.wasm`).
    #[arg(default_value = ".")]
    path: PathBuf,

    /// Address to listen on; port 0 picks a free port. The first line on stdout is `serving http://ADDR`.
    #[arg(long, default_value = options::DEFAULT_ADDR, value_name = "HOST:PORT")]
    addr: SocketAddr,

    /// A variable for the worker's `env` (components get it as an environment variable). Repeatable.
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = var)]
    vars: Vec<(String, String)>,

    /// Wall-clock deadline for each request (e.g. 500ms, 2s, 1m); past it the request is answered 503 and the
    /// instance that ran it is thrown away.
    #[arg(long, default_value = "30s", value_parser = duration, value_name = "DURATION")]
    timeout: Duration,

    /// Linear-memory cap of each instance (e.g. 128MiB, 64MB); an instance that needs more is stopped (500).
    #[arg(long, default_value = "128MiB", value_parser = bytes, value_name = "SIZE")]
    max_memory: u64,

    /// Largest request body accepted (e.g. 100MiB); a longer one is answered 413 without being read.
    #[arg(long, default_value = "100MiB", value_parser = bytes, value_name = "SIZE")]
    max_body: u64,

    /// Requests one instance serves before it is replaced; 1 gives every request a fresh instance.
    /// Default: unlimited for Python workers; 1 for components, as with `wasmtime serve` (whose
    /// `--max-instance-reuse-count` this is for them).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_requests_per_instance: Option<u64>,

    /// How many instances run at the same time. Default: one per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    instances: Option<u64>,

    /// Let outbound requests reach HOST (any port) or HOST:PORT; `*.DOMAIN` for its subdomains, `*` for any host.
    /// Repeatable. Without it every outbound request is denied.
    #[arg(long = "allow-host", value_name = "HOST[:PORT]")]
    allow_hosts: Vec<String>,

    /// Watch the worker's sources; on a change, make a new snapshot and new instances without dropping
    /// connections.
    #[arg(long)]
    watch: bool,

    /// Serve `/__scheduled?cron=...` (run the scheduled handler) and `POST /__queue?queue=NAME` (a JSON list of
    /// messages for the queue handler), as `wrangler dev --test-scheduled` does.
    #[arg(long)]
    test_scheduled: bool,

    /// Where KV and D1 data live (default: `.pyworkers/state` in the project directory); `:memory:` keeps
    /// nothing on disk.
    #[arg(long, value_name = "DIR")]
    state: Option<std::path::PathBuf>,

    /// Most Durable Objects live at once, each with an instance of its own; to start another, the one idle
    /// longest is evicted (its storage stays).
    #[arg(long, default_value_t = options::DEFAULT_MAX_DURABLE_OBJECTS as u64, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..4096))]
    max_durable_objects: u64,

    /// How long a Durable Object with nothing to do stays in memory (e.g. 30s, 2m); then it is evicted: its
    /// in-memory state is lost, its storage stays.
    #[arg(long, default_value = "2m", value_parser = duration, value_name = "DURATION")]
    durable_object_idle: Duration,

    #[command(flatten)]
    common: Common,
}

fn var(text: &str) -> Result<(String, String)> {
    options::parse_var(text)
}

fn duration(text: &str) -> Result<Duration> {
    options::parse_duration(text)
}

fn bytes(text: &str) -> Result<u64> {
    options::parse_bytes(text)
}

impl Serve {
    pub fn execute(self) -> Result<i32> {
        let options = self.options()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options::default_instances())
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let is_component = options.path.extension().is_some_and(|e| e == "wasm");
        if is_component {
            self.warn_unused_for_components();
        }
        let result = runtime.block_on(async {
            if is_component {
                let handler = ComponentHandler::load(&options)?;
                pyworkers::serve::serve(&options, std::sync::Arc::new(handler)).await
            } else {
                let handler = pyworkers::serve::worker::handler(&options)?;
                pyworkers::serve::serve(&options, handler).await
            }
        });
        // Requests still running after the drain period are abandoned, not waited for.
        runtime.shutdown_timeout(Duration::from_millis(100));
        result.map(|()| 0)
    }

    /// Flags that only mean something for Python workers are accepted for components too, but said to be unused.
    fn warn_unused_for_components(&self) {
        let mut unused = Vec::new();
        if self.watch {
            unused.push("--watch");
        }
        if self.test_scheduled {
            unused.push("--test-scheduled");
        }
        if !unused.is_empty() {
            pyworkers::serve::log::line(&format!(
                "warning: ignored for a component: {}",
                unused.join(", ")
            ));
        }
    }

    fn options(&self) -> Result<ServeOptions> {
        let mut options = ServeOptions::new(self.path.clone(), self.common.home());
        options.addr = self.addr;
        options.vars = self.vars.clone();
        options.timeout = self.timeout;
        options.max_memory = self.max_memory;
        options.max_body = self.max_body;
        options.max_requests_per_instance = self.max_requests_per_instance;
        if let Some(instances) = self.instances {
            options.instances = usize::try_from(instances).unwrap_or(usize::MAX);
        }
        options.allow_hosts = AllowList::parse(self.allow_hosts.iter().map(String::as_str))?;
        options.watch = self.watch;
        options.test_scheduled = self.test_scheduled;
        options.state = self.state.clone();
        options.max_durable_objects = self.max_durable_objects as usize;
        options.durable_object_idle = self.durable_object_idle;
        Ok(options)
    }
}
