//! Bounds-checked access to the guest's linear memory. A bad pointer is `EFAULT`, never a panic.
//!
//! Every guest address is computed with [`offset`] (checked) and every access goes through a [`GuestMemory`], so a
//! pointer or length near `u32::MAX` is refused instead of wrapping. Guest structs are read and written whole as
//! the plain-old-data types of [`layout`](crate::layout).
//!
//! [`GuestMemory`] is a trait because the same syscall code reaches the memory two ways: the native host borrows
//! it as one slice ([`SliceMemory`], no copies), while code compiled into a component beside Pyodide cannot
//! address Pyodide's memory at all and copies through a bridge. Only [`GuestMemory::size`],
//! [`read_into`](GuestMemory::read_into) and [`write_bytes`](GuestMemory::write_bytes) must be written; the rest
//! are defined on them, and a slice-backed memory overrides the ones it can answer without copying.

use pyworkers_vfs::{Errno, Result};
use std::borrow::Cow;
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// `EOVERFLOW` in Emscripten's numbering (a value does not fit the type the guest asked for); `vfs` has no use
/// for it, so it lives with the ABI.
pub const EOVERFLOW: Errno = Errno(61);

/// The guest address `by` bytes past `ptr`; `EFAULT` if it leaves the 32-bit address space.
pub fn offset(ptr: u32, by: u64) -> Result<u32> {
    u64::from(ptr)
        .checked_add(by)
        .and_then(|a| u32::try_from(a).ok())
        .ok_or(Errno::FAULT)
}

/// The address of element `index` of an array of `T` at `base`.
pub fn element<T>(base: u32, index: u64) -> Result<u32> {
    offset(
        base,
        index
            .checked_mul(std::mem::size_of::<T>() as u64)
            .ok_or(Errno::FAULT)?,
    )
}

/// The size of `T` as a guest length.
fn size32<T>() -> Result<u32> {
    u32::try_from(std::mem::size_of::<T>()).map_err(|_| Errno::FAULT)
}

/// The bytes at `ptr` up to the first NUL, within `limit` bytes and the memory's end, and whether a NUL ended
/// them. Read in pages, so a short string near the end of memory costs one small copy.
fn scan_to_nul<M: GuestMemory + ?Sized>(m: &M, ptr: u32, limit: usize) -> Result<(Vec<u8>, bool)> {
    if u64::from(ptr) > m.size() {
        return Err(Errno::FAULT);
    }
    let end = m.size().min(u64::from(ptr) + limit as u64);
    let mut out = Vec::new();
    let mut at = u64::from(ptr);
    while at < end {
        let mut chunk = vec![0; (end - at).min(4096) as usize];
        m.read_into(at as u32, &mut chunk)?;
        if let Some(nul) = chunk.iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..nul]);
            return Ok((out, true));
        }
        out.extend_from_slice(&chunk);
        at += chunk.len() as u64;
    }
    Ok((out, false))
}

/// The guest's linear memory, as the syscall layer reaches it for one call.
pub trait GuestMemory {
    /// The memory's current size in bytes.
    fn size(&self) -> u64;

    /// Fill `dst` from the bytes at `ptr`; `EFAULT` (and `dst` unspecified) if any of them is out of bounds.
    fn read_into(&self, ptr: u32, dst: &mut [u8]) -> Result<()>;

    /// Store `src` at `ptr`; `EFAULT` and nothing written if any byte is out of bounds.
    fn write_bytes(&mut self, ptr: u32, src: &[u8]) -> Result<()>;

    /// `EFAULT` unless `len` bytes at `ptr` are all in bounds.
    fn check(&self, ptr: u32, len: u32) -> Result<()> {
        if u64::from(ptr) + u64::from(len) <= self.size() {
            Ok(())
        } else {
            Err(Errno::FAULT)
        }
    }

