//! Stamps: the cheap proof that a cached file is still the one we verified.
//!
//! Hashing 40 MB of cache on every start would cost more than the rest of start-up, so after verifying a file we
//! write `<file>.stamp` recording its SHA-256, where it came from, and a fingerprint of its metadata. Later checks
//! compare only the fingerprint; any mismatch (including a missing or unreadable stamp) falls back to re-hashing,
//! never to trusting. On Unix the fingerprint includes the inode's change time, which every write, truncate or
//! rename updates and which ordinary tools cannot set back, so editing a file in place is noticed even if its size
//! and modification time are restored.
//!
//! A stamp is written only after its file is in place, so a crash between the two leaves a file without a stamp:
//! it gets re-hashed, not trusted.

use super::cache;
use super::digest::sha256_file;
use anyhow::Result;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

/// What a stamp records about one verified file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// Lowercase hex SHA-256 of the file's contents when it was verified.
    pub sha256: String,
    /// Where the file came from (package, tool and input versions); a change of provenance invalidates the file
    /// even if its hash is unchanged, so bumping a pinned version never silently reuses old output.
    pub source: String,
    /// [`fingerprint`] of the file when the stamp was written.
    fingerprint: String,
}

impl Stamp {
    /// Where the stamp of `file` lives: next to it, so both move and vanish together.
    pub fn path_for(file: &Path) -> PathBuf {
        let mut name = OsString::from(file.file_name().unwrap_or_default());
        name.push(".stamp");
        file.with_file_name(name)
    }

    /// The stamp of `file`, if there is a readable, well-formed one.
    pub fn read(file: &Path) -> Option<Stamp> {
        let text = fs::read_to_string(Self::path_for(file)).ok()?;
        let mut sha256 = None;
        let mut source = None;
        let mut fingerprint = None;
        for line in text.lines() {
            let (key, value) = line.split_once(' ')?;
            match key {
                "sha256" => sha256 = Some(value.to_string()),
                "source" => source = Some(value.to_string()),
                "fingerprint" => fingerprint = Some(value.to_string()),
                _ => {}
            }
        }
        Some(Stamp {
            sha256: sha256?,
            source: source?,
            fingerprint: fingerprint?,
        })
    }

    /// Record that `file` (as it is now on disk) has contents hashing to `sha256` and came from `source`.
    pub fn record(file: &Path, sha256: &str, source: &str) -> Result<()> {
        let fingerprint = fingerprint(file)?;
        let text = format!("sha256 {sha256}\nsource {source}\nfingerprint {fingerprint}\n");
        cache::write_atomic(&Self::path_for(file), text.as_bytes())
    }

    /// Whether `file`'s metadata still matches what it was when this stamp was written.
    pub fn describes(&self, file: &Path) -> bool {
        fingerprint(file).is_ok_and(|f| f == self.fingerprint)
    }
}

/// Whether `file` is known, without reading it, to hash to `sha256` and to come from `source`.
pub(crate) fn is_fresh(file: &Path, sha256: &str, source: &str) -> bool {
    Stamp::read(file).is_some_and(|s| s.sha256 == sha256 && s.source == source && s.describes(file))
}

/// Make sure `file` hashes to `sha256`: trust a fresh stamp, else re-hash and re-stamp. A file with the wrong
/// contents is deleted (with its stamp) so the caller fetches it again. Returns whether `file` is now valid.
/// Callers hold the home lock, since this may rewrite the stamp or delete the file.
pub(crate) fn verify(file: &Path, sha256: &str, source: &str) -> Result<bool> {
    if is_fresh(file, sha256, source) {
        return Ok(true);
    }
    if !file.exists() {
        return Ok(false);
    }
    let actual = sha256_file(file)?;
    if actual == sha256 {
        tracing::debug!(file = %file.display(), "re-hashed: contents still valid, re-stamping");
        Stamp::record(file, sha256, source)?;
        return Ok(true);
    }
    tracing::warn!(file = %file.display(), %actual, expected = sha256, "cached file is corrupt; fetching it again");
    remove(file)?;
    Ok(false)
}

/// Delete `file` and its stamp, if present.
pub(crate) fn remove(file: &Path) -> Result<()> {
    cache::remove_if_exists(&Stamp::path_for(file))?;
    cache::remove_if_exists(file)
}

/// A summary of `file`'s metadata that changes whenever its contents could have.
fn fingerprint(file: &Path) -> Result<String> {
    let meta = fs::metadata(file)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(format!(
            "len={} mtime={}.{:09} ctime={}.{:09} dev={} ino={}",
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
            meta.dev(),
            meta.ino()
        ))
    }
    #[cfg(not(unix))]
    {
        let mtime = meta
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Ok(format!(
            "len={} mtime={}.{:09}",
            meta.len(),
            mtime.as_secs(),
            mtime.subsec_nanos()
        ))
    }
}

/// Under the cache lock: whether `path` still holds what its stamp recorded for `source`, re-hashing if its metadata
/// changed. A file without a stamp from this `source` is deleted: it may be one a crashed process renamed into
/// place but never stamped.
pub(crate) fn verify_recorded(path: &Path, source: &str) -> Result<bool> {
    match Stamp::read(path) {
        Some(recorded) if recorded.source == source => verify(path, &recorded.sha256, source),
        _ => {
            remove(path)?;
            Ok(false)
        }
    }
}
