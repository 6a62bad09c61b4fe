//! The `snapshot` suite: the guest's side of the snapshot lifecycle, `prepare(kind)` then (in each restored
//! instance) `restored()`.
//!
//! What the native implementation guarantees, read from `host/src/snapshot` and `_pyworkers/snapshot.py`, and so
//! what is checked:
//! - `prepare(baseline)` and `prepare(dedicated)` succeed on a fresh interpreter (the reference worker `echo` is
//!   the dedicated snapshot's worker, see [`super::entrypoint`]).
//! - `prepare(dedicated)` of a worker that draws from `random` at import time is refused with `Err(string)` naming
//!   the problem (strict entropy), not a trap.
//! - `restored()` after `prepare` succeeds.
//! - No call order traps: `restored()` before any `prepare`, `prepare` twice, `prepare` after `restored()` are all
//!   answered (natively every one succeeds: both calls are idempotent; a component may answer `Err(string)`).
//! - Preparation is deterministic: two instances prepared alike draw the same values from `random` and
//!   `os.urandom` (entropy is a fixed ChaCha20 stream until `restored()`).
//! - Instances restored from one snapshot share the prepared state until `restored()`: they draw the same values.
//! - `restored()` reseeds: after it, two instances restored from one snapshot draw different values from both
//!   `random` and `os.urandom`, and neither draws what the captured stream would have given.
//!
//! The host captures and restores, so the last three need the suite to capture an instance and to draw Python
//! randomness from it. Neither is possible through a component's exports (its memory is its own and the WIT has no
//! draw), so for a component subject those rows are `NOT CHECKED`, with the reason; the component subject checks
//! the lifecycle calls only (the first four properties, the refusal through the `draws-at-import` reference worker
//! named in its environment).

mod subjects;

use super::check::{check, check_eq, check_ne};
use super::entrypoint::Reference;
use super::{Case, Check, Fresh, NotChecked};
pub use self::subjects::{component, native, ComponentSnapshots, NativeSnapshots};
pub use crate::snapshot::Kind;

/// A lifecycle call's answer: the outer `Err` means the implementation trapped, the inner one is its `Err(string)`.
pub type Answer = anyhow::Result<Result<(), String>>;

/// One instance, through the WIT's functions, plus what only some subjects can do.
pub trait Snapshot {
    /// `prepare(kind)`.
    fn prepare(&mut self, kind: Kind) -> Answer;
    /// `restored()`.
    fn restored(&mut self) -> Answer;
    /// Eight bytes from Python's `random`, then eight from `os.urandom`; `None` if the subject has no way to draw.
    fn draw(&mut self) -> anyhow::Result<Option<Vec<u8>>>;
    /// Capture this (prepared) instance; `None` if the suite cannot capture this subject.
    fn capture(&mut self) -> anyhow::Result<Option<Box<dyn Captured>>>;
}

/// A captured snapshot.
pub trait Captured {
    /// A new instance restored from it, `restored()` not yet called.
    fn restore(&self) -> anyhow::Result<Box<dyn Snapshot>>;
}

/// An implementation that runs the reference workers: each `start` is a fresh, unprepared instance.
pub trait Snapshots {
    /// A fresh instance with `worker` as the worker a dedicated snapshot imports.
    fn start(&self, worker: Reference) -> anyhow::Result<Box<dyn Snapshot>>;
}

/// The suite, in report order.
pub fn cases() -> &'static [Case<dyn Snapshots>] {
    &[
        Case { name: "prepare-baseline", about: "prepare(baseline) succeeds on a fresh instance", run: prepare_baseline },
        Case {
            name: "prepare-dedicated",
            about: "prepare(dedicated) succeeds on a fresh instance",
            run: prepare_dedicated,
        },
        Case {
            name: "refuses-import-time-draws",
            about: "prepare(dedicated) of a worker drawing `random` at import answers Err naming it",
            run: refuses_import_time_draws,
        },
        Case { name: "restored-after-prepare", about: "restored() after prepare succeeds", run: restored_after_prepare },
        Case {
            name: "any-order-answered",
            about: "restored() first, prepare twice, prepare after restored(): answered, never a trap",
            run: any_order_answered,
        },
        Case {
            name: "preparation-deterministic",
            about: "two instances prepared alike draw the same random values",
            run: preparation_deterministic,
        },
        Case {
            name: "restores-share-prepared-state",
            about: "instances restored from one snapshot draw the same values before restored()",
            run: restores_share_prepared_state,
        },
        Case {
            name: "restored-reseeds",
            about: "after restored(), two instances of one snapshot draw different values",
            run: restored_reseeds,
        },
    ]
}

/// A lifecycle call that must succeed.
fn ok(call: &str, answer: Answer) -> Check {
    match answer {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => anyhow::bail!("{call}: expected success, got Err({message:?})"),
        Err(trap) => Err(trap.context(format!("{call} trapped"))),
    }
}

/// A lifecycle call that may answer either way, but must answer (and an `Err` must say something).
fn answered(call: &str, answer: Answer) -> Check {
    match answer {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => {
            check!(!message.trim().is_empty(), "{call} answered Err with an empty message");
            Ok(())
        }
        Err(trap) => Err(trap.context(format!("{call} trapped instead of answering"))),
    }
}

