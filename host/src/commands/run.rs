use super::Common;
use anyhow::{bail, Context, Result};
use pyworkers::emscripten::EmContext;
use pyworkers::interpreter::{BootOptions, Interpreter, Pyodide};
use pyworkers::snapshot::{Restorer, SnapshotData};
use pyworkers::vfs::layout::{self, MountSpec};
use pyworkers::vfs::{Fs, Input};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// `pyworkers run`: behaves like `python SCRIPT [ARGS...]` or `python -c CODE [ARGS...]`.
///
/// The guest sees only: the standard library, writable in-memory `/tmp` and home (`/home/pyworkers`, the starting
/// directory), the script itself (read-only, at `/app/<name>`), and each `--mount`. Nothing else of the host.
#[derive(clap::Args)]
#[command(trailing_var_arg = true)]
pub struct Run {
    #[command(flatten)]
    common: Common,
    /// Program passed in as a string (like `python -c`).
    #[arg(short = 'c', value_name = "CODE")]
    code: Option<String>,
    /// Mount a tar file or a host directory read-only at GUEST_PATH (a directory is packed into a tar when the
    /// command starts; its later changes are not seen). Repeatable.
    #[arg(long = "mount", value_name = "SOURCE:GUEST_PATH")]
    mounts: Vec<MountSpec>,
    /// Set an environment variable in the guest (the host environment is not passed). Repeatable.
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Pin the string hash seed (like PYTHONHASHSEED) for reproducible runs.
    #[arg(long)]
    hash_seed: Option<u32>,
    /// Start from a memory snapshot made by `pyworkers snapshot` instead of booting CPython.
    #[arg(long, value_name = "FILE")]
    snapshot: Option<PathBuf>,
    /// The worker a dedicated snapshot was made with (checked against its hash).
    #[arg(long, value_name = "WORKER", requires = "snapshot")]
    worker: Option<PathBuf>,
    /// The worker's top-level module when --worker is a directory.
    #[arg(long, default_value = "main")]
    module: String,
    /// Print how long loading, restoring or booting took (stderr).
    #[arg(long)]
    timings: bool,
    /// The script to run, then its arguments (or, with -c, the arguments).
    #[arg(value_name = "SCRIPT [ARGS]...", allow_hyphen_values = true)]
    args: Vec<String>,
}

