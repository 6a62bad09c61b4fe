//! The mount table: which backend serves which guest path, and the rules for adding to it.
//!
//! Mount indices are what [`NodeRef`]s and so open fds hold, so an index never changes and never names a
//! different mount: entries are only appended, and the one in-place replacement ([`Vfs::replace_memfs`], for
//! snapshot restore) is refused while an fd is open on the mount. The runtime's own mounts are *reserved*: no
//! later mount may cover, enter or shadow them.

use super::backend::Backend;
use super::device::{Device, DeviceMount};
use super::errno::Errno;
use super::memfs::{self, MemData, MemFs, MemNodeId};
use super::{path, Vfs};
use pyworkers_tarfs::{self as tarfs, Archive};
use std::sync::Arc;

/// What a mount serves.
#[derive(Clone)]
pub enum Fs {
    /// A read-only tar archive.
    Tar(Arc<Archive>),
    /// A writable (or, for the root, read-only) in-memory tree.
    Mem(MemFs),
    /// One read-only file, e.g. the standard library zip (memory-mapped from the cache, or owned).
    Blob(tarfs::SharedBytes),
    /// A character device (see [`Vfs::mount_device`]).
    Device(DeviceMount),
}

impl Fs {
    /// The backend, for reading.
    pub fn backend(&self) -> &dyn Backend {
        match self {
            Fs::Tar(archive) => archive,
            Fs::Mem(fs) => fs,
            Fs::Blob(bytes) => bytes,
            Fs::Device(device) => device,
        }
    }

    /// The backend, for changing (read-only backends answer `EROFS` themselves).
    pub fn backend_mut(&mut self) -> &mut dyn Backend {
        match self {
            Fs::Tar(archive) => archive,
            Fs::Mem(fs) => fs,
            Fs::Blob(bytes) => bytes,
            Fs::Device(device) => device,
        }
    }

    /// The [`NodeRef`] for node `id` of this backend mounted at index `mount`.
    fn node_ref(&self, mount: usize, id: u64) -> NodeRef {
        match self {
            Fs::Tar(_) => NodeRef::Tar { mount, node: id },
            Fs::Mem(_) => NodeRef::Mem {
                mount,
                // Memfs ids come from `MemNodeId`s, so they fit.
                node: id as MemNodeId,
            },
            Fs::Blob(_) => NodeRef::Blob { mount },
            Fs::Device(_) => NodeRef::Device { mount },
        }
    }
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
    /// Part of the runtime's layout: nothing may be mounted at, inside or above it.
    pub reserved: bool,
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
    /// The device mounted at `mount`.
    Device {
        /// Mount index.
        mount: usize,
    },
    /// Standard stream 0, 1 or 2.
    Stdio(u8),
}

impl NodeRef {
    /// The mount index and the backend's node id; `None` for the standard streams.
    pub fn mount_node(self) -> Option<(usize, u64)> {
        match self {
            NodeRef::Tar { mount, node } => Some((mount, node)),
            NodeRef::Mem { mount, node } => Some((mount, node as u64)),
            NodeRef::Blob { mount } | NodeRef::Device { mount } => Some((mount, 1)),
            NodeRef::Stdio(_) => None,
        }
    }
}

/// Why a mount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountError {
    /// The guest path is not usable.
    #[error("cannot mount at {path}: {errno}")]
    BadPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        errno: Errno,
    },
    /// `/` is the table's own root.
    #[error("cannot mount at /: the root holds the mount table itself")]
    Root,
    /// The path is, lies inside or contains one of the runtime's mounts.
    #[error("cannot mount at {path}: {reserved} is part of the runtime's file system")]
    Reserved {
        /// The path asked for.
        path: String,
        /// The runtime mount it collides with.
        reserved: String,
    },
    /// Something is mounted at exactly this path already.
    #[error("cannot mount at {path}: something is already mounted there")]
    Occupied {
        /// The path asked for.
        path: String,
    },
}

impl Vfs {
    /// Mount `fs` at `at` (an absolute guest path). The mount point and its parents appear as directories (or,
    /// for a blob or device, a file) in the root so listings show them. Refused at `/`, at a path already
    /// mounted, and at, inside or above a reserved mount.
    pub fn mount(&mut self, at: &str, fs: Fs, writable: bool) -> Result<(), MountError> {
        self.add_mount(at, fs, writable, false)
    }

    /// [`Vfs::mount`] for the runtime's own layout: the mount is reserved.
    pub fn mount_reserved(&mut self, at: &str, fs: Fs, writable: bool) -> Result<(), MountError> {
        self.add_mount(at, fs, writable, true)
    }

