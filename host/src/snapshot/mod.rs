//! Memory snapshots: capture a prepared interpreter, restore it copy-on-write in microseconds.
//!
//! **A snapshot is state, not code.** Pyodide runs split in two (`runtime::split`): a code module compiled once per
//! cache, which imports its memory and every global, and a *state module* with no functions that defines them.
//! Capturing reads the state instance's memory and globals; restoring builds a state module whose data segments are
//! the captured non-zero memory and whose global initialisers are the captured values (Wizer's rewrite step, on a
//! module of data only), compiles it (milliseconds: there is no code, and its artifact is the memory image, with
//! zero pages written as holes), and instantiates it from an `InstancePre` with the pooling allocator and a
//! copy-on-write image, then links the cached code to it. No heap copy per instance, no constructors, no CPython
//! init, and making a snapshot never runs Cranelift over Pyodide again.
//!
//! Why this design, measured against the alternatives (issue: "snapshots that compile nothing"): a whole
//! pre-initialised module per snapshot costs a full Cranelift compile (~5 s, ~465 MB) and a ~45 MB artifact each;
//! Wasmtime's incremental compilation cache brings the compile to ~1.5 s but keeps the 45 MB; a custom
//! `MemoryCreator` cannot be combined with the pooling allocator, which is what makes restores cost microseconds.
//! The split keeps pooling and copy-on-write and costs an imported memory and imported globals in the code (one
//! indirection on `__stack_pointer`), plus linking ~550 imports per instance (host functions, the memory, the
//! mutable globals) instead of using one `InstancePre`.
//!
//! The file ([`format`]) holds what the state module needs — non-zero memory and globals — plus the host state that
//! lives outside linear memory (in-memory files, fds, cwd, environment, clock, entropy). Its checksum is verified
//! once per file (recorded in the cache, [`read`]); later starts read only its metadata.
//!
//! Preparation runs with deterministic entropy and a deterministic clock, so the same inputs give the same bytes;
//! the hash seed is drawn from live entropy per snapshot unless pinned.

pub mod format;
mod prefault;
mod read;
mod restore;
mod worker;

/// Cap'n Proto code generated from `schema/snapshot.capnp` by `capnpc`, checked in so that building needs no
/// `capnp` compiler; the test `schema::generated_code_is_current` regenerates it and fails on any difference.
#[allow(missing_docs, clippy::all, dead_code, unused_parens)]
#[rustfmt::skip]
pub(crate) mod snapshot_capnp;

pub use format::{Decode, HashSeed, SnapshotData, WorkerInfo};
pub use read::read;
pub use restore::Restorer;
pub use worker::Worker;

use crate::emscripten::EmContext;
use crate::interpreter::{BootOptions, Interpreter, Outcome, Pyodide};
use crate::runtime::split::{self, GlobalValue};
use anyhow::{bail, Context, Result};
use wasmtime::Val;

/// What a snapshot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// The interpreter and the standard-library modules in `_pyworkers.snapshot.BASELINE_IMPORTS`; no worker files
    /// are mounted, so no user data can enter it.
    Baseline,
    /// The baseline plus the worker's top-level module imported.
    Dedicated,
}

impl Kind {
    /// The name the guest's `prepare()` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Baseline => "baseline",
            Kind::Dedicated => "dedicated",
        }
    }
}

/// The seed of the deterministic entropy stream used while preparing: the one a fresh `entropy` component starts
/// from too, so a snapshot prepared over either draws the same bytes.
pub const PREPARE_SEED: [u8; 32] = crate::entropy::SEED;

/// Where a dedicated snapshot's worker files are mounted (`_pyworkers.snapshot.WORKER_ROOT`).
pub const WORKER_ROOT: &str = "/app";

/// Zero runs shorter than this stay inside one data segment.
const SEGMENT_GAP: usize = 128;

/// Run the guest's `_pyworkers.snapshot.prepare` for `kind`, importing `worker_module` for a dedicated snapshot.
pub fn prepare(
    interp: &mut Interpreter,
    kind: Kind,
    worker_module: Option<&str>,
    strict_entropy: bool,
) -> Result<()> {
    let module = match worker_module {
        Some(m) if pyworkers_emscripten::boot::is_module_name(m) => format!("'{m}'"),
        Some(m) => bail!("`{m}` is not a Python module name"),
        None => "None".into(),
    };
    let strict = if strict_entropy { "True" } else { "False" };
    let code = format!(
        "import _pyworkers.snapshot as s; s.prepare('{}', {module}, strict={strict})",
        kind.as_str()
    );
    match interp.run_source(&code)? {
        Outcome::Completed => {}
        Outcome::Raised => {
            bail!("preparing the snapshot failed: the worker raised (traceback above)")
        }
        Outcome::Exited(code) => {
            bail!("preparing the snapshot failed: the worker exited with status {code}")
        }
    }
    immortalize(interp).context("making the prepared objects immortal")
}

