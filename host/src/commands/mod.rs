//! Subcommands of the `pyworkers` CLI, one file each.

mod bench;
mod bundle;
mod cache;
mod component;
mod conformance;
mod d1;
mod kv;
mod run;
mod serve;
mod setup;
mod snapshot;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Run Python Workers on Wasmtime with the real Pyodide build.
#[derive(Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every subcommand.
#[derive(clap::Args, Clone)]
pub struct Common {
    /// Cache directory for Pyodide, the converted module and compiled code.
    #[arg(long, env = "PYWORKERS_HOME", global = true)]
    pub home: Option<PathBuf>,
    /// Most the cache may hold (e.g. 2GiB, 500MB); least-recently-used entries are evicted past it. Pyodide's own
    /// files and what the running command uses are never evicted.
    #[arg(long, env = "PYWORKERS_CACHE_SIZE", global = true, value_name = "SIZE",
          value_parser = pyworkers::runtime::usage::parse_size, default_value = "2GiB")]
    pub cache_size: u64,
}

impl Common {
    pub fn home(&self) -> PathBuf {
        self.home
            .clone()
            .unwrap_or_else(pyworkers::runtime::default_home)
    }

    /// The verified Pyodide in the cache (fetched and prepared if missing), with the cache's size cap.
    pub fn runtime(&self) -> anyhow::Result<pyworkers::runtime::Runtime> {
        Ok(pyworkers::runtime::Runtime::ensure(&self.home())?.with_cache_cap(self.cache_size))
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Fetch Pyodide (npm pyodide@314.0.7), verify it, convert its exception handling and compile it, once.
    Setup(setup::Setup),
    /// Run a Python script or `-c` code, like `python`.
    Run(run::Run),
    /// Prepare an interpreter (baseline, or with a worker imported) and write its memory snapshot.
    Snapshot(snapshot::Snapshot),
    /// Serve a Python Worker (or a `wasi:http/proxy` component) over HTTP.
    Serve(serve::Serve),
    /// Measure load, boot and import times; prints a table for BENCHMARKS.md.
    Bench(bench::Bench),
    /// A project's local D1 databases: `d1 execute DB --command SQL`, `d1 migrations apply DB`.
    D1(d1::D1Command),
    /// A project's local KV namespaces: `kv key put|get|list|delete --binding NAME`.
    Kv(kv::KvCommand),
    /// Pack a project (sources, packages for Pyodide's platform, metadata) into one tar for serve/run/snapshot.
    Bundle(bundle::BundleCmd),
    /// Run an interface's conformance suite (tarfs, entropy, entrypoint, snapshot) against the native implementation
    /// or a component.
    ///
    /// Prints one row per property (PASS, FAIL, or SKIP for one the subject cannot show) and exits 1 if any fails.
    /// `entrypoint` and `snapshot` run the suites' reference workers (Python files with a written contract, see
    /// guest-adapters/README.md): natively on Pyodide from the cache, or as the component, which must implement the
    /// same contract and is told which reference worker to be by PYWORKERS_REFERENCE_WORKER in its environment. A
    /// component cannot be captured by the suite, so the snapshot rows that need a capture are SKIP there.
    ///
    /// A component that holds one worker (a Python worker's Pyodide component with the worker adapter plugged on)
    /// is given per reference worker instead: `conformance entrypoint --worker echo=E.wasm --worker
    /// fetch-only=F.wasm`.
    Conformance(conformance::Conformance),
    /// Show what the cache holds (kind, size, last use), or empty it with `cache clean`.
    Cache(cache::Cache),
    /// Build the Pyodide component for a Python program, or with `--worker PATH` for a Python Worker.
    ///
    /// A program's component is one .wasm that stock `wasmtime run` runs. A worker's exports
    /// `pyworkers:runtime/reactor`; with the worker adapter (`guest-adapters/worker`) `wac plug`ged on,
    /// `pyworkers serve` and stock `wasmtime serve` serve it.
    ///
    /// Stock `wasmtime run` needs `-W exceptions=y,gc=y`; `wasmtime serve` also `-Scli` and room for Pyodide's
    /// tables: `-O pooling-max-tables-per-module=3,pooling-table-elements=65536,pooling-max-core-instance-size=4194304`.
    Component(component::ComponentCmd),
}

impl Command {
    /// Run the subcommand; returns the process exit status.
    pub fn execute(self) -> anyhow::Result<i32> {
        match self {
            Command::Setup(c) => c.execute(),
            Command::Run(c) => c.execute(),
            Command::Snapshot(c) => c.execute(),
            Command::Serve(c) => c.execute(),
            Command::Bench(c) => c.execute(),
            Command::Cache(c) => c.execute(),
            Command::D1(c) => c.execute(),
            Command::Kv(c) => c.execute(),
            Command::Bundle(c) => c.execute(),
            Command::Conformance(c) => c.execute(),
            Command::Component(c) => c.execute(),
        }
    }
}
