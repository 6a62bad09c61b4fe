//! `pyworkers:runtime/tarfs` as a component: the `pyworkers-tarfs` crate behind the `tarfs-provider` world.
//!
//! The archive reaches the component the way the interface says: the importer hands its bytes to
//! `archive.open(data)`, and the component indexes them into its own memory. So it imports no `wasi:filesystem`
//! and embeds nothing (see `guest-adapters/README.md` for why). This file only converts the crate's values to
//! the generated ones; behaviour lives in the crate.

use exports::pyworkers::runtime::tarfs::{self as wit, Guest, GuestArchive};

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
        let archive = pyworkers_tarfs::Archive::open(data).map_err(error)?;
        Ok(wit::Archive::new(Archive(archive)))
    }

    fn stat(&self, path: String) -> Result<wit::Stat, wit::ErrorCode> {
        self.0.stat(&path).map(stat).map_err(error)
    }

    fn lstat(&self, path: String) -> Result<wit::Stat, wit::ErrorCode> {
        self.0.lstat(&path).map(stat).map_err(error)
    }

    fn read_dir(&self, path: String) -> Result<Vec<wit::DirEntry>, wit::ErrorCode> {
        let entries = self.0.read_dir(&path).map_err(error)?;
        Ok(entries.into_iter().map(dir_entry).collect())
    }

    fn read(&self, path: String, offset: u64, len: u64) -> Result<Vec<u8>, wit::ErrorCode> {
        self.0.read(&path, offset, len).map_err(error)
    }

    fn read_link(&self, path: String) -> Result<String, wit::ErrorCode> {
        self.0.read_link(&path).map_err(error)
    }
}

pyworkers_tarfs::convert_values!(from pyworkers_tarfs to wit);


export!(Component);
