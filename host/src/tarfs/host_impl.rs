//! The generated `tarfs` host traits, implemented over [`Archive`]s kept in a [`ResourceTable`].
//!
//! This file only translates: handles to archives, `list<u8>` to `Arc<[u8]>`. Behaviour lives in [`Archive`].
//! Imports are not trappable, so nothing here may panic on guest input; a handle the table cannot produce is
//! reported as `invalid-archive` (wasmtime validates handles before the call, so that means a host bug).

use wasmtime::component::{HasData, Resource, ResourceTable};

use super::{Archive, DirEntry, ErrorCode, Stat};
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
    fn open(&mut self, data: Vec<u8>) -> Result<Resource<Archive>, ErrorCode> {
        let archive = Archive::open(data)?;
        // Only a full table (the embedder's `set_max_capacity`) fails here. The import cannot trap, and
        // `invalid-archive` is the one code that tells the guest this archive cannot be used.
        self.table.push(archive).map_err(|error| {
            tracing::warn!(%error, "tarfs: cannot store an opened archive");
            ErrorCode::InvalidArchive
        })
    }

    fn stat(&mut self, archive: Resource<Archive>, path: String) -> Result<Stat, ErrorCode> {
        self.archive(&archive)?.stat(&path)
    }

    fn lstat(&mut self, archive: Resource<Archive>, path: String) -> Result<Stat, ErrorCode> {
        self.archive(&archive)?.lstat(&path)
    }

    fn read_dir(
        &mut self,
        archive: Resource<Archive>,
        path: String,
    ) -> Result<Vec<DirEntry>, ErrorCode> {
        self.archive(&archive)?.read_dir(&path)
    }

    fn read(
        &mut self,
        archive: Resource<Archive>,
        path: String,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, ErrorCode> {
        self.archive(&archive)?.read(&path, offset, len)
    }

    fn read_link(&mut self, archive: Resource<Archive>, path: String) -> Result<String, ErrorCode> {
        self.archive(&archive)?.read_link(&path)
    }

    fn drop(&mut self, archive: Resource<Archive>) -> wasmtime::Result<()> {
        self.table.delete(archive)?;
        Ok(())
    }
}
