//! What `pyworkers serve PATH` serves: PATH resolved to a worker (its files and top-level module) plus the parts of
//! a Wrangler configuration that apply — `main`, `vars`, `triggers.crons` — the way `wrangler dev` reads them.
//!
//! PATH is a `.py` file (the worker is that one module), a directory holding a Wrangler configuration
//! (`wrangler.jsonc`, `wrangler.json` or `wrangler.toml`: `main` names the entry module, whose directory is the
//! worker's module root, as Cloudflare's Python Workers do with `src/`), or a plain directory whose entry module is
//! `main.py`, `entry.py` or `worker.py`. This module reads files only; it runs nothing.

use crate::entrypoint::marshal::Value;
use crate::serve::bindings::{self, assets::HtmlHandling, assets::NotFound, assets::WorkerFirst, config_objects as objects, AssetsConfig, D1Config, KvConfig};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The configuration files looked for, in order.
const CONFIG_FILES: [&str; 3] = ["wrangler.jsonc", "wrangler.json", "wrangler.toml"];

/// Entry modules looked for in a directory without configuration.
const ENTRY_MODULES: [&str; 3] = ["main", "entry", "worker"];

/// Configuration keys this server understands (the rest is listed in one warning line).
const SUPPORTED_KEYS: [&str; 13] = [
    "durable_objects",
    "migrations",
    "queues",
    "kv_namespaces",
    "d1_databases",
    "assets",
    "name",
    "main",
    "vars",
    "triggers",
    "compatibility_date",
    "compatibility_flags",
    "$schema",
];

/// A resolved worker project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The worker's name (from the configuration, else the entry file's or directory's name).
    pub name: String,
    /// The worker's files: a `.py` file or the module-root directory.
    pub source: PathBuf,
    /// Its top-level module.
    pub module: String,
    /// `vars` from the configuration, in order (JSON values).
    pub vars: Vec<(String, Value)>,
    /// `triggers.crons`.
    pub crons: Vec<String>,
    /// Configuration keys and bindings that are present but not supported yet.
    pub unsupported: Vec<String>,
    /// The configuration file read, if any.
    pub config: Option<PathBuf>,
    /// The project directory: where `.pyworkers/state` and relative config paths are resolved.
    pub dir: PathBuf,
    /// `kv_namespaces`, `d1_databases`, `assets`.
    pub bindings: bindings::Config,
    /// `vars` as JSON, as the configuration gave them (what a bundle records).
    pub vars_json: Vec<(String, serde_json::Value)>,
    /// The bundle PATH is, if it is one (`pyworkers bundle`): the worker and its packages come from it.
    pub bundle: Option<std::sync::Arc<crate::bundle::Bundle>>,
    /// The configuration's binding keys ([`BINDING_KEYS`]) as it gave them, if it declares a binding (what a bundle
    /// records).
    pub bindings_json: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The configuration keys a bundle records so that `serve` of the bundle has the same bindings.
pub const BINDING_KEYS: [&str; 8] = [
    "kv_namespaces",
    "d1_databases",
    "durable_objects",
    "migrations",
    "queues",
    "assets",
    "compatibility_date",
    "compatibility_flags",
];

/// Keys among [`BINDING_KEYS`] that declare a binding (the rest only qualify them).
const DECLARING_KEYS: [&str; 5] = ["kv_namespaces", "d1_databases", "durable_objects", "queues", "assets"];

