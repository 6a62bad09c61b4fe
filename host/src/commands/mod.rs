//! Subcommands of the `pyworkers` CLI, one file each.

mod bench;
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
}

impl Common {
    pub fn home(&self) -> PathBuf {
        self.home
            .clone()
            .unwrap_or_else(pyworkers::runtime::default_home)
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
        }
    }
}
