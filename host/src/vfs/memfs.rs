//! A writable file system held in host memory, for `/tmp` and the home directory.
//!
//! Nodes live in an arena indexed by number, so open files can name them without borrowing, and the whole tree is
//! plain data that a snapshot can carry.

use super::errno::{Errno, Result};
use std::collections::BTreeMap;

/// Index of a node in a [`MemFs`]; also its inode number.
pub type MemNodeId = usize;

/// What a node holds.
#[derive(Debug, Clone)]
pub enum MemData {
    /// A regular file's bytes.
    File(Vec<u8>),
    /// A directory: name → child.
    Dir(BTreeMap<String, MemNodeId>),
    /// A symbolic link's target.
    Symlink(String),
}

/// One file, directory or symlink.
#[derive(Debug, Clone)]
pub struct MemNode {
    /// Contents.
    pub data: MemData,
    /// Permission bits.
    pub mode: u32,
    /// Modification time, milliseconds since the epoch.
    pub mtime_ms: f64,
    /// Links from directories; a removed node still open through an fd has 0.
    pub nlink: u32,
}

/// The tree. Node 0 is the root directory.
#[derive(Debug, Clone)]
pub struct MemFs {
    nodes: Vec<Option<MemNode>>,
    /// Total bytes held in files, checked against `limit`.
    used: usize,
    limit: usize,
}

/// The root directory of every [`MemFs`].
pub const ROOT: MemNodeId = 0;

impl MemFs {
    /// An empty tree holding at most `limit` bytes of file data.
    pub fn new(limit: usize) -> MemFs {
        let root = MemNode {
            data: MemData::Dir(BTreeMap::new()),
            mode: 0o777,
            mtime_ms: 0.0,
            nlink: 2,
        };
        MemFs {
            nodes: vec![Some(root)],
            used: 0,
            limit,
        }
    }

    /// Every node slot (freed ones are `None`), for snapshots.
    pub fn nodes(&self) -> &[Option<MemNode>] {
        &self.nodes
    }

    /// Bytes of file data this tree may hold.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Rebuild a tree from [`MemFs::nodes`] output (a snapshot's). Slot 0 must be a directory.
    pub fn from_nodes(nodes: Vec<Option<MemNode>>, limit: usize) -> Result<MemFs> {
        if !matches!(
            nodes.first(),
            Some(Some(MemNode {
                data: MemData::Dir(_),
                ..
            }))
        ) {
            return Err(Errno::INVAL);
        }
        let mut used = 0usize;
        for node in nodes.iter().flatten() {
            match &node.data {
                MemData::File(bytes) => used += bytes.len(),
                MemData::Dir(children) => {
                    if children.values().any(|&c| c >= nodes.len()) {
                        return Err(Errno::INVAL);
                    }
                }
                MemData::Symlink(_) => {}
            }
        }
        Ok(MemFs { nodes, used, limit })
    }

    /// The node `id`; `BADF` if it was freed.
    pub fn node(&self, id: MemNodeId) -> Result<&MemNode> {
        self.nodes
            .get(id)
            .and_then(Option::as_ref)
            .ok_or(Errno::BADF)
    }

    fn node_mut(&mut self, id: MemNodeId) -> Result<&mut MemNode> {
        self.nodes
            .get_mut(id)
            .and_then(Option::as_mut)
            .ok_or(Errno::BADF)
    }

    /// The child `name` of directory `dir`.
    pub fn lookup(&self, dir: MemNodeId, name: &str) -> Result<MemNodeId> {
        match &self.node(dir)?.data {
            MemData::Dir(children) => children.get(name).copied().ok_or(Errno::NOENT),
            _ => Err(Errno::NOTDIR),
        }
    }

    /// Create `name` in `dir` holding `data`; `EXIST` if taken.
    pub fn create(
        &mut self,
        dir: MemNodeId,
        name: &str,
        data: MemData,
        mode: u32,
        now_ms: f64,
    ) -> Result<MemNodeId> {
        if name.is_empty() || name.len() > 255 {
            return Err(Errno::NAMETOOLONG);
        }
        if self.lookup(dir, name).is_ok() {
            return Err(Errno::EXIST);
        }
        let nlink = if matches!(data, MemData::Dir(_)) {
            2
        } else {
            1
        };
        let id = self.nodes.len();
        self.nodes.push(Some(MemNode {
            data,
            mode: mode & 0o7777,
            mtime_ms: now_ms,
            nlink,
        }));
        match &mut self.node_mut(dir)?.data {
            MemData::Dir(children) => {
                children.insert(name.to_string(), id);
            }
            _ => return Err(Errno::NOTDIR),
        }
        self.node_mut(dir)?.mtime_ms = now_ms;
        Ok(id)
    }

    /// Remove `name` from `dir`. Directories must be empty and are only removed when `dir_wanted`.
    pub fn remove(
        &mut self,
        dir: MemNodeId,
        name: &str,
        dir_wanted: bool,
        now_ms: f64,
    ) -> Result<()> {
        let id = self.lookup(dir, name)?;
        match (&self.node(id)?.data, dir_wanted) {
            (MemData::Dir(children), true) if !children.is_empty() => return Err(Errno::NOTEMPTY),
            (MemData::Dir(_), false) => return Err(Errno::ISDIR),
            (MemData::Dir(_), true) => {}
            (_, true) => return Err(Errno::NOTDIR),
            (_, false) => {}
        }
        if let MemData::Dir(children) = &mut self.node_mut(dir)?.data {
            children.remove(name);
        }
        self.node_mut(dir)?.mtime_ms = now_ms;
        let node = self.node_mut(id)?;
        node.nlink = 0;
        Ok(())
    }