impl Project {
    /// Resolve `path` (see the module docs).
    pub fn resolve(path: &Path) -> Result<Project> {
        if path.is_file() && crate::bundle::Bundle::is_bundle(path) {
            let bundle = crate::bundle::Bundle::read(path)?;
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
            let mut bindings = bindings::Config::default();
            if let Some(recorded) = &bundle.bindings {
                let mut recorded = recorded.clone();
                // The assets come from the bundle, unpacked once next to it.
                if let Some(unpacked) = bundle.unpack_assets(&dir.join(".pyworkers/bundle-assets"))? {
                    if let Some(serde_json::Value::Object(assets)) = recorded.get_mut("assets") {
                        let absolute = std::path::absolute(&unpacked).unwrap_or(unpacked);
                        assets.insert("directory".into(), serde_json::Value::String(absolute.to_string_lossy().into()));
                    }
                }
                bindings = parse_bindings(&recorded, &dir).with_context(|| format!("the bindings recorded in {}", path.display()))?;
            }
            return Ok(Project {
                name: bundle.name.clone(),
                source: path.to_path_buf(),
                module: bundle.module.clone(),
                vars: bundle.vars.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect(),
                crons: bundle.crons.clone(),
                unsupported: Vec::new(),
                config: None,
                dir,
                bindings,
                vars_json: bundle.vars.clone(),
                bindings_json: bundle.bindings.clone(),
                bundle: Some(std::sync::Arc::new(bundle)),
            });
        }
        if path.is_file() {
            let module = module_of(path)?;
            return Ok(Project {
                name: module.clone(),
                source: path.to_path_buf(),
                module,
                vars: Vec::new(),
                crons: Vec::new(),
                unsupported: Vec::new(),
                config: None,
                dir: path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf(),
                bindings: bindings::Config::default(),
                vars_json: Vec::new(),
                bundle: None,
                bindings_json: None,
            });
        }
        if !path.is_dir() {
            bail!("{} does not exist: give a .py file, a worker directory, or a project directory", path.display());
        }
        if let Some(config) = CONFIG_FILES.iter().map(|f| path.join(f)).find(|p| p.is_file()) {
            return Self::from_config(path, &config);
        }
        let module = ENTRY_MODULES
            .iter()
            .find(|m| path.join(format!("{m}.py")).is_file())
            .with_context(|| {
                format!(
                    "{} has no Wrangler configuration ({}) and no entry module ({})",
                    path.display(),
                    CONFIG_FILES.join(", "),
                    ENTRY_MODULES.map(|m| format!("{m}.py")).join(", ")
                )
            })?;
        Ok(Project {
            name: dir_name(path),
            source: path.to_path_buf(),
            module: module.to_string(),
            vars: Vec::new(),
            crons: Vec::new(),
            unsupported: Vec::new(),
            config: None,
            dir: path.to_path_buf(),
            bindings: bindings::Config::default(),
            vars_json: Vec::new(),
            bundle: None,
            bindings_json: None,
        })
    }

    /// The project's directory: where its configuration, `pyproject.toml` and `pyworkers.lock` are.
    pub fn root(&self) -> std::path::PathBuf {
        match &self.config {
            Some(config) => config.parent().unwrap_or(Path::new(".")).to_path_buf(),
            None if self.source.is_dir() => self.source.clone(),
            None => self.source.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf(),
        }
    }

