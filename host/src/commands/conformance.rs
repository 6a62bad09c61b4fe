use super::Common;
use pyworkers::conformance::{self, Interface, Subject};
use std::path::PathBuf;

/// `pyworkers conformance INTERFACE [COMPONENT]` (its help text is the `Command::Conformance` doc comment).
#[derive(clap::Args)]
pub struct Conformance {
    /// The interface whose suite to run: tarfs, entropy, entrypoint or snapshot.
    #[arg(value_parser = clap::value_parser!(Interface))]
    interface: Interface,
    /// A component exporting the interface (its `*-provider` world); without one, the native implementation.
    #[arg(conflicts_with = "worker")]
    component: Option<PathBuf>,
    /// For `entrypoint`: one component per reference worker, NAME=FILE (`echo`, `fetch-only`), for components that
    /// hold a single worker (a Python worker's component with the worker adapter plugged on). Repeat it.
    #[arg(long, value_name = "NAME=FILE", value_parser = worker_file)]
    worker: Vec<(String, PathBuf)>,
    #[command(flatten)]
    common: Common,
}

impl Conformance {
    pub fn execute(self) -> anyhow::Result<i32> {
        let subject = match self.component {
            Some(path) => Subject::Component(path),
            None if !self.worker.is_empty() => Subject::Workers(self.worker),
            None => Subject::Native,
        };
        let report = conformance::run_with_home(self.interface, &subject, &self.common.home())?;
        print!("{report}");
        Ok(if report.passed() { 0 } else { 1 })
    }
}

fn worker_file(arg: &str) -> Result<(String, PathBuf), String> {
    match arg.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => Ok((name.to_string(), PathBuf::from(file))),
        _ => Err(format!("`{arg}` is not NAME=FILE (e.g. echo=echo.wasm)")),
    }
}