    /// `len` bytes at `ptr`: borrowed where the memory is directly reachable, copied otherwise.
    fn bytes(&self, ptr: u32, len: u32) -> Result<Cow<'_, [u8]>> {
        self.check(ptr, len)?;
        let mut buf = vec![0; len as usize];
        self.read_into(ptr, &mut buf)?;
        Ok(Cow::Owned(buf))
    }

    /// Let `produce` write into the `len` bytes at `ptr` and report how many it wrote; those are stored, the rest
    /// of the region is left as it was. The region is checked *before* `produce` runs, so a bad buffer costs no
    /// I/O (a read that was refused consumed no data).
    fn produce(&mut self, ptr: u32, len: u32, produce: impl FnOnce(&mut [u8]) -> Result<usize>) -> Result<usize> {
        self.check(ptr, len)?;
        let mut buf = vec![0; len as usize];
        let n = produce(&mut buf)?.min(buf.len());
        self.write_bytes(ptr, &buf[..n])?;
        Ok(n)
    }

    /// A NUL-terminated UTF-8 string at `ptr` (at most 4096 bytes, like `PATH_MAX`).
    fn cstr(&self, ptr: u32) -> Result<Cow<'_, str>> {
        let bytes = self.cbytes(ptr, pyworkers_vfs::path::PATH_MAX + 1)?.ok_or(Errno::NAMETOOLONG)?;
        String::from_utf8(bytes).map(Cow::Owned).map_err(|_| Errno::INVAL)
    }

    /// The bytes before the first NUL at `ptr`, searched for within `limit` bytes (and the memory's end); `None`
    /// if there is none there.
    fn cbytes(&self, ptr: u32, limit: usize) -> Result<Option<Vec<u8>>> {
        let (bytes, terminated) = scan_to_nul(self, ptr, limit)?;
        Ok(terminated.then_some(bytes))
    }

    /// A NUL-terminated string of any length (for messages): lossy, at most 64 KiB, empty at a bad pointer. With no
    /// NUL within the limit or before the end, everything up to there.
    fn cstr_lossy(&self, ptr: u32) -> String {
        let bytes = scan_to_nul(self, ptr, 64 * 1024).map(|(b, _)| b).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The `T` stored at `ptr`.
    fn read<T: FromBytes>(&self, ptr: u32) -> Result<T> {
        T::read_from_bytes(&self.bytes(ptr, size32::<T>()?)?).map_err(|_| Errno::FAULT)
    }

    /// Store `value` at `ptr`.
    fn write<T: IntoBytes + Immutable>(&mut self, ptr: u32, value: &T) -> Result<()> {
        size32::<T>()?;
        self.write_bytes(ptr, value.as_bytes())
    }

    /// Write `s` NUL-terminated, truncated to fit `max` bytes including the NUL (Emscripten's `stringToUTF8`);
    /// returns the bytes written without the NUL.
    fn write_cstr(&mut self, ptr: u32, s: &str, max: usize) -> Result<usize> {
        if max == 0 {
            return Ok(0);
        }
        let n = s.len().min(max - 1);
        let mut with_nul = Vec::with_capacity(n + 1);
        with_nul.extend_from_slice(&s.as_bytes()[..n]);
        with_nul.push(0);
        u32::try_from(with_nul.len()).map_err(|_| Errno::FAULT)?;
        self.write_bytes(ptr, &with_nul)?;
        Ok(n)
    }

    /// Read a little-endian `u32`.
    fn read_u32(&self, ptr: u32) -> Result<u32> {
        Ok(self.read::<zerocopy::little_endian::U32>(ptr)?.get())
    }

    /// Write one byte.
    fn write_u8(&mut self, ptr: u32, v: u8) -> Result<()> {
        self.write_bytes(ptr, &[v])
    }

    /// Write a little-endian `u16`.
    fn write_u16(&mut self, ptr: u32, v: u16) -> Result<()> {
        self.write(ptr, &zerocopy::little_endian::U16::new(v))
    }

    /// Write a little-endian `u32`.
    fn write_u32(&mut self, ptr: u32, v: u32) -> Result<()> {
        self.write(ptr, &zerocopy::little_endian::U32::new(v))
    }

    /// Write a little-endian `i32`.
    fn write_i32(&mut self, ptr: u32, v: i32) -> Result<()> {
        self.write(ptr, &zerocopy::little_endian::I32::new(v))
    }

    /// Write a little-endian `u64`.
    fn write_u64(&mut self, ptr: u32, v: u64) -> Result<()> {
        self.write(ptr, &zerocopy::little_endian::U64::new(v))
    }

    /// The `count` entries of an iovec array at `iov`, checked as one region before any is used, so a huge
    /// `count` costs nothing and a bad array is refused before any I/O happens.
    fn iovecs(&self, iov: u32, count: u32) -> Result<Vec<crate::layout::Iovec>> {
        let len = u32::try_from(u64::from(count) * std::mem::size_of::<crate::layout::Iovec>() as u64)
            .map_err(|_| Errno::FAULT)?;
        let bytes = self.bytes(iov, len)?;
        <[crate::layout::Iovec]>::ref_from_bytes(&bytes)
            .map(|v| v.to_vec())
            .map_err(|_| Errno::FAULT)
    }
}

