//! The generated `entropy` host trait, implemented over [`Entropy`].
//!
//! This file only translates. Imports are not trappable, so nothing here may panic on guest input: a request
//! larger than [`MAX_FILL`] is answered short, never refused.

use super::{Entropy, Mode};
use crate::bindings::entropy::Host;

/// The most bytes one `fill` call returns (64 KiB). The result is a fresh guest allocation, so an unbounded `len`
/// would let a guest make the host allocate 4 GiB in one call; callers that need more call again, as they would
/// with `getrandom(2)`. (`getentropy(3)` caps at 256 bytes; key material never needs more than this.)
pub const MAX_FILL: u32 = 64 << 10;

impl Host for Entropy {
    fn fill(&mut self, len: u32) -> Vec<u8> {
        let mut buf = vec![0; len.min(MAX_FILL) as usize];
        Entropy::fill(self, &mut buf);
        buf
    }

    fn current_mode(&mut self) -> Mode {
        self.mode()
    }

    fn reseed(&mut self) {
        Entropy::reseed(self)
    }
}
