//! The conformance suites' reference worker contract (`host/src/conformance/entrypoint/mod.rs`) as a Rust
//! component exporting `pyworkers:runtime/entrypoint` and `pyworkers:runtime/snapshot`: `echo`, `fetch-only` or
//! `draws-at-import` as `PYWORKERS_REFERENCE_WORKER` says. It proves the suites on a component subject; it has no
//! Python in it, so its snapshot lifecycle only answers the calls (nothing to capture).

/// This is the honest one.
const WRONG: bool = false;

include!("worker.rs");
