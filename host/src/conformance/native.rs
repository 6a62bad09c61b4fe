//! What the native subjects of the Python-side suites (`entrypoint`, `snapshot`) share: the real Pyodide from the
//! cache, and the reference workers as [`Worker`]s, the form `serve` and `snapshot` take a worker in.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::entrypoint::Reference;
use super::tarfs::Tar;
use crate::interpreter::Pyodide;
use crate::snapshot::Worker;

/// Live instances the suites' engine has room for (a case holds a few at once).
const INSTANCES: u32 = 8;

/// Pyodide, loaded once per suite run.
#[derive(Clone)]
pub struct Python {
    /// The interpreter every native instance runs.
    pub pyodide: Arc<Pyodide>,
}

impl Python {
    /// Load Pyodide from the cache at `home` (fetched and prepared first if it is not there, as `setup` does).
    pub fn load(home: &Path) -> Result<Python> {
        let runtime = crate::runtime::Runtime::ensure(home).context("the native subject needs Pyodide")?;
        let engine = crate::interpreter::engine(INSTANCES)?;
        Ok(Python { pyodide: Arc::new(Pyodide::load(&runtime, &engine)?) })
    }

    /// `worker` as a one-file worker archive, its module the file's stem.
    pub fn worker(&self, worker: Reference) -> Result<Worker> {
        let (module, source) = worker.source();
        let archive = Tar::new().file(&format!("{module}.py"), source.as_bytes()).bytes();
        Worker::from_archive(archive, module.to_string())
    }
}
