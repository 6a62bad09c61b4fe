//! The guest's file system: a mount table of read-only [`tarfs`](crate::tarfs) archives, single read-only files
//! and writable [`MemFs`] trees, plus the fd table and the current directory.
//!
//! Everything the guest can name resolves inside this table; host files reach the guest only as archives or
//! byte buffers mounted on purpose, so no guest path can escape to the host. This module owns policy (what is
//! writable, what exists); it knows nothing about pointers or the Emscripten ABI.

pub mod errno;
pub mod layout;
pub mod memfs;
pub mod path;
mod stdio;

pub use errno::{Errno, Result};
pub use memfs::{MemData, MemFs, MemNode, MemNodeId};
pub use stdio::{Input, Output};

use crate::tarfs::{self, Archive, EntryKind};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// File type bits of `st_mode`.
pub mod mode {
    /// Directory.
    pub const S_IFDIR: u32 = 0o040000;
    /// Regular file.
    pub const S_IFREG: u32 = 0o100000;
    /// Symbolic link.
    pub const S_IFLNK: u32 = 0o120000;
    /// Character device (the standard streams).
    pub const S_IFCHR: u32 = 0o020000;
}

/// Open flags, as the guest's musl defines them.
pub mod oflags {
    /// Access mode mask.
    pub const O_ACCMODE: i32 = 0o3;
    /// Read only.
    pub const O_RDONLY: i32 = 0;
    /// Write only.
    pub const O_WRONLY: i32 = 0o1;
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

/// What a mount serves.
#[derive(Clone)]
pub enum Fs {
    /// A read-only tar archive.
    Tar(Arc<Archive>),
    /// A writable (or, for the root, read-only) in-memory tree.
    Mem(MemFs),
    /// One read-only file, e.g. the standard library zip.
    Blob(Arc<[u8]>),
}

/// One entry of the mount table.
#[derive(Clone)]
pub struct Mount {
    /// Normalised absolute guest path.
    pub path: String,
    /// The file system served there.
    pub fs: Fs,
    /// Whether the guest may change it.
    pub writable: bool,
}

/// A node somewhere in the mount table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRef {
    /// Entry `node` of the archive mounted at `mount`.
    Tar {
        /// Mount index.
        mount: usize,
        /// Archive node.
        node: tarfs::NodeId,
    },
    /// Node `node` of the memfs mounted at `mount`.
    Mem {
        /// Mount index.
        mount: usize,
        /// Memfs node.
        node: MemNodeId,
    },
    /// The blob mounted at `mount`.
    Blob {
        /// Mount index.
        mount: usize,
    },
    /// Standard stream 0, 1 or 2.
    Stdio(u8),
}

/// Metadata in the shape `stat(2)` reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileStat {
    /// Device: the mount index + 1.
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
        self.mode & 0o170000 == mode::S_IFDIR
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

/// An open file description.
#[derive(Debug, Clone)]
pub struct OpenFile {
    /// What is open.
    pub node: NodeRef,
    /// The normalised path it was opened by (for `*at` calls relative to it).
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

/// Most symlinks followed while resolving one path.
const MAX_LINK_HOPS: u32 = 40;

/// The guest's whole file-system state.
pub struct Vfs {
    mounts: Vec<Mount>,
    fds: Vec<Option<OpenFile>>,
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

fn tar_kind(kind: EntryKind) -> (u32, u8) {
    match kind {
        EntryKind::File => (mode::S_IFREG, 8),
        EntryKind::Directory => (mode::S_IFDIR, 4),
        EntryKind::Symlink => (mode::S_IFLNK, 10),
    }
}

fn mem_kind(data: &MemData) -> (u32, u8) {
    match data {
        MemData::File(_) => (mode::S_IFREG, 8),
        MemData::Dir(_) => (mode::S_IFDIR, 4),
        MemData::Symlink(_) => (mode::S_IFLNK, 10),
    }
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
            fs: Fs::Mem(MemFs::new(0)),
            writable: false,
        };
        let stdio = |n: u8| {
            Some(OpenFile {
                node: NodeRef::Stdio(n),
                path: format!("/dev/std{}", ["in", "out", "err"][n as usize]),
                flags: if n == 0 {
                    oflags::O_RDONLY
                } else {
                    oflags::O_WRONLY
                },
                pos: 0,
                dir_entries: None,
            })
        };
        Vfs {
            mounts: vec![root],
            fds: vec![stdio(0), stdio(1), stdio(2)],
            cwd: "/".into(),
            stdin: Input::Empty,
            stdout: Output::Inherit,
            stderr: Output::Inherit,
        }
    }

