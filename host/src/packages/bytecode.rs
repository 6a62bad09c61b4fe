//! site-packages with bytecode: the archive `archive.rs` unpacks from the wheels, plus a `.pyc` beside every module,
//! compiled by Pyodide's own interpreter (its magic number and bytecode format; see `stdlib`) and kept in
//! `$PYWORKERS_HOME/site-packages/` by the archive's hash and the interpreter's.
//!
//! Why: a snapshot holds the modules a worker imports at top level, but frameworks import more while serving
//! (FastAPI imports its telemetry runtime on the first request). Without bytecode every fresh instance compiles
//! those again — milliseconds per module, on every request when instances are fresh.

use crate::emscripten::EmContext;
use crate::interpreter::{BootOptions, Interpreter, Outcome, Pyodide};
use crate::runtime::STDLIB_BYTECODE_SCRIPT;
use crate::tarfs::Archive;
use crate::vfs::{Fs, Output};
use anyhow::{bail, Context, Result};
use sha2::Digest;
use std::sync::Arc;

/// The guest's half of the recipe, run after the standard library's (whose helpers it uses).
const SCRIPT: &str = include_str!("bytecode.py");

/// Where the guest writes the archive for the host to collect.
const GUEST_OUTPUT: &str = "/tmp/site-packages-bytecode.tar";

/// Bumped when the host's side of the recipe changes.
const RECIPE: &str = "pyworkers site-packages bytecode v1";

/// `packages` (a site-packages archive whose bytes hash to `sha256`) with bytecode added, from the cache or
/// compiled now with `pyodide`.
pub fn compiled(pyodide: &Pyodide, packages: &Arc<Archive>, sha256: &str) -> Result<Arc<Archive>> {
    let runtime = pyodide.runtime();
    let key = hex::encode(sha2::Sha256::digest(format!(
        "{RECIPE}\n{sha256}\n{}\n{}\n{}",
        pyodide.sha256(),
        hex::encode(sha2::Sha256::digest(STDLIB_BYTECODE_SCRIPT)),
        hex::encode(sha2::Sha256::digest(SCRIPT))
    )));
    let path = runtime.home().join("site-packages").join(format!("{sha256}.bytecode-{}.tar", &key[..16]));
    if let Ok(bytes) = std::fs::read(&path) {
        match Archive::open(bytes) {
            Ok(archive) => return Ok(Arc::new(archive)),
            Err(e) => tracing::warn!(path = %path.display(), error = ?e, "cached site-packages bytecode unusable; compiling again"),
        }
    }
    let tar = build(pyodide, packages)?;
    std::fs::create_dir_all(path.parent().unwrap_or(runtime.home())).context("creating the site-packages cache")?;
    crate::runtime::write_file_atomic(&path, &tar)?;
    let archive = Archive::open(tar).map_err(|e| anyhow::anyhow!("site-packages bytecode archive: {e:?}"))?;
    Ok(Arc::new(archive))
}

/// Compile `packages` in a fresh interpreter, without the cache.
fn build(pyodide: &Pyodide, packages: &Arc<Archive>) -> Result<Vec<u8>> {
    let mut vfs = crate::stdlib::vfs(pyodide)?;
    vfs.mount(super::SITE_PACKAGES, Fs::Tar(packages.clone()), false).context("mounting site-packages")?;
    vfs.stdout = Output::Capture(Vec::new());
    vfs.stderr = Output::Capture(Vec::new());
    let mut em = EmContext::new(vfs);
    em.entropy = crate::entropy::Entropy::deterministic([0; 32]);
    // A fixed hash seed: `frozenset` constants are marshalled in hash order.
    let options = BootOptions { hash_seed: Some(0), ..BootOptions::default() };
    let mut interp =
        Interpreter::boot(pyodide, em, &options).context("booting Pyodide to compile site-packages")?;
    let call = format!(
        "{STDLIB_BYTECODE_SCRIPT}\n{SCRIPT}\nbuild_tree({:?}, {GUEST_OUTPUT:?})\n",
        super::SITE_PACKAGES
    );
    let outcome = interp.run_source(&call)?;
    let vfs = &interp.host().em.vfs;
    if outcome != Outcome::Completed {
        let stderr = String::from_utf8_lossy(vfs.stderr.captured().unwrap_or_default()).into_owned();
        bail!("compiling site-packages to bytecode failed ({outcome:?}):\n{stderr}");
    }
    vfs.read_file(GUEST_OUTPUT).map_err(|e| anyhow::anyhow!("collecting {GUEST_OUTPUT} from the guest: {e:?}"))
}
