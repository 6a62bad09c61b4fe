//! Paths inside an archive: resolving a caller's path to a node, and placing a member's name at index time.
//!
//! This file owns the rule that nothing ever leaves the archive root. `..` is resolved against the directory the
//! walk has actually reached (after following symlinks), so it can only climb to the root and stops there with
//! `escapes-root`; symlink targets are never re-rooted, so an absolute target is an escape too. It must never
//! answer with a node that a walk could only reach by going above the root.

use crate::index::Index;
use crate::{ErrorCode, NodeId};

/// The longest path accepted, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;

/// The most symlinks followed while resolving one path (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINK_HOPS: u32 = 40;

/// Check a caller's path as raw bytes and view it as a `str`: guests hand over bytes, and a path that is not
/// UTF-8 cannot name any entry (archive names are required to be UTF-8 at index time).
pub fn path_from_bytes(path: &[u8]) -> Result<&str, ErrorCode> {
    let path = std::str::from_utf8(path).map_err(|_| ErrorCode::InvalidPath)?;
    check(path)?;
    Ok(path)
}

/// Reject paths no walk should see: an embedded NUL (a C caller would have cut the path there, so the two sides
/// would disagree about which file is meant) and over-long paths (bounded work per call).
fn check(path: &str) -> Result<(), ErrorCode> {
    if path.len() > MAX_PATH_LEN || path.contains('\0') {
        return Err(ErrorCode::InvalidPath);
    }
    Ok(())
}

/// Walk `path` from the root of `index`. `follow` says whether a final symlink is followed; symlinks anywhere
/// else are always followed.
pub(super) fn resolve(index: &Index, path: &str, follow: bool) -> Result<NodeId, ErrorCode> {
    check(path)?;
    // Components still to walk, next one last. Following a symlink pushes its target's components, so the walk
    // needs no recursion and the hop count bounds both time and this stack.
    let mut pending = Vec::new();
    push_components(&mut pending, path);
    let mut current = index.root();
    let mut hops = 0;
    while let Some(component) = pending.pop() {
        // Invariant: `current` is never a symlink while components remain, so "not a directory" is exact.
        let children = index.children(current).ok_or(ErrorCode::NotADirectory)?;
        match component {
            "." => {}
            ".." => current = index.parent(current).ok_or(ErrorCode::EscapesRoot)?,
            name => {
                let child = *children.get(name).ok_or(ErrorCode::NotFound)?;
                match index.link_target(child) {
                    Some(target) if follow || !pending.is_empty() => {
                        hops += 1;
                        if hops > MAX_SYMLINK_HOPS {
                            return Err(ErrorCode::TooManyLinks);
                        }
                        if target.starts_with('/') {
                            // Re-rooting `/etc/passwd` at the archive root would silently serve a different file
                            // than the one the link names; refusing is the only answer that is never wrong.
                            return Err(ErrorCode::EscapesRoot);
                        }
                        if target.is_empty() {
                            // The index refuses empty targets; were one to slip through, pushing nothing would
                            // silently resolve the link to its own directory.
                            return Err(ErrorCode::NotFound);
                        }
                        // The target is relative to the link's directory, which is still `current`.
                        push_components(&mut pending, target);
                    }
                    _ => current = child,
                }
            }
        }
    }
    Ok(current)
}

/// Push the components of `path` onto `pending` so that its first component is popped first. Empty components
/// (leading, doubled or trailing `/`) are dropped; a trailing `/` becomes a trailing `.` so that, as in POSIX,
/// `name/` must be a directory and a final symlink before it is followed.
fn push_components<'a>(pending: &mut Vec<&'a str>, path: &'a str) {
    if path.ends_with('/') && path.bytes().any(|b| b != b'/') {
        pending.push(".");
    }
    pending.extend(path.split('/').filter(|c| !c.is_empty()).rev());
}

/// The components of an archive member's name, relative to the root: a leading `/`, empty components and `.`
/// are dropped and `..` is applied lexically. A name that climbs above the root (`../evil`, `a/../../x`) makes
/// the whole archive invalid rather than being skipped: such an entry is either corrupt or hostile, and quietly
/// dropping it would turn an attack into a puzzling `not-found` later.
pub(super) fn member_components(name: &str) -> Result<Vec<&str>, ErrorCode> {
    if name.contains('\0') {
        return Err(ErrorCode::InvalidArchive);
    }
    let mut components = Vec::new();
    for component in name.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                components.pop().ok_or(ErrorCode::InvalidArchive)?;
            }
            name => components.push(name),
        }
    }
    Ok(components)
}