impl Run {
    pub fn execute(self) -> Result<i32> {
        let (script, argv) = match (&self.code, self.args.split_first()) {
            (Some(_), _) => (
                None,
                std::iter::once("-c".to_string())
                    .chain(self.args.iter().cloned())
                    .collect::<Vec<_>>(),
            ),
            (None, Some((script, rest))) => {
                let path = PathBuf::from(script);
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .context("script path has no file name")?
                    .to_string();
                let guest = format!("/app/{name}");
                (
                    Some((path, guest.clone())),
                    std::iter::once(guest).chain(rest.iter().cloned()).collect(),
                )
            }
            (None, None) => {
                bail!("nothing to run: give a SCRIPT or -c CODE (see `pyworkers run --help`)")
            }
        };

        let start = Instant::now();
        let runtime = self.common.runtime()?;
        // One instance: the pool reserves address space for exactly one.
        let engine = pyworkers::interpreter::engine(1)?;
        let pyodide = Arc::new(Pyodide::load(&runtime, &engine)?);
        let loaded = start.elapsed();
        let mut vfs = pyworkers::stdlib::vfs(&pyodide)?;
        if self.timings {
            eprintln!("modules loaded in {loaded:.1?}, file system ready in {:.1?}", start.elapsed() - loaded);
        }
        for spec in &self.mounts {
            spec.apply(&mut vfs)
                .with_context(|| format!("--mount {}:{}", spec.source.display(), spec.guest))?;
        }
        if let Some((host, guest)) = &script {
            let bytes = std::fs::read(host).with_context(|| format!("can't open file '{}'", host.display()))?;
            vfs.mount(guest, Fs::Blob(Arc::new(bytes)), false)
                .context("mounting the script")?;
        }
        let environ = guest_environment(&self.env)?;

        let mut interp = match &self.snapshot {
            None => {
                vfs.stdin = Input::Inherit;
                let mut em = EmContext::new(vfs);
                em.environ = environ;
                let options = BootOptions {
                    argv: argv.clone(),
                    hash_seed: self.hash_seed,
                    ..BootOptions::default()
                };
                Interpreter::boot(&pyodide, em, &options)?
            }
            Some(file) => {
                if self.hash_seed.is_some() {
                    bail!("--hash-seed cannot change a snapshot's hash seed: it was fixed when the snapshot was made");
                }
                let data = pyworkers::snapshot::read(&runtime, file)?;
                mount_snapshot_worker(&mut vfs, &data, self.worker.as_deref(), &self.module)?;
                let restorer = Restorer::new(&pyodide, data, vfs)?;
                let loaded = start.elapsed();
                let t = Instant::now();
                let mut interp = restorer.instantiate(|em| {
                    em.vfs.stdin = Input::Inherit;
                    em.vfs.stdout = pyworkers::vfs::Output::Inherit;
                    em.vfs.stderr = pyworkers::vfs::Output::Inherit;
                    em.environ = environ;
                })?;
                Restorer::restored(&mut interp)?;
                if self.timings {
                    eprintln!(
                        "snapshot: module ready in {loaded:.1?}, instance restored in {:.1?}",
                        t.elapsed()
                    );
                }
                interp
            }
        };
        if self.timings {
            eprintln!("interpreter ready in {:.1?}", start.elapsed());
        }
        let call = match (&self.code, &script) {
            (Some(code), _) => format!(
                "import _pyworkers.cli as c; c.run_command({}, {})",
                py_str(code),
                py_list(&argv)
            ),
            (None, Some((_, guest))) => format!(
                "import _pyworkers.cli as c; c.run_path({}, {})",
                py_str(guest),
                py_list(&argv)
            ),
            (None, None) => unreachable!(),
        };
        Ok(interp.run_source(&call)?.exit_status())
    }
}

/// Mount the worker a dedicated snapshot was made with, refusing a different one.
fn mount_snapshot_worker(
    vfs: &mut pyworkers::vfs::Vfs,
    data: &SnapshotData,
    worker: Option<&std::path::Path>,
    module: &str,
) -> Result<()> {
    match (&data.worker, worker) {
        (None, None) => Ok(()),
        (None, Some(_)) => bail!("this is a baseline snapshot: it holds no worker, so --worker does not apply"),
        (Some(info), None) => bail!(
            "this snapshot was made with worker module `{}` (bundle sha256 {}): pass the same worker with --worker",
            info.module,
            info.bundle_sha256
        ),
        (Some(info), Some(path)) => {
            let w = pyworkers::snapshot::Worker::load(path, module)?;
            if w.sha256 != info.bundle_sha256 {
                bail!(
                    "worker {} differs from the one this snapshot was made with (bundle sha256 {} here, {} in the snapshot): make the snapshot again",
                    path.display(),
                    w.sha256,
                    info.bundle_sha256
                );
            }
            w.mount(vfs, &info.mount)
        }
    }
}

/// A Python list literal of strings.
fn py_list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| py_str(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The guest's environment: a fixed base plus `--env` entries.
pub fn guest_environment(extra: &[String]) -> Result<Vec<String>> {
    let mut env = layout::environment();
    for kv in extra {
        let (k, _) = kv
            .split_once('=')
            .with_context(|| format!("--env {kv}: expected KEY=VALUE"))?;
        if k.is_empty() || k.contains('\0') {
            bail!("--env {kv}: bad variable name");
        }
        env.retain(|e| !e.starts_with(&format!("{k}=")));
        env.push(kv.clone());
    }
    Ok(env)
}

/// A Python string literal for `s`.
fn py_str(s: &str) -> String {
    let mut out = String::from("'");
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}
