//! `pyworkers.lock`: what the resolver chose — each package's version, wheel and the wheel's SHA-256 — and the hash
//! of the inputs it was resolved from. While the inputs are unchanged the lock is used as is (no resolve), and a
//! wheel fetched again must have the hash the lock recorded.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The lock file's format version.
const VERSION: u32 = 1;

/// One pinned package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Its distribution name, as in the wheel's file name.
    pub name: String,
    /// Its version, as in the wheel's file name.
    pub version: String,
    /// The wheel's file name (its tags say which platform it is for).
    pub wheel: String,
    /// SHA-256 of the wheel's bytes.
    pub sha256: String,
}

/// The lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lock {
    /// The format version ([`VERSION`]).
    pub version: u32,
    /// [`super::requirements::Requirements::inputs_sha256`] of what was resolved.
    pub inputs: String,
    /// The wheel platform tag resolved for.
    pub platform: String,
    /// The Pyodide release that platform belongs to.
    pub pyodide: String,
    /// What was chosen, by name.
    #[serde(default, rename = "package")]
    pub packages: Vec<Package>,
}

impl Lock {
    /// A lock for `packages`, sorted by name.
    pub fn new(inputs: String, mut packages: Vec<Package>) -> Lock {
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        Lock {
            version: VERSION,
            inputs,
            platform: super::PLATFORM.into(),
            pyodide: crate::runtime::PYODIDE_VERSION.into(),
            packages,
        }
    }

    /// The lock at `path`, or `None` if there is none.
    pub fn read(path: &Path) -> Result<Option<Lock>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let lock: Lock = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid lock file (delete it to resolve again)", path.display()))?;
        if lock.version != VERSION {
            bail!("{} has format version {}, this pyworkers writes {VERSION} (delete it to resolve again)", path.display(), lock.version);
        }
        Ok(Some(lock))
    }

    /// Write it to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let body = toml::to_string(self).context("encoding the lock")?;
        let text = format!("# Written by pyworkers from pyproject.toml / requirements.txt; do not edit.\n{body}");
        crate::runtime::write_file_atomic(path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pyworkers.lock");
        assert!(Lock::read(&path).unwrap().is_none());
        let p = Package { name: "six".into(), version: "1.17.0".into(), wheel: "six-1.17.0-py2.py3-none-any.whl".into(), sha256: "ab".into() };
        Lock::new("in".into(), vec![p.clone()]).write(&path).unwrap();
        let lock = Lock::read(&path).unwrap().unwrap();
        assert_eq!((lock.inputs.as_str(), lock.packages), ("in", vec![p]));
    }
}
