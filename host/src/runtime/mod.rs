//! Obtaining Pyodide, once, into a cache: the pinned npm package, its exception handling converted to what
//! Wasmtime runs, and the module compiled for the engine in use.
//!
//! This module owns the cache directory (`$PYWORKERS_HOME`, default `~/.cache/pyworkers`) and nothing outside it.
//! Everything it keeps is pinned by SHA-256 and re-checked on every start (cheaply, through stamp files); a file that
//! fails a check is fetched or rebuilt, never used. It must never leave a partially written file under a real
//! name, and never trust a download it has not hashed.
//!
//! Cache layout:
//!
//! ```text
//! <home>/
//!   .lock                              advisory lock held while filling the cache
//!   pyodide-314.0.7/
//!     pyodide.asm.wasm   (+ .stamp)    from npm pyodide@314.0.7 (legacy exception handling)
//!     python_stdlib.zip  (+ .stamp)    from npm pyodide@314.0.7
//!     pyodide.exnref.wasm (+ .stamp)   converted by binaryen 132.0.0's wasm-opt: what we run
//!     stdlib-bytecode.tar (+ .stamp)   the zip's files plus .pyc compiled by that module's CPython (guest
//!                                      /lib/python3.14); rebuilt, not fetched, when stale
//!   compiled/
//!     <key>.cwasm        (+ .stamp)    Wasmtime artifacts, one per engine configuration
//! ```
//!
//! The module is run split in two ([`split`]): code compiled once, and state modules (Pyodide's initial state, each
//! snapshot) that hold memory and globals; `interpreter::Pyodide` loads both through [`Runtime::load_compiled`].
//!
//! ```no_run
//! let runtime = pyworkers::runtime::Runtime::ensure(&pyworkers::runtime::default_home())?;
//! let engine = pyworkers::interpreter::engine(1)?;
//! let pyodide = pyworkers::interpreter::Pyodide::load(&runtime, &engine)?;
//! # let _ = pyodide;
//! # anyhow::Ok(())
//! ```

mod bytecode;
mod cache;
mod compiled;
mod digest;
mod exnref;
pub(crate) mod mapped;
mod npm;
mod progress;
mod pyodide;
pub mod split;
mod stamp;
mod tarball;
#[cfg(test)]
mod tests;
pub mod usage;

use anyhow::{Context, Result};
pub use bytecode::{StdlibBytecode, STDLIB_BYTECODE_SCRIPT};
pub use compiled::Sha256Hasher;
use cache::HomeLock;
use npm::Tools;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The Pyodide release we run (npm package `pyodide`).
pub const PYODIDE_VERSION: &str = "314.0.7";

/// The binaryen release that converts Pyodide's exception handling (npm package `binaryen`).
pub const BINARYEN_VERSION: &str = "132.0.0";

// Pins. Bumping a version means re-measuring all of these: the conversion's output is checked too, so a new
// binaryen or Pyodide cannot slip in unnoticed.

/// SHA-256 of the `npm pack pyodide@314.0.7` tarball.
const PYODIDE_TARBALL_SHA256: &str =
    "66b7949e5a0cba2250b586d7e368bf12fb482800748d182c4618254b685ffaa0";
/// SHA-256 of `package/pyodide.asm.wasm` in it.
const PYODIDE_WASM_SHA256: &str =
    "cc36e3cab04fdfc9a63ff13eb52eae2b911bf46c025cc7b281f394bd3de1d5e6";
/// SHA-256 of `package/python_stdlib.zip` in it.
const STDLIB_ZIP_SHA256: &str = "fa1957e5777068fc4f7437f96d860ae2fbe9c19732ba06c84e004ec16dd7dd7a";
/// SHA-256 of the `npm pack binaryen@132.0.0` tarball.
const BINARYEN_TARBALL_SHA256: &str =
    "6543555fb29bb92548f325c7dc18e9ab7dbb1215edda25993d1e3f71d85b8618";
/// SHA-256 of `pyodide.exnref.wasm`; binaryen's conversion is deterministic, so its output is pinned like a download.
const EXNREF_SHA256: &str = "7d507dd748dc084995a398d472bdbf5261ee6b4c6b149be1159124e57831c11f";

/// File name of the converted module in the Pyodide directory.
const EXNREF_WASM: &str = "pyodide.exnref.wasm";

/// Write `bytes` to `path` so that readers see the old file or the whole new one, never a part.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    cache::write_atomic(path, bytes)
}

/// The cache directory to use when none is given: `$PYWORKERS_HOME` if set and non-empty, else
/// `~/.cache/pyworkers` (or `pyworkers` in the system temporary directory when there is no home directory).
pub fn default_home() -> PathBuf {
    home_from(std::env::var_os("PYWORKERS_HOME"), dirs::home_dir())
}

