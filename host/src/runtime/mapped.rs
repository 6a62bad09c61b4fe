//! Read-only memory maps of files in the cache, so a large archive (the standard library's bytecode, ~20 MB) costs
//! one `mmap` plus the pages a run touches, shared with every other process through the page cache, instead of a
//! fresh copy faulted in by each run.
//!
//! Sound only because the cache never modifies a file in place: writers replace files by renaming a new one over
//! them ([`cache::write_atomic`](super::cache::write_atomic)), which leaves a mapping of the old file intact. This
//! module must never map a file from outside the cache.

use crate::tarfs::SharedBytes;
use std::io;
use std::path::Path;

/// The contents of `path`, a file in the cache, without copying them (on Unix; elsewhere, read into memory).
pub(crate) fn map(path: &Path) -> io::Result<SharedBytes> {
    #[cfg(unix)]
    {
        Ok(std::sync::Arc::new(unix::Mapped::open(path)?))
    }
    #[cfg(not(unix))]
    {
        let bytes: std::sync::Arc<[u8]> = std::fs::read(path)?.into();
        Ok(std::sync::Arc::new(bytes))
    }
}

#[cfg(unix)]
mod unix {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;
    use std::path::Path;
    use std::ptr::NonNull;

    /// A read-only mapping of a whole file, unmapped when dropped.
    pub(super) struct Mapped {
        ptr: NonNull<u8>,
        len: usize,
    }

    // SAFETY: the mapping is read-only and owned by this value, so sharing or moving it between threads only ever
    // shares immutable bytes.
    unsafe impl Send for Mapped {}
    // SAFETY: as above.
    unsafe impl Sync for Mapped {}

    impl Mapped {
        pub(super) fn open(path: &Path) -> io::Result<Mapped> {
            let file = File::open(path)?;
            let len = usize::try_from(file.metadata()?.len()).map_err(io::Error::other)?;
            if len == 0 {
                return Ok(Mapped {
                    ptr: NonNull::dangling(),
                    len: 0,
                });
            }
            // SAFETY: a new read-only mapping of a file we just opened; it aliases no Rust object. The descriptor
            // may be closed afterwards: the mapping keeps the file alive.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    file.as_raw_fd(),
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let ptr =
                NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
            Ok(Mapped { ptr, len })
        }
    }

    impl AsRef<[u8]> for Mapped {
        fn as_ref(&self) -> &[u8] {
            // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives (or is dangling with `len` 0), and
            // the cache never changes a file in place (module comment), so the bytes do not change while borrowed.
            unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
        }
    }

    impl Drop for Mapped {
        fn drop(&mut self) {
            if self.len > 0 {
                // SAFETY: unmapping exactly the region `open` mapped, once; no borrow of it outlives `self`.
                unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
            }
        }
    }
}