    /// Mount `fs` at `at` (an absolute guest path). The mount point and its parents appear as directories (or, for
    /// a blob, a file) in the root so listings show them. A later mount at the same path replaces the earlier.
    pub fn mount(&mut self, at: &str, fs: Fs, writable: bool) -> Result<()> {
        let at = path::absolute("/", at)?;
        if at == "/" {
            return Err(Errno::INVAL);
        }
        let is_blob = matches!(fs, Fs::Blob(_));
        let Fs::Mem(root) = &mut self.mounts[0].fs else {
            unreachable!("the root is always a memfs")
        };
        let mut dir = memfs::ROOT;
        let parts: Vec<&str> = path::components(&at).collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            dir = match root.lookup(dir, part) {
                Ok(id) => id,
                Err(_) => {
                    let data = if last && is_blob {
                        MemData::File(Vec::new())
                    } else {
                        MemData::Dir(Default::default())
                    };
                    root.create(dir, part, data, 0o755, 0.0)?
                }
            };
        }
        self.mounts.retain(|m| m.path != at);
        self.mounts.push(Mount {
            path: at,
            fs,
            writable,
        });
        Ok(())
    }

    /// The mount table.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// A copy of this file system for another instance: same mounts (archives are shared, in-memory trees are
    /// copied), fds and directory; standard streams start detached (empty input, discarded output).
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

    /// The open fds, in order.
    pub fn fds(&self) -> impl Iterator<Item = (i32, &OpenFile)> {
        self.fds
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (i as i32, f)))
    }

    /// Close every fd (the standard streams too), before restoring a snapshot's table.
    pub fn clear_fds(&mut self) {
        self.fds.clear();
    }

    /// Replace the tree of the memfs mounted at `at`, keeping its writability.
    pub fn replace_memfs(&mut self, at: &str, fs: MemFs) -> Result<()> {
        let at = path::absolute("/", at)?;
        match self.mounts.iter_mut().find(|m| m.path == at) {
            Some(Mount {
                fs: slot @ Fs::Mem(_),
                ..
            }) => {
                *slot = Fs::Mem(fs);
                Ok(())
            }
            _ => Err(Errno::NOENT),
        }
    }

    /// The current directory.
    pub fn cwd(&self) -> &str {
        &self.cwd
    }

    /// Change directory to `path`.
    pub fn chdir(&mut self, path: &str) -> Result<()> {
        let abs = path::absolute(&self.cwd, path)?;
        let node = self.resolve(&abs, true)?;
        if !self.stat_node(node)?.is_dir() {
            return Err(Errno::NOTDIR);
        }
        self.cwd = abs;
        Ok(())
    }

    /// The absolute path `path` names when relative to `dirfd` (`AT_FDCWD` = -100 for the current directory).
    pub fn at_path(&self, dirfd: i32, path: &str, allow_empty: bool) -> Result<String> {
        if path.starts_with('/') {
            return path::absolute("/", path);
        }
        let base = if dirfd == -100 {
            self.cwd.clone()
        } else {
            self.file(dirfd)?.path.clone()
        };
        if path.is_empty() && !allow_empty {
            return Err(Errno::NOENT);
        }
        path::absolute(&base, path)
    }

    /// The mount that serves `abs` and the path relative to it: the longest matching mount path wins.
    fn mount_for<'a>(&self, abs: &'a str) -> (usize, &'a str) {
        let mut best = (0, abs.trim_start_matches('/'));
        let mut best_len = 0;
        for (i, m) in self.mounts.iter().enumerate().skip(1) {
            if m.path.len() > best_len {
                if let Some(rest) = path::strip_mount(abs, &m.path) {
                    best = (i, rest);
                    best_len = m.path.len();
                }
            }
        }
        best
    }

    /// Resolve a normalised absolute path to a node; `follow` says whether a final symlink is followed.
    pub fn resolve(&self, abs: &str, follow: bool) -> Result<NodeRef> {
        self.resolve_hops(abs, follow, 0)
    }

    fn resolve_hops(&self, abs: &str, follow: bool, hops: u32) -> Result<NodeRef> {
        if hops > MAX_LINK_HOPS {
            return Err(Errno::LOOP);
        }
        let (mount, rest) = self.mount_for(abs);
        match &self.mounts[mount].fs {
            Fs::Tar(archive) => Ok(NodeRef::Tar {
                mount,
                node: archive.resolve(rest, follow)?,
            }),
            Fs::Blob(_) if rest.is_empty() => Ok(NodeRef::Blob { mount }),
            Fs::Blob(_) => Err(Errno::NOTDIR),
            Fs::Mem(fs) => {
                let parts: Vec<&str> = path::components(rest).collect();
                let mut node = memfs::ROOT;
                for (i, part) in parts.iter().enumerate() {
                    node = fs.lookup(node, part)?;
                    let last = i + 1 == parts.len();
                    if let MemData::Symlink(target) = &fs.node(node)?.data {
                        if last && !follow {
                            break;
                        }
                        // Re-resolve through the whole table: memfs links may point anywhere the guest can see.
                        let dir = mount_join(&self.mounts[mount].path, &parts[..i]);
                        let mut next = path::absolute(&dir, target)?;
                        for p in &parts[i + 1..] {
                            next.push('/');
                            next.push_str(p);
                        }
                        return self.resolve_hops(&next, follow, hops + 1);
                    }
                }
                Ok(NodeRef::Mem { mount, node })
            }
        }
    }

    /// The whole contents of the file at the absolute path `abs` (symlinks followed), e.g. for the host to collect
    /// a file the guest wrote.
    pub fn read_file(&self, abs: &str) -> Result<Vec<u8>> {
        let abs = path::absolute("/", abs)?;
        match self.resolve(&abs, true)? {
            NodeRef::Tar { mount, node } => match &self.mounts[mount].fs {
                Fs::Tar(archive) => Ok(archive.node_bytes(node)?.to_vec()),
                _ => Err(Errno::BADF),
            },
            NodeRef::Mem { mount, node } => match &self.mounts[mount].fs {
                Fs::Mem(fs) => match &fs.node(node)?.data {
                    MemData::File(bytes) => Ok(bytes.clone()),
                    MemData::Dir(_) => Err(Errno::ISDIR),
                    MemData::Symlink(_) => Err(Errno::LOOP),
                },
                _ => Err(Errno::BADF),
            },
            NodeRef::Blob { mount } => match &self.mounts[mount].fs {
                Fs::Blob(bytes) => Ok(bytes.to_vec()),
                _ => Err(Errno::BADF),
            },
            NodeRef::Stdio(_) => Err(Errno::INVAL),
        }
    }

    /// Metadata of a node.
    pub fn stat_node(&self, node: NodeRef) -> Result<FileStat> {
        Ok(match node {
            NodeRef::Tar { mount, node } => {
                let Fs::Tar(archive) = &self.mounts[mount].fs else {
                    return Err(Errno::BADF);
                };
                let st = archive.node_stat(node);
                FileStat {
                    dev: mount as u32 + 1,
                    ino: st.ino,
                    mode: tar_kind(st.kind).0 | (st.mode & 0o777),
                    nlink: 1,
                    size: st.size,
                    mtime_ms: st.mtime as f64 * 1000.0,
                }
            }
            NodeRef::Mem { mount, node } => {
                let Fs::Mem(fs) = &self.mounts[mount].fs else {
                    return Err(Errno::BADF);
                };
                let n = fs.node(node)?;
                let size = match &n.data {
                    MemData::File(b) => b.len() as u64,
                    MemData::Dir(_) => 4096,
                    MemData::Symlink(t) => t.len() as u64,
                };
                FileStat {
                    dev: mount as u32 + 1,
                    ino: node as u64 + 1,
                    mode: mem_kind(&n.data).0 | n.mode,
                    nlink: n.nlink.max(1),
                    size,
                    mtime_ms: n.mtime_ms,
                }
            }
            NodeRef::Blob { mount } => {
                let Fs::Blob(bytes) = &self.mounts[mount].fs else {
                    return Err(Errno::BADF);
                };
                FileStat {
                    dev: mount as u32 + 1,
                    ino: 1,
                    mode: mode::S_IFREG | 0o444,
                    nlink: 1,
                    size: bytes.len() as u64,
                    mtime_ms: 0.0,
                }
            }
            NodeRef::Stdio(n) => FileStat {
                dev: 0,
                ino: n as u64 + 1,
                mode: mode::S_IFCHR | 0o666,
                nlink: 1,
                size: 0,
                mtime_ms: 0.0,
            },
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
        if path.is_empty() && dirfd != -100 {
            return self.stat_node(self.file(dirfd)?.node);
        }
        self.stat_node(self.resolve(&abs, follow)?)
    }

    /// Open `path` (relative to `dirfd`) and return the new fd.
    pub fn open_at(&mut self, dirfd: i32, path: &str, flags: i32, create_mode: u32) -> Result<i32> {
        let abs = self.at_path(dirfd, path, false)?;
        let wants_write =
            flags & oflags::O_ACCMODE != oflags::O_RDONLY || flags & oflags::O_TRUNC != 0;
        let node = match self.resolve(&abs, flags & oflags::O_NOFOLLOW == 0) {
            Ok(node) => {
                if flags & oflags::O_CREAT != 0 && flags & oflags::O_EXCL != 0 {
                    return Err(Errno::EXIST);
                }
                let st = self.stat_node(node)?;
                if st.mode & 0o170000 == mode::S_IFLNK {
                    return Err(Errno::LOOP);
                }
                if flags & oflags::O_DIRECTORY != 0 && !st.is_dir() {
                    return Err(Errno::NOTDIR);
                }
                if st.is_dir() && wants_write {
                    return Err(Errno::ISDIR);
                }
                if wants_write && flags & oflags::O_PATH == 0 && !self.node_writable(node) {
                    return Err(Errno::ROFS);
                }
                if flags & oflags::O_TRUNC != 0 {
                    if let NodeRef::Mem { mount, node } = node {
                        self.memfs_mut(mount)?.truncate(node, 0, now_ms())?;
                    }
                }
                node
            }
            Err(Errno::NOENT) if flags & oflags::O_CREAT != 0 => {
                let (mount, dir, name) = self.parent_for_create(&abs)?;
                let id = self.memfs_mut(mount)?.create(
                    dir,
                    &name,
                    MemData::File(Vec::new()),
                    create_mode,
                    now_ms(),
                )?;
                NodeRef::Mem { mount, node: id }
            }
            Err(e) => return Err(e),
        };
        self.insert_fd(
            OpenFile {
                node,
                path: abs,
                flags,
                pos: 0,
                dir_entries: None,
            },
            0,
        )
    }

    fn node_writable(&self, node: NodeRef) -> bool {
        match node {
            NodeRef::Mem { mount, .. } => self.mounts[mount].writable,
            NodeRef::Stdio(_) => true,
            _ => false,
        }
    }

    fn memfs_mut(&mut self, mount: usize) -> Result<&mut MemFs> {
        let m = &mut self.mounts[mount];
        match (&mut m.fs, m.writable) {
            (Fs::Mem(fs), true) => Ok(fs),
            _ => Err(Errno::ROFS),
        }
    }

    /// For creating `abs`: the writable memfs, directory node and new name. Read-only places give `EROFS`.
    fn parent_for_create(&self, abs: &str) -> Result<(usize, MemNodeId, String)> {
        let (parent, name) = path::split_last(abs).ok_or(Errno::EXIST)?;
        if name.len() > 255 {
            return Err(Errno::NAMETOOLONG);
        }
        match self.resolve(parent, true)? {
            NodeRef::Mem { mount, node } if self.mounts[mount].writable => {
                let Fs::Mem(fs) = &self.mounts[mount].fs else {
                    return Err(Errno::ROFS);
                };
                match fs.node(node)?.data {
                    MemData::Dir(_) => Ok((mount, node, name.to_string())),
                    _ => Err(Errno::NOTDIR),
                }
            }
            _ => Err(Errno::ROFS),
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
        self.fds[slot] = Some(file);
        Ok(slot as i32)
    }

    /// Put `file` at exactly `fd`, closing what was there.
    pub fn set_fd(&mut self, fd: i32, file: OpenFile) -> Result<()> {
        let fd = usize::try_from(fd)
            .ok()
            .filter(|&f| f < MAX_FDS)
            .ok_or(Errno::BADF)?;
        if fd >= self.fds.len() {
            self.fds.resize(fd + 1, None);
        }
        self.fds[fd] = Some(file);
        self.collect();
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

    /// The open file at `fd`, mutably.
    pub fn file_mut(&mut self, fd: i32) -> Result<&mut OpenFile> {
        usize::try_from(fd)
            .ok()
            .and_then(|f| self.fds.get_mut(f))
            .and_then(Option::as_mut)
            .ok_or(Errno::BADF)
    }

    /// Close `fd`.
    pub fn close(&mut self, fd: i32) -> Result<()> {
        let f = usize::try_from(fd).map_err(|_| Errno::BADF)?;
        match self.fds.get_mut(f).and_then(Option::take) {
            Some(_) => {
                self.collect();
                Ok(())
            }
            None => Err(Errno::BADF),
        }
    }

    /// Free memfs files that were unlinked and are no longer open.
    fn collect(&mut self) {
        let open: Vec<NodeRef> = self.fds.iter().flatten().map(|f| f.node).collect();
        for (i, m) in self.mounts.iter_mut().enumerate() {
            if let Fs::Mem(fs) = &mut m.fs {
                fs.collect(|id| open.contains(&NodeRef::Mem { mount: i, node: id }));
            }
        }
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
            NodeRef::Tar { mount, node } => {
                let Fs::Tar(archive) = &self.mounts[mount].fs else {
                    return Err(Errno::BADF);
                };
                copy_at(archive.node_bytes(node)?, pos, buf)
            }
            NodeRef::Blob { mount } => {
                let Fs::Blob(bytes) = &self.mounts[mount].fs else {
                    return Err(Errno::BADF);
                };
                copy_at(bytes, pos, buf)
            }
            NodeRef::Mem { mount, node } => {
                let Fs::Mem(fs) = &self.mounts[mount].fs else {
                    return Err(Errno::BADF);
                };
                fs.read(node, pos, buf)?
            }
        };
        if at.is_none() {
            self.file_mut(fd)?.pos = pos + n as u64;
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
        match node {
            NodeRef::Stdio(1) => self.stdout.write(data).map_err(|_| Errno::IO),
            NodeRef::Stdio(2) => self.stderr.write_to(data, true).map_err(|_| Errno::IO),
            NodeRef::Mem { mount, node } => {
                let fs = self.memfs_mut(mount)?;
                let pos = match (at, append) {
                    (Some(at), _) => at,
                    (None, true) => fs.node(node).map(|n| match &n.data {
                        MemData::File(b) => b.len() as u64,
                        _ => 0,
                    })?,
                    (None, false) => pos,
                };
                let n = fs.write(node, pos, data, now_ms())?;
                if at.is_none() {
                    self.file_mut(fd)?.pos = pos + n as u64;
                }
                Ok(n)
            }
            _ => Err(Errno::BADF),
        }
    }

    /// Move `fd`'s offset (`whence`: 0 set, 1 current, 2 end); returns the new offset.
    pub fn seek(&mut self, fd: i32, offset: i64, whence: u8) -> Result<u64> {
        let f = self.file(fd)?;
        if let NodeRef::Stdio(_) = f.node {
            return Err(Errno::SPIPE);
        }
        let base = match whence {
            0 => 0,
            1 => f.pos as i64,
            2 => self.stat_node(f.node)?.size as i64,
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
        let mut out = vec![
            DirEnt {
                name: ".".into(),
                ino: st.ino,
                kind: 4,
            },
            DirEnt {
                name: "..".into(),
                ino: st.ino,
                kind: 4,
            },
        ];
        match node {
            NodeRef::Tar { mount, node } => {
                let Fs::Tar(archive) = &self.mounts[mount].fs else {
                    return Err(Errno::BADF);
                };
                out.extend(archive.node_read_dir(node)?.into_iter().map(|e| DirEnt {
                    name: e.name,
                    ino: e.ino,
                    kind: tar_kind(e.kind).1,
                }));
            }
            NodeRef::Mem { mount, node } => {
                let Fs::Mem(fs) = &self.mounts[mount].fs else {
                    return Err(Errno::BADF);
                };
                if let MemData::Dir(children) = &fs.node(node)?.data {
                    for (name, &id) in children {
                        let kind = mem_kind(&fs.node(id)?.data).1;
                        out.push(DirEnt {
                            name: name.clone(),
                            ino: id as u64 + 1,
                            kind,
                        });
                    }
                }
            }
            _ => return Err(Errno::NOTDIR),
        }
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
        let (mount, dir, name) = self.parent_for_create(&abs)?;
        self.memfs_mut(mount)?.create(
            dir,
            &name,
            MemData::Dir(Default::default()),
            mode,
            now_ms(),
        )?;
        Ok(())
    }

    /// Create a symlink at `path` pointing to `target`.
    pub fn symlink_at(&mut self, target: &str, dirfd: i32, path: &str) -> Result<()> {
        let abs = self.at_path(dirfd, path, false)?;
        if self.resolve(&abs, false).is_ok() {
            return Err(Errno::EXIST);
        }
        let (mount, dir, name) = self.parent_for_create(&abs)?;
        self.memfs_mut(mount)?.create(
            dir,
            &name,
            MemData::Symlink(target.into()),
            0o777,
            now_ms(),
        )?;
        Ok(())
    }

    /// Remove a file (or, with `dir`, an empty directory).
    pub fn unlink_at(&mut self, dirfd: i32, path: &str, dir: bool) -> Result<()> {
        let abs = self.at_path(dirfd, path, false)?;
        let node = self.resolve(&abs, false)?;
        let NodeRef::Mem { mount, .. } = node else {
            return Err(Errno::ROFS);
        };
        if self.mount_for(&abs).1.is_empty() {
            return Err(Errno::PERM); // a mount point itself
        }
        let (parent, name) = path::split_last(&abs).ok_or(Errno::PERM)?;
        let NodeRef::Mem { node: pdir, .. } = self.resolve(parent, true)? else {
            return Err(Errno::ROFS);
        };
        self.memfs_mut(mount)?.remove(pdir, name, dir, now_ms())?;
        self.collect();
        Ok(())
    }

    /// Rename within one writable memfs (across mounts: `EXDEV`, as on Linux).
    pub fn rename_at(&mut self, olddirfd: i32, old: &str, newdirfd: i32, new: &str) -> Result<()> {
        let old_abs = self.at_path(olddirfd, old, false)?;
        let new_abs = self.at_path(newdirfd, new, false)?;
        let NodeRef::Mem { mount, .. } = self.resolve(&old_abs, false)? else {
            return Err(Errno::ROFS);
        };
        let (op, oname) = path::split_last(&old_abs).ok_or(Errno::PERM)?;
        let NodeRef::Mem { node: odir, .. } = self.resolve(op, true)? else {
            return Err(Errno::ROFS);
        };
        let (nmount, ndir, nname) = self.parent_for_create(&new_abs)?;
        if nmount != mount {
            return Err(Errno::XDEV);
        }
        self.memfs_mut(mount)?
            .rename(odir, oname, ndir, &nname, now_ms())?;
        self.collect();
        Ok(())
    }

    /// The target of the symlink at `path`.
    pub fn readlink_at(&self, dirfd: i32, path: &str) -> Result<String> {
        let abs = self.at_path(dirfd, path, false)?;
        match self.resolve(&abs, false)? {
            NodeRef::Tar { mount, node } => {
                let Fs::Tar(archive) = &self.mounts[mount].fs else {
                    return Err(Errno::BADF);
                };
                Ok(archive
                    .node_link_target(node)
                    .map_err(|_| Errno::INVAL)?
                    .to_string())
            }
            NodeRef::Mem { mount, node } => {
                let Fs::Mem(fs) = &self.mounts[mount].fs else {
                    return Err(Errno::BADF);
                };
                match &fs.node(node)?.data {
                    MemData::Symlink(t) => Ok(t.clone()),
                    _ => Err(Errno::INVAL),
                }
            }
            _ => Err(Errno::INVAL),
        }
    }

    /// Set the length of the file at `node`.
    pub fn truncate_node(&mut self, node: NodeRef, len: u64) -> Result<()> {
        match node {
            NodeRef::Mem { mount, node } => self.memfs_mut(mount)?.truncate(node, len, now_ms()),
            NodeRef::Stdio(_) => Err(Errno::INVAL),
            _ => Err(Errno::ROFS),
        }
    }

    /// Change permission bits.
    pub fn chmod_node(&mut self, node: NodeRef, mode: u32) -> Result<()> {
        match node {
            NodeRef::Mem { mount, node } => self.memfs_mut(mount)?.set_mode(node, mode),
            _ => Err(Errno::ROFS),
        }
    }

    /// Set the modification time (milliseconds); `None` keeps it.
    pub fn utime_node(&mut self, node: NodeRef, mtime_ms: Option<f64>) -> Result<()> {
        match (node, mtime_ms) {
            (NodeRef::Mem { mount, node }, Some(t)) => self.memfs_mut(mount)?.set_mtime(node, t),
            (NodeRef::Mem { .. }, None) => Ok(()),
            _ => Err(Errno::ROFS),
        }
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

fn mount_join(mount: &str, parts: &[&str]) -> String {
    let mut s = if mount == "/" {
        String::new()
    } else {
        mount.to_string()
    };
    for p in parts {
        s.push('/');
        s.push_str(p);
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

fn copy_at(src: &[u8], pos: u64, buf: &mut [u8]) -> usize {
    let start = pos.min(src.len() as u64) as usize;
    let n = buf.len().min(src.len() - start);
    buf[..n].copy_from_slice(&src[start..start + n]);
    n
}
