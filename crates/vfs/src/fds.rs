//! The fd table: which open file description each descriptor number holds.
//!
//! Every change to the table goes through here so backends hear of each fd that starts or stops referring to one
//! of their nodes ([`Backend::opened`](super::Backend::opened)/[`closed`](super::Backend::closed)): that is how an
//! unlinked file stays readable while open and is freed on the last close, at a cost proportional to the call.

use super::backend::DirEnt;
use super::errno::{Errno, Result};
use super::mounts::NodeRef;
use super::Vfs;
use std::sync::Arc;

/// Open flags, as the guest's musl defines them.
pub mod oflags {
    /// Access mode mask.
    pub const O_ACCMODE: i32 = 0o3;
    /// Read only.
    pub const O_RDONLY: i32 = 0;
    /// Write only.
    pub const O_WRONLY: i32 = 0o1;
    /// Read and write.
    pub const O_RDWR: i32 = 0o2;
    /// Create if missing.
    pub const O_CREAT: i32 = 0o100;
    /// With `O_CREAT`: fail if it exists.
    pub const O_EXCL: i32 = 0o200;
    /// Truncate to zero length.
    pub const O_TRUNC: i32 = 0o1000;
    /// Every write goes to the end.
    pub const O_APPEND: i32 = 0o2000;
    /// Must be a directory.
    pub const O_DIRECTORY: i32 = 0o200000;
    /// Do not follow a final symlink.
    pub const O_NOFOLLOW: i32 = 0o400000;
    /// Only a handle for `*at` calls and `fstat`.
    pub const O_PATH: i32 = 0o10000000;
}

/// An open file description.
#[derive(Debug, Clone)]
pub struct OpenFile {
    /// What is open. Set when the fd is made; changing it through [`Vfs::file_mut`] would break the open counts.
    pub node: NodeRef,
    /// The path it was opened by with every symlink and `..` resolved (for `*at` calls relative to it).
    pub path: String,
    /// Open flags.
    pub flags: i32,
    /// Current offset.
    pub pos: u64,
    /// A directory's entries, listed on first `getdents` so the listing stays stable while it is read.
    pub dir_entries: Option<Arc<Vec<DirEnt>>>,
}

/// Most file descriptors one instance may hold.
pub const MAX_FDS: usize = 4096;

impl OpenFile {
    /// An fd on standard stream `n` (0, 1 or 2).
    pub(super) fn stdio(n: u8) -> OpenFile {
        OpenFile {
            node: NodeRef::Stdio(n),
            path: format!("/dev/std{}", ["in", "out", "err"][usize::from(n.min(2))]),
            flags: if n == 0 {
                oflags::O_RDONLY
            } else {
                oflags::O_WRONLY
            },
            pos: 0,
            dir_entries: None,
        }
    }
}

fn index(fd: i32) -> Result<usize> {
    usize::try_from(fd)
        .ok()
        .filter(|&f| f < MAX_FDS)
        .ok_or(Errno::BADF)
}

impl Vfs {
    /// The open fds, in order.
    pub fn fds(&self) -> impl Iterator<Item = (i32, &OpenFile)> {
        self.fds
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (i as i32, f)))
    }

    /// Close every fd (the standard streams too), before restoring a snapshot's table.
    pub fn clear_fds(&mut self) {
        for file in std::mem::take(&mut self.fds).into_iter().flatten() {
            self.track_open(file.node, false);
        }
    }

    /// Put `file` at the lowest free fd ≥ `min`.
    pub fn insert_fd(&mut self, file: OpenFile, min: usize) -> Result<i32> {
        let slot = (min..MAX_FDS)
            .find(|&i| self.fds.get(i).is_none_or(Option::is_none))
            .ok_or(Errno::MFILE)?;
        if slot >= self.fds.len() {
            self.fds.resize(slot + 1, None);
        }
        self.track_open(file.node, true);
        self.fds[slot] = Some(file);
        Ok(slot as i32)
    }

    /// Put `file` at exactly `fd`, closing what was there.
    pub fn set_fd(&mut self, fd: i32, file: OpenFile) -> Result<()> {
        let fd = index(fd)?;
        if fd >= self.fds.len() {
            self.fds.resize(fd + 1, None);
        }
        // Count the new reference first: if both name one unlinked node, it must not be freed in between.
        self.track_open(file.node, true);
        if let Some(old) = self.fds[fd].replace(file) {
            self.track_open(old.node, false);
        }
        Ok(())
    }

    /// The open file at `fd`.
    pub fn file(&self, fd: i32) -> Result<&OpenFile> {
        usize::try_from(fd)
            .ok()
            .and_then(|f| self.fds.get(f))
            .and_then(Option::as_ref)
            .ok_or(Errno::BADF)
    }

    /// The open file at `fd`, mutably (offset, flags, listing; not its node).
    pub fn file_mut(&mut self, fd: i32) -> Result<&mut OpenFile> {
        usize::try_from(fd)
            .ok()
            .and_then(|f| self.fds.get_mut(f))
            .and_then(Option::as_mut)
            .ok_or(Errno::BADF)
    }

    /// Close `fd`; an unlinked file is freed when its last fd closes.
    pub fn close(&mut self, fd: i32) -> Result<()> {
        let f = usize::try_from(fd).map_err(|_| Errno::BADF)?;
        let file = self
            .fds
            .get_mut(f)
            .and_then(Option::take)
            .ok_or(Errno::BADF)?;
        self.track_open(file.node, false);
        Ok(())
    }
}