    fn from_config(dir: &Path, config: &Path) -> Result<Project> {
        let text = std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
        let json: serde_json::Value = if config.extension().is_some_and(|e| e == "toml") {
            let toml: toml::Value =
                toml::from_str(&text).with_context(|| format!("{} is not valid TOML", config.display()))?;
            serde_json::to_value(toml)?
        } else {
            json5::from_str(&text).with_context(|| format!("{} is not valid JSON (with comments)", config.display()))?
        };
        let object = json
            .as_object()
            .with_context(|| format!("{} must hold an object", config.display()))?;
        let main = object
            .get("main")
            .and_then(|m| m.as_str())
            .with_context(|| format!("{} has no `main` (the worker's entry file, e.g. \"src/entry.py\")", config.display()))?;
        let entry = dir.join(main);
        if !entry.is_file() {
            bail!("{}: `main` is {main}, which does not exist", config.display());
        }
        let module = module_of(&entry)?;
        let source = entry.parent().unwrap_or(dir).to_path_buf();
        let vars_json: Vec<(String, serde_json::Value)> = match object.get("vars") {
            None => Vec::new(),
            Some(serde_json::Value::Object(vars)) => vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Some(_) => bail!("{}: `vars` must be an object", config.display()),
        };
        let vars = vars_json.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect();
        let crons = match object.get("triggers").and_then(|t| t.get("crons")) {
            None => Vec::new(),
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .map(|c| c.as_str().map(str::to_string).context("`triggers.crons` holds a non-string"))
                .collect::<Result<_>>()?,
            Some(_) => bail!("{}: `triggers.crons` must be a list", config.display()),
        };
        let mut unsupported: Vec<String> = object
            .keys()
            .filter(|k| !SUPPORTED_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();
        unsupported.sort();
        let name = object
            .get("name")
            .and_then(|n| n.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| dir_name(dir));
        Ok(Project {
            name,
            source: if source.as_os_str().is_empty() { dir.to_path_buf() } else { source },
            module,
            vars,
            crons,
            unsupported,
            config: Some(config.to_path_buf()),
            dir: dir.to_path_buf(),
            bindings: parse_bindings(object, dir).with_context(|| format!("in {}", config.display()))?,
            vars_json,
            bundle: None,
            bindings_json: DECLARING_KEYS.iter().any(|k| object.contains_key(*k)).then(|| {
                BINDING_KEYS.iter().filter_map(|k| object.get(*k).map(|v| (k.to_string(), v.clone()))).collect()
            }),
        })
    }
}

/// `kv_namespaces`, `d1_databases`, `queues`, `durable_objects` (+ `migrations`) and `assets`, as Wrangler spells
/// them.
fn parse_bindings(object: &serde_json::Map<String, serde_json::Value>, dir: &Path) -> Result<bindings::Config> {
    let list = |key: &str| objects(object, key, key);
    let text = |o: &serde_json::Map<String, serde_json::Value>, key: &str, what: &str| -> Result<Option<String>> {
        match o.get(key) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => bail!("`{what}.{key}` must be a string"),
        }
    };
    let mut config = bindings::Config::default();
    for o in list("kv_namespaces")? {
        let binding = text(o, "binding", "kv_namespaces")?.context("a `kv_namespaces` entry has no `binding`")?;
        let id = text(o, "id", "kv_namespaces")?.unwrap_or_else(|| binding.clone());
        config.kv.push(KvConfig { binding, id });
    }
    for o in list("d1_databases")? {
        let binding = text(o, "binding", "d1_databases")?.context("a `d1_databases` entry has no `binding`")?;
        let database_name = text(o, "database_name", "d1_databases")?.unwrap_or_else(|| binding.clone());
        let migrations = text(o, "migrations_dir", "d1_databases")?.unwrap_or_else(|| "migrations".into());
        config.d1.push(D1Config {
            binding,
            database_name,
            database_id: text(o, "database_id", "d1_databases")?,
            migrations_dir: dir.join(migrations),
        });
    }
    if let Some(q) = object.get("queues") {
        let q = q.as_object().context("`queues` must be an object")?;
        let entries = |key: &str| objects(q, key, &format!("queues.{key}"));
        for p in entries("producers")? {
            let binding = text(p, "binding", "queues.producers")?.context("a queue producer has no `binding`")?;
            let queue = text(p, "queue", "queues.producers")?.context("a queue producer has no `queue`")?;
            config.producers.push((binding, queue));
        }
        for c in entries("consumers")? {
            let number = |key: &str, default: f64| -> Result<f64> {
                match c.get(key) {
                    None => Ok(default),
                    Some(v) => v.as_f64().filter(|n| *n >= 0.0).with_context(|| format!("`queues.consumers.{key}` must be a number ≥ 0")),
                }
            };
            config.consumers.push(crate::serve::bindings::queues::ConsumerConfig {
                queue: text(c, "queue", "queues.consumers")?.context("a queue consumer has no `queue`")?,
                max_batch_size: number("max_batch_size", 10.0)?.clamp(1.0, 100.0) as u32,
                max_batch_timeout: number("max_batch_timeout", 5.0)?,
                max_retries: number("max_retries", 3.0)? as u32,
                dead_letter_queue: text(c, "dead_letter_queue", "queues.consumers")?,
            });
        }
    }
    (config.durable, config.warnings) = bindings::durable::parse(object)?;
    if let Some(a) = object.get("assets") {
        let o = a.as_object().context("`assets` must be an object")?;
        let directory = text(o, "directory", "assets")?.context("`assets` has no `directory`")?;
        let (html_handling, warning) = HtmlHandling::parse(text(o, "html_handling", "assets")?.as_deref())?;
        config.warnings.extend(warning);
        config.assets = Some(AssetsConfig {
            directory: dir.join(directory),
            binding: text(o, "binding", "assets")?,
            worker_first: WorkerFirst::parse(o.get("run_worker_first"))?,
            not_found: NotFound::parse(text(o, "not_found_handling", "assets")?.as_deref())?,
            html_handling,
            navigation_prefers_assets: navigation_prefers_assets(object),
        });
    }
    Ok(config)
}

