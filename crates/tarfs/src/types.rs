//! The values of `wit/tarfs.wit` as plain Rust: what [`Archive`](crate::Archive) answers with.
//!
//! They are written out here rather than generated so this crate needs no binding generator; each side of a
//! component boundary (wasmtime's `bindgen!` in the host, `wit-bindgen` in the guest adapter) converts them to its
//! generated twins, and those conversions are checked by the conformance suites.

#[cfg(doc)]
use crate::{MAX_PATH_LEN, MAX_SYMLINK_HOPS};

/// Why an operation failed (WIT `error-code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No entry at this path.
    NotFound,
    /// A path component that must be a directory is not one.
    NotADirectory,
    /// The operation needs a file but the path names a directory.
    IsADirectory,
    /// The path tries to leave the archive root (`..` above the root, or a symlink pointing outside).
    EscapesRoot,
    /// Too many symbolic links were followed while resolving the path (more than [`MAX_SYMLINK_HOPS`]).
    TooManyLinks,
    /// The path is not valid (a NUL byte, not UTF-8, longer than [`MAX_PATH_LEN`]), or `read-link` of an entry
    /// that is not a symlink.
    InvalidPath,
    /// The archive is truncated, corrupt, or uses an unsupported entry type.
    InvalidArchive,
}

impl ErrorCode {
    /// Every code, in WIT order: for exhaustive conversions and tests.
    pub const ALL: [ErrorCode; 7] = [
        ErrorCode::NotFound,
        ErrorCode::NotADirectory,
        ErrorCode::IsADirectory,
        ErrorCode::EscapesRoot,
        ErrorCode::TooManyLinks,
        ErrorCode::InvalidPath,
        ErrorCode::InvalidArchive,
    ];
}

impl std::fmt::Display for ErrorCode {
    /// The WIT case name (`not-found`), as error messages and conformance reports print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErrorCode::NotFound => "not-found",
            ErrorCode::NotADirectory => "not-a-directory",
            ErrorCode::IsADirectory => "is-a-directory",
            ErrorCode::EscapesRoot => "escapes-root",
            ErrorCode::TooManyLinks => "too-many-links",
            ErrorCode::InvalidPath => "invalid-path",
            ErrorCode::InvalidArchive => "invalid-archive",
        })
    }
}

impl std::error::Error for ErrorCode {}

/// What an entry is (WIT `entry-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
}

/// Metadata of one entry (WIT `stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// What the entry is.
    pub kind: EntryKind,
    /// Size in bytes (0 for directories, the target's length for symlinks).
    pub size: u64,
    /// Permission bits from the header (`0o777` mask).
    pub mode: u32,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: u64,
    /// A number unique to this entry within the archive, stable for the archive's lifetime.
    pub ino: u64,
}

/// One name in a directory listing (WIT `dir-entry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name within its directory.
    pub name: String,
    /// What the entry is.
    pub kind: EntryKind,
    /// The entry's inode number, as [`Stat::ino`].
    pub ino: u64,
}

/// Conversion functions between two modules holding the WIT's `tarfs` values under their WIT names
/// (`ErrorCode`, `EntryKind`, `Stat`, `DirEntry`), such as this crate and the types a binding generator made.
/// Generated types mirror the WIT exactly, so every conversion is a rename; writing it once here keeps the
/// host's, the guest adapter's and the conformance driver's conversions from drifting apart.
///
/// `convert_values!(from a::b to c::d)` defines private `error`, `kind`, `stat` and `dir_entry` functions.
#[macro_export]
macro_rules! convert_values {
    (from $($from:ident)::+ to $($to:ident)::+) => {
        fn error(code: $($from)::+::ErrorCode) -> $($to)::+::ErrorCode {
            use $($from)::+::ErrorCode as From;
            use $($to)::+::ErrorCode as To;
            match code {
                From::NotFound => To::NotFound,
                From::NotADirectory => To::NotADirectory,
                From::IsADirectory => To::IsADirectory,
                From::EscapesRoot => To::EscapesRoot,
                From::TooManyLinks => To::TooManyLinks,
                From::InvalidPath => To::InvalidPath,
                From::InvalidArchive => To::InvalidArchive,
            }
        }

        fn kind(kind: $($from)::+::EntryKind) -> $($to)::+::EntryKind {
            use $($from)::+::EntryKind as From;
            use $($to)::+::EntryKind as To;
            match kind {
                From::File => To::File,
                From::Directory => To::Directory,
                From::Symlink => To::Symlink,
            }
        }

        #[allow(dead_code)] // not every side converts every value
        fn stat(stat: $($from)::+::Stat) -> $($to)::+::Stat {
            let $($from)::+::Stat { kind: k, size, mode, mtime, ino } = stat;
            $($to)::+::Stat { kind: kind(k), size, mode, mtime, ino }
        }

        #[allow(dead_code)]
        fn dir_entry(entry: $($from)::+::DirEntry) -> $($to)::+::DirEntry {
            let $($from)::+::DirEntry { name, kind: k, ino } = entry;
            $($to)::+::DirEntry { name, kind: kind(k), ino }
        }
    };
}
