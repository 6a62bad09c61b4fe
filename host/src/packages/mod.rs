//! A worker's third-party packages: the project's requirements ([`requirements`]) resolved for Pyodide's platform
//! by pip ([`resolve`]), pinned with hashes in `pyworkers.lock` beside the project ([`lock`]), wheels kept in the
//! cache by content ([`wheel`]) and unpacked into one read-only site-packages archive ([`archive`]) that is mounted
//! at [`SITE_PACKAGES`].
//!
//! With the lock present, its inputs unchanged and its wheels cached, nothing is resolved and nothing is
//! downloaded: pip is not even started.

pub mod archive;
pub mod bytecode;
pub mod lock;
pub mod requirements;
pub mod resolve;
pub mod wheel;

use crate::tarfs::Archive;
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::Arc;

/// Where site-packages is mounted in the guest (the worker's prepare adds it with `site.addsitedir`, so `.pth`
/// files are honoured).
pub const SITE_PACKAGES: &str = "/lib/site-packages";

/// The wheel platform tag of the Pyodide this pyworkers runs (Pyodide 314.0.x, Emscripten ABI 2026.0).
pub const PLATFORM: &str = "pyemscripten_2026_0_wasm32";

/// The Python version the wheels are for.
pub const PYTHON_VERSION: &str = "3.14";

/// The CPython ABI tag compiled wheels must carry.
pub const ABI: &str = "cp314";

/// The lock file's name, beside the project's `pyproject.toml`.
pub const LOCK_FILE: &str = "pyworkers.lock";

/// A project's installed packages, ready to mount.
pub struct SitePackages {
    /// site-packages as a read-only archive.
    pub archive: Arc<Archive>,
    /// SHA-256 of the archive's bytes: part of the worker's identity, so of its snapshot's key.
    pub sha256: String,
    /// What the lock pinned.
    pub packages: Vec<lock::Package>,
    /// Whether this call resolved (ran pip to choose versions).
    pub resolved: bool,
    /// How many pinned wheels this call downloaded because the cache lacked them.
    pub downloaded: usize,
}

/// The packages of the project at `root` (the directory holding `pyproject.toml` / `requirements.txt`), or `None`
/// when it declares no dependencies. `home` is `$PYWORKERS_HOME`.
pub fn install(root: &Path, home: &Path) -> Result<Option<SitePackages>> {
    let Some(reqs) = requirements::read(root)? else { return Ok(None) };
    if reqs.lines.is_empty() {
        return Ok(None);
    }
    let inputs = reqs.inputs_sha256();
    let lock_path = root.join(LOCK_FILE);
    let cache = wheel::Cache::new(home);
    let existing = lock::Lock::read(&lock_path)?;
    let (lock, resolved) = match existing {
        Some(lock) if lock.inputs == inputs && lock.platform == PLATFORM => (lock, false),
        _ => {
            let packages = resolve::resolve(&reqs, &cache)
                .with_context(|| format!("resolving the dependencies of {}", reqs.source.display()))?;
            let lock = lock::Lock::new(inputs, packages);
            lock.write(&lock_path)?;
            (lock, true)
        }
    };
    let mut downloaded = 0;
    let mut wheels = Vec::new();
    for package in &lock.packages {
        let path = match cache.get(&package.sha256, &package.wheel) {
            Some(path) => path,
            None => {
                downloaded += 1;
                resolve::fetch_pinned(package, &cache)
                    .with_context(|| format!("fetching {} {} pinned in {}", package.name, package.version, lock_path.display()))?
            }
        };
        wheels.push((package.clone(), path));
    }
    let (archive, sha256) = archive::site_packages(home, &wheels)?;
    Ok(Some(SitePackages { archive, sha256, packages: lock.packages, resolved, downloaded }))
}
