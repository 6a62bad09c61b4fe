//! [`Vfs`]: the guest's whole file-system state, and the operations the syscall layer calls on it.
//!
//! Each operation resolves paths with the walk in [`path`](super::path), then asks the backend that holds the
//! node; writability is the mount's (checked here, once), existence and shape the backend's.

use super::backend::{mode, DirEnt, FileStat, NewNode, NodeKind};
use super::errno::{Errno, Result};
use super::fds::{oflags, OpenFile};
use super::memfs::MemFs;
use super::mounts::{Fs, Mount, NodeRef};
use super::path::{self, Resolved};
use super::stdio::{Input, Output};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// `dirfd` meaning "the current directory".
pub const AT_FDCWD: i32 = -100;

/// The guest's whole file-system state.
pub struct Vfs {
    pub(super) mounts: Vec<Mount>,
    pub(super) fds: Vec<Option<OpenFile>>,
    cwd: String,
    /// Where fd 0 reads from.
    pub stdin: Input,
    /// Where fd 1 writes to.
    pub stdout: Output,
    /// Where fd 2 writes to.
    pub stderr: Output,
}

/// Milliseconds since the epoch, for timestamps.
pub fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

impl Default for Vfs {
    fn default() -> Self {
        Self::new()
    }
}

impl Vfs {
    /// A file system with only a read-only, empty root, and fds 0–2 open on the standard streams.
    pub fn new() -> Vfs {
        let root = Mount {
            path: "/".into(),
            // Only the host writes the root (mount points), so its byte limit guards nothing.
            fs: Fs::Mem(MemFs::new(usize::MAX)),
            writable: false,
            reserved: false,
        };
        Vfs {
            mounts: vec![root],
            fds: (0..3).map(|n| Some(OpenFile::stdio(n))).collect(),
            cwd: "/".into(),
            stdin: Input::Empty,
            stdout: Output::Inherit,
            stderr: Output::Inherit,
        }
    }

    /// A copy of this file system for another instance: same mounts (archives are shared, in-memory trees are
    /// copied, devices are not: a fork's device paths stay but answer `ENXIO` until it mounts its own), fds and
    /// directory; standard streams start detached (empty input, discarded output).
    pub fn fork(&self) -> Vfs {
        Vfs {
            mounts: self.mounts.clone(),
            fds: self.fds.clone(),
            cwd: self.cwd.clone(),
            stdin: Input::Empty,
            stdout: Output::Discard,
            stderr: Output::Discard,
        }
    }

    /// The current directory, with every symlink resolved.
    pub fn cwd(&self) -> &str {
        &self.cwd
    }

    /// Change directory to `path`.
    pub fn chdir(&mut self, path: &str) -> Result<()> {
        let abs = self.at_path(AT_FDCWD, path, false)?;
        let dir = self.walk(&abs, true)?;
        if dir.kind != NodeKind::Dir {
            return Err(Errno::NOTDIR);
        }
        self.cwd = dir.path;
        Ok(())
    }

    /// The absolute path `path` names when relative to `dirfd` ([`AT_FDCWD`] for the current directory). Not
    /// normalised: pass it to [`Vfs::resolve`], which gives `..` and symlinks their meaning.
    pub fn at_path(&self, dirfd: i32, path: &str, allow_empty: bool) -> Result<String> {
        if path.starts_with('/') {
            return path::join("/", path);
        }
        if path.is_empty() && !allow_empty {
            return Err(Errno::NOENT);
        }
        let base = if dirfd == AT_FDCWD {
            &self.cwd
        } else {
            &self.file(dirfd)?.path
        };
        if path.is_empty() {
            return Ok(base.clone());
        }
        path::join(base, path)
    }

