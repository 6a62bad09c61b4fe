//! The generated `tarfs` host traits, implemented over [`Archive`]s kept in a [`ResourceTable`].
//!
//! This file only translates: handles to archives, the crate's values to their generated twins. Imports are not
//! trappable, so nothing here may panic on guest input; a handle the table cannot produce is reported as
//! `invalid-archive` (wasmtime validates handles before the call, so that means a host bug).

use wasmtime::component::{HasData, Resource, ResourceTable};

use super::{Archive, ErrorCode};
use crate::bindings::tarfs as wit;
use crate::bindings::tarfs::{Host, HostArchive};

/// What the `tarfs` host traits need from the embedder: the table that owns open archives.
pub struct TarfsView<'a> {
    /// Where `archive` resources live while a guest holds them.
    pub table: &'a mut ResourceTable,
}

/// The [`HasData`] marker for `add_to_linker`: it projects the store's data to a [`TarfsView`].
pub struct Tarfs;

impl HasData for Tarfs {
    type Data<'a> = TarfsView<'a>;
}

impl TarfsView<'_> {
    fn archive(&self, handle: &Resource<Archive>) -> Result<&Archive, ErrorCode> {
        self.table.get(handle).map_err(|error| {
            tracing::error!(%error, "tarfs: archive handle missing from the resource table");
            ErrorCode::InvalidArchive
        })
    }
}

impl Host for TarfsView<'_> {}

impl HostArchive for TarfsView<'_> {
    fn open(&mut self, data: Vec<u8>) -> Result<Resource<Archive>, wit::ErrorCode> {
        let archive = Archive::open(data).map_err(error)?;
        // Only a full table (the embedder's `set_max_capacity`) fails here. The import cannot trap, and
        // `invalid-archive` is the one code that tells the guest this archive cannot be used.
        self.table.push(archive).map_err(|error| {
            tracing::warn!(%error, "tarfs: cannot store an opened archive");
            wit::ErrorCode::InvalidArchive
        })
    }

    fn stat(&mut self, archive: Resource<Archive>, path: String) -> Result<wit::Stat, wit::ErrorCode> {
        self.archive(&archive).and_then(|a| a.stat(&path)).map(stat).map_err(error)
    }

    fn lstat(&mut self, archive: Resource<Archive>, path: String) -> Result<wit::Stat, wit::ErrorCode> {
        self.archive(&archive).and_then(|a| a.lstat(&path)).map(stat).map_err(error)
    }

    fn read_dir(
        &mut self,
        archive: Resource<Archive>,
        path: String,
    ) -> Result<Vec<wit::DirEntry>, wit::ErrorCode> {
        let entries = self.archive(&archive).and_then(|a| a.read_dir(&path)).map_err(error)?;
        Ok(entries.into_iter().map(dir_entry).collect())
    }

    fn read(
        &mut self,
        archive: Resource<Archive>,
        path: String,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, wit::ErrorCode> {
        self.archive(&archive).and_then(|a| a.read(&path, offset, len)).map_err(error)
    }

    fn read_link(&mut self, archive: Resource<Archive>, path: String) -> Result<String, wit::ErrorCode> {
        self.archive(&archive).and_then(|a| a.read_link(&path)).map_err(error)
    }

    fn drop(&mut self, archive: Resource<Archive>) -> wasmtime::Result<()> {
        self.table.delete(archive)?;
        Ok(())
    }
}

pyworkers_tarfs::convert_values!(from pyworkers_tarfs to wit);
