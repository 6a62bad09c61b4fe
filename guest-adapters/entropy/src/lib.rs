//! `pyworkers:runtime/entropy` as a component: the `pyworkers-entropy` crate behind the `entropy-provider` world.
//!
//! One instance is one source, so its state is a global. A fresh instance starts deterministic from the crate's
//! shared [`SEED`] (a component cannot be handed a seed), which is the stream the native host prepares snapshots
//! with; live mode draws from `wasi:random`.

use std::sync::{LazyLock, Mutex, MutexGuard};

use exports::pyworkers::runtime::entropy::{Guest, Mode};
use pyworkers_entropy::{Entropy, SEED};

wit_bindgen::generate!({
    path: "../../wit",
    world: "entropy-provider",
});

static SOURCE: LazyLock<Mutex<Entropy>> = LazyLock::new(|| Mutex::new(Entropy::deterministic(SEED)));

/// The instance's source. A poisoned lock only means an earlier call panicked (trapped); the state is still whole.
fn source() -> MutexGuard<'static, Entropy> {
    SOURCE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Component;

impl Guest for Component {
    fn fill(len: u32) -> Vec<u8> {
        source().fill_vec(len)
    }

    fn current_mode() -> Mode {
        match source().mode() {
            pyworkers_entropy::Mode::Deterministic => Mode::Deterministic,
            pyworkers_entropy::Mode::Live => Mode::Live,
        }
    }

    fn reseed() {
        source().reseed()
    }
}

export!(Component);