/// A draw, or the row is not checked on this subject.
fn draw(instance: &mut dyn Snapshot) -> anyhow::Result<Vec<u8>> {
    let bytes = instance.draw()?.ok_or_else(|| {
        NotChecked("the suite cannot draw Python randomness through this subject's exports (the WIT has no draw)".into())
    })?;
    check_eq!(bytes.len(), 16, "length of a draw");
    Ok(bytes)
}

/// The `random` half and the `os.urandom` half of a draw.
fn halves(bytes: &[u8]) -> (&[u8], &[u8]) {
    bytes.split_at(8)
}

/// A prepared, captured dedicated snapshot of `echo`, or the row is not checked on this subject.
fn captured(fresh: Fresh<'_, dyn Snapshots>) -> anyhow::Result<Box<dyn Captured>> {
    let mut instance = fresh()?.start(Reference::Echo)?;
    ok("prepare(dedicated)", instance.prepare(Kind::Dedicated))?;
    instance.capture()?.ok_or_else(|| {
        NotChecked("the suite cannot capture this subject (a component's memory is not reachable through its exports)".into())
            .into()
    })
}

fn prepare_baseline(fresh: Fresh<'_, dyn Snapshots>) -> Check {
    ok("prepare(baseline)", fresh()?.start(Reference::Echo)?.prepare(Kind::Baseline))
}

fn prepare_dedicated(fresh: Fresh<'_, dyn Snapshots>) -> Check {
    ok("prepare(dedicated)", fresh()?.start(Reference::Echo)?.prepare(Kind::Dedicated))
}

fn refuses_import_time_draws(fresh: Fresh<'_, dyn Snapshots>) -> Check {
    match fresh()?.start(Reference::DrawsAtImport)?.prepare(Kind::Dedicated) {
        Ok(Err(message)) => {
            check!(
                message.contains("`random` at import time"),
                "the refusal does not say the worker drew from `random` at import time: {message:?}"
            );
            Ok(())
        }
        Ok(Ok(())) => anyhow::bail!("prepare(dedicated) of draws-at-import succeeded"),
        Err(trap) => Err(trap.context("prepare(dedicated) of draws-at-import trapped instead of answering Err")),
    }
}

fn restored_after_prepare(fresh: Fresh<'_, dyn Snapshots>) -> Check {
    let mut instance = fresh()?.start(Reference::Echo)?;
    ok("prepare(dedicated)", instance.prepare(Kind::Dedicated))?;
    ok("restored() after prepare", instance.restored())
}

fn any_order_answered(fresh: Fresh<'_, dyn Snapshots>) -> Check {
    let mut instance = fresh()?.start(Reference::Echo)?;
    answered("restored() before any prepare", instance.restored())?;
    answered("prepare(baseline) after restored()", instance.prepare(Kind::Baseline))?;
    let mut instance = fresh()?.start(Reference::Echo)?;
    answered("prepare(baseline)", instance.prepare(Kind::Baseline))?;
    answered("prepare(dedicated) after prepare(baseline)", instance.prepare(Kind::Dedicated))?;
    answered("prepare(dedicated) twice", instance.prepare(Kind::Dedicated))?;
    answered("restored()", instance.restored())?;
    answered("restored() twice", instance.restored())
}

fn preparation_deterministic(fresh: Fresh<'_, dyn Snapshots>) -> Check {
    let workers = fresh()?;
    let (mut a, mut b) = (workers.start(Reference::Echo)?, workers.start(Reference::Echo)?);
    ok("prepare(dedicated)", a.prepare(Kind::Dedicated))?;
    ok("prepare(dedicated)", b.prepare(Kind::Dedicated))?;
    for n in 0..2 {
        check_eq!(draw(&mut *a)?, draw(&mut *b)?, "draw #{n} of two instances prepared alike");
    }
    Ok(())
}

fn restores_share_prepared_state(fresh: Fresh<'_, dyn Snapshots>) -> Check {
    let snapshot = captured(fresh)?;
    let (mut a, mut b) = (snapshot.restore()?, snapshot.restore()?);
    for n in 0..2 {
        check_eq!(draw(&mut *a)?, draw(&mut *b)?, "draw #{n} of two restored instances before restored()");
    }
    Ok(())
}

fn restored_reseeds(fresh: Fresh<'_, dyn Snapshots>) -> Check {
    let snapshot = captured(fresh)?;
    // `twin` is never told it was restored: what the captured stream gives.
    let (mut a, mut b, mut twin) = (snapshot.restore()?, snapshot.restore()?, snapshot.restore()?);
    ok("restored()", a.restored())?;
    ok("restored()", b.restored())?;
    for n in 0..2 {
        let (x, y, stale) = (draw(&mut *a)?, draw(&mut *b)?, draw(&mut *twin)?);
        check_ne!(halves(&x).0, halves(&y).0, "`random` draw #{n} of two instances after restored()");
        check_ne!(halves(&x).1, halves(&y).1, "`os.urandom` draw #{n} of two instances after restored()");
        check_ne!(halves(&x).0, halves(&stale).0, "`random` draw #{n} after restored() vs the captured stream");
        check_ne!(halves(&x).1, halves(&stale).1, "`os.urandom` draw #{n} after restored() vs the captured stream");
    }
    Ok(())
}
