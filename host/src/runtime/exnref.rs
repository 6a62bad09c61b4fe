//! Rewriting Pyodide's legacy exception handling (`try`/`catch`/`delegate`) into the exnref encoding
//! (`try_table`) that Wasmtime implements, with binaryen's `wasm-opt`, once per cache.
//!
//! binaryen comes from npm as a JS build run by node, so the only prerequisite is the node/npm pair we already need
//! for Pyodide. `wasm-opt` is self-contained: it needs only node built-ins, plus the `bin/package.json` beside it
//! that marks it CommonJS (the package root says `"type": "module"`, which would otherwise apply). Both are
//! extracted into a scratch directory, used, and dropped: the converted module is what we keep.

use super::digest::check_sha256;
use super::npm::Tools;
use super::progress::Step;
use super::tarball::{self, Member};
use super::{
    cache, digest, stamp, BINARYEN_TARBALL_SHA256, BINARYEN_VERSION, EXNREF_SHA256,
    PYODIDE_WASM_SHA256,
};
use anyhow::{Context, Result};
use std::ffi::OsString;
use std::path::Path;

/// Features Pyodide's module uses, enabled one by one. Not `-all`: that makes binaryen emit the "compact imports"
/// encoding, which Wasmtime rejects.
const FEATURES: &[&str] = &[
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-simd",
    "--enable-bulk-memory",
    "--enable-bulk-memory-opt",
    "--enable-call-indirect-overlong",
    "--enable-exception-handling",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// The provenance recorded in the converted module's stamp: a different input or binaryen invalidates it.
pub(crate) fn source() -> String {
    format!(
        "wasm-opt --translate-to-exnref (binaryen {BINARYEN_VERSION}) of pyodide.asm.wasm sha256 {PYODIDE_WASM_SHA256}"
    )
}

/// Convert `input` (the verified `pyodide.asm.wasm`) into `output`, verify the result against its pin, and stamp it.
/// `scratch` is a directory in the cache for npm's and binaryen's temporary files.
pub(crate) fn convert(tools: &Tools, input: &Path, output: &Path, scratch: &Path) -> Result<()> {
    let work = cache::partial_dir(scratch)?;
    let wasm_opt = fetch_wasm_opt(tools, work.path())?;

    let dir = cache::parent(output);
    let partial = cache::partial_file(dir)?;
    let mut args: Vec<OsString> = vec![input.into()];
    args.extend(FEATURES.iter().map(OsString::from));
    args.extend([
        "--translate-to-exnref".into(),
        "-o".into(),
        partial.path().into(),
    ]);
    let step =
        Step::spinner("converting Pyodide's exception handling to exnref (binaryen, once, ~6 s)");
    tools.node_script(
        &wasm_opt,
        &args,
        "binaryen's wasm-opt failed to convert Pyodide's exception handling: check that Node.js is ≥ 18 and has \
         memory to spare, then run `pyworkers setup` again",
    )?;
    let actual = digest::sha256_file(partial.path())?;
    check_sha256(
        "the converted module (pyodide.exnref.wasm)",
        &actual,
        EXNREF_SHA256,
        "binaryen's output differs from the measured one, so it cannot be trusted to match this pyworkers build; \
         report this with your Node.js version (`node --version`)",
    )?;
    cache::commit(partial, output)?;
    stamp::Stamp::record(output, EXNREF_SHA256, &source())
        .context("recording the converted module")?;
    step.done("converted Pyodide's exception handling to exnref");
    Ok(())
}

/// Fetch binaryen with npm into `work` (a scratch directory) and return the path of its `wasm-opt` there.
fn fetch_wasm_opt(tools: &Tools, work: &Path) -> Result<std::path::PathBuf> {
    let spec = format!("binaryen@{BINARYEN_VERSION}");
    let step = Step::spinner(&format!("downloading {spec} (npm)"));
    let tgz = tools.pack(&spec, work)?;
    tarball::verify(
        &tgz,
        &format!("the {spec} package"),
        BINARYEN_TARBALL_SHA256,
    )?;
    step.done(&format!("downloaded {spec}"));

    let wasm_opt = work.join("bin/wasm-opt");
    tarball::extract(
        &tgz,
        &format!("the {spec} package"),
        &[
            Member {
                name: "package/bin/wasm-opt",
                dest: wasm_opt.clone(),
                sha256: None,
            },
            Member {
                name: "package/bin/package.json",
                dest: work.join("bin/package.json"),
                sha256: None,
            },
        ],
    )?;
    Ok(wasm_opt)
}

/// Whether `wasm` uses the legacy exception-handling instructions (`try`, `catch`, `delegate`, `rethrow`), which
/// Wasmtime does not run. A module that does not parse is reported as not needing conversion: compiling it gives the
/// clear error.
pub fn uses_legacy_exceptions(wasm: &[u8]) -> bool {
    use wasmparser::{Operator, Parser, Payload};
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(Payload::CodeSectionEntry(body)) = payload else {
            continue;
        };
        let Ok(mut ops) = body.get_operators_reader() else {
            return false;
        };
        while !ops.eof() {
            match ops.read() {
                Ok(Operator::Try { .. } | Operator::Catch { .. } | Operator::CatchAll | Operator::Delegate { .. } | Operator::Rethrow { .. }) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }
    false
}

/// What [`convert_side_module`] produces from a module, for cache identities: a new binaryen changes it.
pub fn side_module_recipe() -> String {
    format!("wasm-opt --translate-to-exnref (binaryen {BINARYEN_VERSION})")
}

/// Convert an Emscripten side module's legacy exception handling to exnref, as for Pyodide's module. `scratch` is a
/// directory in the cache for temporary files. The result is not pinned (side modules are the user's); the caller
/// caches what it compiles from it by the input's hash.
pub(crate) fn convert_side_module(tools: &Tools, wasm: &[u8], scratch: &Path) -> Result<Vec<u8>> {
    tools.check_node()?;
    let work = cache::partial_dir(scratch)?;
    let wasm_opt = fetch_wasm_opt(tools, work.path())?;
    let input = work.path().join("in.wasm");
    let output = work.path().join("out.wasm");
    std::fs::write(&input, wasm).with_context(|| format!("writing {}", input.display()))?;
    let mut args: Vec<OsString> = vec![input.into()];
    args.extend(FEATURES.iter().map(OsString::from));
    args.extend(["--translate-to-exnref".into(), "-o".into(), output.clone().into()]);
    let step = Step::spinner("converting an extension's exception handling to exnref (binaryen, once)");
    tools.node_script(&wasm_opt, &args, "binaryen's wasm-opt failed to convert a side module's exception handling")?;
    step.done("converted an extension's exception handling to exnref");
    std::fs::read(&output).with_context(|| format!("reading {}", output.display()))
}
