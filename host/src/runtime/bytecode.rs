//! The standard library compiled to bytecode, once per cache: Pyodide ships only `.py` sources, so without this
//! every run compiles each standard module it imports again (`import json, re, datetime` ≈ 200 ms).
//!
//! Pyodide's own CPython runs `stdlib_bytecode.py` over the pinned zip and writes a tar of the zip's files plus
//! unchecked-hash `.pyc` files, which the guest mounts at [`layout::STDLIB_BYTECODE`], ahead of the zip on
//! `sys.path`. Only the interpreter that will load the files may compile them (the magic number and the bytecode
//! format are that build's), so this module must never use another Python. The archive is reproducible but not
//! pinned: its stamp names everything it is a function of (the zip, the interpreter, this recipe), and anything else
//! — a missing stamp, a changed hash — rebuilds it.

use super::cache::{self, HomeLock};
use super::digest::{check_bytes, sha256_hex};
use super::progress::Step;
use super::stamp::{self, Stamp};
use super::{mapped, Runtime, STDLIB_ZIP_SHA256};
use crate::emscripten::{trampoline, EmContext};
use crate::interpreter::{BootOptions, Interpreter, Outcome};
use crate::tarfs::Archive;
use crate::vfs::{layout, Output};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use wasmtime::{Engine, Module};

/// File name of the archive in `<home>/pyodide-<version>/`.
pub(crate) const FILE: &str = "stdlib-bytecode.tar";

/// Bumped when the host's side of the recipe changes (how the guest is booted, what is checked). The guest's side
/// is [`SCRIPT`], whose hash is part of the key, so editing it rebuilds every cache by itself.
const RECIPE: &str = "pyworkers stdlib bytecode v1";

/// What the guest runs to build the archive.
const SCRIPT: &str = include_str!("stdlib_bytecode.py");

/// Where the guest writes the archive (its in-memory `/tmp`) for the host to collect.
const GUEST_OUTPUT: &str = "/tmp/stdlib-bytecode.tar";

/// The hash seed the compiling interpreter runs with: `frozenset` constants are marshalled in hash order, so a
/// random seed would make every build differ.
const HASH_SEED: u32 = 0;

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

/// The path of a verified archive in `runtime`'s cache, building it (once, a few seconds) if it is missing, stale
/// or damaged. When the archive is in place this reads only its metadata and stamp.
pub(crate) fn ensure(runtime: &Runtime, engine: &Engine) -> Result<PathBuf> {
    let path = runtime.stdlib_bytecode_path();
    let source = source(runtime);
    if Stamp::read(&path).is_some_and(|s| s.source == source && s.describes(&path)) {
        return Ok(path);
    }
    // Before taking the lock: loading may compile the module, which takes the lock itself.
    let module = runtime.load_module(engine)?;
    let lock = HomeLock::acquire(runtime.home())?;
    cache::create_dir(&runtime.dir)?;
    cache::sweep_partials(&lock, &runtime.dir);
    // Another process may have built it while we waited, or only the stamp may be stale (e.g. after a copy).
    if stamp::verify_recorded(&path, &source)? {
        return Ok(path);
    }
    let step = Step::spinner("compiling the standard library to bytecode (once)");
    let built = build(runtime, engine, &module)?;
    step.done(&format!(
        "compiled the standard library to bytecode: {} modules, {} skipped",
        built.compiled,
        built.skipped.len()
    ));
    cache::write_atomic(&path, &built.tar)?;
    Stamp::record(&path, &sha256_hex(&built.tar), &source)?;
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

/// Compile the standard library in a fresh interpreter from `module` (Pyodide's, for `engine`), without the cache.
pub(crate) fn build(runtime: &Runtime, engine: &Engine, module: &Module) -> Result<StdlibBytecode> {
    let zip = std::fs::read(runtime.stdlib_zip_path()).with_context(|| {
        format!(
            "reading {}: run `pyworkers setup` again",
            runtime.stdlib_zip_path().display()
        )
    })?;
    // The stamp names this hash, so make sure it is what we compile even if the file changed since `ensure`.
    check_bytes(
        "the standard library (python_stdlib.zip)",
        &zip,
        STDLIB_ZIP_SHA256,
        "it changed after it was verified; run `pyworkers setup` again",
    )?;
    let mut vfs = layout::standard(zip.into(), None)?;
    vfs.stdout = Output::Capture(Vec::new());
    vfs.stderr = Output::Capture(Vec::new());
    let mut em = EmContext::new(vfs);
    em.entropy = crate::entropy::Entropy::deterministic([0; 32]);
    let trampoline = trampoline::compile(engine)?;
    let options = BootOptions {
        hash_seed: Some(HASH_SEED),
        ..BootOptions::default()
    };
    let mut interp = Interpreter::boot(engine, module, &trampoline, em, &options)
        .context("booting Pyodide to compile the standard library")?;
    let call = format!(
        "{SCRIPT}\nbuild({:?}, {:?}, {:?})\n",
        layout::STDLIB_ZIP,
        GUEST_OUTPUT,
        layout::STDLIB_BYTECODE
    );
    let outcome = interp.run_source(&call)?;
    let vfs = &interp.host().em.vfs;
    let text = |o: &Output| String::from_utf8_lossy(o.captured().unwrap_or_default()).into_owned();
    if outcome != Outcome::Completed {
        bail!(
            "compiling the standard library to bytecode failed ({outcome:?}):\n{}",
            text(&vfs.stderr)
        );
    }
    let tar = vfs
        .read_file(GUEST_OUTPUT)
        .map_err(|e| anyhow::anyhow!("collecting {GUEST_OUTPUT} from the guest: errno {}", e.0))?;
    let mut compiled = None;
    let mut skipped = Vec::new();
    for line in text(&vfs.stdout).lines() {
        match line.split_once(' ') {
            Some(("compiled", n)) => compiled = n.parse().ok(),
            Some(("skipped", name)) => skipped.push(name.to_string()),
            _ => {}
        }
    }
    let compiled = compiled.context("the bytecode recipe did not report what it compiled")?;
    for name in &skipped {
        tracing::debug!(%name, "left as source: does not compile");
    }
    // Never cache what the guest could not mount.
    Archive::open(tar.clone()).map_err(|e| {
        anyhow::anyhow!("the standard library bytecode is not a valid tar archive ({e:?})")
    })?;
    Ok(StdlibBytecode {
        tar,
        compiled,
        skipped,
    })
}
