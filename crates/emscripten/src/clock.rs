//! The guest's clocks. Live: the host's wall clock, and a monotonic clock that continues from a base (so an
//! instance restored from a snapshot never sees time run backwards). Deterministic, while a snapshot is prepared:
//! every reading advances a counter by one microsecond, so two preparations read the same times.

use std::time::Instant;

/// Wall-clock time deterministic readings start from: 2026-01-01T00:00:00Z, in milliseconds.
const DETERMINISTIC_EPOCH_MS: f64 = 1_767_225_600_000.0;

/// Where the guest's time comes from.
#[derive(Debug, Clone)]
pub enum Clock {
    /// Host time; the monotonic clock reads `base_ns` plus the time since `started`.
    Live {
        /// When this instance started.
        started: Instant,
        /// Monotonic reading at `started`.
        base_ns: u64,
    },
    /// Readings advance by 1 µs each.
    Deterministic {
        /// Nanoseconds elapsed so far.
        ticks_ns: u64,
    },
}

impl Clock {
    /// A live clock whose monotonic reading starts at `base_ns`.
    pub fn live(base_ns: u64) -> Clock {
        Clock::Live {
            started: Instant::now(),
            base_ns,
        }
    }

    /// A deterministic clock at zero.
    pub fn deterministic() -> Clock {
        Clock::Deterministic { ticks_ns: 0 }
    }

    /// Monotonic nanoseconds.
    pub fn monotonic_ns(&mut self) -> u64 {
        match self {
            Clock::Live { started, base_ns } => *base_ns + started.elapsed().as_nanos() as u64,
            Clock::Deterministic { ticks_ns } => {
                *ticks_ns += 1_000;
                *ticks_ns
            }
        }
    }

    /// Wall-clock milliseconds since the epoch.
    pub fn realtime_ms(&mut self) -> f64 {
        match self {
            Clock::Live { .. } => pyworkers_vfs::now_ms(),
            Clock::Deterministic { .. } => {
                DETERMINISTIC_EPOCH_MS + self.monotonic_ns() as f64 / 1e6
            }
        }
    }
}
