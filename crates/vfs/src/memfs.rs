//! A writable file system held in host memory, for `/tmp` and the home directory.
//!
//! Nodes live in an arena indexed by number, so open files can name them without borrowing, and the whole tree is
//! plain data that a snapshot can carry. Everything the guest can grow is bounded: file bytes, entry names and
//! symlink targets count against the byte limit, nodes against [`MAX_NODES`], and freed slots are reused, so a
//! guest filling `/tmp` gets `ENOSPC`, never the host's memory. A node is freed when no directory links it and no
//! fd holds it open (the owner reports fds through [`Backend::opened`]/[`Backend::closed`]).

use super::backend::{Backend, DirEnt, FileStat, NewNode, NodeKind};
use super::errno::{Errno, Result};
use std::collections::BTreeMap;

/// Index of a node in a [`MemFs`]; its inode number is this + 1.
pub type MemNodeId = usize;

/// Most live nodes (files, directories, symlinks, the root included) one tree may hold.
pub const MAX_NODES: usize = 65_536;

/// Largest single file: past it writes fail with `EFBIG`. The guest is 32-bit, so a bigger file could never be
/// read into its memory anyway; the whole-tree byte limit (`ENOSPC`) usually bites first.
pub const MAX_FILE_SIZE: u64 = u32::MAX as u64;

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
    /// Fds open on each slot; a slot is freed only when this and `nlink` are both 0.
    open: Vec<u32>,
    /// Each directory's parent (the root's is itself), so "is this inside that" walks up instead of searching.
    parent: Vec<MemNodeId>,
    /// Freed slots, reused before the arena grows.
    free: Vec<MemNodeId>,
    /// Slots in use.
    live: usize,
    /// Bytes held in files, entry names and symlink targets, checked against `limit`.
    used: usize,
    limit: usize,
}

/// The root directory of every [`MemFs`].
pub const ROOT: MemNodeId = 0;

fn id_of(node: u64) -> Result<MemNodeId> {
    usize::try_from(node).map_err(|_| Errno::BADF)
}

/// Bytes a node's contents count against the limit (entry names are counted by the directory holding them).
fn data_bytes(data: &MemData) -> usize {
    match data {
        MemData::File(bytes) => bytes.len(),
        MemData::Symlink(target) => target.len(),
        MemData::Dir(_) => 0,
    }
}

impl MemFs {
    /// An empty tree holding at most `limit` bytes (file data, names, link targets).
    pub fn new(limit: usize) -> MemFs {
        let root = MemNode {
            data: MemData::Dir(BTreeMap::new()),
            mode: 0o777,
            mtime_ms: 0.0,
            nlink: 2,
        };
        MemFs {
            nodes: vec![Some(root)],
            open: vec![0],
            parent: vec![ROOT],
            free: Vec::new(),
            live: 1,
            used: 0,
            limit,
        }
    }

    /// Every node slot (freed ones are `None`), for snapshots.
    pub fn nodes(&self) -> &[Option<MemNode>] {
        &self.nodes
    }

    /// Bytes this tree may hold.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes it holds now.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Nodes it holds now, the root included.
    pub fn live_nodes(&self) -> usize {
        self.live
    }

