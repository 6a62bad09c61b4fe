//! The standard library compiled to bytecode, once per cache: Pyodide ships only `.py` sources, so without this
//! every run compiles each standard module it imports again (`import json, re, datetime` ≈ 200 ms).
//!
//! Pyodide's own CPython runs `stdlib_bytecode.py` over the pinned zip and writes a tar of the zip's files plus
//! unchecked-hash `.pyc` files, which the guest mounts at `/lib/python3.14`, ahead of the zip on `sys.path`. This
//! module keeps the archive in the cache; booting the interpreter that builds it is the `stdlib` module's job. Only the interpreter that will load the files may compile them (the magic number and the bytecode
//! format are that build's), so this module must never use another Python. The archive is reproducible but not
//! pinned: its stamp names everything it is a function of (the zip, the interpreter, this recipe), and anything else
//! — a missing stamp, a changed hash — rebuilds it.

use super::cache::{self, HomeLock};
use super::digest::sha256_hex;
use super::progress::Step;
use super::stamp::{self, Stamp};
use super::{mapped, Runtime, STDLIB_ZIP_SHA256};
use crate::tarfs::Archive;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// File name of the archive in `<home>/pyodide-<version>/`.
pub(crate) const FILE: &str = "stdlib-bytecode.tar";

/// Bumped when the host's side of the recipe changes (how the guest is booted, what is checked). The guest's side
/// is [`SCRIPT`], whose hash is part of the key, so editing it rebuilds every cache by itself.
const RECIPE: &str = "pyworkers stdlib bytecode v1";

/// What the guest runs to build the archive (`build(zip, output, prefix)`); part of the archive's provenance.
pub const STDLIB_BYTECODE_SCRIPT: &str = include_str!("stdlib_bytecode.py");
const SCRIPT: &str = STDLIB_BYTECODE_SCRIPT;

/// The standard library compiled to bytecode, as one build produced it.
#[derive(Debug, Clone)]
pub struct StdlibBytecode {
    /// The tar archive: every file of the zip, plus `__pycache__/*.pyc` next to each module that compiled.
    pub tar: Vec<u8>,
    /// How many `.py` files were compiled.
    pub compiled: usize,
    /// The `.py` files that did not compile (e.g. test data with deliberate syntax errors), left as source only.
    pub skipped: Vec<String>,
}

/// The provenance recorded in the archive's stamp: a different zip, interpreter or recipe is a different archive.
fn source(runtime: &Runtime) -> String {
    format!(
        "{RECIPE} (script sha256 {}) of python_stdlib.zip sha256 {STDLIB_ZIP_SHA256} by pyodide.exnref.wasm sha256 {}",
        sha256_hex(SCRIPT.as_bytes()),
        runtime.wasm_sha256()
    )
}

/// The path of a verified archive in `runtime`'s cache, building it with `build` (once, a few seconds) if it is
/// missing, stale or damaged. When the archive is in place this reads only its metadata and stamp.
pub(crate) fn ensure(runtime: &Runtime, build: impl FnOnce() -> Result<StdlibBytecode>) -> Result<PathBuf> {
    let path = runtime.stdlib_bytecode_path();
    let source = source(runtime);
    if Stamp::read(&path).is_some_and(|s| s.source == source && s.describes(&path)) {
        super::usage::touch(&path);
        return Ok(path);
    }
    let lock = HomeLock::acquire(runtime.home())?;
    cache::create_dir(&runtime.dir)?;
    cache::sweep_partials(&lock, &runtime.dir);
    // Another process may have built it while we waited, or only the stamp may be stale (e.g. after a copy).
    if stamp::verify_recorded(&path, &source)? {
        super::usage::touch(&path);
        return Ok(path);
    }
    let step = Step::spinner("compiling the standard library to bytecode (once)");
    let built = build()?;
    step.done(&format!(
        "compiled the standard library to bytecode: {} modules, {} skipped",
        built.compiled,
        built.skipped.len()
    ));
    // Never cache what the guest could not mount.
    Archive::open(built.tar.clone()).map_err(|e| {
        anyhow::anyhow!("the standard library bytecode is not a valid tar archive ({e:?})")
    })?;
    cache::write_atomic(&path, &built.tar)?;
    Stamp::record(&path, &sha256_hex(&built.tar), &source)?;
    super::usage::touch(&path);
    drop(lock);
    runtime.enforce_cap();
    Ok(path)
}

/// Map and index the archive at `path`, a file in the cache.
pub(crate) fn open(path: &Path) -> Result<Archive> {
    let bytes = mapped::map(path).with_context(|| format!("reading {}", path.display()))?;
    Archive::open_shared(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a valid tar archive ({e:?}): run `pyworkers setup` again",
            path.display()
        )
    })
}

