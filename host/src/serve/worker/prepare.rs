//! The worker's dedicated snapshot, made when the server starts and cached by content, so an unchanged worker
//! starts without preparing it again.
//!
//! The cache key names everything the snapshot's memory depends on: the worker's files, its module, Pyodide, the
//! standard library's bytecode and this pyworkers. The hash seed is drawn from the OS when the snapshot is made
//! (secret, shared by the instances of this snapshot, as processes forked from one parent share theirs).

use crate::emscripten::EmContext;
use crate::interpreter::Pyodide;
use crate::snapshot::{self, HashSeed, Kind, Restorer, Worker, WorkerInfo};
use anyhow::{Context, Result};
use sha2::Digest;
use std::sync::Arc;
use std::time::Instant;

/// Bumped when how serve prepares its snapshots changes.
const RECIPE: &str = "pyworkers serve snapshot v2";

/// A restorer for `worker`'s dedicated snapshot, from the cache or made now. Returns it and whether it was made.
pub fn restorer(pyodide: &Arc<Pyodide>, worker: &Worker) -> Result<(Restorer, bool)> {
    let runtime = pyodide.runtime();
    let bytecode = runtime.stdlib_bytecode_sha256().unwrap_or_default();
    let key = hex::encode(sha2::Sha256::digest(format!(
        "{RECIPE}\n{}\n{}\n{}\n{bytecode}\n{}",
        worker.sha256,
        worker.module,
        pyodide.sha256(),
        crate::build_id()
    )));
    let path = runtime.home().join("snapshots").join(format!("{key}.snap"));
    let vfs = || -> Result<crate::vfs::Vfs> {
        let mut vfs = crate::stdlib::vfs(pyodide)?;
        worker.mount(&mut vfs, snapshot::WORKER_ROOT)?;
        Ok(vfs)
    };
    if path.is_file() {
        match snapshot::read(runtime, &path).and_then(|data| Restorer::new(pyodide, data, vfs()?)) {
            Ok(restorer) => {
                // Snapshots made before stamps were written get one now.
                runtime.stamp(&path, None, RECIPE)?;
                runtime.touch(&path);
                return Ok((restorer, false));
            }
            Err(e) => tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "cached snapshot unusable; making it again"),
        }
    }
    let start = Instant::now();
    let mut em = EmContext::new(vfs()?);
    em.environ = crate::vfs::layout::environment();
    use rand_core::RngCore;
    let seed = rand_core::OsRng.next_u32();
    let mut interp = snapshot::boot_for_prepare(pyodide, em, seed)?;
    snapshot::prepare(&mut interp, Kind::Dedicated, Some(&worker.module), true)
        .context("importing the worker")?;
    let info = WorkerInfo {
        bundle_sha256: worker.sha256.clone(),
        module: worker.module.clone(),
        mount: snapshot::WORKER_ROOT.into(),
    };
    let mut data = snapshot::capture(&mut interp, Kind::Dedicated, pyodide.sha256(), Some(info), HashSeed::PerSnapshot)?;
    drop(interp);
    data.stdlib_bytecode_sha256 = bytecode;
    let bytes = data.encode()?;
    std::fs::create_dir_all(path.parent().unwrap_or(runtime.home()))
        .with_context(|| format!("creating {}", path.display()))?;
    crate::runtime::write_file_atomic(&path, &bytes)?;
    data.file_sha256 = snapshot::SnapshotData::file_checksum(&bytes).unwrap_or_default();
    runtime.stamp(&path, Some(&hex::encode(sha2::Sha256::digest(&bytes))), RECIPE)?;
    runtime.touch(&path);
    let restorer = Restorer::new(pyodide, data, vfs()?)?;
    tracing::debug!(elapsed = ?start.elapsed(), "made the worker's snapshot");
    runtime.enforce_cap();
    Ok((restorer, true))
}