/// Whether Cloudflare's `assets_navigation_prefers_asset_serving` is on: named in `compatibility_flags`, or by
/// default from `compatibility_date` 2025-04-01 unless `assets_navigation_has_no_effect` turns it off.
fn navigation_prefers_assets(object: &serde_json::Map<String, serde_json::Value>) -> bool {
    let flags: Vec<&str> = object
        .get("compatibility_flags")
        .and_then(|f| f.as_array())
        .map(|f| f.iter().filter_map(|f| f.as_str()).collect())
        .unwrap_or_default();
    if flags.contains(&"assets_navigation_prefers_asset_serving") {
        return true;
    }
    let date = object.get("compatibility_date").and_then(|d| d.as_str()).unwrap_or("2021-11-02");
    date >= "2025-04-01" && !flags.contains(&"assets_navigation_has_no_effect")
}

fn module_of(file: &Path) -> Result<String> {
    let stem = file
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".py"))
        .with_context(|| format!("{} is not a .py file", file.display()))?;
    Ok(stem.to_string())
}

fn dir_name(dir: &Path) -> String {
    std::path::absolute(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "worker".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrangler_jsonc_main_vars_crons_and_unsupported_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/entry.py"), "").unwrap();
        std::fs::write(
            dir.path().join("wrangler.jsonc"),
            r#"{
                // a comment
                "name": "demo",
                "main": "src/entry.py",
                "vars": { "GREETING": "hi", "LIMITS": { "n": 3 } },
                "triggers": { "crons": ["*/5 * * * *"] },
                "kv_namespaces": [{ "binding": "KV", "id": "x" }],
                "d1_databases": [{ "binding": "DB", "database_name": "app" }],
                "r2_buckets": [{ "binding": "R2", "bucket_name": "b" }],
            }"#,
        )
        .unwrap();
        let p = Project::resolve(dir.path()).unwrap();
        assert_eq!((p.name.as_str(), p.module.as_str()), ("demo", "entry"));
        assert_eq!(p.source, dir.path().join("src"));
        assert_eq!(p.vars[0], ("GREETING".into(), Value::str("hi")));
        assert_eq!(p.crons, vec!["*/5 * * * *".to_string()]);
        assert_eq!(p.unsupported, vec!["r2_buckets".to_string()]);
        assert_eq!(p.bindings.kv, vec![KvConfig { binding: "KV".into(), id: "x".into() }]);
        assert_eq!(p.bindings.d1[0].migrations_dir, dir.path().join("migrations"));
        assert_eq!(p.bindings.d1[0].file(), "d1/app.sqlite3");
    }

    #[test]
    fn toml_and_plain_directories_and_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("worker.py"), "").unwrap();
        let p = Project::resolve(dir.path()).unwrap();
        assert_eq!(p.module, "worker");
        std::fs::write(dir.path().join("wrangler.toml"), "main = \"worker.py\"\n[vars]\nA = \"b\"\n").unwrap();
        let p = Project::resolve(dir.path()).unwrap();
        assert_eq!(p.vars, vec![("A".into(), Value::str("b"))]);
        let p = Project::resolve(&dir.path().join("worker.py")).unwrap();
        assert_eq!(p.module, "worker");
        let empty = tempfile::tempdir().unwrap();
        let err = Project::resolve(empty.path()).unwrap_err().to_string();
        assert!(err.contains("main.py"), "{err}");
    }
}
