//! site-packages as one tar archive: every wheel's files unpacked (`NAME.data/purelib` and `platlib` merged in,
//! scripts, headers and data dropped), in a fixed order with fixed metadata, so the same wheels give the same bytes
//! and so the same snapshot key. Kept in `$PYWORKERS_HOME/site-packages/` by the wheels' hashes.

use super::lock::Package;
use crate::tarfs::Archive;
use anyhow::{bail, Context, Result};
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bumped when how the archive is laid out changes.
const RECIPE: &str = "pyworkers site-packages v1";

/// The archive of `wheels` (from the cache or built now) and its SHA-256.
pub fn site_packages(home: &Path, wheels: &[(Package, PathBuf)]) -> Result<(Arc<Archive>, String)> {
    let mut key = sha2::Sha256::new();
    key.update(RECIPE);
    for (p, _) in wheels {
        key.update(format!("\n{} {}", p.wheel, p.sha256));
    }
    let path = home.join("site-packages").join(format!("{}.tar", hex::encode(key.finalize())));
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(_) => {
            let bytes = build(wheels)?;
            std::fs::create_dir_all(path.parent().unwrap_or(home)).context("creating the site-packages cache")?;
            crate::runtime::write_file_atomic(&path, &bytes)?;
            bytes
        }
    };
    let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
    let archive = Archive::open(bytes).map_err(|e| anyhow::anyhow!("site-packages archive {}: {e:?}", path.display()))?;
    Ok((Arc::new(archive), sha256))
}

/// Unpack `wheels` into one tar.
pub fn build(wheels: &[(Package, PathBuf)]) -> Result<Vec<u8>> {
    let mut files: BTreeMap<String, (Vec<u8>, u32)> = BTreeMap::new();
    for (package, path) in wheels {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut zip = zip::ZipArchive::new(file).with_context(|| format!("{} is not a valid wheel", package.wheel))?;
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).with_context(|| format!("reading {}", package.wheel))?;
            if entry.is_dir() {
                continue;
            }
            let Some(name) = install_path(entry.name()) else { continue };
            if name.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
                bail!("{} holds an unsafe path {:?}", package.wheel, entry.name());
            }
            let mode = if entry.unix_mode().is_some_and(|m| m & 0o111 != 0) { 0o755 } else { 0o644 };
            let mut data = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut data).with_context(|| format!("unpacking {} from {}", name, package.wheel))?;
            files.insert(name, (data, mode));
        }
    }
    let mut dirs = BTreeSet::new();
    for name in files.keys() {
        let mut parts: Vec<&str> = name.split('/').collect();
        parts.pop();
        for n in 1..=parts.len() {
            dirs.insert(parts[..n].join("/"));
        }
    }
    let mut builder = tar::Builder::new(Vec::new());
    for dir in &dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        header.set_mtime(0);
        builder.append_data(&mut header, format!("{dir}/"), std::io::empty())?;
    }
    for (name, (data, mode)) in &files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(*mode);
        header.set_size(data.len() as u64);
        header.set_mtime(0);
        builder.append_data(&mut header, name, &data[..])?;
    }
    builder.into_inner().context("packing site-packages")
}

/// Where a wheel member goes in site-packages, or `None` for what is not installed there.
fn install_path(member: &str) -> Option<String> {
    let first = member.split('/').next()?;
    if first.ends_with(".data") {
        let rest = member[first.len() + 1..].to_string();
        let (scheme, path) = rest.split_once('/')?;
        return matches!(scheme, "purelib" | "platlib").then(|| path.to_string());
    }
    Some(member.to_string())
}
