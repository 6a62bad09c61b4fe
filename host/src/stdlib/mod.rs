//! The standard library the guest sees: Pyodide's zip of `.py` sources, the bytecode archive compiled from it by
//! this very interpreter (kept in the cache by `runtime`), and the standard file-system layout over both.
//!
//! Only the interpreter that will load the `.pyc` files may compile them (the magic number and the bytecode format
//! are that build's), so the archive is built by booting Pyodide itself, never another Python.

use crate::emscripten::EmContext;
use crate::interpreter::{BootOptions, Interpreter, Outcome, Pyodide};
use crate::runtime::{StdlibBytecode, STDLIB_BYTECODE_SCRIPT};
use crate::tarfs::Archive;
use crate::vfs::{layout, Output, Vfs};
use anyhow::{bail, Context, Result};
use std::sync::Arc;

/// Where the guest writes the archive (its in-memory `/tmp`) for the host to collect.
const GUEST_OUTPUT: &str = "/tmp/stdlib-bytecode.tar";

/// The hash seed the compiling interpreter runs with: `frozenset` constants are marshalled in hash order, so a
/// random seed would make every build differ.
const HASH_SEED: u32 = 0;

/// The bytecode archive, built with `pyodide` on first use, indexed and ready to mount.
pub fn bytecode(pyodide: &Pyodide) -> Result<Arc<Archive>> {
    let runtime = pyodide.runtime();
    let path = runtime.ensure_stdlib_bytecode(|| build(pyodide))?;
    runtime.open_stdlib_bytecode(&path)
}

/// The standard layout (`vfs::layout::standard`) over the runtime's standard library and its bytecode (built
/// first if the cache has none yet): what every command and test starts from.
pub fn vfs(pyodide: &Pyodide) -> Result<Vfs> {
    vfs_with(pyodide, Some(bytecode(pyodide)?))
}

/// The standard layout with `bytecode` mounted if given; without it every import compiles from source.
pub fn vfs_with(pyodide: &Pyodide, bytecode: Option<Arc<Archive>>) -> Result<Vfs> {
    let runtime = pyodide.runtime();
    // Mapped, not read: a start touches only the zip's directory and the few members not in the bytecode.
    let stdlib = runtime.map_stdlib_zip().context("reading the standard library")?;
    layout::standard(stdlib, bytecode, crate::PYWORKERS_LIB_TAR)
}

/// Compile the standard library in a fresh interpreter, without the cache. The same inputs give the same bytes.
pub fn build(pyodide: &Pyodide) -> Result<StdlibBytecode> {
    let mut vfs = vfs_with(pyodide, None)?;
    vfs.stdout = Output::Capture(Vec::new());
    vfs.stderr = Output::Capture(Vec::new());
    let mut em = EmContext::new(vfs);
    em.entropy = crate::entropy::Entropy::deterministic([0; 32]);
    let options = BootOptions {
        hash_seed: Some(HASH_SEED),
        ..BootOptions::default()
    };
    let mut interp = Interpreter::boot(pyodide, em, &options)
        .context("booting Pyodide to compile the standard library")?;
    let call = format!(
        "{STDLIB_BYTECODE_SCRIPT}\nbuild({:?}, {:?}, {:?})\n",
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
        .map_err(|e| anyhow::anyhow!("collecting {GUEST_OUTPUT} from the guest: {e:?}"))?;
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
    Ok(StdlibBytecode {
        tar,
        compiled,
        skipped,
    })
}
