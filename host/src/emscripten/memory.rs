//! Bounds-checked access to the guest's linear memory. A bad pointer is `EFAULT`, never a host panic.
//!
//! Every guest address is computed with [`offset`] (checked) and every access goes through [`GuestMemory`], so a
//! pointer or length near `u32::MAX` is refused instead of wrapping. Guest structs are read and written whole as
//! the plain-old-data types of [`layout`](super::layout).

use crate::vfs::{Errno, Result};
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

/// The guest's linear memory, borrowed for one host call.
pub struct GuestMemory<'a> {
    bytes: &'a mut [u8],
}

impl<'a> GuestMemory<'a> {
    /// Wrap the memory's bytes.
    pub fn new(bytes: &'a mut [u8]) -> Self {
        GuestMemory { bytes }
    }

    /// The `T` stored at `ptr`.
    pub fn read<T: FromBytes>(&self, ptr: u32) -> Result<T> {
        T::read_from_bytes(self.slice(ptr, size32::<T>()?)?).map_err(|_| Errno::FAULT)
    }

    /// Store `value` at `ptr`.
    pub fn write<T: IntoBytes + Immutable>(&mut self, ptr: u32, value: &T) -> Result<()> {
        self.slice_mut(ptr, size32::<T>()?)?
            .copy_from_slice(value.as_bytes());
        Ok(())
    }

    /// `len` bytes at `ptr`.
    pub fn slice(&self, ptr: u32, len: u32) -> Result<&[u8]> {
        let start = ptr as usize;
        self.bytes
            .get(start..start.checked_add(len as usize).ok_or(Errno::FAULT)?)
            .ok_or(Errno::FAULT)
    }

    /// `len` bytes at `ptr`, mutably.
    pub fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8]> {
        let start = ptr as usize;
        self.bytes
            .get_mut(start..start.checked_add(len as usize).ok_or(Errno::FAULT)?)
            .ok_or(Errno::FAULT)
    }

    /// Two disjoint regions, the first read, the second written (e.g. a path and a result buffer).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.bytes
    }

    /// A NUL-terminated UTF-8 string at `ptr` (at most 4096 bytes, like `PATH_MAX`).
    pub fn cstr(&self, ptr: u32) -> Result<&str> {
        let tail = self.bytes.get(ptr as usize..).ok_or(Errno::FAULT)?;
        let limit = tail.len().min(crate::vfs::path::PATH_MAX + 1);
        let len = tail[..limit]
            .iter()
            .position(|&b| b == 0)
            .ok_or(Errno::NAMETOOLONG)?;
        std::str::from_utf8(&tail[..len]).map_err(|_| Errno::INVAL)
    }

    /// A NUL-terminated string of any length (for messages).
    pub fn cstr_lossy(&self, ptr: u32) -> String {
        let tail = self.bytes.get(ptr as usize..).unwrap_or_default();
        let len = tail
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(tail.len())
            .min(64 * 1024);
        String::from_utf8_lossy(&tail[..len]).into_owned()
    }

    /// Write `s` NUL-terminated, truncated to fit `max` bytes including the NUL (Emscripten's `stringToUTF8`);
    /// returns the bytes written without the NUL.
    pub fn write_cstr(&mut self, ptr: u32, s: &str, max: usize) -> Result<usize> {
        if max == 0 {
            return Ok(0);
        }
        let n = s.len().min(max - 1);
        let with_nul = n
            .checked_add(1)
            .and_then(|l| u32::try_from(l).ok())
            .ok_or(Errno::FAULT)?;
        let dst = self.slice_mut(ptr, with_nul)?;
        dst[..n].copy_from_slice(&s.as_bytes()[..n]);
        dst[n] = 0;
        Ok(n)
    }

    /// Read a little-endian `u32`.
    pub fn read_u32(&self, ptr: u32) -> Result<u32> {
        Ok(self.read::<zerocopy::little_endian::U32>(ptr)?.get())
    }

    /// Write one byte.
    pub fn write_u8(&mut self, ptr: u32, v: u8) -> Result<()> {
        self.slice_mut(ptr, 1)?[0] = v;
        Ok(())
    }

    /// Write a little-endian `u16`.
    pub fn write_u16(&mut self, ptr: u32, v: u16) -> Result<()> {
        self.write(ptr, &zerocopy::little_endian::U16::new(v))
    }

    /// Write a little-endian `u32`.
    pub fn write_u32(&mut self, ptr: u32, v: u32) -> Result<()> {
        self.write(ptr, &zerocopy::little_endian::U32::new(v))
    }

    /// Write a little-endian `i32`.
    pub fn write_i32(&mut self, ptr: u32, v: i32) -> Result<()> {
        self.write(ptr, &zerocopy::little_endian::I32::new(v))
    }

    /// Write a little-endian `u64`.
    pub fn write_u64(&mut self, ptr: u32, v: u64) -> Result<()> {
        self.write(ptr, &zerocopy::little_endian::U64::new(v))
    }

    /// The `count` entries of an iovec array at `iov`, checked as one region before any is used, so a huge
    /// `count` costs nothing and a bad array is refused before any I/O happens.
    pub fn iovecs(&self, iov: u32, count: u32) -> Result<Vec<super::layout::Iovec>> {
        let bytes = self.slice(
            iov,
            u32::try_from(u64::from(count) * std::mem::size_of::<super::layout::Iovec>() as u64)
                .map_err(|_| Errno::FAULT)?,
        )?;
        <[super::layout::Iovec]>::ref_from_bytes(bytes)
            .map(|v| v.to_vec())
            .map_err(|_| Errno::FAULT)
    }
}