    /// Serve `device` at `at`: opens (read, write or both) reach it, `stat` says character device, `lseek`
    /// fails with `ESPIPE`. A fork keeps the path without the device; mounting a device again at that path (in
    /// the fork) attaches the new one in place, so fds and indices stay valid.
    pub fn mount_device(&mut self, at: &str, device: Box<dyn Device>) -> Result<(), MountError> {
        let abs = path::absolute("/", at).map_err(|errno| MountError::BadPath {
            path: at.into(),
            errno,
        })?;
        if let Some(m) = self.mounts.iter_mut().find(|m| m.path == abs) {
            if let Fs::Device(slot) = &mut m.fs {
                if !slot.is_attached() {
                    *slot = DeviceMount::new(device);
                    return Ok(());
                }
            }
        }
        self.add_mount(at, Fs::Device(DeviceMount::new(device)), true, false)
    }

    fn add_mount(
        &mut self,
        at: &str,
        fs: Fs,
        writable: bool,
        reserved: bool,
    ) -> Result<(), MountError> {
        let bad = |errno| MountError::BadPath {
            path: at.into(),
            errno,
        };
        let at = path::absolute("/", at).map_err(bad)?;
        if at == "/" {
            return Err(MountError::Root);
        }
        for m in self.mounts.iter().skip(1) {
            let related = path::strip_mount(&at, &m.path).is_some()
                || path::strip_mount(&m.path, &at).is_some();
            if m.reserved && related {
                return Err(MountError::Reserved {
                    path: at,
                    reserved: m.path.clone(),
                });
            }
            if m.path == at {
                return Err(MountError::Occupied { path: at });
            }
        }
        let is_file = matches!(fs, Fs::Blob(_) | Fs::Device(_));
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
                    let data = if last && is_file {
                        MemData::File(Vec::new())
                    } else {
                        MemData::Dir(Default::default())
                    };
                    root.create(dir, part, data, 0o755, 0.0).map_err(bad)?
                }
            };
        }
        self.mounts.push(Mount {
            path: at,
            fs,
            writable,
            reserved,
        });
        Ok(())
    }

    /// The mount table; an entry's index is the one [`NodeRef`]s hold.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// Replace the tree of the memfs mounted at `at`, keeping its index and writability. `EBUSY` while an fd is
    /// open on it (its node ids would then name nodes of the new tree).
    pub fn replace_memfs(&mut self, at: &str, fs: MemFs) -> super::Result<()> {
        let at = path::absolute("/", at)?;
        let index = self
            .mounts
            .iter()
            .position(|m| m.path == at && matches!(m.fs, Fs::Mem(_)));
        let index = index.ok_or(Errno::NOENT)?;
        let busy = self
            .fds()
            .any(|(_, f)| f.node.mount_node().is_some_and(|(m, _)| m == index));
        if busy {
            return Err(Errno::BUSY);
        }
        self.mounts[index].fs = Fs::Mem(fs);
        Ok(())
    }

    /// The index of the mount at exactly `abs` (normalised), if any.
    pub(super) fn mount_at(&self, abs: &str) -> Option<usize> {
        self.mounts.iter().position(|m| m.path == abs)
    }

    /// The root node of mount `index`.
    pub(super) fn mount_root(&self, index: usize) -> NodeRef {
        let fs = &self.mounts[index].fs;
        fs.node_ref(index, fs.backend().root())
    }

    /// The node `id` of mount `index` as a [`NodeRef`].
    pub(super) fn node_ref(&self, index: usize, id: u64) -> NodeRef {
        self.mounts[index].fs.node_ref(index, id)
    }

    /// The backend that holds `node`; `EBADF` for a standard stream (or a mount index from elsewhere).
    pub(super) fn backend_of(&self, node: NodeRef) -> super::Result<(&dyn Backend, u64)> {
        let (mount, id) = node.mount_node().ok_or(Errno::BADF)?;
        let m = self.mounts.get(mount).ok_or(Errno::BADF)?;
        Ok((m.fs.backend(), id))
    }

    /// The backend that holds `node`, to change it: `EROFS` unless its mount is writable.
    pub(super) fn backend_mut_of(
        &mut self,
        node: NodeRef,
    ) -> super::Result<(&mut dyn Backend, u64)> {
        let (mount, id) = node.mount_node().ok_or(Errno::BADF)?;
        let m = self.mounts.get_mut(mount).ok_or(Errno::BADF)?;
        if !m.writable {
            return Err(Errno::ROFS);
        }
        Ok((m.fs.backend_mut(), id))
    }

    /// Whether the guest may change what `node` names.
    pub(super) fn node_writable(&self, node: NodeRef) -> bool {
        match node.mount_node() {
            Some((mount, _)) => self.mounts.get(mount).is_some_and(|m| m.writable),
            None => true,
        }
    }

    /// Tell the backend holding `node` that an fd now refers to it (or, with `open` false, no longer does).
    pub(super) fn track_open(&mut self, node: NodeRef, open: bool) {
        let Some((mount, id)) = node.mount_node() else {
            return;
        };
        if let Some(m) = self.mounts.get_mut(mount) {
            let backend = m.fs.backend_mut();
            if open {
                backend.opened(id);
            } else {
                backend.closed(id);
            }
        }
    }
}
