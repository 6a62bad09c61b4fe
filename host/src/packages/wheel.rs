//! Wheels kept by content under `$PYWORKERS_HOME/wheels/SHA256/FILE.whl`: a wheel is found by the hash the lock
//! recorded, so a cached file is the very bytes that were resolved, whatever index they came from.

use anyhow::{bail, Context, Result};
use sha2::Digest;
use std::path::{Path, PathBuf};

/// The wheel cache.
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache under `home` (`$PYWORKERS_HOME`).
    pub fn new(home: &Path) -> Cache {
        Cache { dir: home.join("wheels") }
    }

    /// The cached wheel `file` with content `sha256`, if present.
    pub fn get(&self, sha256: &str, file: &str) -> Option<PathBuf> {
        let path = self.dir.join(sha256).join(file);
        path.is_file().then_some(path)
    }

    /// Move the downloaded wheel at `path` into the cache; returns its SHA-256 and new path.
    pub fn put(&self, path: &Path) -> Result<(String, PathBuf)> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
        let file = path.file_name().context("wheel path has no file name")?;
        let dest = self.dir.join(&sha256).join(file);
        if !dest.is_file() {
            std::fs::create_dir_all(dest.parent().unwrap_or(&self.dir))
                .with_context(|| format!("creating {}", self.dir.display()))?;
            crate::runtime::write_file_atomic(&dest, &bytes)?;
        }
        Ok((sha256, dest))
    }
}

/// A wheel file name's distribution name and version (`NAME-VERSION(-BUILD)?-PY-ABI-PLATFORM.whl`).
pub fn name_version(file: &str) -> Result<(String, String)> {
    let Some(stem) = file.strip_suffix(".whl") else { bail!("{file} is not a wheel") };
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() < 5 {
        bail!("{file} is not a valid wheel file name");
    }
    Ok((parts[0].to_string(), parts[1].to_string()))
}

/// Whether a wheel file name's platform tag says it holds compiled code.
pub fn is_compiled(file: &str) -> bool {
    file.strip_suffix(".whl").and_then(|s| s.rsplit('-').next()).is_some_and(|platform| platform != "any")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tags() {
        assert_eq!(name_version("Django-6.1.3-py3-none-any.whl").unwrap(), ("Django".into(), "6.1.3".into()));
        assert!(!is_compiled("six-1.17.0-py2.py3-none-any.whl"));
        assert!(is_compiled("pydantic_core-2.50.5-cp314-cp314-pyemscripten_2026_0_wasm32.whl"));
        assert!(name_version("x.tar.gz").is_err());
    }
}