    /// Move `name` from `from_dir` to `to_name` in `to_dir`, replacing a file there (POSIX `rename`).
    pub fn rename(
        &mut self,
        from_dir: MemNodeId,
        name: &str,
        to_dir: MemNodeId,
        to_name: &str,
        now_ms: f64,
    ) -> Result<()> {
        let id = self.lookup(from_dir, name)?;
        if let Ok(existing) = self.lookup(to_dir, to_name) {
            if existing == id {
                return Ok(());
            }
            let is_dir = matches!(self.node(existing)?.data, MemData::Dir(_));
            self.remove(to_dir, to_name, is_dir, now_ms)?;
        }
        // A directory cannot move into its own subtree.
        if matches!(self.node(id)?.data, MemData::Dir(_)) && self.is_ancestor(id, to_dir) {
            return Err(Errno::INVAL);
        }
        if let MemData::Dir(children) = &mut self.node_mut(from_dir)?.data {
            children.remove(name);
        }
        match &mut self.node_mut(to_dir)?.data {
            MemData::Dir(children) => {
                children.insert(to_name.to_string(), id);
            }
            _ => return Err(Errno::NOTDIR),
        }
        Ok(())
    }

    fn is_ancestor(&self, ancestor: MemNodeId, mut node: MemNodeId) -> bool {
        // Parents are not stored; search from each directory. Trees here are small.
        loop {
            if node == ancestor {
                return true;
            }
            match self.parent_of(node) {
                Some(p) => node = p,
                None => return false,
            }
        }
    }

    fn parent_of(&self, node: MemNodeId) -> Option<MemNodeId> {
        self.nodes
            .iter()
            .enumerate()
            .find_map(|(i, n)| match n.as_ref().map(|n| &n.data) {
                Some(MemData::Dir(children)) if children.values().any(|&c| c == node) => Some(i),
                _ => None,
            })
    }

    /// Read up to `buf.len()` bytes at `offset` of file `id`.
    pub fn read(&self, id: MemNodeId, offset: u64, buf: &mut [u8]) -> Result<usize> {
        match &self.node(id)?.data {
            MemData::File(bytes) => {
                let start = (offset.min(bytes.len() as u64)) as usize;
                let n = buf.len().min(bytes.len() - start);
                buf[..n].copy_from_slice(&bytes[start..start + n]);
                Ok(n)
            }
            MemData::Dir(_) => Err(Errno::ISDIR),
            MemData::Symlink(_) => Err(Errno::INVAL),
        }
    }

    /// Write `data` at `offset` of file `id`, growing it (with zeros) as needed.
    pub fn write(&mut self, id: MemNodeId, offset: u64, data: &[u8], now_ms: f64) -> Result<usize> {
        let end = offset.checked_add(data.len() as u64).ok_or(Errno::FBIG)?;
        let old_len = self.file_len(id)?;
        if end > old_len {
            self.reserve(end - old_len)?;
        }
        let node = self.node_mut(id)?;
        node.mtime_ms = now_ms;
        match &mut node.data {
            MemData::File(bytes) => {
                let end = end as usize;
                if bytes.len() < end {
                    bytes.resize(end, 0);
                }
                bytes[offset as usize..end].copy_from_slice(data);
                Ok(data.len())
            }
            _ => Err(Errno::ISDIR),
        }
    }

    /// Set the length of file `id`.
    pub fn truncate(&mut self, id: MemNodeId, len: u64, now_ms: f64) -> Result<()> {
        let old_len = self.file_len(id)?;
        if len > old_len {
            self.reserve(len - old_len)?;
        } else {
            self.used -= (old_len - len) as usize;
        }
        let node = self.node_mut(id)?;
        node.mtime_ms = now_ms;
        match &mut node.data {
            MemData::File(bytes) => {
                bytes.resize(len as usize, 0);
                Ok(())
            }
            _ => Err(Errno::ISDIR),
        }
    }

    fn file_len(&self, id: MemNodeId) -> Result<u64> {
        match &self.node(id)?.data {
            MemData::File(bytes) => Ok(bytes.len() as u64),
            MemData::Dir(_) => Err(Errno::ISDIR),
            MemData::Symlink(_) => Err(Errno::INVAL),
        }
    }

    /// Account for `more` bytes; a memory bomb in `/tmp` ends in `ENOSPC`-like `FBIG`, not host exhaustion.
    fn reserve(&mut self, more: u64) -> Result<()> {
        let more = usize::try_from(more).map_err(|_| Errno::FBIG)?;
        if self.used.saturating_add(more) > self.limit {
            return Err(Errno::FBIG);
        }
        self.used += more;
        Ok(())
    }

    /// Set permission bits / times of `id`.
    pub fn set_mode(&mut self, id: MemNodeId, mode: u32) -> Result<()> {
        self.node_mut(id)?.mode = mode & 0o7777;
        Ok(())
    }

    /// Set the modification time of `id`.
    pub fn set_mtime(&mut self, id: MemNodeId, mtime_ms: f64) -> Result<()> {
        self.node_mut(id)?.mtime_ms = mtime_ms;
        Ok(())
    }

    /// Free nodes that are neither linked nor open; `open` says whether an fd still refers to a node.
    pub fn collect(&mut self, open: impl Fn(MemNodeId) -> bool) {
        for id in 1..self.nodes.len() {
            let dead = matches!(&self.nodes[id], Some(n) if n.nlink == 0) && !open(id);
            if dead {
                if let Some(MemNode {
                    data: MemData::File(bytes),
                    ..
                }) = self.nodes[id].take()
                {
                    self.used -= bytes.len();
                }
            }
        }
    }
}