    /// Rebuild a tree from [`MemFs::nodes`] output (a snapshot's). Slot 0 must be a directory. Nodes that were
    /// unlinked but still open when captured are dropped: restored fds are reopened by path, so nothing can
    /// reach them.
    pub fn from_nodes(mut nodes: Vec<Option<MemNode>>, limit: usize) -> Result<MemFs> {
        if !matches!(
            nodes.first(),
            Some(Some(MemNode {
                data: MemData::Dir(_),
                ..
            }))
        ) {
            return Err(Errno::INVAL);
        }
        for slot in nodes.iter_mut().skip(1) {
            if matches!(slot, Some(n) if n.nlink == 0) {
                *slot = None;
            }
        }
        let mut parent: Vec<MemNodeId> = (0..nodes.len()).collect();
        let mut used = 0usize;
        for (id, node) in nodes.iter().enumerate() {
            let Some(node) = node else { continue };
            used = used.saturating_add(data_bytes(&node.data));
            if let MemData::Dir(children) = &node.data {
                for (name, &child) in children {
                    if child >= nodes.len() || child == ROOT {
                        return Err(Errno::INVAL);
                    }
                    used = used.saturating_add(name.len());
                    parent[child] = id;
                }
            }
        }
        let free: Vec<MemNodeId> = (0..nodes.len()).filter(|&i| nodes[i].is_none()).collect();
        Ok(MemFs {
            live: nodes.len() - free.len(),
            open: vec![0; nodes.len()],
            parent,
            free,
            nodes,
            used,
            limit,
        })
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

    fn children_mut(&mut self, dir: MemNodeId) -> Result<&mut BTreeMap<String, MemNodeId>> {
        match &mut self.node_mut(dir)?.data {
            MemData::Dir(children) => Ok(children),
            _ => Err(Errno::NOTDIR),
        }
    }

    /// The child `name` of directory `dir`.
    pub fn lookup(&self, dir: MemNodeId, name: &str) -> Result<MemNodeId> {
        match &self.node(dir)?.data {
            MemData::Dir(children) => children.get(name).copied().ok_or(Errno::NOENT),
            _ => Err(Errno::NOTDIR),
        }
    }

    /// Create `name` in `dir` holding `data`; `EEXIST` if taken, `ENOSPC` past the byte or node limit.
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
        if self.live >= MAX_NODES {
            return Err(Errno::NOSPC);
        }
        self.reserve((name.len() + data_bytes(&data)) as u64)?;
        let nlink = if matches!(data, MemData::Dir(_)) {
            2
        } else {
            1
        };
        let node = Some(MemNode {
            data,
            mode: mode & 0o7777,
            mtime_ms: now_ms,
            nlink,
        });
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id] = node;
                self.open[id] = 0;
                self.parent[id] = dir;
                id
            }
            None => {
                self.nodes.push(node);
                self.open.push(0);
                self.parent.push(dir);
                self.nodes.len() - 1
            }
        };
        self.live += 1;
        self.children_mut(dir)?.insert(name.to_string(), id);
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
        self.unlink(dir, name, id, now_ms)
    }

    /// Drop the entry `name` → `id` from `dir`, freeing `id` unless an fd holds it.
    fn unlink(&mut self, dir: MemNodeId, name: &str, id: MemNodeId, now_ms: f64) -> Result<()> {
        self.children_mut(dir)?.remove(name);
        self.used -= name.len();
        self.node_mut(dir)?.mtime_ms = now_ms;
        self.node_mut(id)?.nlink = 0;
        self.free_if_dead(id);
        Ok(())
    }

    fn free_if_dead(&mut self, id: MemNodeId) {
        let dead = id != ROOT
            && self.open.get(id) == Some(&0)
            && matches!(self.nodes.get(id), Some(Some(n)) if n.nlink == 0);
        if dead {
            if let Some(node) = self.nodes[id].take() {
                self.used -= data_bytes(&node.data);
                self.live -= 1;
                self.free.push(id);
            }
        }
    }

    /// Move `name` from `from_dir` to `to_name` in `to_dir` (POSIX `rename`): a file may replace a file, a
    /// directory an empty directory; onto itself it does nothing; on error nothing has changed.
    pub fn rename(
        &mut self,
        from_dir: MemNodeId,
        name: &str,
        to_dir: MemNodeId,
        to_name: &str,
        now_ms: f64,
    ) -> Result<()> {
        if to_name.is_empty() || to_name.len() > 255 {
            return Err(Errno::NAMETOOLONG);
        }
        let id = self.lookup(from_dir, name)?;
        let moving_dir = matches!(self.node(id)?.data, MemData::Dir(_));
        if !matches!(self.node(to_dir)?.data, MemData::Dir(_)) {
            return Err(Errno::NOTDIR);
        }
        // A directory cannot move into its own subtree.
        if moving_dir && self.is_ancestor(id, to_dir) {
            return Err(Errno::INVAL);
        }
        let existing = match self.lookup(to_dir, to_name) {
            Ok(existing) if existing == id => return Ok(()),
            Ok(existing) => {
                match (&self.node(existing)?.data, moving_dir) {
                    (MemData::Dir(children), true) if !children.is_empty() => {
                        return Err(Errno::NOTEMPTY)
                    }
                    (MemData::Dir(_), true) => {}
                    (MemData::Dir(_), false) => return Err(Errno::ISDIR),
                    (_, true) => return Err(Errno::NOTDIR),
                    (_, false) => {}
                }
                Some(existing)
            }
            Err(Errno::NOENT) => None,
            Err(e) => return Err(e),
        };
        // Without a replaced entry the tree gains `to_name` and loses `name`; reserve before changing anything.
        if existing.is_none()
            && to_name.len() > name.len()
            && self.used.saturating_add(to_name.len() - name.len()) > self.limit
        {
            return Err(Errno::NOSPC);
        }
        if let Some(existing) = existing {
            self.unlink(to_dir, to_name, existing, now_ms)?;
        }
        self.children_mut(from_dir)?.remove(name);
        self.used -= name.len();
        self.children_mut(to_dir)?.insert(to_name.to_string(), id);
        self.used += to_name.len();
        self.parent[id] = to_dir;
        self.node_mut(from_dir)?.mtime_ms = now_ms;
        self.node_mut(to_dir)?.mtime_ms = now_ms;
        Ok(())
    }

    /// Whether `node` is `ancestor` or lies below it. Bounded by the arena size, so even a malformed snapshot's
    /// cycle ends.
    fn is_ancestor(&self, ancestor: MemNodeId, mut node: MemNodeId) -> bool {
        for _ in 0..self.nodes.len() {
            if node == ancestor {
                return true;
            }
            if node == ROOT {
                return false;
            }
            node = self.parent.get(node).copied().unwrap_or(ROOT);
        }
        false
    }

    /// Read up to `buf.len()` bytes at `offset` of file `id`.
    pub fn read(&self, id: MemNodeId, offset: u64, buf: &mut [u8]) -> Result<usize> {
        match &self.node(id)?.data {
            MemData::File(bytes) => Ok(copy_at(bytes, offset, buf)),
            MemData::Dir(_) => Err(Errno::ISDIR),
            MemData::Symlink(_) => Err(Errno::INVAL),
        }
    }

    /// Write `data` at `offset` of file `id`, growing it (with zeros) as needed.
    pub fn write(&mut self, id: MemNodeId, offset: u64, data: &[u8], now_ms: f64) -> Result<usize> {
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&end| end <= MAX_FILE_SIZE)
            .ok_or(Errno::FBIG)?;
        let old_len = self.file_len(id)?;
        if end > old_len {
            self.reserve(end - old_len)?;
        }
        let node = self.node_mut(id)?;
        node.mtime_ms = now_ms;
        let MemData::File(bytes) = &mut node.data else {
            return Err(Errno::ISDIR);
        };
        // `end` ≤ MAX_FILE_SIZE and was reserved against a usize limit, so it fits.
        let (start, end) = (offset as usize, end as usize);
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[start..end].copy_from_slice(data);
        Ok(data.len())
    }

    /// Set the length of file `id`.
    pub fn truncate(&mut self, id: MemNodeId, len: u64, now_ms: f64) -> Result<()> {
        if len > MAX_FILE_SIZE {
            return Err(Errno::FBIG);
        }
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

    /// Account for `more` bytes: a full tree is `ENOSPC`, so a memory bomb in `/tmp` never exhausts the host.
    fn reserve(&mut self, more: u64) -> Result<()> {
        let more = usize::try_from(more).map_err(|_| Errno::NOSPC)?;
        match self.used.checked_add(more) {
            Some(total) if total <= self.limit => {
                self.used = total;
                Ok(())
            }
            _ => Err(Errno::NOSPC),
        }
    }

    /// Set permission bits of `id`.
    pub fn set_mode(&mut self, id: MemNodeId, mode: u32) -> Result<()> {
        self.node_mut(id)?.mode = mode & 0o7777;
        Ok(())
    }

    /// Set the modification time of `id`.
    pub fn set_mtime(&mut self, id: MemNodeId, mtime_ms: f64) -> Result<()> {
        self.node_mut(id)?.mtime_ms = mtime_ms;
        Ok(())
    }
}

