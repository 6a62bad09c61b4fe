//! A broken reference worker: the code of `tests/guests/reference-worker` with `WRONG` set, so the echo collapses
//! repeated header names (keeping the last value) and cuts bodies at the first NUL byte. Everything else is
//! honest, so the `entrypoint` suite must fail exactly `repeated-headers` and `binary-bodies`.

/// Turns the two bugs on.
const WRONG: bool = true;

include!("../../reference-worker/src/worker.rs");
