//! Native `entropy`: the `pyworkers-entropy` crate (the one implementation, also built as a component by
//! `guest-adapters/entropy`), plus the wasmtime host trait that hands it to components.
//!
//! ```
//! use pyworkers::entropy::{Entropy, Mode};
//!
//! let mut entropy = Entropy::deterministic([7; 32]);
//! entropy.reseed();
//! assert_eq!(entropy.mode(), Mode::Live);
//! ```

mod host_impl;

pub use pyworkers_entropy::{Entropy, EntropyState, Mode, MAX_FILL, SEED};
