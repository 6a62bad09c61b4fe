//! Read-only memory maps of files in the cache, so a large archive (the standard library's bytecode, ~20 MB) costs
//! one `mmap` plus the pages a run touches, shared with every other process through the page cache, instead of a
//! fresh copy faulted in by each run.
//!
//! Sound only because the cache never modifies or truncates a file in place: writers replace files by renaming a
//! new one over them ([`cache::write_atomic`](super::cache::write_atomic)), which leaves a mapping of the old file
//! intact. This module must never map a file from outside the cache.

use crate::tarfs::SharedBytes;
use std::io;
use std::path::Path;

/// The contents of `path`, a file in the cache, without copying them.
pub(crate) fn map(path: &Path) -> io::Result<SharedBytes> {
    let file = std::fs::File::open(path)?;
    // SAFETY: the mapping must not change while borrowed, and must stay readable. A private (copy-on-write),
    // read-only mapping means no write of ours can ever reach the file, and the file itself is never written
    // or truncated in place (module comment). What a private mapping does NOT do is protect against someone
    // else doing that: pages not yet copied still show the file, and a truncation would still fault (SIGBUS)
    // on access past the new end. That is why the rename-only discipline of the cache is the real guarantee.
    // The descriptor may be closed afterwards: the mapping keeps the file alive.
    let map = unsafe { memmap2::MmapOptions::new().map_copy_read_only(&file)? };
    Ok(std::sync::Arc::new(map))
}

#[cfg(test)]
mod tests {
    #[test]
    fn maps_whole_files_including_empty_ones() {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join("full");
        std::fs::write(&full, b"cached bytes").unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!((*super::map(&full).unwrap()).as_ref(), b"cached bytes");
        assert!((*super::map(&empty).unwrap()).as_ref().is_empty());
        assert!(super::map(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn a_replaced_file_leaves_the_mapping_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("archive");
        std::fs::write(&path, b"old contents").unwrap();
        let mapped = super::map(&path).unwrap();
        // What the cache does: write a new file, rename it over the old one.
        let new = dir.path().join("archive.new");
        std::fs::write(&new, b"new").unwrap();
        std::fs::rename(&new, &path).unwrap();
        assert_eq!((*mapped).as_ref(), b"old contents");
    }
}
