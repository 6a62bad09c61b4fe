//! The compiled-component cache: a component is compiled once per (content, Wasmtime version, engine
//! configuration) into `<home>/compiled/component-<key>.cwasm`, so serving it again starts in milliseconds.
//!
//! `runtime`'s cache is for modules derived from Pyodide; components are keyed by their own bytes, so this small
//! cache stands beside it in the same directory. Files are written atomically and only ever read back by the
//! engine configuration their key names; a file Wasmtime refuses is recompiled and replaced, never trusted.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::hash::Hash;
use std::path::Path;
use wasmtime::component::Component;
use wasmtime::Engine;

/// Bumped if the key's recipe changes. The Wasmtime version is part of it because the workspace pins one exactly.
const KEY_RECIPE: &str = "pyworkers component v1 wasmtime 48.0.8";

/// Load the component in `wasm` for `engine`, from `<home>/compiled/` if it was compiled before.
pub(super) fn load(engine: &Engine, home: &Path, wasm: &[u8]) -> Result<Component> {
    let dir = home.join("compiled");
    let path = dir.join(format!("component-{}.cwasm", key(engine, wasm)));
    if path.exists() {
        // SAFETY: the file is one we wrote ourselves under a key naming this engine's configuration, and
        // Wasmtime still checks its header and compatibility before using it.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(component),
            Err(e) => super::log::line(&format!(
                "recompiling: the cached {} is unusable ({e})",
                path.display()
            )),
        }
    }
    let compiled = engine
        .precompile_component(wasm)
        .map_err(anyhow::Error::from)
        .context("compiling the component")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::runtime::write_file_atomic(&path, &compiled)
        .with_context(|| format!("caching the compiled component in {}", path.display()))?;
    // SAFETY: these bytes were produced by `precompile_component` on this engine a moment ago.
    unsafe { Component::deserialize(engine, &compiled) }
        .map_err(anyhow::Error::from)
        .context("loading the compiled component")
}

/// Hex SHA-256 over the recipe, the component's bytes and everything Wasmtime says makes compiled code compatible.
fn key(engine: &Engine, wasm: &[u8]) -> String {
    use crate::runtime::Sha256Hasher;
    let mut hasher = Sha256Hasher(Sha256::new());
    KEY_RECIPE.hash(&mut hasher);
    hasher.0.update(Sha256::digest(wasm));
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(hasher.0.finalize())
}