/// Make every object the prepared interpreter holds immortal (`_Py_SetImmortal`), so restored instances never
/// write their reference counts: the pages holding them stay shared with the snapshot's image instead of being
/// copied by the first request that uses them. The guest names the objects (`immortal_candidates`, which says
/// why this is safe) and keeps them alive until this is done.
fn immortalize(interp: &mut Interpreter) -> Result<()> {
    let gather = interp
        .lookup("_pyworkers.snapshot", "immortal_candidates")?
        .context("the runtime has no _pyworkers.snapshot.immortal_candidates")?;
    let addresses = interp.call_bytes(gather, b"");
    interp.call("Py_DecRef", &[gather])?;
    let addresses = addresses?.context("listing the prepared objects raised (traceback above)")?;
    let instance = *interp.instance();
    let set_immortal = instance
        .get_typed_func::<i32, ()>(&mut *interp.store_mut(), "_Py_SetImmortal")
        .map_err(anyhow::Error::from)
        .context("Pyodide exports no _Py_SetImmortal")?;
    for address in addresses.chunks_exact(4) {
        let address = i32::from_le_bytes(address.try_into().expect("4-byte chunk"));
        set_immortal.call(&mut *interp.store_mut(), address).map_err(anyhow::Error::from)?;
    }
    match interp.call_function("_pyworkers.snapshot", "immortal_done")? {
        Outcome::Completed => Ok(()),
        other => bail!("finishing immortalisation failed ({other:?})"),
    }
}

/// Capture a prepared interpreter's state.
pub fn capture(
    interp: &mut Interpreter,
    kind: Kind,
    pyodide_sha256: &str,
    worker: Option<WorkerInfo>,
    hash_seed: HashSeed,
) -> Result<SnapshotData> {
    let state = *interp.state_instance();
    let trampoline_index = interp.trampoline_index();
    let memory = interp.memory()?;
    let store = interp.store_mut();
    let mut globals = Vec::new();
    while let Some(global) = state.get_global(&mut *store, &split::global_name(globals.len())) {
        globals.push(match global.get(&mut *store) {
            Val::I32(v) => GlobalValue::I32(v),
            Val::I64(v) => GlobalValue::I64(v),
            Val::F32(v) => GlobalValue::F32(v),
            Val::F64(v) => GlobalValue::F64(v),
            _ => GlobalValue::Keep,
        });
    }
    if globals.is_empty() {
        bail!("the state instance exports no globals");
    }
    let bytes = memory.data(&*store);
    let memory_pages = (bytes.len() / 65536) as u32;
    let segments = split::nonzero_segments(bytes, SEGMENT_GAP)
        .into_iter()
        .map(|s| (s.offset, s.data.to_vec()))
        .collect();
    let dylink = crate::emscripten::dylink::record(&mut wasmtime::AsContextMut::as_context_mut(&mut *store));
    let em = &mut store.data_mut().em;
    let host = host_state(em, trampoline_index, dylink);
    Ok(SnapshotData {
        kind,
        pyodide_sha256: pyodide_sha256.into(),
        pyworkers_version: crate::build_id().into(),
        worker,
        hash_seed,
        stdlib_bytecode_sha256: String::new(),
        host,
        memory_pages,
        segments,
        globals,
        file_sha256: String::new(),
        segments_elided: false,
        origin: None,
    })
}

fn host_state(
    em: &mut EmContext,
    trampoline_index: u32,
    dylink: crate::emscripten::dylink::Record,
) -> format::HostState {
    use crate::vfs::{Fs, NodeRef};
    let memfs = em
        .vfs
        .mounts()
        .iter()
        .filter(|m| m.writable)
        .filter_map(|m| match &m.fs {
            Fs::Mem(fs) => Some((m.path.clone(), fs.limit(), fs.nodes().to_vec())),
            _ => None,
        })
        .collect();
    let fds = em
        .vfs
        .fds()
        .map(|(fd, f)| format::FdState {
            fd,
            path: f.path.clone(),
            flags: f.flags,
            pos: f.pos,
            stdio: match f.node {
                NodeRef::Stdio(n) => n as i8,
                _ => -1,
            },
        })
        .collect();
    format::HostState {
        cwd: em.vfs.cwd().to_string(),
        environ: em.environ.clone(),
        program: em.program.clone(),
        monotonic_ns: em.clock.monotonic_ns(),
        entropy: em.entropy.state(),
        umask: em.umask,
        memfs,
        fds,
        trampoline_index,
        dylink,
    }
}

/// Boot an interpreter set up for preparing a snapshot: deterministic entropy and clock, and the hash seed.
pub fn boot_for_prepare(pyodide: &Pyodide, mut em: EmContext, hash_seed: u32) -> Result<Interpreter> {
    em.entropy = crate::entropy::Entropy::deterministic(PREPARE_SEED);
    em.clock = crate::emscripten::Clock::deterministic();
    let options = BootOptions {
        hash_seed: Some(hash_seed),
        ..BootOptions::default()
    };
    Interpreter::boot(pyodide, em, &options)
}
