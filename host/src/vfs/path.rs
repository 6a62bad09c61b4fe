//! Lexical path handling: the guest's paths become a list of plain components before any file system sees them.

use super::errno::{Errno, Result};

/// Longest path the guest may pass (Linux's `PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// Join `path` onto `base` (an absolute, normalised directory) unless it is absolute, then normalise: drop empty and
/// `.` components, apply `..` lexically (`..` at `/` stays at `/`, as POSIX does). The result starts with `/`.
pub fn absolute(base: &str, path: &str) -> Result<String> {
    if path.len() > PATH_MAX {
        return Err(Errno::NAMETOOLONG);
    }
    if path.contains('\0') {
        return Err(Errno::INVAL);
    }
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

/// The components of a normalised absolute path.
pub fn components(path: &str) -> impl Iterator<Item = &str> {
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
    }
}
