//! The pinned Pyodide package: which files we take from `pyodide@314.0.7` on npm, and fetching them.
//!
//! Only the interpreter module and the standard library are kept; the JS glue (`pyodide.asm.mjs`) is a reference
//! for the import ABI, not something we run.

use super::npm::Tools;
use super::progress::Step;
use super::tarball::{self, Member};
use super::{
    cache, stamp, PYODIDE_TARBALL_SHA256, PYODIDE_VERSION, PYODIDE_WASM_SHA256, STDLIB_ZIP_SHA256,
};
use anyhow::Result;
use std::path::Path;

/// A file taken from the Pyodide tarball, with its pinned hash.
pub(crate) struct Pinned {
    /// Path inside the tarball.
    pub member: &'static str,
    /// File name in `<home>/pyodide-<version>/`.
    pub file: &'static str,
    /// SHA-256 of its contents.
    pub sha256: &'static str,
}

/// The CPython interpreter, built by Emscripten; still in the legacy exception-handling encoding.
pub(crate) const ASM_WASM: Pinned = Pinned {
    member: "package/pyodide.asm.wasm",
    file: "pyodide.asm.wasm",
    sha256: PYODIDE_WASM_SHA256,
};

/// The standard library's `.py` sources, mounted as `/lib/python314.zip` in the guest.
pub(crate) const STDLIB_ZIP: Pinned = Pinned {
    member: "package/python_stdlib.zip",
    file: "python_stdlib.zip",
    sha256: STDLIB_ZIP_SHA256,
};

/// Every file we keep from the package.
pub(crate) const FILES: [&Pinned; 2] = [&ASM_WASM, &STDLIB_ZIP];

/// The provenance recorded in a file's stamp.
pub(crate) fn source(pinned: &Pinned) -> String {
    format!("npm pyodide@{PYODIDE_VERSION} {}", pinned.member)
}

/// Download the package with npm and extract `files` into `dir`, verified and stamped. `scratch` is a directory in
/// the cache for npm's output.
pub(crate) fn fetch(tools: &Tools, scratch: &Path, dir: &Path, files: &[&Pinned]) -> Result<()> {
    let spec = format!("pyodide@{PYODIDE_VERSION}");
    let what = format!("the {spec} package");
    let work = cache::partial_dir(scratch)?;

    let step = Step::spinner(&format!("downloading {spec} (npm, ~30 MB)"));
    let tgz = tools.pack(&spec, work.path())?;
    tarball::verify(&tgz, &what, PYODIDE_TARBALL_SHA256)?;
    step.done(&format!("downloaded {spec}"));

    let members: Vec<Member<'_>> = files
        .iter()
        .map(|p| Member {
            name: p.member,
            dest: dir.join(p.file),
            sha256: Some(p.sha256),
        })
        .collect();
    tarball::extract(&tgz, &what, &members)?;
    for pinned in files {
        stamp::Stamp::record(&dir.join(pinned.file), pinned.sha256, &source(pinned))?;
    }
    Ok(())
}
