//! The index of one archive: every entry's node, built in a single pass over the tar headers at `open`.
//!
//! The `tar` crate parses headers (ustar, GNU long names and long links, pax `path`/`linkpath`/`size`); this
//! file decides what each member means for a read-only tree. File nodes keep only a byte range into the archive,
//! so the index never copies file contents. It must never accept an archive whose data runs past the end of the
//! bytes it was given, nor place a member outside the root (see `path::member_components`).
//!
//! Member types: regular files (also the old "contiguous" type), directories, symlinks and hard links become
//! nodes. pax global headers and GNU volume labels describe the archive rather than an entry and are skipped.
//! Everything else — character and block devices, FIFOs, GNU sparse files (header or pax form) and unknown type
//! flags — makes the archive invalid: a read-only tree cannot represent them faithfully, and silently dropping
//! an entry the archive's author put there would hide the mismatch.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::ops::Range;

use crate::path::member_components;
use crate::{ErrorCode, NodeId};

/// Permission bits of directories implied by a member's path but never listed themselves.
const IMPLIED_DIR_MODE: u32 = 0o755;

/// All nodes of one archive; a node's [`NodeId`] is its position plus one, so the root is 1.
pub(super) struct Index {
    nodes: Vec<Node>,
}

/// One file, directory or symlink.
pub(super) struct Node {
    /// The directory this node was created in; `None` only for the root. Only directories' parents matter:
    /// they are what `..` climbs to.
    pub(super) parent: Option<NodeId>,
    /// Permission bits (`0o777` mask).
    pub(super) mode: u32,
    /// Seconds since the Unix epoch.
    pub(super) mtime: u64,
    /// What the node is, with its contents.
    pub(super) kind: NodeKind,
}

/// What a node is.
pub(super) enum NodeKind {
    /// A regular file: its contents are this range of the archive bytes.
    File(Range<usize>),
    /// A directory: names to nodes, sorted so listings need no sorting.
    Dir(BTreeMap<Box<str>, NodeId>),
    /// A symbolic link and its target, exactly as stored.
    Symlink(Box<str>),
}

/// One archive member, as far as the index cares.
struct Member {
    name: String,
    mode: u32,
    mtime: u64,
    kind: MemberKind,
}

/// What a member adds to the tree.
enum MemberKind {
    File(Range<usize>),
    Dir,
    Symlink(String),
    /// Another name for an earlier member.
    HardLink(String),
}

impl Index {
    /// Index the tar archive in `data`. Empty input, or input that starts with a zero block, is an empty archive.
    pub(super) fn build(data: &[u8]) -> Result<Index, ErrorCode> {
        let mut index = Index {
            nodes: vec![Node {
                parent: None,
                mode: IMPLIED_DIR_MODE,
                mtime: 0,
                kind: NodeKind::Dir(BTreeMap::new()),
            }],
        };
        // Seeking skips file data without reading it; `Member::read` checks bounds itself, since a seek past the
        // end of a cursor does not fail the way reading would.
        let mut archive = tar::Archive::new(Cursor::new(data));
        let entries = archive.entries_with_seek().map_err(invalid)?;
        for entry in entries {
            if let Some(member) = Member::read(entry.map_err(invalid)?, data.len())? {
                index.insert(member)?;
            }
        }
        Ok(index)
    }

    /// The root directory.
    pub(super) fn root(&self) -> NodeId {
        1
    }

    /// Whether `id` names a node of this index.
    pub(super) fn contains(&self, id: NodeId) -> bool {
        usize::try_from(id).is_ok_and(|id| id >= 1 && id <= self.nodes.len())
    }

    /// The node `id`. Panics if `id` did not come from this index.
    pub(super) fn node(&self, id: NodeId) -> &Node {
        usize::try_from(id)
            .ok()
            .and_then(|id| id.checked_sub(1))
            .and_then(|i| self.nodes.get(i))
            .expect("NodeId does not belong to this archive")
    }

