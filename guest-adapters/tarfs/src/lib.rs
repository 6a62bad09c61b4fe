//! `pyworkers:runtime/tarfs` as a component: the `pyworkers-tarfs` crate behind the `tarfs-provider` world.
//!
//! The archive reaches the component the way the interface says: the importer hands its bytes to
//! `archive.open(data)`, and the component indexes them into its own memory. So it imports no `wasi:filesystem`
//! and embeds nothing (see `guest-adapters/README.md` for why). This file only converts the crate's values to
//! the generated ones; behaviour lives in the crate.

use exports::pyworkers::runtime::tarfs::{self as wit, Guest, GuestArchive};
use pyworkers_tarfs::{DirEntry, EntryKind, ErrorCode, Stat};

wit_bindgen::generate!({
    path: "../../wit",
    world: "tarfs-provider",
});

struct Component;

impl Guest for Component {
    type Archive = Archive;
}

/// One opened archive: the resource's representation.
struct Archive(pyworkers_tarfs::Archive);

impl GuestArchive for Archive {
    fn open(data: Vec<u8>) -> Result<wit::Archive, wit::ErrorCode> {
        let archive = pyworkers_tarfs::Archive::open(data).map_err(wit_error)?;
        Ok(wit::Archive::new(Archive(archive)))
    }

    fn stat(&self, path: String) -> Result<wit::Stat, wit::ErrorCode> {
        self.0.stat(&path).map(wit_stat).map_err(wit_error)
    }

    fn lstat(&self, path: String) -> Result<wit::Stat, wit::ErrorCode> {
        self.0.lstat(&path).map(wit_stat).map_err(wit_error)
    }

    fn read_dir(&self, path: String) -> Result<Vec<wit::DirEntry>, wit::ErrorCode> {
        let entries = self.0.read_dir(&path).map_err(wit_error)?;
        Ok(entries.into_iter().map(wit_dir_entry).collect())
    }

    fn read(&self, path: String, offset: u64, len: u64) -> Result<Vec<u8>, wit::ErrorCode> {
        self.0.read(&path, offset, len).map_err(wit_error)
    }

    fn read_link(&self, path: String) -> Result<String, wit::ErrorCode> {
        self.0.read_link(&path).map_err(wit_error)
    }
}

fn wit_error(code: ErrorCode) -> wit::ErrorCode {
    match code {
        ErrorCode::NotFound => wit::ErrorCode::NotFound,
        ErrorCode::NotADirectory => wit::ErrorCode::NotADirectory,
        ErrorCode::IsADirectory => wit::ErrorCode::IsADirectory,
        ErrorCode::EscapesRoot => wit::ErrorCode::EscapesRoot,
        ErrorCode::TooManyLinks => wit::ErrorCode::TooManyLinks,
        ErrorCode::InvalidPath => wit::ErrorCode::InvalidPath,
        ErrorCode::InvalidArchive => wit::ErrorCode::InvalidArchive,
    }
}

fn wit_kind(kind: EntryKind) -> wit::EntryKind {
    match kind {
        EntryKind::File => wit::EntryKind::File,
        EntryKind::Directory => wit::EntryKind::Directory,
        EntryKind::Symlink => wit::EntryKind::Symlink,
    }
}

fn wit_stat(stat: Stat) -> wit::Stat {
    let Stat { kind, size, mode, mtime, ino } = stat;
    wit::Stat { kind: wit_kind(kind), size, mode, mtime, ino }
}

fn wit_dir_entry(entry: DirEntry) -> wit::DirEntry {
    let DirEntry { name, kind, ino } = entry;
    wit::DirEntry { name, kind: wit_kind(kind), ino }
}

export!(Component);
