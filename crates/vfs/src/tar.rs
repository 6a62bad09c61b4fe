//! A read-only [`tarfs`](pyworkers_tarfs) archive as a mount backend.

use super::backend::{Backend, DirEnt, FileStat, NodeKind};
use super::errno::{Errno, Result};
use pyworkers_tarfs::{Archive, EntryKind, NodeId};
use std::sync::Arc;

fn kind_of(kind: EntryKind) -> NodeKind {
    match kind {
        EntryKind::File => NodeKind::File,
        EntryKind::Directory => NodeKind::Dir,
        EntryKind::Symlink => NodeKind::Symlink,
    }
}

/// Ids come from the mount table, which only hands back ids this archive gave out; `node_*` panics on others,
/// so the one entry point that could see a foreign id checks the range first.
fn checked(archive: &Archive, node: u64) -> Result<NodeId> {
    if archive.node_exists(node) {
        Ok(node)
    } else {
        Err(Errno::BADF)
    }
}

impl Backend for Arc<Archive> {
    fn root(&self) -> u64 {
        Archive::root(self.as_ref())
    }

    fn lookup(&self, dir: u64, name: &str) -> Result<u64> {
        Ok(self.node_lookup(checked(self, dir)?, name)?)
    }

    fn kind(&self, node: u64) -> Result<NodeKind> {
        Ok(kind_of(self.node_kind(checked(self, node)?)))
    }

    fn stat(&self, node: u64) -> Result<FileStat> {
        let st = self.node_stat(checked(self, node)?);
        Ok(FileStat {
            dev: 0,
            ino: st.ino,
            mode: kind_of(st.kind).mode_bits() | (st.mode & 0o777),
            nlink: 1,
            size: st.size,
            mtime_ms: st.mtime as f64 * 1000.0,
        })
    }

    fn read(&self, node: u64, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let bytes = self.node_bytes(checked(self, node)?)?;
        Ok(super::memfs::copy_at(bytes, offset, buf))
    }

    fn read_dir(&self, node: u64) -> Result<Vec<DirEnt>> {
        Ok(self
            .node_read_dir(checked(self, node)?)?
            .into_iter()
            .map(|e| DirEnt {
                name: e.name,
                ino: e.ino,
                kind: kind_of(e.kind).dirent_type(),
            })
            .collect())
    }

    fn read_link(&self, node: u64) -> Result<&str> {
        self.node_link_target(checked(self, node)?)
            .map_err(|_| Errno::INVAL)
    }

    fn confines_links(&self) -> bool {
        true
    }
}
