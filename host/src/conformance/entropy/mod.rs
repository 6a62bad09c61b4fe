//! The `entropy` suite: determinism before `reseed`, divergence after it, the one-way switch, and the length
//! contract of `fill` (zero, and at most 65536 per call, answered short rather than refused).
//!
//! The WIT has no seed parameter, so "equal seeds" means two fresh instances of one implementation: each starts
//! from its own fixed seed, the same for both. Randomness is judged only by what must hold for any honest
//! source (streams advance, reseeded instances differ, bytes are not degenerate), never by a fixed expected value,
//! so a component with another seed or another generator can pass.

mod subjects;

use super::check::{check, check_eq, check_ne};
use super::{Case, Check, Fresh};
pub use crate::bindings::entropy::Mode;
pub use self::subjects::{component, native, ComponentEntropy};

/// One instance of an `entropy` implementation, through the WIT's functions. `Err` means it trapped.
pub trait Entropy {
    /// `fill(len)`.
    fn fill(&mut self, len: u32) -> anyhow::Result<Vec<u8>>;
    /// `current-mode()`.
    fn current_mode(&mut self) -> anyhow::Result<Mode>;
    /// `reseed()`.
    fn reseed(&mut self) -> anyhow::Result<()>;
}

/// The WIT's cap on one `fill`.
const MAX_FILL: u32 = 65536;

/// The suite, in report order.
pub fn cases() -> &'static [Case<dyn Entropy>] {
    &[
        Case { name: "starts-deterministic", about: "a fresh instance is in deterministic mode", run: starts_deterministic },
        Case {
            name: "equal-seeds-equal-streams",
            about: "two fresh instances give the same bytes, call for call",
            run: equal_seeds_equal_streams,
        },
        Case { name: "stream-advances", about: "consecutive fills differ, in both modes", run: stream_advances },
        Case {
            name: "bytes-not-degenerate",
            about: "4096 bytes use most byte values, in both modes",
            run: bytes_not_degenerate,
        },
        Case { name: "zero-length", about: "fill(0) is empty, in both modes", run: zero_length },
        Case {
            name: "large-lengths",
            about: "fill(65536) is whole; larger requests get exactly 65536 bytes",
            run: large_lengths,
        },
        Case { name: "reseed-switches-to-live", about: "after reseed the mode is live", run: reseed_switches_to_live },
        Case {
            name: "diverges-after-reseed",
            about: "two instances on the same stream differ once both reseed",
            run: diverges_after_reseed,
        },
        Case {
            name: "reseed-is-one-way",
            about: "after reseed the deterministic stream never comes back, and the mode stays live",
            run: reseed_is_one_way,
        },
    ]
}

/// Check `property` on `a` as it is (deterministic), then again after `reseed` (live).
fn in_both_modes(a: &mut dyn Entropy, mut property: impl FnMut(&mut dyn Entropy, &str) -> Check) -> Check {
    property(a, "deterministic")?;
    a.reseed()?;
    property(a, "live")
}

fn starts_deterministic(fresh: Fresh<'_, dyn Entropy>) -> Check {
    check_eq!(fresh()?.current_mode()?, Mode::Deterministic, "current-mode() of a fresh instance");
    Ok(())
}

fn equal_seeds_equal_streams(fresh: Fresh<'_, dyn Entropy>) -> Check {
    let (mut a, mut b) = (fresh()?, fresh()?);
    for len in [1, 3, 32, 0, 1000, 4096, MAX_FILL, 7] {
        let (x, y) = (a.fill(len)?, b.fill(len)?);
        check!(x == y, "fill({len}) differs between two fresh instances");
    }
    check_eq!(a.current_mode()?, Mode::Deterministic, "current-mode() after fills");
    Ok(())
}

fn stream_advances(fresh: Fresh<'_, dyn Entropy>) -> Check {
    in_both_modes(&mut *fresh()?, |a, mode| {
        check_ne!(a.fill(32)?, a.fill(32)?, "two consecutive fill(32) in {mode} mode");
        Ok(())
    })
}

/// Distinct byte values in 4096 bytes: about 256 from any real generator; 200 leaves room for chance.
fn bytes_not_degenerate(fresh: Fresh<'_, dyn Entropy>) -> Check {
    in_both_modes(&mut *fresh()?, |a, mode| {
        let bytes = a.fill(4096)?;
        check_eq!(bytes.len(), 4096, "fill(4096) length in {mode} mode");
        let mut seen = [false; 256];
        bytes.iter().for_each(|&b| seen[b as usize] = true);
        let distinct = seen.iter().filter(|&&s| s).count();
        check!(distinct >= 200, "fill(4096) in {mode} mode has only {distinct} distinct byte values");
        Ok(())
    })
}

fn zero_length(fresh: Fresh<'_, dyn Entropy>) -> Check {
    in_both_modes(&mut *fresh()?, |a, mode| {
        check_eq!(a.fill(0)?, Vec::<u8>::new(), "fill(0) in {mode} mode");
        Ok(())
    })
}

fn large_lengths(fresh: Fresh<'_, dyn Entropy>) -> Check {
    in_both_modes(&mut *fresh()?, |a, mode| {
        for len in [MAX_FILL, MAX_FILL + 1, 1 << 24, u32::MAX] {
            check_eq!(a.fill(len)?.len(), MAX_FILL as usize, "fill({len}) length in {mode} mode");
        }
        Ok(())
    })
}

fn reseed_switches_to_live(fresh: Fresh<'_, dyn Entropy>) -> Check {
    let mut a = fresh()?;
    a.fill(16)?;
    a.reseed()?;
    check_eq!(a.current_mode()?, Mode::Live, "current-mode() after reseed");
    Ok(())
}

fn diverges_after_reseed(fresh: Fresh<'_, dyn Entropy>) -> Check {
    let (mut a, mut b) = (fresh()?, fresh()?);
    check_eq!(a.fill(10)?, b.fill(10)?, "the shared deterministic prefix");
    a.reseed()?;
    b.reseed()?;
    for call in 0..4 {
        check_ne!(a.fill(32)?, b.fill(32)?, "fill(32) #{call} of two reseeded instances");
    }
    Ok(())
}

fn reseed_is_one_way(fresh: Fresh<'_, dyn Entropy>) -> Check {
    // `twin` stays deterministic: what `a` would draw had the switch not happened.
    let (mut a, mut twin) = (fresh()?, fresh()?);
    a.fill(10)?;
    twin.fill(10)?;
    a.reseed()?;
    for call in 0..4 {
        check_ne!(a.fill(32)?, twin.fill(32)?, "fill(32) #{call} after reseed vs the deterministic stream");
        check_eq!(a.current_mode()?, Mode::Live, "current-mode() after fill #{call}");
    }
    a.reseed()?;
    check_eq!(a.current_mode()?, Mode::Live, "current-mode() after a second reseed");
    check_ne!(a.fill(32)?, twin.fill(32)?, "fill(32) after a second reseed vs the deterministic stream");
    Ok(())
}
