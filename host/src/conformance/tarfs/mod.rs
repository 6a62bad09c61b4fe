//! The `tarfs` suite: edge-case archives (empty, long names in GNU, ustar-prefix and pax form, directories,
//! symlinks, hard links, replaced members), every `error-code` of the WIT, and paths that try to leave the root
//! (`..`, absolute symlinks, hostile member names, NUL bytes, over-long paths). Archives are built here, so the
//! same bytes reach every implementation.

mod archives;
mod cases;
mod subjects;

use std::cell::RefCell;

pub use self::archives::{pax_records, raw_header, raw_member, set_checksum, Tar, MTIME};
pub use self::cases::cases;
pub use self::subjects::{component, native, ComponentTarfs};
pub use crate::bindings::tarfs::{DirEntry, EntryKind, ErrorCode, Stat};

/// An archive opened in one instance, named by the instance's driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveId(pub u32);

/// A call's answer: the outer `Err` means the implementation trapped, the inner one is its `error-code`.
pub type Answer<T> = anyhow::Result<Result<T, ErrorCode>>;

/// One instance of a `tarfs` implementation, through the WIT's functions.
pub trait Tarfs {
    /// `archive.open(data)`.
    fn open(&mut self, data: Vec<u8>) -> Answer<ArchiveId>;
    /// `archive.stat(path)`.
    fn stat(&mut self, archive: ArchiveId, path: &str) -> Answer<Stat>;
    /// `archive.lstat(path)`.
    fn lstat(&mut self, archive: ArchiveId, path: &str) -> Answer<Stat>;
    /// `archive.read-dir(path)`.
    fn read_dir(&mut self, archive: ArchiveId, path: &str) -> Answer<Vec<DirEntry>>;
    /// `archive.read(path, offset, len)`.
    fn read(&mut self, archive: ArchiveId, path: &str, offset: u64, len: u64) -> Answer<Vec<u8>>;
    /// `archive.read-link(path)`.
    fn read_link(&mut self, archive: ArchiveId, path: &str) -> Answer<String>;
    /// Drop the archive's handle.
    fn close(&mut self, archive: ArchiveId) -> anyhow::Result<()>;
}

/// An instance shared by the archives a case opens in it.
pub struct Session(RefCell<Box<dyn Tarfs>>);

impl Session {
    /// Wrap a fresh instance.
    pub fn new(tarfs: Box<dyn Tarfs>) -> Session {
        Session(RefCell::new(tarfs))
    }

    /// `archive.open(data)`.
    pub fn open(&self, data: Vec<u8>) -> Reply<Opened<'_>> {
        let result = self.0.borrow_mut().open(data);
        Reply { call: "open".into(), result: result.map(|r| r.map(|id| Opened { session: self, id })) }
    }
}

/// An open archive, with the WIT's methods; each answers a [`Reply`] that names the call.
pub struct Opened<'s> {
    session: &'s Session,
    id: ArchiveId,
}

impl Opened<'_> {
    fn call<T>(&self, call: String, f: impl FnOnce(&mut dyn Tarfs, ArchiveId) -> Answer<T>) -> Reply<T> {
        Reply { call, result: f(&mut **self.session.0.borrow_mut(), self.id) }
    }

    /// `stat(path)`.
    pub fn stat(&self, path: &str) -> Reply<Stat> {
        self.call(format!("stat({path:?})"), |t, a| t.stat(a, path))
    }

    /// `lstat(path)`.
    pub fn lstat(&self, path: &str) -> Reply<Stat> {
        self.call(format!("lstat({path:?})"), |t, a| t.lstat(a, path))
    }

    /// `read-dir(path)`.
    pub fn read_dir(&self, path: &str) -> Reply<Vec<DirEntry>> {
        self.call(format!("read-dir({path:?})"), |t, a| t.read_dir(a, path))
    }

    /// `read(path, offset, len)`.
    pub fn read(&self, path: &str, offset: u64, len: u64) -> Reply<Vec<u8>> {
        self.call(format!("read({path:?}, {offset}, {len})"), |t, a| t.read(a, path, offset, len))
    }

    /// `read-link(path)`.
    pub fn read_link(&self, path: &str) -> Reply<String> {
        self.call(format!("read-link({path:?})"), |t, a| t.read_link(a, path))
    }

    /// The names `read-dir(path)` lists, which must succeed.
    pub fn names(&self, path: &str) -> anyhow::Result<Vec<String>> {
        Ok(self.read_dir(path).ok()?.into_iter().map(|e| e.name).collect())
    }

    /// The inode `stat(path)` reports, which must succeed.
    pub fn ino(&self, path: &str) -> anyhow::Result<u64> {
        Ok(self.stat(path).ok()?.ino)
    }

    /// Drop the handle.
    pub fn close(self) -> anyhow::Result<()> {
        self.session.0.borrow_mut().close(self.id)
    }
}

/// One call's answer, named for messages.
pub struct Reply<T> {
    call: String,
    result: Answer<T>,
}

impl<T> Reply<T> {
    /// The value; failing the case if the call trapped or answered an error.
    pub fn ok(self) -> anyhow::Result<T> {
        match self.result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(code)) => anyhow::bail!("{}: expected success, got {code:?}", self.call),
            Err(trap) => Err(trap.context(format!("{} trapped", self.call))),
        }
    }

    /// The error code; failing the case if the call trapped or succeeded.
    pub fn err(self) -> anyhow::Result<ErrorCode> {
        match self.result {
            Ok(Err(code)) => Ok(code),
            Ok(Ok(_)) => anyhow::bail!("{}: expected an error, but it succeeded", self.call),
            Err(trap) => Err(trap.context(format!("{} trapped", self.call))),
        }
    }
}
