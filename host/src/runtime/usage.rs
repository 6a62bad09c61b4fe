//! What the cache holds, when each entry was last used, and the size cap that keeps it bounded.
//!
//! Every file in the cache is an *entry* (a file and its `.stamp`, if any, count as one). Using an entry sets its
//! stamp's modification time to now (the stamp, never the file: a stamp's fingerprint describes its file, so the
//! file's own metadata must not change). After anything is written, entries are evicted least recently used first
//! until the cache is under its cap. Entries this process has used are never evicted by it (they may be mapped),
//! nor are Pyodide's own files, which every run needs and only a download can bring back.
//!
//! Sizes are bytes allocated on disk: compiled state modules are written with holes for their zero pages.

use super::cache::disk_usage;
use super::stamp::Stamp;
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// The cap when none is configured: 2 GiB.
pub const DEFAULT_CAP: u64 = 2 << 30;

/// The environment variable that sets the cap (like `--cache-size`), e.g. `500MiB`, `2GiB`.
pub const CAP_ENV: &str = "PYWORKERS_CACHE_SIZE";

/// One thing the cache holds.
#[derive(Debug, Clone)]
pub struct Entry {
    /// What it is, for people: `pyodide`, `stdlib bytecode`, `compiled code`, `initial state`, `snapshot state`,
    /// `trampoline`, `snapshot check`, ...
    pub kind: &'static str,
    /// The file (its stamp, if any, goes with it).
    pub path: PathBuf,
    /// Bytes on disk, stamp included.
    pub bytes: u64,
    /// When it was last used (or written).
    pub last_use: SystemTime,
    /// Never evicted: Pyodide's own files.
    pub pinned: bool,
}

/// Entries used by this process: never evicted by it.
static IN_USE: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// Record that `file` is in use by this process, without changing its time.
fn mark_in_use(file: &Path) {
    if let Ok(mut set) = IN_USE.lock() {
        set.get_or_insert_with(HashSet::new)
            .insert(file.to_path_buf());
    }
}

/// Record that `file` was used now (see the module docs).
pub(crate) fn touch(file: &Path) {
    mark_in_use(file);
    let stamp = Stamp::path_for(file);
    let target = if stamp.exists() { stamp } else { file.to_path_buf() };
    if let Ok(f) = fs::OpenOptions::new().append(true).open(&target) {
        let _ = f.set_modified(SystemTime::now());
    }
}

fn in_use(file: &Path) -> bool {
    IN_USE
        .lock()
        .ok()
        .and_then(|set| set.as_ref().map(|s| s.contains(file)))
        .unwrap_or(false)
}

/// Every entry under `home`, least recently used first.
pub fn entries(home: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    collect(home, home, &mut out);
    out.sort_by_key(|e| e.last_use);
    out
}

fn collect(home: &Path, dir: &Path, out: &mut Vec<Entry>) {
    let Ok(read) = fs::read_dir(dir) else { return };
    for item in read.flatten() {
        let path = item.path();
        let name = item.file_name().to_string_lossy().into_owned();
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            collect(home, &path, out);
            continue;
        }
        // Stamps travel with their file; the lock and files being written are not entries.
        if name.ends_with(".stamp") || name == ".lock" || name.starts_with(".partial-") {
            continue;
        }
        let stamp = Stamp::path_for(&path);
        let stamp_meta = fs::symlink_metadata(&stamp).ok();
        let bytes = disk_usage(&meta) + stamp_meta.as_ref().map_or(0, disk_usage);
        let last_use = stamp_meta
            .as_ref()
            .and_then(|m| m.modified().ok())
            .or_else(|| meta.modified().ok())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let relative = path.strip_prefix(home).unwrap_or(&path);
        let top = relative
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let (kind, pinned) = match top.as_str() {
            t if t.starts_with("pyodide-") && name == super::bytecode::FILE => ("stdlib bytecode", false),
            t if t.starts_with("pyodide-") => ("pyodide", true),
            "compiled" => (compiled_kind(&path), false),
            "verified" => ("snapshot check", false),
            "wheels" => ("wheel", false),
            "site-packages" => ("site-packages", false),
            _ => ("other", false),
        };
        out.push(Entry {
            kind,
            path,
            bytes,
            last_use,
            pinned,
        });
    }
}