/// A memory reachable as one slice: the native host's view of a wasmtime memory for one call, or a test's `Vec`.
pub struct SliceMemory<'a> {
    bytes: &'a mut [u8],
}

impl<'a> SliceMemory<'a> {
    /// Wrap the memory's bytes.
    pub fn new(bytes: &'a mut [u8]) -> Self {
        SliceMemory { bytes }
    }

    /// `len` bytes at `ptr`.
    fn slice(&self, ptr: u32, len: u32) -> Result<&[u8]> {
        let start = ptr as usize;
        self.bytes
            .get(start..start.checked_add(len as usize).ok_or(Errno::FAULT)?)
            .ok_or(Errno::FAULT)
    }

    /// `len` bytes at `ptr`, mutably.
    fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8]> {
        let start = ptr as usize;
        self.bytes
            .get_mut(start..start.checked_add(len as usize).ok_or(Errno::FAULT)?)
            .ok_or(Errno::FAULT)
    }
}

impl GuestMemory for SliceMemory<'_> {
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn read_into(&self, ptr: u32, dst: &mut [u8]) -> Result<()> {
        let len = u32::try_from(dst.len()).map_err(|_| Errno::FAULT)?;
        dst.copy_from_slice(self.slice(ptr, len)?);
        Ok(())
    }

    fn write_bytes(&mut self, ptr: u32, src: &[u8]) -> Result<()> {
        let len = u32::try_from(src.len()).map_err(|_| Errno::FAULT)?;
        self.slice_mut(ptr, len)?.copy_from_slice(src);
        Ok(())
    }

    fn bytes(&self, ptr: u32, len: u32) -> Result<Cow<'_, [u8]>> {
        self.slice(ptr, len).map(Cow::Borrowed)
    }

    fn produce(&mut self, ptr: u32, len: u32, produce: impl FnOnce(&mut [u8]) -> Result<usize>) -> Result<usize> {
        let region = self.slice_mut(ptr, len)?;
        Ok(produce(region)?.min(len as usize))
    }

    fn cstr(&self, ptr: u32) -> Result<Cow<'_, str>> {
        let tail = self.bytes.get(ptr as usize..).ok_or(Errno::FAULT)?;
        let limit = tail.len().min(pyworkers_vfs::path::PATH_MAX + 1);
        let len = tail[..limit]
            .iter()
            .position(|&b| b == 0)
            .ok_or(Errno::NAMETOOLONG)?;
        std::str::from_utf8(&tail[..len])
            .map(Cow::Borrowed)
            .map_err(|_| Errno::INVAL)
    }
}
