//! What every file system behind a mount answers: the [`Backend`] trait, and the metadata types it reports.
//!
//! A backend knows only its own tree, addressed by node ids it hands out; it never sees the mount table, other
//! mounts, fds or guest paths. Read-only backends implement the read side and inherit `EROFS` for the rest.

use super::errno::{Errno, Result};

/// File type bits of `st_mode`.
pub mod mode {
    /// Directory.
    pub const S_IFDIR: u32 = 0o040000;
    /// Regular file.
    pub const S_IFREG: u32 = 0o100000;
    /// Symbolic link.
    pub const S_IFLNK: u32 = 0o120000;
    /// Character device (the standard streams, mounted devices).
    pub const S_IFCHR: u32 = 0o020000;
    /// Mask of the type bits.
    pub const S_IFMT: u32 = 0o170000;
}

/// The type of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Character device: a stream without offsets.
    CharDevice,
}

impl NodeKind {
    /// The `st_mode` type bits.
    pub fn mode_bits(self) -> u32 {
        match self {
            NodeKind::File => mode::S_IFREG,
            NodeKind::Dir => mode::S_IFDIR,
            NodeKind::Symlink => mode::S_IFLNK,
            NodeKind::CharDevice => mode::S_IFCHR,
        }
    }

    /// The `d_type` of `getdents64`.
    pub fn dirent_type(self) -> u8 {
        match self {
            NodeKind::File => 8,
            NodeKind::Dir => 4,
            NodeKind::Symlink => 10,
            NodeKind::CharDevice => 2,
        }
    }
}

/// Metadata in the shape `stat(2)` reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileStat {
    /// Device: the mount index + 1 (0 for the standard streams).
    pub dev: u32,
    /// Inode within the device.
    pub ino: u64,
    /// Type and permission bits.
    pub mode: u32,
    /// Link count.
    pub nlink: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, milliseconds since the epoch.
    pub mtime_ms: f64,
}

impl FileStat {
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & mode::S_IFMT == mode::S_IFDIR
    }
}

/// One directory entry as `getdents64` reports it.
#[derive(Debug, Clone)]
pub struct DirEnt {
    /// Name.
    pub name: String,
    /// Inode.
    pub ino: u64,
    /// `d_type`: 4 directory, 8 file, 10 symlink, 2 character device.
    pub kind: u8,
}

/// What [`Backend::create`] makes.
#[derive(Debug, Clone, Copy)]
pub enum NewNode<'a> {
    /// An empty regular file.
    File,
    /// An empty directory.
    Dir,
    /// A symlink to the target.
    Symlink(&'a str),
}

/// A file system tree served at one mount. Node ids are the backend's own; `dev` in [`FileStat`] is filled in by
/// the mount table.
pub trait Backend {
    /// The root directory.
    fn root(&self) -> u64;
    /// The child `name` of directory `dir` (no `.`/`..`: the path walker handles those).
    fn lookup(&self, dir: u64, name: &str) -> Result<u64>;
    /// The type of `node`, cheaper than [`Backend::stat`]; the path walker asks it for every component.
    fn kind(&self, node: u64) -> Result<NodeKind>;
    /// Metadata of `node`.
    fn stat(&self, node: u64) -> Result<FileStat>;
    /// Up to `buf.len()` bytes of file `node` at `offset`.
    fn read(&self, node: u64, offset: u64, buf: &mut [u8]) -> Result<usize>;
    /// The entries of directory `node`, without `.` and `..`.
    fn read_dir(&self, node: u64) -> Result<Vec<DirEnt>>;
    /// The target of symlink `node`; `EINVAL` for anything else.
    fn read_link(&self, node: u64) -> Result<&str>;
    /// Whether this backend's symlinks must stay inside it (absolute targets and `..` above its root refused,
    /// as tarfs promises), rather than resolving through the whole mount table.
    fn confines_links(&self) -> bool {
        false
    }

    /// Write `data` at `offset` of file `node`.
    fn write(&mut self, _node: u64, _offset: u64, _data: &[u8], _now_ms: f64) -> Result<usize> {
        Err(Errno::ROFS)
    }
    /// Create `name` in directory `dir`; `EEXIST` if taken.
    fn create(
        &mut self,
        _dir: u64,
        _name: &str,
        _new: NewNode<'_>,
        _mode: u32,
        _now_ms: f64,
    ) -> Result<u64> {
        Err(Errno::ROFS)
    }
    /// Unlink `name` from `dir`: a directory (which must be empty) only when `dir_wanted`, anything else only
    /// without it.
    fn remove(&mut self, _dir: u64, _name: &str, _dir_wanted: bool, _now_ms: f64) -> Result<()> {
        Err(Errno::ROFS)
    }
    /// POSIX `rename` of `name` in `from_dir` to `to_name` in `to_dir`; on error nothing changes.
    fn rename(
        &mut self,
        _from_dir: u64,
        _name: &str,
        _to_dir: u64,
        _to_name: &str,
        _now_ms: f64,
    ) -> Result<()> {
        Err(Errno::ROFS)
    }
    /// Set the length of file `node`.
    fn truncate(&mut self, _node: u64, _len: u64, _now_ms: f64) -> Result<()> {
        Err(Errno::ROFS)
    }
    /// Set the permission bits of `node`.
    fn set_mode(&mut self, _node: u64, _mode: u32) -> Result<()> {
        Err(Errno::ROFS)
    }
    /// Set the modification time of `node`.
    fn set_mtime(&mut self, _node: u64, _mtime_ms: f64) -> Result<()> {
        Err(Errno::ROFS)
    }
    /// An fd now refers to `node`: a backend that frees unlinked nodes keeps it until [`Backend::closed`].
    fn opened(&mut self, _node: u64) {}
    /// An fd that referred to `node` is gone.
    fn closed(&mut self, _node: u64) {}
}
