//! `pyworkers bundle`: a worker made portable — its files, its site-packages and what they were made for, in one
//! tar archive that `serve`, `run` and `snapshot` accept in place of the project, with no resolver and no network.
//!
//! Layout: `bundle.capnp.bin` (Cap'n Proto metadata, `schema/bundle.capnp`), `src.tar` (the worker's files, packed
//! as [`Worker::load`] packs them), with packages `site-packages.tar`, and with static assets `assets.tar` (the files
//! under `assets.directory`). The configuration's bindings are recorded in the metadata, so a bundle served elsewhere
//! keeps its KV namespaces, D1 databases, Durable Objects, queues and assets (their data lives in the state store
//! next to the bundle, as next to a project). A bundle whose packages were chosen for
//! another Pyodide is refused: compiled wheels and the interpreter's ABI would not match.

#[allow(missing_docs, clippy::all)]
pub(crate) mod bundle_capnp;

use crate::packages::lock::Package;
use crate::snapshot::Worker;
use crate::tarfs::Archive;
use anyhow::{bail, Context, Result};
use sha2::Digest;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// The metadata entry's name, first in the archive.
pub const METADATA: &str = "bundle.capnp.bin";
const SOURCES: &str = "src.tar";
const SITE_PACKAGES: &str = "site-packages.tar";
const ASSETS: &str = "assets.tar";
const MAGIC: &str = "pyworkers-bundle";
const FORMAT_VERSION: u32 = 1;

/// A bundle, in memory.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The worker's name.
    pub name: String,
    /// Its top-level module.
    pub module: String,
    /// `vars` (JSON values), in order.
    pub vars: Vec<(String, serde_json::Value)>,
    /// `triggers.crons`.
    pub crons: Vec<String>,
    /// The packages in site-packages, as locked.
    pub packages: Vec<Package>,
    /// The Pyodide release it targets.
    pub pyodide_version: String,
    /// The worker's files (a tar).
    pub sources: Vec<u8>,
    /// site-packages (a tar), if it has packages.
    pub site_packages: Option<Vec<u8>>,
    /// The configuration's binding keys (see `schema/bundle.capnp`), if it declares any.
    pub bindings: Option<serde_json::Map<String, serde_json::Value>>,
    /// The static assets (a tar of the files under `assets.directory`), if it has any.
    pub assets: Option<Vec<u8>>,
}

impl Bundle {
    /// Whether `path` is a bundle (a tar whose first entry is the metadata), without reading all of it.
    pub fn is_bundle(path: &Path) -> bool {
        let Ok(file) = std::fs::File::open(path) else { return false };
        let mut archive = tar::Archive::new(file);
        let first = archive.entries().ok().and_then(|mut e| e.next()).and_then(|e| e.ok());
        first.is_some_and(|e| e.path().is_ok_and(|p| p == Path::new(METADATA)))
    }