    /// The children of `id`, or `None` if it is not a directory.
    pub(super) fn children(&self, id: NodeId) -> Option<&BTreeMap<Box<str>, NodeId>> {
        match &self.node(id).kind {
            NodeKind::Dir(children) => Some(children),
            _ => None,
        }
    }

    /// The directory containing `id`, or `None` for the root.
    pub(super) fn parent(&self, id: NodeId) -> Option<NodeId> {
        self.node(id).parent
    }

    /// The target of `id`, or `None` if it is not a symlink.
    pub(super) fn link_target(&self, id: NodeId) -> Option<&str> {
        match &self.node(id).kind {
            NodeKind::Symlink(target) => Some(target),
            _ => None,
        }
    }

    fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id as usize - 1]
    }

    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() as NodeId
    }

    /// Add `member` to the tree. A later member with the same name replaces the earlier one, as extracting the
    /// archive would; a directory over a directory keeps the children and takes the new metadata.
    fn insert(&mut self, member: Member) -> Result<(), ErrorCode> {
        let components = member_components(&member.name)?;
        let Some((name, dirs)) = components.split_last() else {
            // The member names the root itself (`./`, `/`): a directory there updates the root's metadata;
            // anything else would replace the root with a non-directory.
            let MemberKind::Dir = member.kind else {
                return Err(ErrorCode::InvalidArchive);
            };
            let root = self.node_mut(1);
            root.mode = member.mode;
            root.mtime = member.mtime;
            return Ok(());
        };
        let parent = self.make_dirs(dirs)?;
        let existing = self.children(parent).and_then(|c| c.get(*name)).copied();
        let node = |kind| Node {
            parent: Some(parent),
            mode: member.mode,
            mtime: member.mtime,
            kind,
        };
        let id = match member.kind {
            MemberKind::Dir => {
                if let Some(id) = existing.filter(|&id| self.children(id).is_some()) {
                    let dir = self.node_mut(id);
                    dir.mode = member.mode;
                    dir.mtime = member.mtime;
                    return Ok(());
                }
                self.push(node(NodeKind::Dir(BTreeMap::new())))
            }
            // Replacing pushes a new node rather than rewriting the old one: the old one may have other names
            // (hard links) that must keep their contents.
            MemberKind::File(range) => self.push(node(NodeKind::File(range))),
            MemberKind::Symlink(target) => self.push(node(NodeKind::Symlink(target.into()))),
            MemberKind::HardLink(target) => {
                let id = self.lookup_member(&target)?;
                if self.children(id).is_some() {
                    return Err(ErrorCode::InvalidArchive);
                }
                id
            }
        };
        let NodeKind::Dir(children) = &mut self.node_mut(parent).kind else {
            unreachable!("make_dirs returns directories");
        };
        children.insert((*name).into(), id);
        Ok(())
    }

    /// The directory at `dirs` below the root, creating any that are missing. A component that exists but is
    /// not a directory (a file, or a symlink the member would be extracted through) makes the archive invalid:
    /// the member's place in the tree would be ambiguous.
    fn make_dirs(&mut self, dirs: &[&str]) -> Result<NodeId, ErrorCode> {
        let mut current = self.root();
        for &name in dirs {
            let NodeKind::Dir(children) = &self.node(current).kind else {
                return Err(ErrorCode::InvalidArchive);
            };
            current = match children.get(name) {
                Some(&child) => child,
                None => {
                    let child = self.push(Node {
                        parent: Some(current),
                        mode: IMPLIED_DIR_MODE,
                        mtime: 0,
                        kind: NodeKind::Dir(BTreeMap::new()),
                    });
                    let NodeKind::Dir(children) = &mut self.node_mut(current).kind else {
                        unreachable!("checked above");
                    };
                    children.insert(name.into(), child);
                    child
                }
            };
        }
        match self.node(current).kind {
            NodeKind::Dir(_) => Ok(current),
            _ => Err(ErrorCode::InvalidArchive),
        }
    }

    /// The node an earlier member named `name` became, looked up by name only (no symlinks followed, like the
    /// stored names themselves). A hard link to a member that is not in the archive makes the archive invalid.
    fn lookup_member(&self, name: &str) -> Result<NodeId, ErrorCode> {
        let mut current = self.root();
        for component in member_components(name)? {
            current = *self
                .children(current)
                .and_then(|children| children.get(component))
                .ok_or(ErrorCode::InvalidArchive)?;
        }
        Ok(current)
    }
}

