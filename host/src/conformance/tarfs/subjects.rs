//! The implementations the `tarfs` suite drives: the native archives through the generated host traits over a
//! resource table (exactly what a component importing `tarfs` reaches), and a component through its exports.

use anyhow::Result;
use wasmtime::component::{Resource, ResourceAny, ResourceTable};
use wasmtime::Store;

use super::{Answer, ArchiveId, DirEntry, Stat, Tarfs};
use crate::bindings::tarfs::HostArchive;
use crate::conformance::component::{ComponentFile, State};
use crate::tarfs::{Archive, TarfsView};

mod bindings {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({ path: "../wit", world: "tarfs-provider" });
}

use bindings::exports::pyworkers::runtime::tarfs as export;

/// A fresh native instance: an empty resource table.
pub fn native() -> Box<dyn Tarfs> {
    Box::new(Native(ResourceTable::new()))
}

struct Native(ResourceTable);

impl Native {
    fn view(&mut self) -> TarfsView<'_> {
        TarfsView { table: &mut self.0 }
    }
}

/// A borrow of the archive behind `id`, as wasmtime hands one to a host function.
fn borrow(id: ArchiveId) -> Resource<Archive> {
    Resource::new_borrow(id.0)
}

impl Tarfs for Native {
    fn open(&mut self, data: Vec<u8>) -> Answer<ArchiveId> {
        Ok(HostArchive::open(&mut self.view(), data).map(|handle| ArchiveId(handle.rep())))
    }

    fn stat(&mut self, archive: ArchiveId, path: &str) -> Answer<Stat> {
        Ok(HostArchive::stat(&mut self.view(), borrow(archive), path.into()))
    }

    fn lstat(&mut self, archive: ArchiveId, path: &str) -> Answer<Stat> {
        Ok(HostArchive::lstat(&mut self.view(), borrow(archive), path.into()))
    }

    fn read_dir(&mut self, archive: ArchiveId, path: &str) -> Answer<Vec<DirEntry>> {
        Ok(HostArchive::read_dir(&mut self.view(), borrow(archive), path.into()))
    }

    fn read(&mut self, archive: ArchiveId, path: &str, offset: u64, len: u64) -> Answer<Vec<u8>> {
        Ok(HostArchive::read(&mut self.view(), borrow(archive), path.into(), offset, len))
    }

    fn read_link(&mut self, archive: ArchiveId, path: &str) -> Answer<String> {
        Ok(HostArchive::read_link(&mut self.view(), borrow(archive), path.into()))
    }

    fn close(&mut self, archive: ArchiveId) -> Result<()> {
        Ok(HostArchive::drop(&mut self.view(), Resource::new_own(archive.0))?)
    }
}

/// Makes instances of one `tarfs-provider` component.
pub struct ComponentTarfs<'a> {
    file: &'a ComponentFile,
    pre: bindings::TarfsProviderPre<State>,
}

/// Link `file` as a `tarfs-provider`; fails if it does not export `tarfs` with the WIT's types.
pub fn component(file: &ComponentFile) -> Result<ComponentTarfs<'_>> {
    let pre = bindings::TarfsProviderPre::new(file.pre()?).map_err(|e| file.not_a("tarfs-provider", e))?;
    Ok(ComponentTarfs { file, pre })
}

impl ComponentTarfs<'_> {
    /// A fresh instance in a fresh store.
    pub fn instantiate(&self) -> Result<Box<dyn Tarfs>> {
        let mut store = self.file.store();
        let instance = self.pre.instantiate(&mut store)?;
        Ok(Box::new(Instance { store, instance, archives: Vec::new() }))
    }
}

struct Instance {
    store: Store<State>,
    instance: bindings::TarfsProvider,
    /// Open handles; an [`ArchiveId`] is an index here.
    archives: Vec<Option<ResourceAny>>,
}

impl Instance {
    fn handle(&self, id: ArchiveId) -> Result<ResourceAny> {
        let handle = self.archives.get(id.0 as usize).copied().flatten();
        handle.ok_or_else(|| anyhow::anyhow!("the suite used archive {} after closing it", id.0))
    }
}

impl Tarfs for Instance {
    fn open(&mut self, data: Vec<u8>) -> Answer<ArchiveId> {
        let opened = self.instance.pyworkers_runtime_tarfs().archive().call_open(&mut self.store, &data)?;
        Ok(opened.map_err(error).map(|handle| {
            self.archives.push(Some(handle));
            ArchiveId(self.archives.len() as u32 - 1)
        }))
    }

    fn stat(&mut self, archive: ArchiveId, path: &str) -> Answer<Stat> {
        let handle = self.handle(archive)?;
        let answer = self.instance.pyworkers_runtime_tarfs().archive().call_stat(&mut self.store, handle, path)?;
        Ok(answer.map(stat).map_err(error))
    }

    fn lstat(&mut self, archive: ArchiveId, path: &str) -> Answer<Stat> {
        let handle = self.handle(archive)?;
        let answer = self.instance.pyworkers_runtime_tarfs().archive().call_lstat(&mut self.store, handle, path)?;
        Ok(answer.map(stat).map_err(error))
    }

    fn read_dir(&mut self, archive: ArchiveId, path: &str) -> Answer<Vec<DirEntry>> {
        let handle = self.handle(archive)?;
        let listing =
            self.instance.pyworkers_runtime_tarfs().archive().call_read_dir(&mut self.store, handle, path)?;
        Ok(listing.map(|entries| entries.into_iter().map(dir_entry).collect()).map_err(error))
    }

    fn read(&mut self, archive: ArchiveId, path: &str, offset: u64, len: u64) -> Answer<Vec<u8>> {
        let handle = self.handle(archive)?;
        let bytes = self.instance.pyworkers_runtime_tarfs().archive().call_read(
            &mut self.store,
            handle,
            path,
            offset,
            len,
        )?;
        Ok(bytes.map_err(error))
    }

    fn read_link(&mut self, archive: ArchiveId, path: &str) -> Answer<String> {
        let handle = self.handle(archive)?;
        let target =
            self.instance.pyworkers_runtime_tarfs().archive().call_read_link(&mut self.store, handle, path)?;
        Ok(target.map_err(error))
    }

    fn close(&mut self, archive: ArchiveId) -> Result<()> {
        let handle = self.handle(archive)?;
        self.archives[archive.0 as usize] = None;
        Ok(handle.resource_drop(&mut self.store)?)
    }
}

// The component's values, lifted by the export bindings, as the host's WIT types.
pyworkers_tarfs::convert_values!(from export to crate::bindings::tarfs);