fn home_from(env: Option<OsString>, home_dir: Option<PathBuf>) -> PathBuf {
    match (env, home_dir) {
        (Some(dir), _) if !dir.is_empty() => PathBuf::from(dir),
        (_, Some(home)) => home.join(".cache").join("pyworkers"),
        (_, None) => std::env::temp_dir().join("pyworkers"),
    }
}

/// A verified Pyodide in a cache directory: the converted interpreter module and the standard library.
#[derive(Debug, Clone)]
pub struct Runtime {
    home: PathBuf,
    /// `<home>/pyodide-<version>/`, where the package's files and the converted module live.
    dir: PathBuf,
    wasm_path: PathBuf,
    stdlib_zip_path: PathBuf,
    wasm_sha256: String,
    /// Bytes the cache may hold before least-recently-used entries are evicted ([`usage`]).
    cache_cap: u64,
}

impl Runtime {
    /// Keep the cache at most `bytes` (default [`usage::DEFAULT_CAP`] or `$PYWORKERS_CACHE_SIZE`).
    pub fn with_cache_cap(mut self, bytes: u64) -> Runtime {
        self.cache_cap = bytes;
        self
    }

    /// The cache's size cap.
    pub fn cache_cap(&self) -> u64 {
        self.cache_cap
    }

    /// Record that the cache entry `file` was used now, so eviction keeps it longest.
    pub fn touch(&self, file: &Path) {
        usage::touch(file)
    }

    /// Give `file`, an entry of the cache, a stamp (unless it has one: hashing it is then the only cost), so that
    /// [`touch`](Self::touch) marks its use on the stamp and never changes the file's own times (which would make
    /// anything keyed on them, like a snapshot's verified record, stale on every use). `sha256` is the file's
    /// digest if the caller has it.
    pub fn stamp(&self, file: &Path, sha256: Option<&str>, source: &str) -> Result<()> {
        if stamp::Stamp::read(file).is_some() {
            return Ok(());
        }
        let sha256 = match sha256 {
            Some(s) => s.to_string(),
            None => digest::sha256_file(file)?,
        };
        stamp::Stamp::record(file, &sha256, source)
    }

    /// Evict least-recently-used entries until the cache is under its cap (after anything is written).
    pub fn enforce_cap(&self) {
        usage::enforce(&self.home, self.cache_cap);
    }

    /// Make sure `home` holds a verified Pyodide, fetching (with npm) and converting (with node) whatever is missing
    /// or fails verification, then describe it. Idempotent, and safe when several processes call it at once: they
    /// take turns filling the cache and the others find it filled. When everything is in place this only reads
    /// file metadata and the small stamp files.
    pub fn ensure(home: &Path) -> Result<Runtime> {
        Self::ensure_with(home, &Tools::default())
    }

    fn ensure_with(home: &Path, tools: &Tools) -> Result<Runtime> {
        let home = std::path::absolute(home)
            .with_context(|| format!("resolving the cache path {}", home.display()))?;
        let runtime = Runtime::at(&home);
        if runtime.is_fresh() {
            tracing::debug!(home = %home.display(), "Pyodide cache verified by stamps");
            return Ok(runtime);
        }

        let lock = HomeLock::acquire(&home)?;
        let dir = &runtime.dir;
        cache::create_dir(dir)?;
        cache::sweep_partials(&lock, &home);
        cache::sweep_partials(&lock, dir);

        let mut missing = Vec::new();
        for pinned in pyodide::FILES {
            if !stamp::verify(
                &dir.join(pinned.file),
                pinned.sha256,
                &pyodide::source(pinned),
            )? {
                missing.push(pinned);
            }
        }
        let convert = !stamp::verify(&runtime.wasm_path, EXNREF_SHA256, &exnref::source())?;
        if missing.is_empty() && !convert {
            return Ok(runtime);
        }
        tools.check_node()?;
        if !missing.is_empty() {
            pyodide::fetch(tools, &home, dir, &missing)?;
        }
        if convert {
            exnref::convert(
                tools,
                &dir.join(pyodide::ASM_WASM.file),
                &runtime.wasm_path,
                &home,
            )?;
        }
        Ok(runtime)
    }

    /// The paths a runtime in `home` has, whether or not they exist yet.
    fn at(home: &Path) -> Runtime {
        let dir = home.join(format!("pyodide-{PYODIDE_VERSION}"));
        Runtime {
            home: home.to_path_buf(),
            dir: dir.clone(),
            wasm_path: dir.join(EXNREF_WASM),
            stdlib_zip_path: dir.join(pyodide::STDLIB_ZIP.file),
            wasm_sha256: EXNREF_SHA256.to_string(),
            cache_cap: usage::cap_from_env().unwrap_or(usage::DEFAULT_CAP),
        }
    }

