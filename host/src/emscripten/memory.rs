//! Bounds-checked access to the guest's linear memory. A bad pointer is `EFAULT`, never a host panic.

use crate::vfs::{Errno, Result};

/// The guest's linear memory, borrowed for one host call.
pub struct GuestMemory<'a> {
    bytes: &'a mut [u8],
}

impl<'a> GuestMemory<'a> {
    /// Wrap the memory's bytes.
    pub fn new(bytes: &'a mut [u8]) -> Self {
        GuestMemory { bytes }
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
        let dst = self.slice_mut(ptr, n as u32 + 1)?;
        dst[..n].copy_from_slice(&s.as_bytes()[..n]);
        dst[n] = 0;
        Ok(n)
    }

    /// Read a little-endian `u32`.
    pub fn read_u32(&self, ptr: u32) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.slice(ptr, 4)?.try_into().unwrap_or_default(),
        ))
    }

    /// Read a little-endian `i64`.
    pub fn read_i64(&self, ptr: u32) -> Result<i64> {
        Ok(i64::from_le_bytes(
            self.slice(ptr, 8)?.try_into().unwrap_or_default(),
        ))
    }

    /// Write a little-endian `u8`.
    pub fn write_u8(&mut self, ptr: u32, v: u8) -> Result<()> {
        self.slice_mut(ptr, 1)?[0] = v;
        Ok(())
    }

    /// Write a little-endian `u16`.
    pub fn write_u16(&mut self, ptr: u32, v: u16) -> Result<()> {
        self.slice_mut(ptr, 2)?.copy_from_slice(&v.to_le_bytes());
        Ok(())
    }

    /// Write a little-endian `u32`.
    pub fn write_u32(&mut self, ptr: u32, v: u32) -> Result<()> {
        self.slice_mut(ptr, 4)?.copy_from_slice(&v.to_le_bytes());
        Ok(())
    }

    /// Write a little-endian `i32`.
    pub fn write_i32(&mut self, ptr: u32, v: i32) -> Result<()> {
        self.write_u32(ptr, v as u32)
    }

    /// Write a little-endian `u64`.
    pub fn write_u64(&mut self, ptr: u32, v: u64) -> Result<()> {
        self.slice_mut(ptr, 8)?.copy_from_slice(&v.to_le_bytes());
        Ok(())
    }

    /// Write a little-endian `i64`.
    pub fn write_i64(&mut self, ptr: u32, v: i64) -> Result<()> {
        self.write_u64(ptr, v as u64)
    }

    /// The `(ptr, len)` pairs of an iovec array.
    pub fn iovecs(&self, iov: u32, count: u32) -> Result<Vec<(u32, u32)>> {
        (0..count)
            .map(|i| {
                let at = iov
                    .checked_add(i.checked_mul(8).ok_or(Errno::FAULT)?)
                    .ok_or(Errno::FAULT)?;
                Ok((self.read_u32(at)?, self.read_u32(at + 4)?))
            })
            .collect()
    }
}
