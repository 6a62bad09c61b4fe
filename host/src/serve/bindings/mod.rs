//! Bindings on `env` backed by a real embedded database: KV namespaces ([`kv`]), D1 databases ([`d1`]), queues
//! ([`queues`]) and Durable Objects' storage ([`durable`]) in the project's state store ([`state`]), and static
//! assets ([`assets`]).
//!
//! The worker reaches them through the blocking host-call device (`/dev/pyworkers`): frames like
//! `("kv.get", binding, key)` are answered synchronously by [`Bindings::call`] — local SQLite takes microseconds —
//! and the `workers` SDK wraps each call in an `async def`, as Cloudflare's API is.

pub mod assets;
pub mod d1;
pub mod durable;
pub mod kv;
pub mod queues;
pub mod state;

use crate::entrypoint::marshal::Value;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// A `kv_namespaces` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct KvConfig {
    /// The name on `env`.
    pub binding: String,
    /// The namespace id (what the data is stored under).
    pub id: String,
}

/// A `d1_databases` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct D1Config {
    /// The name on `env`.
    pub binding: String,
    /// `database_name`.
    pub database_name: String,
    /// `database_id` (the file's name when given, else `database_name`).
    pub database_id: Option<String>,
    /// `migrations_dir`, resolved against the project directory.
    pub migrations_dir: PathBuf,
}

impl D1Config {
    /// The file this database lives in, relative to the state directory.
    pub fn file(&self) -> String {
        format!("d1/{}.sqlite3", safe_file_name(self.database_id.as_deref().unwrap_or(&self.database_name)))
    }
}

/// `name` with every character but ASCII letters, digits, `-` and `_` replaced by `_`: safe as a file name.
pub(crate) fn safe_file_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// The objects listed under `key` in `object` (none if it is absent); `what` names the key in errors.
pub(crate) fn config_objects<'a>(
    object: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
    what: &str,
) -> Result<Vec<&'a serde_json::Map<String, serde_json::Value>>> {
    match object.get(key) {
        None => Ok(Vec::new()),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|i| i.as_object().with_context(|| format!("`{what}` holds a non-object")))
            .collect(),
        Some(_) => bail!("`{what}` must be a list"),
    }
}

/// The `assets` section.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetsConfig {
    /// `directory`, resolved against the project directory.
    pub directory: PathBuf,
    /// `binding`, if the worker reaches the assets through `env`.
    pub binding: Option<String>,
    /// `run_worker_first`: a boolean or route patterns.
    pub worker_first: assets::WorkerFirst,
    /// `not_found_handling`.
    pub not_found: assets::NotFound,
    /// `html_handling`.
    pub html_handling: assets::HtmlHandling,
    /// Cloudflare's `assets_navigation_prefers_asset_serving`, from `compatibility_date` (2025-04-01 on) and
    /// `compatibility_flags`.
    pub navigation_prefers_assets: bool,
}

/// Every binding a project declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// `kv_namespaces`.
    pub kv: Vec<KvConfig>,
    /// `d1_databases`.
    pub d1: Vec<D1Config>,
    /// `assets`.
    pub assets: Option<AssetsConfig>,
    /// `queues.producers`: binding → queue name.
    pub producers: Vec<(String, String)>,
    /// `queues.consumers`.
    pub consumers: Vec<queues::ConsumerConfig>,
    /// `durable_objects.bindings`, resolved against `migrations`.
    pub durable: Vec<durable::DurableConfig>,
    /// What the server should warn about (e.g. a Durable Object class in no migration).
    pub warnings: Vec<String>,
}

impl Config {
    /// The D1 database bound as `binding` (or named so).
    pub fn d1(&self, name: &str) -> Result<&D1Config> {
        self.d1.iter().find(|d| d.binding == name || d.database_name == name).with_context(|| {
            format!("no D1 database {name:?} in the configuration (d1_databases: binding or database_name)")
        })
    }

    /// The KV namespace bound as `binding`.
    pub fn kv(&self, name: &str) -> Result<&KvConfig> {
        self.kv
            .iter()
            .find(|k| k.binding == name)
            .with_context(|| format!("no KV namespace with binding {name:?} in the configuration (kv_namespaces)"))
    }
}

/// The live bindings of one server: what `env` holds besides vars.
#[derive(Default)]
pub struct Bindings {
    kv_store: Option<Arc<kv::Kv>>,
    kv: HashMap<String, String>,
    d1: HashMap<String, Arc<d1::D1>>,
    /// The assets, and their binding name.
    pub assets: Option<(Option<String>, Arc<assets::Assets>)>,
    /// The queues, when any is produced or consumed.
    pub queues: Option<Arc<queues::Queues>>,
    producers: HashMap<String, String>,
    /// The consumers to run.
    pub consumers: Vec<queues::ConsumerConfig>,
    /// The Durable Object namespaces, when any is bound.
    pub durable: Option<Arc<durable::Durable>>,
}

