//! The cache directory's two safety rules: files appear only whole, and only one process fills the cache at a time.
//!
//! Every file is written to a `.partial-*` sibling, flushed to disk, then renamed into place, so a reader (or a
//! process that crashed half-way) can never see a truncated file under its real name. Writers also hold an
//! advisory lock on `<home>/.lock`, so concurrent first runs wait for one download/conversion/compilation instead of
//! repeating it; the lock is an optimisation for work, not what keeps files whole, so a file system without locks
//! only costs duplicated work.

use super::progress::Step;
use anyhow::{Context, Result};
use std::fs::{self, File, TryLockError};
use std::io::{self, Write};
use std::path::Path;
use tempfile::{NamedTempFile, TempDir};

/// Prefix of every temporary file or directory we create in the cache; anything with it is garbage once we hold
/// the lock, because only lock holders write.
const PARTIAL_PREFIX: &str = ".partial-";

/// Exclusive right to write into a cache directory; released when dropped (or when the process dies).
pub(crate) struct HomeLock {
    /// The locked file; `None` when the file system cannot lock, so we run unlocked.
    file: Option<File>,
}

impl HomeLock {
    /// Wait for the lock on `home`, showing why we wait if another process holds it.
    pub fn acquire(home: &Path) -> Result<HomeLock> {
        create_dir(home)?;
        let path = home.join(".lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| writable_hint(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let step =
                    Step::spinner("waiting for another pyworkers process to finish setting up");
                file.lock()
                    .with_context(|| format!("locking {}", path.display()))?;
                step.clear();
            }
            Err(TryLockError::Error(e)) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot lock the cache; continuing without it");
                return Ok(HomeLock { file: None });
            }
        }
        tracing::debug!(home = %home.display(), "holding the cache lock");
        Ok(HomeLock { file: Some(file) })
    }
}

/// Create `dir` and its parents, with an error that says how to pick another place.
pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| writable_hint(dir))
}

fn writable_hint(path: &Path) -> String {
    format!(
        "cannot write to the pyworkers cache at {}: make it writable, or set PYWORKERS_HOME (or --home) to a \
         writable directory",
        path.display()
    )
}

/// A new temporary file next to where its contents will end up, so the final rename stays within one file system.
pub(crate) fn partial_file(dir: &Path) -> Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(PARTIAL_PREFIX)
        .tempfile_in(dir)
        .with_context(|| writable_hint(dir))
}

/// A new temporary directory in `dir` (for tools' scratch output, e.g. `npm pack`), removed when dropped.
pub(crate) fn partial_dir(dir: &Path) -> Result<TempDir> {
    tempfile::Builder::new()
        .prefix(PARTIAL_PREFIX)
        .tempdir_in(dir)
        .with_context(|| writable_hint(dir))
}

/// Flush `partial` to disk and rename it to `dest`. The flush comes first so that after a power cut `dest` holds
/// either the old file or the whole new one, never a renamed-but-empty file.
pub(crate) fn commit(partial: NamedTempFile, dest: &Path) -> Result<()> {
    // Reopen by path rather than syncing our handle: tools we run (wasm-opt) may have replaced the file we created.
    fs::OpenOptions::new()
        .write(true)
        .open(partial.path())
        .and_then(|f| f.sync_all())
        .with_context(|| format!("writing {}", dest.display()))?;
    partial
        .persist(dest)
        .map_err(|e| e.error)
        .with_context(|| format!("moving a new file to {}", dest.display()))?;
    Ok(())
}

/// Write `bytes` to `dest` atomically (see the module comment).
pub(crate) fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent(dest);
    let mut partial = partial_file(dir)?;
    partial
        .write_all(bytes)
        .with_context(|| format!("writing {}", dest.display()))?;
    commit(partial, dest)
}

/// Like [`write_atomic`], but 4 KiB blocks of zeros become holes (seeked over, not written), so a file that is
/// mostly zero pages — a compiled state module's memory image — takes only its non-zero blocks on disk. Reads see
/// the same bytes.
pub(crate) fn write_atomic_sparse(dest: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    const BLOCK: usize = 4096;
    let dir = parent(dest);
    let mut partial = partial_file(dir)?;
    let context = || format!("writing {}", dest.display());
    let file = partial.as_file_mut();
    let mut offset = 0;
    for block in bytes.chunks(BLOCK) {
        if block.iter().all(|&b| b == 0) {
            file.seek(SeekFrom::Current(block.len() as i64))
                .with_context(context)?;
        } else {
            file.write_all(block).with_context(context)?;
        }
        offset += block.len();
    }
    // A trailing hole needs the length set explicitly.
    file.set_len(offset as u64).with_context(context)?;
    commit(partial, dest)
}

/// Bytes `path` occupies on disk (allocated blocks: holes cost nothing).
pub(crate) fn disk_usage(meta: &fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.blocks() * 512
    }
    #[cfg(not(unix))]
    {
        meta.len()
    }
}

/// Delete `path` if it exists.
pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("deleting {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Delete what crashed writers left in `dir`. Takes the lock as proof that no live writer owns a partial; without a
/// real lock (a file system without locking) another process might, so nothing is deleted.
pub(crate) fn sweep_partials(lock: &HomeLock, dir: &Path) {
    if lock.file.is_none() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with(PARTIAL_PREFIX)
        {
            continue;
        }
        let path = entry.path();
        tracing::debug!(path = %path.display(), "removing a leftover partial file");
        let removed = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        if let Err(e) = removed {
            tracing::debug!(path = %path.display(), error = %e, "could not remove leftover");
        }
    }
}

/// The directory containing `path` (`.` for a bare name).
pub(crate) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
