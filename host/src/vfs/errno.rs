//! Error numbers as the guest's libc (musl, built by Emscripten) numbers them — the WASI numbering, which differs
//! from Linux. The VFS speaks these; the Emscripten layer only flips the sign where its ABI wants `-errno`.

/// An errno value in the guest's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub u16);

#[allow(missing_docs)]
impl Errno {
    pub const ACCES: Errno = Errno(2);
    pub const AFNOSUPPORT: Errno = Errno(5);
    pub const BADF: Errno = Errno(8);
    pub const EXIST: Errno = Errno(20);
    pub const FAULT: Errno = Errno(21);
    pub const FBIG: Errno = Errno(22);
    pub const INVAL: Errno = Errno(28);
    pub const IO: Errno = Errno(29);
    pub const ISDIR: Errno = Errno(31);
    pub const LOOP: Errno = Errno(32);
    pub const MFILE: Errno = Errno(33);
    pub const NAMETOOLONG: Errno = Errno(37);
    pub const NODEV: Errno = Errno(43);
    pub const NOENT: Errno = Errno(44);
    pub const NOMEM: Errno = Errno(48);
    pub const NOSYS: Errno = Errno(52);
    pub const NOTDIR: Errno = Errno(54);
    pub const NOTEMPTY: Errno = Errno(55);
    pub const NOTTY: Errno = Errno(59);
    pub const PERM: Errno = Errno(63);
    pub const RANGE: Errno = Errno(68);
    pub const ROFS: Errno = Errno(69);
    pub const SPIPE: Errno = Errno(70);
    pub const XDEV: Errno = Errno(75);
    pub const NOTSUP: Errno = Errno(138);
}

impl From<crate::tarfs::ErrorCode> for Errno {
    fn from(e: crate::tarfs::ErrorCode) -> Errno {
        use crate::tarfs::ErrorCode as E;
        match e {
            E::NotFound => Errno::NOENT,
            E::NotADirectory => Errno::NOTDIR,
            E::IsADirectory => Errno::ISDIR,
            // Leaving an archive is a permission matter, not a missing file: the path exists, outside our reach.
            E::EscapesRoot => Errno::ACCES,
            E::TooManyLinks => Errno::LOOP,
            E::InvalidPath => Errno::INVAL,
            E::InvalidArchive => Errno::IO,
        }
    }
}

/// Results of VFS operations.
pub type Result<T> = std::result::Result<T, Errno>;
