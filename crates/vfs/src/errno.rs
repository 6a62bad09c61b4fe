//! Error numbers as the guest's libc (musl, built by Emscripten) numbers them — the WASI numbering, which differs
//! from Linux. The VFS speaks these; the Emscripten layer only flips the sign where its ABI wants `-errno`.

use std::fmt;

/// An errno value in the guest's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub u16);

/// Each constant with its C name and what it means, for [`Display`](fmt::Display): one table, so a constant can
/// never be added without a message.
macro_rules! errnos {
    ($($name:ident = $n:literal, $c:literal, $meaning:literal;)*) => {
        #[allow(missing_docs)]
        impl Errno {
            $(pub const $name: Errno = Errno($n);)*

            /// The C name (`"ENOSPC"`) and meaning (`"no space left on device"`), if this is a known number.
            pub fn describe(self) -> Option<(&'static str, &'static str)> {
                match self.0 {
                    $($n => Some(($c, $meaning)),)*
                    _ => None,
                }
            }
        }
    };
}

errnos! {
    ACCES = 2, "EACCES", "permission denied";
    AFNOSUPPORT = 5, "EAFNOSUPPORT", "address family not supported";
    BADF = 8, "EBADF", "bad file descriptor";
    BUSY = 10, "EBUSY", "device or resource busy";
    EXIST = 20, "EEXIST", "file exists";
    FAULT = 21, "EFAULT", "bad address";
    FBIG = 22, "EFBIG", "file too large";
    INVAL = 28, "EINVAL", "invalid argument";
    IO = 29, "EIO", "input/output error";
    ISDIR = 31, "EISDIR", "is a directory";
    LOOP = 32, "ELOOP", "too many levels of symbolic links";
    MFILE = 33, "EMFILE", "too many open files";
    NAMETOOLONG = 37, "ENAMETOOLONG", "file name too long";
    NODEV = 43, "ENODEV", "no such device";
    NOENT = 44, "ENOENT", "no such file or directory";
    NOMEM = 48, "ENOMEM", "out of memory";
    NOSPC = 51, "ENOSPC", "no space left on device";
    NOSYS = 52, "ENOSYS", "function not implemented";
    NOTDIR = 54, "ENOTDIR", "not a directory";
    NOTEMPTY = 55, "ENOTEMPTY", "directory not empty";
    NOTTY = 59, "ENOTTY", "not a terminal";
    NXIO = 60, "ENXIO", "no such device or address";
    PERM = 63, "EPERM", "operation not permitted";
    RANGE = 68, "ERANGE", "result out of range";
    ROFS = 69, "EROFS", "read-only file system";
    SPIPE = 70, "ESPIPE", "illegal seek";
    XDEV = 75, "EXDEV", "cross-device link";
    NOTSUP = 138, "ENOTSUP", "operation not supported";
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.describe() {
            Some((name, meaning)) => write!(f, "{name} ({meaning})"),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl std::error::Error for Errno {}

impl From<pyworkers_tarfs::ErrorCode> for Errno {
    fn from(e: pyworkers_tarfs::ErrorCode) -> Errno {
        use pyworkers_tarfs::ErrorCode as E;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_name_and_meaning() {
        assert_eq!(Errno::NOSPC.to_string(), "ENOSPC (no space left on device)");
        assert_eq!(Errno::INVAL.to_string(), "EINVAL (invalid argument)");
        assert_eq!(Errno(999).to_string(), "errno 999");
        let boxed: Box<dyn std::error::Error> = Box::new(Errno::ROFS);
        assert_eq!(boxed.to_string(), "EROFS (read-only file system)");
    }
}