/// The kind of a compiled artifact, from the provenance its stamp records.
fn compiled_kind(path: &Path) -> &'static str {
    let source = Stamp::read(path).map(|s| s.source).unwrap_or_default();
    for (needle, kind) in [
        ("precompile of code module", "compiled code"),
        ("precompile of initial state", "initial state"),
        ("precompile of snapshot state", "snapshot state"),
        ("precompile of call trampoline", "trampoline"),
    ] {
        if source.contains(needle) {
            return kind;
        }
    }
    "compiled"
}

/// Total bytes of `entries`.
pub fn total(entries: &[Entry]) -> u64 {
    entries.iter().map(|e| e.bytes).sum()
}

/// Evict least-recently-used entries of `home` until it holds at most `cap` bytes, sparing pinned entries and those
/// this process used. Returns what was evicted. The caller holds the cache lock (or accepts that a concurrent
/// writer's new entry may be counted a moment late).
pub(crate) fn enforce(home: &Path, cap: u64) -> Vec<Entry> {
    let all = entries(home);
    let mut size = total(&all);
    let mut evicted = Vec::new();
    for entry in all {
        if size <= cap {
            break;
        }
        if entry.pinned || in_use(&entry.path) {
            continue;
        }
        if remove(&entry.path) {
            size = size.saturating_sub(entry.bytes);
            tracing::debug!(path = %entry.path.display(), bytes = entry.bytes, "evicted from the cache");
            evicted.push(entry);
        }
    }
    if size > cap {
        tracing::warn!(
            size,
            cap,
            "the cache is over its cap with nothing left to evict (files in use); raise --cache-size"
        );
    }
    evicted
}

/// Delete an entry: its stamp first, so a crash in between leaves a file without a stamp (never trusted, rebuilt),
/// not a stamp vouching for a missing file.
fn remove(path: &Path) -> bool {
    let stamp = Stamp::path_for(path);
    let stamp_gone = match fs::remove_file(&stamp) {
        Ok(()) => true,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    };
    stamp_gone && fs::remove_file(path).is_ok()
}

/// Delete every entry under `home`, pinned ones included. Returns (entries, bytes) removed.
pub fn clean(home: &Path) -> (usize, u64) {
    let all = entries(home);
    let mut removed = (0, 0);
    for entry in all {
        if remove(&entry.path) {
            removed.0 += 1;
            removed.1 += entry.bytes;
        }
    }
    removed
}

/// Parse a size such as `2GiB`, `500MB`, `1048576` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("`{text}` is not a size such as 2GiB or 500MB: {e}"))
}

/// The cap from [`CAP_ENV`], or [`DEFAULT_CAP`].
pub fn cap_from_env() -> Result<u64, String> {
    match std::env::var(CAP_ENV) {
        Ok(v) if !v.trim().is_empty() => parse_size(&v).map_err(|e| format!("{CAP_ENV}: {e}")),
        _ => Ok(DEFAULT_CAP),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("500 MB").unwrap(), 500_000_000);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn eviction_goes_least_recently_used_first_and_spares_what_is_in_use() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("compiled");
        fs::create_dir(&dir).unwrap();
        let mut files = Vec::new();
        for i in 0..4 {
            let f = dir.join(format!("{i}.cwasm"));
            fs::write(&f, vec![1u8; 64 << 10]).unwrap();
            let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000 + i);
            fs::File::options().append(true).open(&f).unwrap().set_modified(t).unwrap();
            files.push(f);
        }
        let pinned_dir = home.path().join("pyodide-1");
        fs::create_dir(&pinned_dir).unwrap();
        fs::write(pinned_dir.join("pyodide.asm.wasm"), vec![1u8; 64 << 10]).unwrap();
        // 0 is the oldest but in use; the cap leaves room for two of the four plus the pinned file.
        mark_in_use(&files[0]);
        let per = entries(home.path())[0].bytes;
        let evicted = enforce(home.path(), 3 * per);
        let gone: Vec<_> = evicted.iter().map(|e| e.path.clone()).collect();
        assert_eq!(gone, vec![files[1].clone(), files[2].clone()]);
        assert!(files[0].exists() && files[3].exists());
        assert!(pinned_dir.join("pyodide.asm.wasm").exists());
        assert!(total(&entries(home.path())) <= 3 * per);
    }
}
