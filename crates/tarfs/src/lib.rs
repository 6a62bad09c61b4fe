//! `tarfs`: a read-only file system over one tar archive, honouring `wit/tarfs.wit`.
//!
//! Worker bundles, the standard library and vendored packages arrive as tar archives. [`Archive::open`] indexes
//! one in a single pass; afterwards every lookup walks the in-memory index and every read borrows a slice of the
//! archive bytes, so opening costs one pass and reading costs no copy of whole files.
//!
//! This crate is the one implementation: the host links it natively (`pyworkers::tarfs` adds the wasmtime host
//! traits) and `guest-adapters/tarfs` compiles it to a `wasm32-wasip2` component. So it depends on neither
//! wasmtime nor wit-bindgen; its types mirror the WIT ones and each side converts at its boundary.
//!
//! The node API ([`Archive::resolve`] and the `node_*` methods) is what a file system layer builds on; the
//! path-taking methods ([`Archive::stat`], [`Archive::read`], ...) mirror the WIT functions one to one.
//!
//! This crate must never let a path reach outside the archive: not through `..`, not through a symlink (absolute
//! targets are refused, never re-rooted), not through a member whose stored name climbs above the root.
//!
//! ```
//! use pyworkers_tarfs::{Archive, ErrorCode};
//!
//! let empty = Archive::open(Vec::new()).unwrap();
//! assert!(empty.read_dir("/").unwrap().is_empty());
//! assert_eq!(empty.stat("../etc/passwd").unwrap_err(), ErrorCode::EscapesRoot);
//! ```
#![deny(missing_docs)]

mod index;
mod path;
mod types;

use std::sync::Arc;

pub use self::path::{path_from_bytes, MAX_PATH_LEN, MAX_SYMLINK_HOPS};
pub use self::types::{DirEntry, EntryKind, ErrorCode, Stat};

use self::index::{Index, NodeKind};

/// Identifies one entry of an [`Archive`]; also its inode number. The root is 1. Two names for the same entry
/// (hard links) share a node.
pub type NodeId = u64;

/// Bytes an [`Archive`] can index without copying: shared memory, or anything else that stays unchanged while it
/// lives, such as a read-only mapping of a file that is only ever replaced, never modified.
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// An indexed tar archive.
pub struct Archive {
    data: SharedBytes,
    index: Index,
}

impl Archive {
    /// Index `data` as a tar archive (ustar, GNU long names and long links, pax). Empty input and input that
    /// starts with zero blocks are an empty archive. Fails with [`ErrorCode::InvalidArchive`] for truncated or
    /// corrupt input (bad checksum, data running past the end), a member named outside the root, a hard link
    /// to a member that is not in the archive, a non-UTF-8 name, or a device, FIFO or sparse member.
    pub fn open(data: impl Into<Arc<[u8]>>) -> Result<Archive, ErrorCode> {
        Self::open_shared(Arc::new(data.into()))
    }

    /// The archive's bytes, as indexed (what a bundle stores).
    pub fn bytes(&self) -> &[u8] {
        (*self.data).as_ref()
    }

    /// [`Archive::open`] over bytes held elsewhere (e.g. a memory-mapped file), borrowed rather than copied.
    pub fn open_shared(data: SharedBytes) -> Result<Archive, ErrorCode> {
        let index = Index::build((*data).as_ref())?;
        Ok(Archive { data, index })
    }

    /// The root directory's node.
    pub fn root(&self) -> NodeId {
        self.index.root()
    }

    /// Resolve `path` (relative to the archive root) to a node; `follow` says whether a final symlink is followed.
    ///
    /// A leading `/`, `.` and doubled `/` are ignored and the empty path is the root; a trailing `/` requires a
    /// directory. `..` climbs from the directory actually reached and fails with [`ErrorCode::EscapesRoot`] at
    /// the root, as does any absolute symlink target.
    pub fn resolve(&self, path: &str, follow: bool) -> Result<NodeId, ErrorCode> {
        path::resolve(&self.index, path, follow)
    }

    /// [`Archive::resolve`] for a path given as bytes, as guests pass them; not UTF-8 is
    /// [`ErrorCode::InvalidPath`].
    pub fn resolve_bytes(&self, path: &[u8], follow: bool) -> Result<NodeId, ErrorCode> {
        self.resolve(path_from_bytes(path)?, follow)
    }