fn kind_of(data: &MemData) -> NodeKind {
    match data {
        MemData::File(_) => NodeKind::File,
        MemData::Dir(_) => NodeKind::Dir,
        MemData::Symlink(_) => NodeKind::Symlink,
    }
}

impl Backend for MemFs {
    fn root(&self) -> u64 {
        ROOT as u64
    }

    fn lookup(&self, dir: u64, name: &str) -> Result<u64> {
        MemFs::lookup(self, id_of(dir)?, name).map(|id| id as u64)
    }

    fn kind(&self, node: u64) -> Result<NodeKind> {
        Ok(kind_of(&self.node(id_of(node)?)?.data))
    }

    fn stat(&self, node: u64) -> Result<FileStat> {
        let id = id_of(node)?;
        let n = self.node(id)?;
        let size = match &n.data {
            MemData::File(b) => b.len() as u64,
            MemData::Dir(_) => 4096,
            MemData::Symlink(t) => t.len() as u64,
        };
        Ok(FileStat {
            dev: 0,
            ino: id as u64 + 1,
            mode: kind_of(&n.data).mode_bits() | n.mode,
            nlink: n.nlink.max(1),
            size,
            mtime_ms: n.mtime_ms,
        })
    }

    fn read(&self, node: u64, offset: u64, buf: &mut [u8]) -> Result<usize> {
        MemFs::read(self, id_of(node)?, offset, buf)
    }

