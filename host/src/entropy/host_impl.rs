//! The generated `entropy` host trait, implemented over [`Entropy`].
//!
//! This file only translates between the crate's [`Mode`] and the generated one. Imports are not trappable, so
//! nothing here may panic on guest input: [`Entropy::fill_vec`] answers an oversized request short.

use super::{Entropy, Mode};
use crate::bindings::entropy::{Host, Mode as WitMode};

impl Host for Entropy {
    fn fill(&mut self, len: u32) -> Vec<u8> {
        self.fill_vec(len)
    }

    fn current_mode(&mut self) -> WitMode {
        wit_mode(self.mode())
    }

    fn reseed(&mut self) {
        Entropy::reseed(self)
    }
}

/// The generated twin of a [`Mode`].
fn wit_mode(mode: Mode) -> WitMode {
    match mode {
        Mode::Deterministic => WitMode::Deterministic,
        Mode::Live => WitMode::Live,
    }
}