    /// Write it to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut message = capnp::message::Builder::new_default();
        {
            let mut root = message.init_root::<bundle_capnp::bundle::Builder>();
            root.set_magic(MAGIC);
            root.set_format_version(FORMAT_VERSION);
            root.set_pyodide_version(&self.pyodide_version);
            root.set_platform(crate::packages::PLATFORM);
            root.set_pyworkers_version(env!("CARGO_PKG_VERSION"));
            root.set_name(&self.name);
            root.set_main_module(&self.module);
            let mut vars = root.reborrow().init_vars(self.vars.len() as u32);
            for (i, (name, value)) in self.vars.iter().enumerate() {
                let mut v = vars.reborrow().get(i as u32);
                v.set_name(name);
                v.set_json(value.to_string());
            }
            let mut crons = root.reborrow().init_crons(self.crons.len() as u32);
            for (i, c) in self.crons.iter().enumerate() {
                crons.set(i as u32, c);
            }
            let mut packages = root.reborrow().init_packages(self.packages.len() as u32);
            for (i, p) in self.packages.iter().enumerate() {
                let mut e = packages.reborrow().get(i as u32);
                e.set_name(&p.name);
                e.set_version(&p.version);
                e.set_wheel(&p.wheel);
                e.set_sha256(&p.sha256);
            }
            root.set_sources_sha256(sha256(&self.sources));
            root.set_site_packages_sha256(self.site_packages.as_deref().map(sha256).unwrap_or_default());
            root.set_bindings_json(
                self.bindings.as_ref().map(|b| serde_json::Value::Object(b.clone()).to_string()).unwrap_or_default(),
            );
            root.set_assets_sha256(self.assets.as_deref().map(sha256).unwrap_or_default());
        }
        let mut meta = Vec::new();
        capnp::serialize::write_message(&mut meta, &message).context("encoding the bundle's metadata")?;
        let mut builder = tar::Builder::new(Vec::new());
        let mut entries = vec![(METADATA, &meta[..]), (SOURCES, &self.sources[..])];
        if let Some(sp) = &self.site_packages {
            entries.push((SITE_PACKAGES, &sp[..]));
        }
        if let Some(assets) = &self.assets {
            entries.push((ASSETS, &assets[..]));
        }
        for (name, data) in entries {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            builder.append_data(&mut header, name, data)?;
        }
        crate::runtime::write_file_atomic(path, &builder.into_inner()?)
    }

    /// Read the bundle at `path`, refusing a damaged one and one made for another Pyodide.
    pub fn read(path: &Path) -> Result<Bundle> {
        let what = || format!("bundle {}", path.display());
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut archive = tar::Archive::new(file);
        let (mut meta, mut sources, mut site_packages, mut assets) = (None, None, None, None);
        for entry in archive.entries().with_context(what)? {
            let mut entry = entry.with_context(what)?;
            let name = entry.path().with_context(what)?.to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).with_context(what)?;
            match name.as_str() {
                METADATA => meta = Some(data),
                SOURCES => sources = Some(data),
                SITE_PACKAGES => site_packages = Some(data),
                ASSETS => assets = Some(data),
                _ => bail!("{}: unexpected entry {name}", what()),
            }
        }
        let meta = meta.with_context(|| format!("{} is not a pyworkers bundle (no {METADATA})", path.display()))?;
        let sources = sources.with_context(|| format!("{}: no {SOURCES}", what()))?;
        let reader = capnp::serialize::read_message(&mut &meta[..], capnp::message::ReaderOptions::new())
            .with_context(|| format!("{}: unreadable metadata", what()))?;
        let root = reader.get_root::<bundle_capnp::bundle::Reader>().with_context(what)?;
        let text = |t: capnp::Result<capnp::text::Reader>| -> Result<String> {
            Ok(t.with_context(what)?.to_string().with_context(what)?)
        };
        if text(root.get_magic())? != MAGIC {
            bail!("{} is not a pyworkers bundle", path.display());
        }
        if root.get_format_version() != FORMAT_VERSION {
            bail!("{} has bundle format {}, this pyworkers reads {FORMAT_VERSION}: bundle it again", path.display(), root.get_format_version());
        }
        let pyodide_version = text(root.get_pyodide_version())?;
        let platform = text(root.get_platform())?;
        if pyodide_version != crate::runtime::PYODIDE_VERSION || platform != crate::packages::PLATFORM {
            bail!(
                "{} was bundled for Pyodide {pyodide_version} ({platform}); this pyworkers runs Pyodide {} ({}): bundle the project again",
                path.display(),
                crate::runtime::PYODIDE_VERSION,
                crate::packages::PLATFORM
            );
        }
        if text(root.get_sources_sha256())? != sha256(&sources) {
            bail!("{}: {SOURCES} does not match its recorded SHA-256 (damaged)", what());
        }
        let sp_sha = text(root.get_site_packages_sha256())?;
        if site_packages.as_deref().map(sha256).unwrap_or_default() != sp_sha {
            bail!("{}: {SITE_PACKAGES} does not match its recorded SHA-256 (damaged)", what());
        }
        if assets.as_deref().map(sha256).unwrap_or_default() != text(root.get_assets_sha256())? {
            bail!("{}: {ASSETS} does not match its recorded SHA-256 (damaged)", what());
        }
        let bindings = match text(root.get_bindings_json())?.as_str() {
            "" => None,
            json => match serde_json::from_str(json).with_context(what)? {
                serde_json::Value::Object(o) => Some(o),
                _ => bail!("{}: the recorded bindings are not a JSON object", what()),
            },
        };
        let mut vars = Vec::new();
        for v in root.get_vars().with_context(what)? {
            let json = text(v.get_json())?;
            vars.push((text(v.get_name())?, serde_json::from_str(&json).with_context(what)?));
        }
        let mut crons = Vec::new();
        for c in root.get_crons().with_context(what)? {
            crons.push(text(Ok(c?))?);
        }
        let mut packages = Vec::new();
        for p in root.get_packages().with_context(what)? {
            packages.push(Package {
                name: text(p.get_name())?,
                version: text(p.get_version())?,
                wheel: text(p.get_wheel())?,
                sha256: text(p.get_sha256())?,
            });
        }
        Ok(Bundle {
            name: text(root.get_name())?,
            module: text(root.get_main_module())?,
            vars,
            crons,
            packages,
            pyodide_version,
            sources,
            site_packages,
            bindings,
            assets,
        })
    }

    /// The static assets unpacked under `dir/<their SHA-256>` (once; a later call finds them there): the directory
    /// to serve them from.
    pub fn unpack_assets(&self, dir: &Path) -> Result<Option<std::path::PathBuf>> {
        let Some(assets) = &self.assets else { return Ok(None) };
        let target = dir.join(&sha256(assets)[..32]);
        if target.is_dir() {
            return Ok(Some(target));
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let partial = tempfile::tempdir_in(dir).with_context(|| format!("unpacking assets under {}", dir.display()))?;
        let mut archive = tar::Archive::new(&assets[..]);
        for entry in archive.entries().context("the bundle's assets")? {
            let mut entry = entry.context("the bundle's assets")?;
            if !entry.header().entry_type().is_file() {
                bail!("the bundle's assets hold something other than a regular file");
            }
            // `unpack_in` refuses paths that would land outside the directory.
            if !entry.unpack_in(partial.path()).context("unpacking the bundle's assets")? {
                bail!("the bundle's assets hold a path outside their directory");
            }
        }
        match std::fs::rename(partial.keep(), &target) {
            Ok(()) => {}
            Err(_) if target.is_dir() => {}
            Err(e) => return Err(e).with_context(|| format!("moving the assets to {}", target.display())),
        }
        Ok(Some(target))
    }

    /// A tar of the regular files under `dir` (symlinks followed only while they stay inside it), for
    /// [`assets`](Self::assets).
    pub fn pack_assets(dir: &Path) -> Result<Vec<u8>> {
        let root = dir.canonicalize().with_context(|| format!("assets.directory {} does not exist", dir.display()))?;
        let mut files = Vec::new();
        let mut seen = std::collections::HashSet::from([root.clone()]);
        let mut pending = vec![root.clone()];
        while let Some(d) = pending.pop() {
            for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
                let path = entry?.path();
                let Ok(real) = path.canonicalize() else { continue };
                if !real.starts_with(&root) {
                    continue;
                }
                if real.is_dir() {
                    if seen.insert(real) {
                        pending.push(path);
                    }
                } else if real.is_file() {
                    files.push((path.strip_prefix(&root).unwrap_or(&path).to_path_buf(), real));
                }
            }
        }
        files.sort();
        let mut builder = tar::Builder::new(Vec::new());
        for (name, real) in files {
            let data = std::fs::read(&real).with_context(|| format!("reading {}", real.display()))?;
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            builder.append_data(&mut header, &name, &data[..])?;
        }
        Ok(builder.into_inner()?)
    }

    /// The worker it holds, ready to mount.
    pub fn worker(&self) -> Result<Worker> {
        let mut worker = Worker::from_archive(self.sources.clone(), self.module.clone())?;
        if let Some(sp) = &self.site_packages {
            let archive = Archive::open(sp.clone()).map_err(|e| anyhow::anyhow!("the bundle's site-packages: {e:?}"))?;
            worker = worker.with_site_packages(&crate::packages::SitePackages {
                archive: Arc::new(archive),
                sha256: sha256(sp),
                packages: self.packages.clone(),
                resolved: false,
                downloaded: 0,
            });
        }
        Ok(worker)
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}
