//! The imports as plain functions: a `Vec<u8>` for the guest's memory, a [`Context`](crate::Context) over a small
//! `Vfs`, no wasm. Layout offsets are asserted against the offsets Emscripten's JS (`pyodide.asm.mjs` 314.0.7)
//! writes.
//!
//! The whole suite (`suite.rs`) runs twice: over [`SliceMemory`](crate::SliceMemory), the native host's memory,
//! and over [`CopyingMemory`], which implements only the three required methods of
//! [`GuestMemory`](crate::GuestMemory) as a component's bridge does. Every answer, errno and byte written must be
//! the same through both, which is what lets the component compile this code unchanged.

use crate::GuestMemory;
use pyworkers_vfs::{Errno, Result};

/// A memory reached only by copies: the provided methods of [`GuestMemory`] do all the work.
pub struct CopyingMemory<'a> {
    bytes: &'a mut [u8],
}

impl<'a> CopyingMemory<'a> {
    pub fn new(bytes: &'a mut [u8]) -> Self {
        CopyingMemory { bytes }
    }

    fn range(&self, ptr: u32, len: usize) -> Result<std::ops::Range<usize>> {
        let start = ptr as usize;
        let end = start.checked_add(len).ok_or(Errno::FAULT)?;
        if end > self.bytes.len() {
            return Err(Errno::FAULT);
        }
        Ok(start..end)
    }
}

impl GuestMemory for CopyingMemory<'_> {
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn read_into(&self, ptr: u32, dst: &mut [u8]) -> Result<()> {
        let range = self.range(ptr, dst.len())?;
        dst.copy_from_slice(&self.bytes[range]);
        Ok(())
    }

    fn write_bytes(&mut self, ptr: u32, src: &[u8]) -> Result<()> {
        let range = self.range(ptr, src.len())?;
        self.bytes[range].copy_from_slice(src);
        Ok(())
    }
}

/// The suite over the native host's slice.
mod slice {
    type Memory<'a> = crate::SliceMemory<'a>;
    include!("suite.rs");
}

/// The suite over copies only.
mod copying {
    type Memory<'a> = super::CopyingMemory<'a>;
    include!("suite.rs");
}
