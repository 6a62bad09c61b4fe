//! `entropy`: the one source of randomness a Python guest can reach, honouring `wit/entropy.wit`.
//!
//! A memory snapshot freezes every byte of randomness drawn while it was prepared. So an instance that prepares a
//! snapshot draws from a **deterministic** ChaCha20 stream: the snapshot is reproducible, and whatever it freezes
//! is a value known to be fake, which the guest replaces once it runs for real (`_pyworkers.entropy.restored()`).
//! A restored instance [`reseed`](Entropy::reseed)s before its first request and from then on draws **live**
//! operating-system entropy. The switch is one way: nothing can put an instance back on a predictable stream.
//!
//! [`EntropyState`] is the plain data a snapshot records (mode, seed, position in the stream), so restoring it
//! with [`Entropy::from_state`] continues the stream exactly where the snapshot left it.
//!
//! This crate is the one implementation: the host links it natively (`pyworkers::entropy` adds the wasmtime host
//! trait) and `guest-adapters/entropy` compiles it to a `wasm32-wasip2` component, where the OS generator is
//! `wasi:random`.
//!
//! This crate must never hand out deterministic bytes after `reseed`, and never reach the OS generator before it
//! in deterministic mode (that would make a snapshot unreproducible and let a real secret into it).
//!
//! ```
//! use pyworkers_entropy::{Entropy, Mode};
//!
//! let mut a = Entropy::deterministic([7; 32]);
//! let mut b = Entropy::deterministic([7; 32]);
//! let (mut x, mut y) = ([0u8; 16], [0u8; 16]);
//! a.fill(&mut x);
//! b.fill(&mut y);
//! assert_eq!(x, y);
//! a.reseed();
//! assert_eq!(a.mode(), Mode::Live);
//! ```
#![deny(missing_docs)]

use rand_chacha::ChaCha20Rng;
use rand_core::{OsRng, RngCore, SeedableRng};

/// The most bytes one WIT `fill` call returns (64 KiB). The result is a fresh allocation in the caller, so an
/// unbounded `len` would let a guest make its provider allocate 4 GiB in one call; callers that need more call
/// again, as they would with `getrandom(2)`. (`getentropy(3)` caps at 256 bytes; key material never needs more.)
pub const MAX_FILL: u32 = 64 << 10;

/// The seed of the deterministic stream wherever no other is chosen: while the host prepares a snapshot, and in a
/// fresh instance of the `entropy` component (which has no way to be handed one). Public on purpose: whatever is
/// drawn from it is shared by every instance, so it must never be mistaken for a secret.
pub const SEED: [u8; 32] = *b"pyworkers snapshot preparation!!";

/// Where `fill` draws its bytes from (WIT `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// A ChaCha20 stream from a seed: the same bytes every time.
    Deterministic,
    /// Operating-system entropy.
    Live,
}

/// Where an [`Entropy`] draws its bytes from.
pub struct Entropy {
    source: Source,
}

enum Source {
    /// The ChaCha20 stream and the seed it started from (kept so [`Entropy::state`] can record it).
    Deterministic {
        seed: [u8; 32],
        rng: Box<ChaCha20Rng>,
    },
    Live,
}

/// Everything needed to recreate an [`Entropy`] exactly: what a snapshot records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntropyState {
    /// The source.
    pub mode: Mode,
    /// The ChaCha20 seed; all zero in live mode.
    pub seed: [u8; 32],
    /// How far the ChaCha20 stream has advanced, in 32-bit words; 0 in live mode.
    pub word_pos: u128,
}

impl Entropy {
    /// A ChaCha20 stream from `seed`: the same seed gives the same bytes, call for call.
    pub fn deterministic(seed: [u8; 32]) -> Entropy {
        Entropy {
            source: Source::Deterministic {
                seed,
                rng: Box::new(ChaCha20Rng::from_seed(seed)),
            },
        }
    }

    /// Operating-system entropy.
    pub fn live() -> Entropy {
        Entropy {
            source: Source::Live,
        }
    }

    /// Fill `buf` from the current source.
    ///
    /// Panics only if the operating system cannot provide entropy in live mode, where carrying on with anything
    /// weaker would be worse than stopping.
    pub fn fill(&mut self, buf: &mut [u8]) {
        match &mut self.source {
            Source::Deterministic { rng, .. } => rng.fill_bytes(buf),
            Source::Live => OsRng.fill_bytes(buf),
        }
    }

    /// WIT `fill`: `len` bytes from the current source, but at most [`MAX_FILL`]: a larger request is answered
    /// short, never refused, so a provider never fails on a caller's length.
    pub fn fill_vec(&mut self, len: u32) -> Vec<u8> {
        let mut buf = vec![0; len.min(MAX_FILL) as usize];
        self.fill(&mut buf);
        buf
    }

    /// The current source.
    pub fn mode(&self) -> Mode {
        match self.source {
            Source::Deterministic { .. } => Mode::Deterministic,
            Source::Live => Mode::Live,
        }
    }

    /// Switch to live mode for good; a no-op when already live.
    pub fn reseed(&mut self) {
        self.source = Source::Live;
    }

    /// The plain-data state, for a snapshot to record.
    pub fn state(&self) -> EntropyState {
        match &self.source {
            Source::Deterministic { seed, rng } => EntropyState {
                mode: Mode::Deterministic,
                seed: *seed,
                word_pos: rng.get_word_pos(),
            },
            Source::Live => EntropyState {
                mode: Mode::Live,
                seed: [0; 32],
                word_pos: 0,
            },
        }
    }

    /// Recreate the source [`Entropy::state`] recorded: a deterministic stream continues at the same position.
    pub fn from_state(state: &EntropyState) -> Entropy {
        match state.mode {
            Mode::Deterministic => {
                let mut entropy = Entropy::deterministic(state.seed);
                if let Source::Deterministic { rng, .. } = &mut entropy.source {
                    rng.set_word_pos(state.word_pos);
                }
                entropy
            }
            Mode::Live => Entropy::live(),
        }
    }
}

impl Default for Entropy {
    /// Live: a source that was not chosen on purpose must not be predictable.
    fn default() -> Entropy {
        Entropy::live()
    }
}

impl std::fmt::Debug for Entropy {
    // Never print the seed: in a deterministic instance it is the key to every byte the guest saw.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entropy")
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}