    /// The whole contents of the file at the absolute path `abs` (symlinks followed), e.g. for the host to collect
    /// a file the guest wrote.
    pub fn read_file(&self, abs: &str) -> Result<Vec<u8>> {
        let file = self.walk(&path::join("/", abs)?, true)?;
        match file.kind {
            NodeKind::File => {}
            NodeKind::Dir => return Err(Errno::ISDIR),
            NodeKind::Symlink | NodeKind::CharDevice => return Err(Errno::INVAL),
        }
        let (backend, id) = self.backend_of(file.node)?;
        let size = usize::try_from(backend.stat(id)?.size).map_err(|_| Errno::FBIG)?;
        let mut out = vec![0; size];
        let n = backend.read(id, 0, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// Metadata of a node.
    pub fn stat_node(&self, node: NodeRef) -> Result<FileStat> {
        if let NodeRef::Stdio(n) = node {
            return Ok(FileStat {
                dev: 0,
                ino: u64::from(n) + 1,
                mode: mode::S_IFCHR | 0o666,
                nlink: 1,
                size: 0,
                mtime_ms: 0.0,
            });
        }
        let (backend, id) = self.backend_of(node)?;
        let (mount, _) = node.mount_node().ok_or(Errno::BADF)?;
        Ok(FileStat {
            dev: mount as u32 + 1,
            ..backend.stat(id)?
        })
    }

    /// `stat`/`lstat` of a path relative to `dirfd`.
    pub fn stat_at(
        &self,
        dirfd: i32,
        path: &str,
        follow: bool,
        allow_empty: bool,
    ) -> Result<FileStat> {
        let abs = self.at_path(dirfd, path, allow_empty)?;
        if path.is_empty() && dirfd != AT_FDCWD {
            return self.stat_node(self.file(dirfd)?.node);
        }
        self.stat_node(self.resolve(&abs, follow)?)
    }

    /// Open `path` (relative to `dirfd`) and return the new fd.
    pub fn open_at(&mut self, dirfd: i32, path: &str, flags: i32, create_mode: u32) -> Result<i32> {
        let abs = self.at_path(dirfd, path, false)?;
        let wants_write =
            flags & oflags::O_ACCMODE != oflags::O_RDONLY || flags & oflags::O_TRUNC != 0;
        let (node, path) = match self.walk(&abs, flags & oflags::O_NOFOLLOW == 0) {
            Ok(found) => {
                if flags & oflags::O_CREAT != 0 && flags & oflags::O_EXCL != 0 {
                    return Err(Errno::EXIST);
                }
                match found.kind {
                    NodeKind::Symlink => return Err(Errno::LOOP),
                    NodeKind::Dir if wants_write => return Err(Errno::ISDIR),
                    NodeKind::Dir => {}
                    _ if flags & oflags::O_DIRECTORY != 0 => return Err(Errno::NOTDIR),
                    _ => {}
                }
                if let NodeRef::Device { mount } = found.node {
                    let attached =
                        matches!(&self.mounts[mount].fs, Fs::Device(d) if d.is_attached());
                    if !attached && flags & oflags::O_PATH == 0 {
                        return Err(Errno::NXIO);
                    }
                }
                if wants_write && flags & oflags::O_PATH == 0 && !self.node_writable(found.node) {
                    return Err(Errno::ROFS);
                }
                if flags & oflags::O_TRUNC != 0 && found.kind == NodeKind::File {
                    let (backend, id) = self.backend_mut_of(found.node)?;
                    backend.truncate(id, 0, now_ms())?;
                }
                (found.node, found.path)
            }
            Err(Errno::NOENT) if flags & oflags::O_CREAT != 0 => {
                self.create_at(&abs, NewNode::File, create_mode)?
            }
            Err(e) => return Err(e),
        };
        self.insert_fd(
            OpenFile {
                node,
                path,
                flags,
                pos: 0,
                dir_entries: None,
            },
            0,
        )
    }

    /// Make `new` at `abs` in a writable backend; returns it and its physical path.
    fn create_at(&mut self, abs: &str, new: NewNode<'_>, mode: u32) -> Result<(NodeRef, String)> {
        let (parent, name) = self.walk_parent(abs)?;
        if matches!(name, "" | "." | "..") {
            return Err(Errno::EXIST);
        }
        if name.len() > path::NAME_MAX {
            return Err(Errno::NAMETOOLONG);
        }
        if parent.kind != NodeKind::Dir {
            return Err(Errno::NOTDIR);
        }
        let child = path::child(&parent.path, name);
        if self.mount_at(&child).is_some() {
            return Err(Errno::EXIST);
        }
        let (mount, _) = parent.node.mount_node().ok_or(Errno::NOTDIR)?;
        let (backend, dir) = self.backend_mut_of(parent.node)?;
        let id = backend.create(dir, name, new, mode, now_ms())?;
        Ok((self.node_ref(mount, id), child))
    }

    /// Read from `fd` at its offset (or at `at`, for `pread`) into `buf`.
    pub fn read(&mut self, fd: i32, buf: &mut [u8], at: Option<u64>) -> Result<usize> {
        let f = self.file(fd)?;
        if f.flags & oflags::O_ACCMODE == oflags::O_WRONLY || f.flags & oflags::O_PATH != 0 {
            return Err(Errno::BADF);
        }
        let (node, pos) = (f.node, at.unwrap_or(f.pos));
        let n = match node {
            NodeRef::Stdio(0) => return self.stdin.read(buf).map_err(|_| Errno::IO),
            NodeRef::Stdio(_) => return Err(Errno::BADF),
            NodeRef::Device { .. } if at.is_some() => return Err(Errno::SPIPE),
            node => {
                let (backend, id) = self.backend_of(node)?;
                backend.read(id, pos, buf)?
            }
        };
        if at.is_none() {
            self.file_mut(fd)?.pos = pos.saturating_add(n as u64);
        }
        Ok(n)
    }

    /// Write `data` to `fd` at its offset (or at `at`, for `pwrite`).
    pub fn write(&mut self, fd: i32, data: &[u8], at: Option<u64>) -> Result<usize> {
        let f = self.file(fd)?;
        if f.flags & oflags::O_ACCMODE == oflags::O_RDONLY || f.flags & oflags::O_PATH != 0 {
            return Err(Errno::BADF);
        }
        let (node, append, pos) = (f.node, f.flags & oflags::O_APPEND != 0, f.pos);
        let pos = match (node, at, append) {
            (NodeRef::Stdio(1), ..) => return self.stdout.write(data).map_err(|_| Errno::IO),
            (NodeRef::Stdio(2), ..) => {
                return self.stderr.write_to(data, true).map_err(|_| Errno::IO)
            }
            (NodeRef::Stdio(_), ..) => return Err(Errno::BADF),
            (NodeRef::Device { .. }, Some(_), _) => return Err(Errno::SPIPE),
            (_, Some(at), _) => at,
            (_, None, true) => self.stat_node(node)?.size,
            (_, None, false) => pos,
        };
        let (backend, id) = self.backend_mut_of(node)?;
        let n = backend.write(id, pos, data, now_ms())?;
        if at.is_none() {
            self.file_mut(fd)?.pos = pos.saturating_add(n as u64);
        }
        Ok(n)
    }

    /// Move `fd`'s offset (`whence`: 0 set, 1 current, 2 end); returns the new offset. Streams: `ESPIPE`.
    pub fn seek(&mut self, fd: i32, offset: i64, whence: u8) -> Result<u64> {
        let f = self.file(fd)?;
        if let NodeRef::Stdio(_) | NodeRef::Device { .. } = f.node {
            return Err(Errno::SPIPE);
        }
        let base = match whence {
            0 => 0,
            1 => i64::try_from(f.pos).map_err(|_| Errno::INVAL)?,
            2 => i64::try_from(self.stat_node(f.node)?.size).map_err(|_| Errno::INVAL)?,
            _ => return Err(Errno::INVAL),
        };
        let pos = base
            .checked_add(offset)
            .filter(|p| *p >= 0)
            .ok_or(Errno::INVAL)? as u64;
        let f = self.file_mut(fd)?;
        f.pos = pos;
        if pos == 0 {
            f.dir_entries = None;
        }
        Ok(pos)
    }

    /// The entries of the directory open at `fd`, `.` and `..` first. Listed once per open (or rewind).
    pub fn dir_entries(&mut self, fd: i32) -> Result<Arc<Vec<DirEnt>>> {
        let f = self.file(fd)?;
        if let Some(entries) = &f.dir_entries {
            return Ok(entries.clone());
        }
        let node = f.node;
        let st = self.stat_node(node)?;
        if !st.is_dir() {
            return Err(Errno::NOTDIR);
        }
        let dot = |name: &str| DirEnt {
            name: name.into(),
            ino: st.ino,
            kind: NodeKind::Dir.dirent_type(),
        };
        let mut out = vec![dot("."), dot("..")];
        let (backend, id) = self.backend_of(node)?;
        out.extend(backend.read_dir(id)?);
        let entries = Arc::new(out);
        self.file_mut(fd)?.dir_entries = Some(entries.clone());
        Ok(entries)
    }

    /// Create a directory.
    pub fn mkdir_at(&mut self, dirfd: i32, path: &str, mode: u32) -> Result<()> {
        let abs = self.at_path(dirfd, path, false)?;
        if self.resolve(&abs, false).is_ok() {
            return Err(Errno::EXIST);
        }
        self.create_at(&abs, NewNode::Dir, mode).map(|_| ())
    }

    /// Create a symlink at `path` pointing to `target` (stored as given, resolved when used).
    pub fn symlink_at(&mut self, target: &str, dirfd: i32, path: &str) -> Result<()> {
        if target.is_empty() {
            return Err(Errno::NOENT);
        }
        if target.len() > path::PATH_MAX || target.contains('\0') {
            return Err(Errno::NAMETOOLONG);
        }
        let abs = self.at_path(dirfd, path, false)?;
        if self.resolve(&abs, false).is_ok() {
            return Err(Errno::EXIST);
        }
        self.create_at(&abs, NewNode::Symlink(target), 0o777)
            .map(|_| ())
    }

    /// The parent directory and name of `abs` for unlinking or renaming it: the name must exist there and be
    /// neither `.`/`..` (`EINVAL`) nor a mount point (`EBUSY`).
    fn existing_entry<'p>(&self, abs: &'p str) -> Result<(Resolved, &'p str)> {
        let (parent, name) = self.walk_parent(abs)?;
        match name {
            "" => return Err(Errno::BUSY),
            "." | ".." => return Err(Errno::INVAL),
            _ => {}
        }
        if parent.kind != NodeKind::Dir {
            return Err(Errno::NOTDIR);
        }
        if self.mount_at(&path::child(&parent.path, name)).is_some() {
            return Err(Errno::BUSY);
        }
        let (backend, dir) = self.backend_of(parent.node)?;
        backend.lookup(dir, name)?;
        Ok((parent, name))
    }

    /// Remove a file (or, with `dir`, an empty directory). An open file stays readable until its last close.
    pub fn unlink_at(&mut self, dirfd: i32, path: &str, dir: bool) -> Result<()> {
        let abs = self.at_path(dirfd, path, false)?;
        let (parent, name) = self.existing_entry(&abs)?;
        let (backend, pdir) = self.backend_mut_of(parent.node)?;
        backend.remove(pdir, name, dir, now_ms())
    }

    /// Rename within one writable backend (across mounts: `EXDEV`, as on Linux).
    pub fn rename_at(&mut self, olddirfd: i32, old: &str, newdirfd: i32, new: &str) -> Result<()> {
        let old_abs = self.at_path(olddirfd, old, false)?;
        let new_abs = self.at_path(newdirfd, new, false)?;
        let (from, name) = self.existing_entry(&old_abs)?;
        let (to, to_name) = self.walk_parent(&new_abs)?;
        match to_name {
            "" => return Err(Errno::BUSY),
            "." | ".." => return Err(Errno::INVAL),
            _ => {}
        }
        if to.kind != NodeKind::Dir {
            return Err(Errno::NOTDIR);
        }
        if self.mount_at(&path::child(&to.path, to_name)).is_some() {
            return Err(Errno::BUSY);
        }
        let mount_of = |r: &Resolved| r.node.mount_node().map(|(m, _)| m);
        if mount_of(&from) != mount_of(&to) {
            return Err(Errno::XDEV);
        }
        let (_, to_dir) = to.node.mount_node().ok_or(Errno::XDEV)?;
        let (backend, from_dir) = self.backend_mut_of(from.node)?;
        backend.rename(from_dir, name, to_dir, to_name, now_ms())
    }

    /// The target of the symlink at `path`.
    pub fn readlink_at(&self, dirfd: i32, path: &str) -> Result<String> {
        let abs = self.at_path(dirfd, path, false)?;
        let node = self.resolve(&abs, false)?;
        let (backend, id) = self.backend_of(node).map_err(|_| Errno::INVAL)?;
        backend.read_link(id).map(str::to_string)
    }

    /// Set the length of the file at `node`.
    pub fn truncate_node(&mut self, node: NodeRef, len: u64) -> Result<()> {
        if let NodeRef::Stdio(_) = node {
            return Err(Errno::INVAL);
        }
        let (backend, id) = self.backend_mut_of(node)?;
        backend.truncate(id, len, now_ms())
    }

    /// Change permission bits.
    pub fn chmod_node(&mut self, node: NodeRef, mode: u32) -> Result<()> {
        let (backend, id) = self.backend_mut_of(node).map_err(|_| Errno::ROFS)?;
        backend.set_mode(id, mode)
    }

    /// Set the modification time (milliseconds); `None` keeps it.
    pub fn utime_node(&mut self, node: NodeRef, mtime_ms: Option<f64>) -> Result<()> {
        let (backend, id) = self.backend_mut_of(node).map_err(|_| Errno::ROFS)?;
        match mtime_ms {
            Some(t) => backend.set_mtime(id, t),
            None => Ok(()),
        }
    }

    /// Whether the guest may change what `node` names (its mount is writable; the standard streams are).
    pub fn is_writable(&self, node: NodeRef) -> bool {
        self.node_writable(node)
    }

    /// Whether `fd` is a standard stream attached to a terminal.
    pub fn is_tty(&self, fd: i32) -> Result<bool> {
        Ok(match self.file(fd)?.node {
            NodeRef::Stdio(0) => self.stdin.is_tty(),
            NodeRef::Stdio(1) => self.stdout.is_tty(false),
            NodeRef::Stdio(2) => self.stderr.is_tty(true),
            _ => false,
        })
    }

    /// Flush the host side of the standard streams.
    pub fn flush(&mut self) {
        self.stdout.flush();
        self.stderr.flush();
    }
}