    fn read_dir(&self, node: u64) -> Result<Vec<DirEnt>> {
        let MemData::Dir(children) = &self.node(id_of(node)?)?.data else {
            return Err(Errno::NOTDIR);
        };
        children
            .iter()
            .map(|(name, &id)| {
                Ok(DirEnt {
                    name: name.clone(),
                    ino: id as u64 + 1,
                    kind: kind_of(&self.node(id)?.data).dirent_type(),
                })
            })
            .collect()
    }

    fn read_link(&self, node: u64) -> Result<&str> {
        match &self.node(id_of(node)?)?.data {
            MemData::Symlink(target) => Ok(target),
            _ => Err(Errno::INVAL),
        }
    }

    fn write(&mut self, node: u64, offset: u64, data: &[u8], now_ms: f64) -> Result<usize> {
        MemFs::write(self, id_of(node)?, offset, data, now_ms)
    }

    fn create(
        &mut self,
        dir: u64,
        name: &str,
        new: NewNode<'_>,
        mode: u32,
        now_ms: f64,
    ) -> Result<u64> {
        let data = match new {
            NewNode::File => MemData::File(Vec::new()),
            NewNode::Dir => MemData::Dir(BTreeMap::new()),
            NewNode::Symlink(target) => MemData::Symlink(target.to_string()),
        };
        MemFs::create(self, id_of(dir)?, name, data, mode, now_ms).map(|id| id as u64)
    }

    fn remove(&mut self, dir: u64, name: &str, dir_wanted: bool, now_ms: f64) -> Result<()> {
        MemFs::remove(self, id_of(dir)?, name, dir_wanted, now_ms)
    }

    fn rename(
        &mut self,
        from_dir: u64,
        name: &str,
        to_dir: u64,
        to_name: &str,
        now_ms: f64,
    ) -> Result<()> {
        MemFs::rename(
            self,
            id_of(from_dir)?,
            name,
            id_of(to_dir)?,
            to_name,
            now_ms,
        )
    }

    fn truncate(&mut self, node: u64, len: u64, now_ms: f64) -> Result<()> {
        MemFs::truncate(self, id_of(node)?, len, now_ms)
    }

    fn set_mode(&mut self, node: u64, mode: u32) -> Result<()> {
        MemFs::set_mode(self, id_of(node)?, mode)
    }

    fn set_mtime(&mut self, node: u64, mtime_ms: f64) -> Result<()> {
        MemFs::set_mtime(self, id_of(node)?, mtime_ms)
    }

    fn opened(&mut self, node: u64) {
        if let Some(count) = usize::try_from(node)
            .ok()
            .and_then(|id| self.open.get_mut(id))
        {
            *count += 1;
        }
    }

    fn closed(&mut self, node: u64) {
        let Ok(id) = usize::try_from(node) else {
            return;
        };
        if let Some(count) = self.open.get_mut(id) {
            *count = count.saturating_sub(1);
            self.free_if_dead(id);
        }
    }
}

/// Copy what `src` holds at `pos` into `buf`; nothing past the end.
pub(super) fn copy_at(src: &[u8], pos: u64, buf: &mut [u8]) -> usize {
    let start = pos.min(src.len() as u64) as usize;
    let n = buf.len().min(src.len() - start);
    buf[..n].copy_from_slice(&src[start..start + n]);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_nodes_drops_unlinked_nodes_and_reuses_their_slots() {
        let mut fs = MemFs::new(1 << 10);
        let kept = fs
            .create(ROOT, "kept", MemData::File(b"k".to_vec()), 0o644, 0.0)
            .unwrap();
        let gone = fs
            .create(ROOT, "gone", MemData::File(b"gg".to_vec()), 0o644, 0.0)
            .unwrap();
        Backend::opened(&mut fs, gone as u64);
        fs.remove(ROOT, "gone", false, 0.0).unwrap();
        assert!(fs.node(gone).is_ok(), "still open, so still there");

        let restored = MemFs::from_nodes(fs.nodes().to_vec(), fs.limit()).unwrap();
        assert!(restored.node(gone).is_err());
        assert_eq!(restored.used(), "kept".len() + 1);
        let mut restored = restored;
        let next = restored
            .create(ROOT, "n", MemData::Dir(BTreeMap::new()), 0o755, 0.0)
            .unwrap();
        assert_eq!(next, gone, "the dropped slot is reused");
        assert_eq!(restored.lookup(ROOT, "kept").unwrap(), kept);

        let mut bad = fs.nodes().to_vec();
        bad[0] = Some(MemNode {
            data: MemData::Dir(BTreeMap::from([("x".to_string(), 99)])),
            mode: 0o755,
            mtime_ms: 0.0,
            nlink: 2,
        });
        assert_eq!(MemFs::from_nodes(bad, 10).unwrap_err(), Errno::INVAL);
    }
}
