//! The compiled-module cache: Cranelift takes ~10 s and ~320 MB to compile Pyodide's code, deserializing the result
//! takes milliseconds, so each (Wasmtime, module, engine configuration) is compiled once into `<home>/compiled/`.
//! A state module's artifact is mostly its memory image, much of it zero pages: those are written as holes, so a
//! snapshot's artifact takes about its non-zero memory on disk.
//!
//! The file name is the key, so engines with different settings (tests, future flags) each get their own file and
//! never evict one another. Wasmtime itself also refuses artifacts from another version or configuration when
//! deserializing; the key just makes the right file the only one we try.

use super::cache::{self, HomeLock};
use super::digest::sha256_hex;
use super::progress::Step;
use super::stamp::{self, Stamp};
use super::{usage, Runtime};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::Path;
use wasmtime::{Engine, Module};

/// The Wasmtime version we build against. Wasmtime exports no version constant, and the workspace pins this exact
/// version (`=48.0.8`), so it is spelled out here; bump both together.
const WASMTIME_VERSION: &str = "48.0.8";

/// Bumped if the key's recipe or the file format around it ever changes.
const KEY_RECIPE: &str = "pyworkers compiled module v3";

/// The cache key for compiling the module whose SHA-256 is `wasm_sha256` with `engine`: hex SHA-256 over the recipe
/// name, the Wasmtime version, the module's hash, and everything Wasmtime itself says makes compiled code
/// compatible (`Engine::precompile_compatibility_hash`: target, compiler flags, tunables, wasm features).
///
/// That last item is only available as `impl Hash`, so it is fed through [`Sha256Hasher`] rather than
/// `std::hash::DefaultHasher`: SipHash's output is explicitly not stable across Rust releases, SHA-256 is, and a
/// 256-bit key makes collisions between configurations a non-issue.
pub(crate) fn key(engine: &Engine, wasm_sha256: &str) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    KEY_RECIPE.hash(&mut hasher);
    WASMTIME_VERSION.hash(&mut hasher);
    wasm_sha256.hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(hasher.0.finalize())
}

/// A `std::hash::Hasher` that feeds every byte into SHA-256, so `Hash` values can contribute to a stable digest.
pub struct Sha256Hasher(pub Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Not used for the key (we take the whole digest), but must be a faithful function of the input.
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

/// Load the module `identity` names, compiling the bytes `produce` returns on a cache miss. `identity` must change
/// whenever those bytes would.
pub(crate) fn load_with(
    runtime: &Runtime,
    engine: &Engine,
    label: &str,
    identity: &str,
    produce: impl FnOnce() -> Result<Vec<u8>>,
) -> Result<Module> {
    let dir = runtime.home().join("compiled");
    let key = key(engine, identity);
    let path = dir.join(format!("{key}.cwasm"));
    let source = format!("wasmtime {WASMTIME_VERSION} precompile of {identity}");

    // Fast path, without the lock: a file whose stamp still describes it is the one we wrote.
    if Stamp::read(&path).is_some_and(|s| s.source == source && s.describes(&path)) {
        match deserialize(engine, &path) {
            Ok(module) => {
                usage::touch(&path);
                return Ok(module);
            }
            Err(e) => {
                tracing::debug!(error = %format!("{e:#}"), "cached module rejected; recompiling")
            }
        }
    }

    let lock = HomeLock::acquire(runtime.home())?;
    cache::create_dir(&dir)?;
    cache::sweep_partials(&lock, &dir);
    // Another process may have compiled it while we waited, or the stamp may only be stale (e.g. after a copy).
    if stamp::verify_recorded(&path, &source)? {
        match deserialize(engine, &path) {
            Ok(module) => {
                usage::touch(&path);
                return Ok(module);
            }
            Err(e) => {
                let error = format!("{e:#}");
                tracing::warn!(path = %path.display(), %error, "cached module is stale; recompiling");
                stamp::remove(&path)?;
            }
        }
    }
    compile(engine, label, produce()?, &path, &source)?;
    let module = deserialize(engine, &path).with_context(|| {
        format!(
            "loading the module just compiled into {}: delete that file and try again",
            path.display()
        )
    })?;
    usage::touch(&path);
    usage::enforce(runtime.home(), runtime.cache_cap());
    Ok(module)
}

/// Compile `wasm` and write the artifact and its stamp to `path`.
fn compile(engine: &Engine, label: &str, wasm: Vec<u8>, path: &Path, source: &str) -> Result<()> {
    let step = Step::spinner(&format!("compiling {label} (once)"));
    let artifact = engine.precompile_module(&wasm).map_err(anyhow::Error::from).with_context(|| {
        format!(
            "Wasmtime could not compile {label}: the engine must enable exceptions, reference types, function \
             references and GC (see `interpreter::engine_config`)"
        )
    })?;
    step.done(&format!("compiled {label}"));
    cache::write_atomic_sparse(path, &artifact)?;
    Stamp::record(path, &sha256_hex(&artifact), source)
}

fn deserialize(engine: &Engine, path: &Path) -> Result<Module> {
    // SAFETY: `deserialize_file` trusts the file to be a Wasmtime artifact that stays unchanged while mapped. This
    // file is one we wrote ourselves with `Engine::precompile_module` into our own cache directory, atomically
    // (never modified in place: replacements are renames, which leave an existing mapping intact), and its stamp
    // matched, so it is the file we wrote. Anyone able to alter it could equally alter the cache's wasm or this
    // binary. Wasmtime still checks the version and engine configuration recorded in it.
    let module = unsafe { Module::deserialize_file(engine, path) };
    module
        .map_err(anyhow::Error::from)
        .with_context(|| format!("deserializing {}", path.display()))
}
