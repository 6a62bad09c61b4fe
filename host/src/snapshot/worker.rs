//! The worker a dedicated snapshot imports: its files as one read-only archive, its module, and the archive's hash
//! that a restore checks.

use crate::tarfs::Archive;
use crate::vfs::layout;
use anyhow::{bail, Context, Result};
use sha2::Digest;
use std::path::Path;
use std::sync::Arc;

/// A worker's files, ready to mount.
pub struct Worker {
    /// The files.
    pub archive: Arc<Archive>,
    /// Its top-level module.
    pub module: String,
    /// SHA-256 of the archive bytes.
    pub sha256: String,
}

impl Worker {
    /// Load `path`: a `.py` file becomes a one-file archive (module = its stem); a directory is packed (module =
    /// `module`).
    pub fn load(path: &Path, module: &str) -> Result<Worker> {
        let (bytes, module) = if path.is_dir() {
            (layout::pack_dir(path)?, module.to_string())
        } else {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .context("worker path has no file name")?;
            let Some(stem) = name.strip_suffix(".py") else {
                bail!(
                    "worker {} is neither a directory nor a .py file",
                    path.display()
                )
            };
            let source = std::fs::read(path)
                .with_context(|| format!("reading worker {}", path.display()))?;
            let mut builder = tar::Builder::new(Vec::new());
            let mut header = tar::Header::new_ustar();
            header.set_size(source.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_cksum();
            builder.append_data(&mut header, name, &source[..])?;
            (builder.into_inner()?, stem.to_string())
        };
        let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
        let archive = Archive::open(bytes).map_err(|e| anyhow::anyhow!("worker archive: {e:?}"))?;
        Ok(Worker {
            archive: Arc::new(archive),
            module,
            sha256,
        })
    }
}