/// A binding call that failed: `(kind, message)` for the guest (`kind` picks the Python exception).
pub type Failure = (&'static str, String);

impl Bindings {
    /// Open every binding of `config` in the state store at `location`; any unreadable file stops here.
    pub fn open(config: &Config, location: &state::Location) -> Result<Bindings> {
        let mut b = Bindings::default();
        if !config.kv.is_empty() {
            b.kv_store = Some(Arc::new(kv::Kv::new(location.open("kv.sqlite3")?)?));
            b.kv = config.kv.iter().map(|k| (k.binding.clone(), k.id.clone())).collect();
        }
        for d in &config.d1 {
            b.d1.insert(d.binding.clone(), Arc::new(d1::D1::new(location.open(&d.file())?)?));
        }
        if !config.producers.is_empty() || !config.consumers.is_empty() {
            b.queues = Some(Arc::new(queues::Queues::new(location.open("queues.sqlite3")?)?));
            b.producers = config.producers.iter().cloned().collect();
            b.consumers = config.consumers.clone();
        }
        if !config.durable.is_empty() {
            b.durable = Some(Arc::new(durable::Durable::new(&config.durable, location)));
        }
        if let Some(a) = &config.assets {
            b.assets = Some((
                a.binding.clone(),
                Arc::new(assets::Assets::new(&a.directory, a.worker_first.clone(), a.not_found, a.html_handling, a.navigation_prefers_assets)?),
            ));
        }
        Ok(b)
    }

    /// What the guest builds `env` objects from: `{binding: kind}`, kind one of "kv", "d1", "queue", "assets",
    /// "durable_object".
    pub fn descriptors(&self) -> Value {
        let mut out: Vec<(Value, Value)> = Vec::new();
        for name in self.kv.keys() {
            out.push((Value::str(name.clone()), Value::str("kv")));
        }
        for name in self.d1.keys() {
            out.push((Value::str(name.clone()), Value::str("d1")));
        }
        for name in self.producers.keys() {
            out.push((Value::str(name.clone()), Value::str("queue")));
        }
        if let Some((Some(name), _)) = &self.assets {
            out.push((Value::str(name.clone()), Value::str("assets")));
        }
        for name in self.durable.iter().flat_map(|d| d.bindings()) {
            out.push((Value::str(name.clone()), Value::str("durable_object")));
        }
        Value::Dict(out)
    }

    /// Serve one host call `kind` (e.g. "kv.get") with `args` (the frame after its kind).
    pub fn call(&self, kind: &str, args: &[Value]) -> std::result::Result<Value, Failure> {
        match kind.split_once('.') {
            Some(("kv", op)) => self.kv_call(op, args).map_err(|e| ("kv", format!("{e:#}"))),
            Some(("d1", op)) => self.d1_call(op, args).map_err(|e| ("d1", format!("{e:#}"))),
            Some(("queue", op)) => self.queue_call(op, args).map_err(|e| ("error", format!("{e:#}"))),
            Some(("assets", "fetch")) => self.assets_call(args).map_err(|e| ("error", format!("{e:#}"))),
            Some(("do", op)) => match &self.durable {
                Some(d) => d.call(op, args).map_err(|e| ("value", format!("{e:#}"))),
                None => Err(("error", "no Durable Object namespace bound".into())),
            },
            _ => Err(("error", format!("unknown host call {kind:?}"))),
        }
    }

    fn kv_call(&self, op: &str, args: &[Value]) -> Result<Value> {
        let (Some(binding), Some(store)) = (args.first(), &self.kv_store) else { bail!("no KV namespace bound") };
        let binding = binding.as_str("binding")?;
        let ns = self.kv.get(binding).with_context(|| format!("no KV namespace bound as {binding:?}"))?;
        let opt_int = |v: &Value| -> Result<Option<i64>> {
            match v {
                Value::None => Ok(None),
                v => v.as_int("expiration").map(Some),
            }
        };
        let opt_str = |v: &Value| -> Result<Option<String>> {
            match v {
                Value::None => Ok(None),
                v => v.as_str("text").map(|s| Some(s.to_string())),
            }
        };
        Ok(match (op, &args[1..]) {
            ("get", [key]) => match store.get(ns, key.as_str("key")?)? {
                None => Value::None,
                Some(e) => Value::Tuple(vec![
                    Value::Bytes(e.value),
                    e.metadata.map_or(Value::None, Value::Str),
                ]),
            },
            ("put", [key, value, expiration, metadata]) => {
                let entry = kv::Entry {
                    value: value.as_bytes("value")?.to_vec(),
                    expiration: opt_int(expiration)?,
                    metadata: opt_str(metadata)?,
                };
                store.put(ns, key.as_str("key")?, &entry)?;
                Value::None
            }
            ("delete", [key]) => {
                store.delete(ns, key.as_str("key")?)?;
                Value::None
            }
            ("list", [prefix, limit, cursor]) => {
                let limit = opt_int(limit)?.unwrap_or(kv::MAX_LIST as i64).max(1) as usize;
                let page = store.list(ns, &opt_str(prefix)?.unwrap_or_default(), limit, opt_str(cursor)?.as_deref())?;
                Value::Tuple(vec![
                    Value::List(
                        page.keys
                            .into_iter()
                            .map(|k| {
                                Value::Tuple(vec![
                                    Value::Str(k.name),
                                    k.expiration.map_or(Value::None, Value::Int),
                                    k.metadata.map_or(Value::None, Value::Str),
                                ])
                            })
                            .collect(),
                    ),
                    Value::Bool(page.list_complete),
                    page.cursor.map_or(Value::None, Value::Str),
                ])
            }
            _ => bail!("bad kv.{op} call"),
        })
    }

    fn d1_call(&self, op: &str, args: &[Value]) -> Result<Value> {
        let binding = args.first().context("no binding")?.as_str("binding")?;
        let db = self.d1.get(binding).with_context(|| format!("no D1 database bound as {binding:?}"))?;
        Ok(match (op, &args[1..]) {
            ("query", [sql, params]) => outcome(db.query(sql.as_str("sql")?, params.as_seq("params")?)?),
            ("batch", [statements]) => {
                let statements = statements
                    .as_seq("statements")?
                    .iter()
                    .map(|s| match s.as_seq("statement")? {
                        [sql, params] => Ok((sql.as_str("sql")?.to_string(), params.as_seq("params")?.to_vec())),
                        _ => bail!("a batch statement is not (sql, params)"),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Value::List(db.batch(&statements)?.into_iter().map(outcome).collect())
            }
            ("exec", [sql]) => {
                let (count, duration) = db.exec(sql.as_str("sql")?)?;
                Value::Tuple(vec![Value::Int(count as i64), Value::Float(duration)])
            }
            _ => bail!("bad d1.{op} call"),
        })
    }

    fn queue_call(&self, op: &str, args: &[Value]) -> Result<Value> {
        let queues = self.queues.as_ref().context("no queue bound")?;
        match (op, args) {
            ("send", [binding, bodies, delay]) => {
                let binding = binding.as_str("binding")?;
                let queue = self.producers.get(binding).with_context(|| format!("no queue bound as {binding:?}"))?;
                let bodies = bodies
                    .as_seq("bodies")?
                    .iter()
                    .map(|b| Ok(b.as_bytes("body")?.to_vec()))
                    .collect::<Result<Vec<_>>>()?;
                let delay = match delay {
                    Value::Int(n) => *n as f64,
                    Value::Float(f) => *f,
                    _ => 0.0,
                };
                queues.send(queue, &bodies, delay)?;
            }
            ("settle", [outcomes]) => {
                for o in outcomes.as_seq("outcomes")? {
                    if let [id, ack] = o.as_seq("outcome")? {
                        if let Ok(id) = id.as_str("id")?.parse::<i64>() {
                            queues.report(id, matches!(ack, Value::Bool(true)));
                        }
                    }
                }
            }
            _ => bail!("bad queue.{op} call"),
        }
        Ok(Value::None)
    }

    fn assets_call(&self, args: &[Value]) -> Result<Value> {
        let Some((_, assets)) = &self.assets else { bail!("no assets bound") };
        let [_, method, url, if_none_match, _navigate] = args else { bail!("bad assets.fetch call") };
        let url = url.as_str("url")?;
        let path = match url::Url::parse(url) {
            Ok(u) => match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_string(),
            },
            Err(_) => url.to_string(),
        };
        let inm = match if_none_match {
            Value::None => None,
            v => Some(v.as_str("if-none-match")?),
        };
        let r = assets.fetch(method.as_str("method")?, &path, inm);
        Ok(Value::Tuple(vec![
            Value::Int(r.status as i64),
            Value::List(r.headers.into_iter().map(|(k, v)| Value::Tuple(vec![Value::Str(k), Value::Str(v)])).collect()),
            Value::Bytes(r.body.to_vec()),
        ]))
    }
}

fn outcome(o: d1::Outcome) -> Value {
    Value::Tuple(vec![
        Value::List(o.columns.into_iter().map(Value::Str).collect()),
        Value::List(o.rows.into_iter().map(Value::List).collect()),
        Value::Int(o.changes as i64),
        Value::Int(o.last_row_id),
        Value::Float(o.duration),
        Value::Int(o.rows_read as i64),
    ])
}
