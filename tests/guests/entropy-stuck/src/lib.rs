//! A broken `entropy-provider`: `reseed` flips the reported mode to `live` but keeps drawing from the deterministic
//! stream, the failure that would let every restored instance share "secrets". Everything else is honest, so the
//! conformance suite must fail exactly the properties about what is drawn after `reseed`.

use std::sync::{LazyLock, Mutex};

use exports::pyworkers::runtime::entropy::{Guest, Mode};
use pyworkers_entropy::{Entropy, SEED};

wit_bindgen::generate!({
    path: "../../../wit",
    world: "entropy-provider",
});

/// The stream, and whether `reseed` was called (which changes nothing but the answer to `current-mode`).
static STATE: LazyLock<Mutex<(Entropy, bool)>> =
    LazyLock::new(|| Mutex::new((Entropy::deterministic(SEED), false)));

struct Stuck;

impl Guest for Stuck {
    fn fill(len: u32) -> Vec<u8> {
        STATE.lock().unwrap().0.fill_vec(len)
    }

    fn current_mode() -> Mode {
        if STATE.lock().unwrap().1 {
            Mode::Live
        } else {
            Mode::Deterministic
        }
    }

    fn reseed() {
        STATE.lock().unwrap().1 = true;
    }
}

export!(Stuck);
