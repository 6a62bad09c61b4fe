//! One read-only file as a mount backend, e.g. the standard library zip: the mount point is the file itself.

use super::backend::{mode, Backend, DirEnt, FileStat, NodeKind};
use super::errno::{Errno, Result};
use pyworkers_tarfs::SharedBytes;

/// The only node of a blob.
const NODE: u64 = 1;

impl Backend for SharedBytes {
    fn root(&self) -> u64 {
        NODE
    }

    fn lookup(&self, _dir: u64, _name: &str) -> Result<u64> {
        Err(Errno::NOTDIR)
    }

    fn kind(&self, _node: u64) -> Result<NodeKind> {
        Ok(NodeKind::File)
    }

    fn stat(&self, _node: u64) -> Result<FileStat> {
        Ok(FileStat {
            dev: 0,
            ino: NODE,
            mode: mode::S_IFREG | 0o444,
            nlink: 1,
            size: (**self).as_ref().len() as u64,
            mtime_ms: 0.0,
        })
    }

    fn read(&self, _node: u64, offset: u64, buf: &mut [u8]) -> Result<usize> {
        Ok(super::memfs::copy_at((**self).as_ref(), offset, buf))
    }

    fn read_dir(&self, _node: u64) -> Result<Vec<DirEnt>> {
        Err(Errno::NOTDIR)
    }

    fn read_link(&self, _node: u64) -> Result<&str> {
        Err(Errno::INVAL)
    }
}