    /// Whether every kept file's stamp vouches for it, so nothing needs hashing or fetching.
    fn is_fresh(&self) -> bool {
        pyodide::FILES
            .iter()
            .all(|p| stamp::is_fresh(&self.dir.join(p.file), p.sha256, &pyodide::source(p)))
            && stamp::is_fresh(&self.wasm_path, EXNREF_SHA256, &exnref::source())
    }

    /// The cache directory this runtime lives in (absolute).
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The interpreter module to run: Pyodide's `pyodide.asm.wasm` with its exception handling in the exnref
    /// encoding.
    pub fn wasm_path(&self) -> &Path {
        &self.wasm_path
    }

    /// Pyodide's standard library (`.py` sources), to mount as `/lib/python314.zip`.
    pub fn stdlib_zip_path(&self) -> &Path {
        &self.stdlib_zip_path
    }

    /// Where [`ensure_stdlib_bytecode`](Self::ensure_stdlib_bytecode) keeps the standard library's bytecode.
    pub fn stdlib_bytecode_path(&self) -> PathBuf {
        self.dir.join(bytecode::FILE)
    }

    /// The standard library compiled to bytecode by this Pyodide's CPython: a tar of the zip's files plus
    /// unchecked-hash `.pyc` files, to mount read-only at `/lib/python3.14` (ahead of the zip on `sys.path`), so
    /// imports unmarshal instead of compiling. `build` (the `stdlib` module, which boots an interpreter) makes it on
    /// a miss, once; a stale or damaged archive is rebuilt. Returns its path.
    pub fn ensure_stdlib_bytecode(
        &self,
        build: impl FnOnce() -> Result<StdlibBytecode>,
    ) -> Result<PathBuf> {
        bytecode::ensure(self, build)
    }

    /// The standard library zip, mapped from the cache (it is verified when the cache is set up).
    pub fn map_stdlib_zip(&self) -> Result<crate::tarfs::SharedBytes> {
        mapped::map(&self.stdlib_zip_path).with_context(|| format!("reading {}", self.stdlib_zip_path.display()))
    }

    /// Map and index the bytecode archive at `path` (from [`ensure_stdlib_bytecode`](Self::ensure_stdlib_bytecode)).
    /// It is mapped from the cache, not read: a run reads only the pages of the modules it imports.
    pub fn open_stdlib_bytecode(&self, path: &Path) -> Result<std::sync::Arc<crate::tarfs::Archive>> {
        bytecode::open(path).map(std::sync::Arc::new)
    }

    /// SHA-256 of the cached bytecode archive as its stamp recorded it when it was verified (`None` before
    /// [`ensure_stdlib_bytecode`](Self::ensure_stdlib_bytecode) has built it).
    pub fn stdlib_bytecode_sha256(&self) -> Option<String> {
        stamp::Stamp::read(&self.stdlib_bytecode_path()).map(|s| s.sha256)
    }

    /// The converted module's bytes, checked against its pin (it may have changed since [`ensure`](Self::ensure)).
    pub fn read_wasm(&self) -> Result<Vec<u8>> {
        let wasm = std::fs::read(self.wasm_path()).with_context(|| {
            format!("reading {}: run `pyworkers setup` again", self.wasm_path().display())
        })?;
        digest::check_bytes(
            "the converted module (pyodide.exnref.wasm)",
            &wasm,
            self.wasm_sha256(),
            "it changed after it was verified; run `pyworkers setup` again",
        )?;
        Ok(wasm)
    }

    /// Lowercase hex SHA-256 of [`wasm_path`](Self::wasm_path)'s contents.
    pub fn wasm_sha256(&self) -> &str {
        &self.wasm_sha256
    }

    /// Compile an Emscripten side module (a `.so` extension) for `engine`, through the compiled cache keyed by its
    /// content; legacy exception handling is converted to exnref first, as for Pyodide's own module.
    pub fn load_side_module(&self, engine: &wasmtime::Engine, name: &str, wasm: &[u8]) -> Result<wasmtime::Module> {
        let sha = digest::sha256_hex(wasm);
        let identity = format!("side module of sha256 {sha}, legacy exceptions through {}", exnref::side_module_recipe());
        let base = name.rsplit('/').next().unwrap_or(name);
        self.load_compiled(engine, &format!("extension {base}"), &identity, || {
            if exnref::uses_legacy_exceptions(wasm) {
                exnref::convert_side_module(&Tools::default(), wasm, &self.home)
            } else {
                Ok(wasm.to_vec())
            }
        })
    }

    /// Load a module from the compiled cache, compiling what `produce` returns on a miss (Cranelift, then written
    /// atomically, zero pages as holes). `identity` names the bytes and must change whenever they would; `label` is
    /// for progress output.
    pub fn load_compiled(
        &self,
        engine: &wasmtime::Engine,
        label: &str,
        identity: &str,
        produce: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<wasmtime::Module> {
        compiled::load_with(self, engine, label, identity, produce)
    }
}