impl Member {
    /// Read what the index needs from one entry; `None` for entries that are not tree members.
    fn read(
        mut entry: tar::Entry<'_, Cursor<&[u8]>>,
        data_len: usize,
    ) -> Result<Option<Member>, ErrorCode> {
        // Every entry's data, whatever its type, must lie inside the archive, padding included: a header claiming
        // more than there is means the archive was truncated (GNU tar calls this an unexpected EOF too).
        let start = entry.raw_file_position();
        let end = start
            .checked_add(entry.size())
            .ok_or(ErrorCode::InvalidArchive)?;
        let padded_end = end
            .checked_next_multiple_of(512)
            .ok_or(ErrorCode::InvalidArchive)?;
        if padded_end > data_len as u64 {
            return Err(ErrorCode::InvalidArchive);
        }
        let range = start as usize..end as usize;

        let type_flag = entry.header().entry_type().as_byte();
        if let b'g' | b'V' = type_flag {
            return Ok(None);
        }
        let mut pax_mtime = None;
        if let Some(extensions) = entry.pax_extensions().map_err(invalid)? {
            for extension in extensions {
                let extension = extension.map_err(invalid)?;
                let key = extension.key_bytes();
                if key.starts_with(b"GNU.sparse.") {
                    // pax-format sparse files store a block map inside the data; serving the raw data would be
                    // wrong contents.
                    return Err(ErrorCode::InvalidArchive);
                }
                if key == b"mtime" {
                    pax_mtime = parse_pax_time(extension.value_bytes());
                }
            }
        }

        let header = entry.header();
        let mode = header.mode().map_err(invalid)? & 0o777;
        let mtime = match pax_mtime {
            Some(mtime) => mtime,
            None => header.mtime().map_err(invalid)?,
        };
        let name = utf8(entry.path_bytes().into_owned())?;
        let link_name = || -> Result<String, ErrorCode> {
            let bytes = entry.link_name_bytes().ok_or(ErrorCode::InvalidArchive)?;
            let target = utf8(bytes.into_owned())?;
            // An empty target names nothing (Linux refuses to create such a link), and NUL cannot be in a path.
            if target.is_empty() || target.contains('\0') {
                return Err(ErrorCode::InvalidArchive);
            }
            Ok(target)
        };
        let kind = match type_flag {
            // Pre-POSIX archives mark directories only by a trailing `/` on a regular entry.
            b'0' | b'\0' if name.ends_with('/') => MemberKind::Dir,
            b'0' | b'\0' | b'7' => MemberKind::File(range),
            b'5' => MemberKind::Dir,
            b'2' => MemberKind::Symlink(link_name()?),
            b'1' => MemberKind::HardLink(link_name()?),
            _ => return Err(ErrorCode::InvalidArchive),
        };
        Ok(Some(Member {
            name,
            mode,
            mtime,
            kind,
        }))
    }
}

/// Names are required to be UTF-8: paths reach us as WIT strings, so a name that is not UTF-8 could never be
/// looked up.
fn utf8(bytes: Vec<u8>) -> Result<String, ErrorCode> {
    String::from_utf8(bytes).map_err(|_| ErrorCode::InvalidArchive)
}

/// A pax time (`1700000000.5`, possibly negative) as whole seconds; times before the epoch become 0 and an
/// unparseable value is ignored in favour of the header's.
fn parse_pax_time(value: &[u8]) -> Option<u64> {
    let value = std::str::from_utf8(value).ok()?;
    let seconds = value.split('.').next()?;
    let seconds: i64 = seconds.parse().ok()?;
    Some(seconds.max(0) as u64)
}

/// Every failure of the tar parser means the same thing to the caller.
fn invalid(_: std::io::Error) -> ErrorCode {
    ErrorCode::InvalidArchive
}
