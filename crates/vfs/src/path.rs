//! Guest paths: lexical helpers, and the walk that resolves a path through the mount table.
//!
//! Resolution is POSIX's: one component at a time from the root, a symlink replaced by its target where it is
//! met, `..` climbing from the directory actually reached (so `/tmp/link/..` is the link target's parent, not
//! `/tmp`), at most [`MAX_LINK_HOPS`] links per path. Lexical normalisation ([`absolute`]) is only for paths the
//! host chooses, such as mount points; guest paths are never normalised before the walk.

use super::backend::NodeKind;
use super::errno::{Errno, Result};
use super::mounts::NodeRef;
use super::Vfs;

/// Most symlinks followed while resolving one path (Linux's limit); more is `ELOOP`.
pub const MAX_LINK_HOPS: u32 = 40;

/// Longest name of one component (Linux's `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// Longest path the guest may pass (Linux's `PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// Join `path` onto `base` (an absolute, normalised directory) unless it is absolute, then normalise: drop empty and
/// `.` components, apply `..` lexically (`..` at `/` stays at `/`, as POSIX does). The result starts with `/`.
pub fn absolute(base: &str, path: &str) -> Result<String> {
    check(path)?;
    let mut parts: Vec<&str> = Vec::new();
    let joined = if path.starts_with('/') {
        None
    } else {
        Some(base)
    };
    for part in joined
        .into_iter()
        .flat_map(|b| b.split('/'))
        .chain(path.split('/'))
    {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let mut out = String::with_capacity(path.len() + base.len() + 1);
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// `path` made absolute against `base` (an absolute directory) by joining, without normalising anything: the
/// walk gives `.`, `..` and symlinks their meaning.
pub fn join(base: &str, path: &str) -> Result<String> {
    check(path)?;
    if path.starts_with('/') {
        return Ok(path.to_string());
    }
    let mut out = String::with_capacity(base.len() + 1 + path.len());
    out.push_str(base);
    if !base.ends_with('/') {
        out.push('/');
    }
    out.push_str(path);
    Ok(out)
}

fn check(path: &str) -> Result<()> {
    if path.len() > PATH_MAX {
        return Err(Errno::NAMETOOLONG);
    }
    if path.contains('\0') {
        return Err(Errno::INVAL);
    }
    Ok(())
}

/// The components of a path (empty ones dropped).
pub fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|p| !p.is_empty())
}

/// Split a normalised absolute path into its parent and final name; `/` has no final name.
pub fn split_last(path: &str) -> Option<(&str, &str)> {
    let idx = path.rfind('/')?;
    let name = &path[idx + 1..];
    if name.is_empty() {
        return None;
    }
    Some((if idx == 0 { "/" } else { &path[..idx] }, name))
}

/// If `path` lies at or below `prefix` (both normalised), the rest of `path` relative to `prefix`.
pub fn strip_mount<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix == "/" {
        return Some(path.trim_start_matches('/'));
    }
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

/// A path resolved to a node.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The node.
    pub node: NodeRef,
    /// Its type.
    pub kind: NodeKind,
    /// The path that names it with no symlink or `..` left: what `realpath` answers.
    pub path: String,
}

/// A directory the walk has entered; `path_len` is the length of the physical path up to and including it.
struct Step {
    node: NodeRef,
    kind: NodeKind,
    path_len: usize,
}

impl Vfs {
    /// Resolve an absolute path to a node; `follow` says whether a final symlink is followed.
    pub fn resolve(&self, abs: &str, follow: bool) -> Result<NodeRef> {
        Ok(self.walk(abs, follow)?.node)
    }

