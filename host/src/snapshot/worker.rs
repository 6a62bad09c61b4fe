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
    /// SHA-256 of the archive bytes, and of the site-packages archive's when there is one.
    pub sha256: String,
    /// Its third-party packages, mounted at [`crate::packages::SITE_PACKAGES`].
    pub site_packages: Option<Arc<Archive>>,
    /// SHA-256 of the site-packages archive as the wheels made it (before bytecode was added).
    pub site_packages_sha256: Option<String>,
}

impl Worker {
    /// Load `path`: a `.py` file becomes a one-file archive (module = its stem); a directory is packed (module =
    /// `module`). A bundle (`pyworkers bundle`) gives its own files, module and site-packages.
    pub fn load(path: &Path, module: &str) -> Result<Worker> {
        if path.is_file() && crate::bundle::Bundle::is_bundle(path) {
            return crate::bundle::Bundle::read(path)?.worker();
        }
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
        Self::from_archive(bytes, module)
    }

    /// A worker whose files are the tar `bytes`.
    pub fn from_archive(bytes: Vec<u8>, module: String) -> Result<Worker> {
        let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
        let archive = Archive::open(bytes).map_err(|e| anyhow::anyhow!("worker archive: {e:?}"))?;
        Ok(Worker {
            archive: Arc::new(archive),
            module,
            sha256,
            site_packages: None,
            site_packages_sha256: None,
        })
    }

    /// This worker with `packages` as its site-packages: its identity (and so its snapshot's) now covers both.
    pub fn with_site_packages(mut self, packages: &crate::packages::SitePackages) -> Worker {
        self.sha256 = hex::encode(sha2::Sha256::digest(format!("{}\nsite-packages {}", self.sha256, packages.sha256)));
        self.site_packages = Some(packages.archive.clone());
        self.site_packages_sha256 = Some(packages.sha256.clone());
        self
    }

    /// This worker with its site-packages compiled to bytecode by `pyodide` (cached; see `packages::bytecode`),
    /// so modules imported only while serving are not compiled in every fresh instance. The identity is
    /// unchanged: the bytecode is a function of the archive and of the interpreter, which the snapshot's key
    /// names too.
    pub fn with_bytecode(mut self, pyodide: &crate::interpreter::Pyodide) -> Result<Worker> {
        if let (Some(packages), Some(sha256)) = (&self.site_packages, &self.site_packages_sha256) {
            let compiled = crate::packages::bytecode::compiled(pyodide, packages, sha256)
                .context("compiling site-packages to bytecode")?;
            self.site_packages = Some(compiled);
        }
        Ok(self)
    }

    /// Mount the worker's files (at `at`) and its site-packages, if any, into `vfs`: the same at prepare and at
    /// every restore.
    pub fn mount(&self, vfs: &mut crate::vfs::Vfs, at: &str) -> Result<()> {
        vfs.mount(at, crate::vfs::Fs::Tar(self.archive.clone()), false).context("mounting the worker")?;
        if let Some(packages) = &self.site_packages {
            vfs.mount(crate::packages::SITE_PACKAGES, crate::vfs::Fs::Tar(packages.clone()), false)
                .context("mounting site-packages")?;
        }
        Ok(())
    }
}