    /// Metadata of a node. Panics if `node` did not come from this archive.
    pub fn node_stat(&self, node: NodeId) -> Stat {
        let entry = self.index.node(node);
        let (kind, size) = match &entry.kind {
            NodeKind::File(range) => (EntryKind::File, range.len()),
            NodeKind::Dir(_) => (EntryKind::Directory, 0),
            NodeKind::Symlink(target) => (EntryKind::Symlink, target.len()),
        };
        Stat {
            kind,
            size: size as u64,
            mode: entry.mode,
            mtime: entry.mtime,
            ino: node,
        }
    }

    /// Entries of a directory node, sorted by name (bytewise), without `.` and `..`.
    pub fn node_read_dir(&self, node: NodeId) -> Result<Vec<DirEntry>, ErrorCode> {
        let children = self.index.children(node).ok_or(ErrorCode::NotADirectory)?;
        Ok(children
            .iter()
            .map(|(name, &child)| DirEntry {
                name: name.to_string(),
                kind: self.node_kind(child),
                ino: child,
            })
            .collect())
    }

    /// The contents of a file node, borrowed from the archive bytes. A directory is
    /// [`ErrorCode::IsADirectory`]; a symlink is [`ErrorCode::InvalidPath`] (resolve with `follow` first).
    pub fn node_bytes(&self, node: NodeId) -> Result<&[u8], ErrorCode> {
        match &self.index.node(node).kind {
            NodeKind::File(range) => Ok(&(*self.data).as_ref()[range.clone()]),
            NodeKind::Dir(_) => Err(ErrorCode::IsADirectory),
            NodeKind::Symlink(_) => Err(ErrorCode::InvalidPath),
        }
    }

    /// The target of a symlink node, exactly as stored. Any other node is [`ErrorCode::InvalidPath`] (the WIT
    /// has no "not a symlink"; POSIX answers `EINVAL`).
    pub fn node_link_target(&self, node: NodeId) -> Result<&str, ErrorCode> {
        self.index.link_target(node).ok_or(ErrorCode::InvalidPath)
    }

    /// What kind of entry a node is.
    pub fn node_kind(&self, node: NodeId) -> EntryKind {
        match self.index.node(node).kind {
            NodeKind::File(_) => EntryKind::File,
            NodeKind::Dir(_) => EntryKind::Directory,
            NodeKind::Symlink(_) => EntryKind::Symlink,
        }
    }

    /// The child `name` of directory node `dir`, for a file system layer that walks paths one component at a
    /// time (`.`, `..` and symlinks are the walker's business). Not a directory: [`ErrorCode::NotADirectory`].
    pub fn node_lookup(&self, dir: NodeId, name: &str) -> Result<NodeId, ErrorCode> {
        let children = self.index.children(dir).ok_or(ErrorCode::NotADirectory)?;
        children.get(name).copied().ok_or(ErrorCode::NotFound)
    }

    /// Whether `node` is a node of this archive (the `node_*` methods panic on others).
    pub fn node_exists(&self, node: NodeId) -> bool {
        self.index.contains(node)
    }

    /// Metadata of `path`, following symlinks (WIT `stat`).
    pub fn stat(&self, path: &str) -> Result<Stat, ErrorCode> {
        Ok(self.node_stat(self.resolve(path, true)?))
    }

    /// Metadata of `path` itself; a final symlink is not followed (WIT `lstat`).
    pub fn lstat(&self, path: &str) -> Result<Stat, ErrorCode> {
        Ok(self.node_stat(self.resolve(path, false)?))
    }

    /// The entries of the directory at `path`, sorted by name (WIT `read-dir`).
    pub fn read_dir(&self, path: &str) -> Result<Vec<DirEntry>, ErrorCode> {
        self.node_read_dir(self.resolve(path, true)?)
    }

    /// Up to `len` bytes of the file at `path` from `offset`; fewer at end of file, none past it (WIT `read`).
    pub fn read(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, ErrorCode> {
        let bytes = self.node_bytes(self.resolve(path, true)?)?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let end = start
            .saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
            .min(bytes.len());
        Ok(bytes[start..end].to_vec())
    }

    /// The target of the symlink at `path` (WIT `read-link`).
    pub fn read_link(&self, path: &str) -> Result<String, ErrorCode> {
        Ok(self
            .node_link_target(self.resolve(path, false)?)?
            .to_owned())
    }
}