    /// Resolve an absolute path to a node and its physical path.
    pub fn walk(&self, abs: &str, follow: bool) -> Result<Resolved> {
        if !abs.starts_with('/') {
            return Err(Errno::INVAL);
        }
        let mut phys = String::new();
        let mut stack = vec![Step {
            node: self.mount_root(0),
            kind: NodeKind::Dir,
            path_len: 0,
        }];
        // Components still to walk, next one last. `Some(m)` marks a component from the target of a link in
        // mount `m` whose backend confines its links: its `..` may not climb out of that mount.
        let mut pending: Vec<(&str, Option<usize>)> = Vec::new();
        if abs.ends_with('/') {
            pending.push((".", None)); // a trailing slash asks for a directory, through a final link
        }
        pending.extend(components(abs).rev().map(|c| (c, None)));
        let mut hops = 0;
        while let Some((name, confined_to)) = pending.pop() {
            let cur = stack.last().expect("the walk never pops the root");
            if cur.kind != NodeKind::Dir {
                return Err(Errno::NOTDIR);
            }
            match name {
                "." => {}
                ".." => {
                    if let Some(m) = confined_to {
                        if cur.node == self.mount_root(m) {
                            return Err(Errno::ACCES);
                        }
                    }
                    if stack.len() > 1 {
                        stack.pop();
                        phys.truncate(stack.last().map_or(0, |s| s.path_len));
                    }
                }
                name => {
                    if name.len() > NAME_MAX {
                        return Err(Errno::NAMETOOLONG);
                    }
                    let dir = cur.node;
                    let before = phys.len();
                    phys.push('/');
                    phys.push_str(name);
                    let node = match self.mount_at(&phys) {
                        Some(m) => self.mount_root(m),
                        None => {
                            let (backend, id) = self.backend_of(dir)?;
                            let child = backend.lookup(id, name)?;
                            let (mount, _) = dir.mount_node().ok_or(Errno::NOTDIR)?;
                            self.node_ref(mount, child)
                        }
                    };
                    let (backend, id) = self.backend_of(node)?;
                    let kind = backend.kind(id)?;
                    if kind == NodeKind::Symlink && (follow || !pending.is_empty()) {
                        hops += 1;
                        if hops > MAX_LINK_HOPS {
                            return Err(Errno::LOOP);
                        }
                        let target = backend.read_link(id)?;
                        if target.is_empty() {
                            return Err(Errno::NOENT);
                        }
                        let (mount, _) = node.mount_node().ok_or(Errno::INVAL)?;
                        let confine = backend.confines_links().then_some(mount);
                        phys.truncate(before);
                        if target.starts_with('/') {
                            if confine.is_some() {
                                return Err(Errno::ACCES); // tarfs never re-roots an absolute target
                            }
                            stack.truncate(1);
                            phys.clear();
                        }
                        if target.ends_with('/') {
                            pending.push((".", confine));
                        }
                        pending.extend(components(target).rev().map(|c| (c, confine)));
                        continue;
                    }
                    stack.push(Step {
                        node,
                        kind,
                        path_len: phys.len(),
                    });
                }
            }
        }
        let top = stack.last().expect("the walk never pops the root");
        if phys.is_empty() {
            phys.push('/');
        }
        Ok(Resolved {
            node: top.node,
            kind: top.kind,
            path: phys,
        })
    }

    /// For creating or removing `abs`: its parent directory, resolved (symlinks followed), and the final name.
    /// The name is empty for `/` and may be `.` or `..`; callers refuse those as their call requires.
    pub fn walk_parent<'p>(&self, abs: &'p str) -> Result<(Resolved, &'p str)> {
        let trimmed = abs.trim_end_matches('/');
        let (parent, name) = match trimmed.rfind('/') {
            Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
            None => ("", trimmed),
        };
        let parent = if parent.is_empty() { "/" } else { parent };
        Ok((self.walk(parent, true)?, name))
    }
}

/// `dir` (a physical path) joined with one more component.
pub(super) fn child(dir: &str, name: &str) -> String {
    let mut out = String::with_capacity(dir.len() + 1 + name.len());
    out.push_str(dir.trim_end_matches('/'));
    out.push('/');
    out.push_str(name);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        assert_eq!(absolute("/home/u", "x/../y/./z").unwrap(), "/home/u/y/z");
        assert_eq!(absolute("/home/u", "../../../../etc").unwrap(), "/etc");
        assert_eq!(absolute("/a", "/b//c/").unwrap(), "/b/c");
        assert_eq!(absolute("/", "").unwrap(), "/");
        assert_eq!(absolute("/", "a\0b"), Err(Errno::INVAL));
        assert_eq!(split_last("/a/b"), Some(("/a", "b")));
        assert_eq!(split_last("/a"), Some(("/", "a")));
        assert_eq!(split_last("/"), None);
        assert_eq!(strip_mount("/lib/x/y", "/lib"), Some("x/y"));
        assert_eq!(strip_mount("/libx", "/lib"), None);
        assert_eq!(strip_mount("/lib", "/lib"), Some(""));
        assert_eq!(strip_mount("/a/b", "/"), Some("a/b"));
        assert_eq!(join("/home/u", "../x").unwrap(), "/home/u/../x");
        assert_eq!(join("/", "x").unwrap(), "/x");
        assert_eq!(join("/a", "/b/../c").unwrap(), "/b/../c");
        assert_eq!(child("/", "x"), "/x");
        assert_eq!(child("/a", "x"), "/a/x");
    }
}
