use super::Common;
use anyhow::{bail, Context, Result};
use pyworkers::emscripten::EmContext;
use pyworkers::snapshot::{self, HashSeed, Kind, Worker, WorkerInfo};
use std::path::PathBuf;
use std::time::Instant;

/// `pyworkers snapshot`: prepare an interpreter and write its memory snapshot.
///
/// A baseline holds the interpreter and common standard-library modules, with no worker files mounted. A dedicated
/// snapshot also imports WORKER's top-level module: WORKER is a `.py` file (its module is the file's stem) or a
/// directory (module `--module`, default `main`), mounted read-only at /app. Restore with `pyworkers run
/// --snapshot FILE` (dedicated snapshots also need `--worker WORKER`, checked against the snapshot).
#[derive(clap::Args)]
pub struct Snapshot {
    #[command(flatten)]
    common: Common,
    /// What to capture.
    #[arg(long, value_enum, default_value = "dedicated")]
    kind: Kind,
    /// The worker (a .py file or a directory); required for a dedicated snapshot, refused for a baseline.
    worker: Option<PathBuf>,
    /// The worker's top-level module when WORKER is a directory.
    #[arg(long, default_value = "main")]
    module: String,
    /// Where to write the snapshot.
    #[arg(short, long)]
    output: PathBuf,
    /// Pin the string hash seed (PYTHONHASHSEED) so two snapshots of the same inputs are byte-identical. Without
    /// it, each snapshot draws a secret seed from the OS.
    #[arg(long)]
    hash_seed: Option<u32>,
    /// Allow worker code that draws from `random` at import time (every instance would share those values).
    #[arg(long)]
    allow_import_time_random: bool,
}

impl Snapshot {
    pub fn execute(self) -> Result<i32> {
        let worker = match (self.kind, &self.worker) {
            (Kind::Dedicated, Some(path)) => Some(Worker::load(path, &self.module)?),
            (Kind::Dedicated, None) => {
                bail!("a dedicated snapshot needs a WORKER (.py file or directory)")
            }
            (Kind::Baseline, Some(_)) => bail!(
                "a baseline snapshot holds no worker files; drop WORKER or use --kind dedicated"
            ),
            (Kind::Baseline, None) => None,
        };
        let total = Instant::now();
        let runtime = self.common.runtime()?;
        // Two live instances at most: the one prepared, and the one that checks the snapshot restores.
        let engine = pyworkers::interpreter::engine(2)?;
        let pyodide = std::sync::Arc::new(pyworkers::interpreter::Pyodide::load(&runtime, &engine)?);
        let vfs_for = |worker: &Option<Worker>| -> Result<pyworkers::vfs::Vfs> {
            let mut vfs = pyworkers::stdlib::vfs(&pyodide)?;
            if let Some(w) = worker {
                w.mount(&mut vfs, snapshot::WORKER_ROOT)?;
            }
            Ok(vfs)
        };
        let vfs = vfs_for(&worker)?;
        let info = worker.as_ref().map(|w| WorkerInfo {
            bundle_sha256: w.sha256.clone(),
            module: w.module.clone(),
            mount: snapshot::WORKER_ROOT.into(),
        });
        let mut em = EmContext::new(vfs);
        em.environ = super::run::guest_environment(&[])?;
        let (seed, policy) = match self.hash_seed {
            Some(n) => (n, HashSeed::Pinned(n)),
            None => {
                use rand_core::RngCore;
                (rand_core::OsRng.next_u32(), HashSeed::PerSnapshot)
            }
        };
        let prepare = Instant::now();
        let mut interp = snapshot::boot_for_prepare(&pyodide, em, seed)?;
        snapshot::prepare(
            &mut interp,
            self.kind,
            info.as_ref().map(|w| w.module.as_str()),
            !self.allow_import_time_random,
        )?;
        let prepared = prepare.elapsed();
        let mut data =
            snapshot::capture(&mut interp, self.kind, runtime.wasm_sha256(), info, policy)?;
        data.stdlib_bytecode_sha256 = runtime.stdlib_bytecode_sha256().unwrap_or_default();
        drop(interp);
        let bytes = data.encode()?;
        pyworkers::runtime::write_file_atomic(&self.output, &bytes)?;
        // Name the state by the file's checksum, as a later `run --snapshot` of this file will.
        data.file_sha256 = snapshot::SnapshotData::file_checksum(&bytes).unwrap_or_default();
        let nonzero: usize = data.segments.iter().map(|s| s.1.len()).sum();
        eprintln!(
            "wrote {} ({} snapshot): {:.1} MiB file, {:.1} MiB non-zero of {:.1} MiB memory; prepared in {:.0?}",
            self.output.display(),
            self.kind.as_str(),
            bytes.len() as f64 / (1 << 20) as f64,
            nonzero as f64 / (1 << 20) as f64,
            data.memory_pages as f64 / 16.0,
            prepared,
        );
        // Build the state module now, so the first restore is fast, and check an instance comes up from it.
        let restorer = snapshot::Restorer::new(&pyodide, data, vfs_for(&worker)?)
            .context("checking the new snapshot restores")?;
        restorer
            .instantiate(|_| {})
            .context("checking the new snapshot restores")?;
        eprintln!(
            "built the state module in {:.1?}; total {:.1?}",
            restorer.module_load,
            total.elapsed()
        );
        Ok(0)
    }
}
