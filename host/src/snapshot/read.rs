//! Reading a snapshot file, verifying its checksum once per file rather than on every start.
//!
//! Hashing a 10 MB snapshot costs 6–14 ms, more than the rest of a process start. The first read of a file hashes
//! it whole (and its payload); success is recorded in the cache under a key made of the file's identity (device,
//! inode, size, modification and change times, path) and its trailing checksum. A later read of the same unchanged
//! file finds the record and reads only the metadata: any write to the file changes its times, and so its key.

use super::format::{Decode, SnapshotData};
use crate::runtime::{write_file_atomic, Runtime};
use anyhow::{Context, Result};
use sha2::Digest;
use std::path::{Path, PathBuf};

/// Read and check the snapshot at `path` (see the module docs). Memory segments are left out when the file was
/// verified before (`segments_elided`); the restorer reads them again only if it must rebuild the state module.
pub fn read(runtime: &Runtime, path: &Path) -> Result<SnapshotData> {
    let bytes = contents(runtime, path).with_context(|| format!("reading snapshot {}", path.display()))?;
    let bytes: &[u8] = (*bytes).as_ref();
    let context = || format!("snapshot {}", path.display());
    let record = record_path(runtime, path, bytes);
    if let Some(record) = &record {
        if record.exists() {
            runtime.touch(record);
            if let Ok(mut data) = SnapshotData::decode_with(bytes, Decode::Metadata) {
                data.origin = Some(path.to_path_buf());
                return Ok(data);
            }
        }
    }
    let mut data = SnapshotData::decode(bytes).with_context(context)?;
    data.origin = Some(path.to_path_buf());
    if let Some(record) = record {
        let written = record
            .parent()
            .map_or(Ok(()), |dir| std::fs::create_dir_all(dir).map_err(Into::into))
            .and_then(|()| write_file_atomic(&record, b"verified\n"));
        match written {
            Ok(()) => {
                runtime.touch(&record);
                // A record is an entry like any other: the cap holds after it too.
                runtime.enforce_cap();
            }
            Err(e) => {
                tracing::debug!(error = %format!("{e:#}"), "could not record the snapshot as verified")
            }
        }
    }
    Ok(data)
}

/// A snapshot's bytes: mapped when it is in the cache (whose files are only ever replaced by renaming, so a
/// mapping is safe: see `runtime::mapped`), which makes a verified start touch only the pages of its metadata
/// rather than copy ~10 MB; read when it is anyone else's file, which could change under a mapping.
fn contents(runtime: &Runtime, path: &Path) -> std::io::Result<crate::tarfs::SharedBytes> {
    // The runtime's home is absolute (`Runtime::ensure` makes it so).
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // `absolute` does not resolve `..`: a path that has one is read, never mapped.
    let plain = !absolute.components().any(|c| matches!(c, std::path::Component::ParentDir));
    if plain && absolute.starts_with(runtime.home()) {
        crate::runtime::mapped::map(path)
    } else {
        Ok(std::sync::Arc::new(std::fs::read(path)?))
    }
}

/// Where the record that `path` (with contents `bytes`) was verified lives; `None` if the file has no identity to
/// key on or no checksum.
fn record_path(runtime: &Runtime, path: &Path, bytes: &[u8]) -> Option<PathBuf> {
    let checksum = SnapshotData::file_checksum(bytes)?;
    let meta = std::fs::metadata(path).ok()?;
    let mut h = sha2::Sha256::new();
    h.update(std::path::absolute(path).ok()?.as_os_str().as_encoded_bytes());
    h.update(checksum.as_bytes());
    h.update(meta.len().to_le_bytes());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        for v in [meta.dev(), meta.ino()] {
            h.update(v.to_le_bytes());
        }
        for v in [meta.mtime(), meta.mtime_nsec(), meta.ctime(), meta.ctime_nsec()] {
            h.update(v.to_le_bytes());
        }
    }
    #[cfg(not(unix))]
    h.update(format!("{:?}", meta.modified().ok()?).as_bytes());
    Some(
        runtime
            .home()
            .join("verified")
            .join(format!("{}.snapshot", hex::encode(h.finalize()))),
    )
}
