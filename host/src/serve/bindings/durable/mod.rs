//! Durable Objects: single-threaded objects with storage of their own, addressed by id, as Cloudflare documents
//! them (`from workers import DurableObject`).
//!
//! # Configuration
//! `durable_objects.bindings` (`[{name, class_name}]`) binds a namespace on `env`; `migrations`, applied in order,
//! say which classes exist and how they store: `new_sqlite_classes` (the key-value API plus
//! `ctx.storage.sql`), `new_classes` (the key-value API only), `renamed_classes` (`[{from, to}]`: the new name
//! keeps the old one's objects) and `deleted_classes`. A bound class that no migration mentions is treated as in
//! `new_sqlite_classes`, with a warning; a deleted one is an error at start; `script_name` (a class of another
//! worker) and `transferred_classes` are refused.
//!
//! # Ids
//! A namespace is named by its class's first name (renames keep it). An id is 32 bytes shown as 64 hex digits:
//! 16 bytes of body, then the first 16 bytes of SHA-256 over the namespace and the body, so `idFromString`
//! refuses an id of another namespace (or a mistyped one) and the host never routes to a made-up object.
//! `idFromName` takes the body from SHA-256 over the namespace and the name (a name always means the same object);
//! `newUniqueId` from the OS's randomness. The host computes ids (frames `do.id_from_name`, `do.new_id`,
//! `do.check_id`), in this one place; a stub made from a name carries the name and the host derives its id when
//! routing, so `env.NS.getByName(n).method()` costs no extra host call.
//!
//! # Where an object lives
//! Each live object has an instance of its own, restored from the same worker snapshot as the pool's instances and
//! configured as that object (the guest makes `Class(ctx, env)` before its first event), driven by a thread of its
//! own ([`crate::serve::worker::objects`]). The instance stays alive between calls, so attributes persist; it is
//! exempt from `--max-requests-per-instance`. After `--durable-object-idle` (default 2 minutes) with nothing to do
//! it is dropped — in-memory state lost, storage kept — as Cloudflare evicts idle objects. At most
//! `--max-durable-objects` are live at once: an idle one is evicted to make room, and when all are busy the call
//! fails. An instance that traps is replaced on the next call (in-memory state lost). `--watch` replaces an idle
//! object's instance once the worker changed.
//!
//! # Calls
//! `await stub.method(*args)` and `await stub.fetch(request)` in any instance put a `call` event in its outbox, as
//! `workers.fetch` does, so the calling instance keeps serving while it waits and holds no core. The host routes
//! the call to the object's thread (starting the object when it is not live); the answer comes back to the
//! caller's thread as a `returned` event. Arguments and results are `marshal` data restricted to None, bool, int,
//! float, str, bytes, list, tuple and dict (`pyodide.ffi.to_js` returns its argument here, so wrapped values are
//! the same values). An exception raised in the object is re-raised in the caller with its message (a builtin
//! exception type is kept, any other is a `workers.DurableObjectError`); its traceback goes to the log.
//!
//! One call at a time: an object's thread delivers the next call only when the current one has answered, so an
//! `await` inside a method never lets another call in (stricter than Cloudflare's input gates, which close only
//! during storage operations, and it makes read-modify-write methods safe). The one case that rule would
//! deadlock is a call the current call is itself waiting for: an object calling itself, or A → B → A. So every
//! call carries its *chain*, the objects whose calls wait on it up the stack (a context variable in the guest,
//! inherited by the tasks a call starts), and an object admits a call at once, re-entrantly, when it is in that
//! chain. Calls with no cycle wait their turn; a call still unanswered at `--timeout` fails with `TimeoutError`.
//! What the chain cannot see is a cycle across two independent requests (A's call, from one request, awaits B
//! while B's call, from another, awaits A): that pair waits until `--timeout` — the price of the strict rule.
//!
//! # Storage
//! One SQLite file per object, `do/<namespace>/<id>.sqlite3` in the state directory (`wrangler dev` also keeps one
//! database per object), opened when the object starts and closed when it is evicted; WAL and `synchronous=FULL`
//! like every state file, so an awaited `put` survives `kill -9`. The key-value API is the table `_cf_KV` (key TEXT
//! primary key, value BLOB): values are stored as JSON text (readable with any SQLite tool, and independent of the
//! Python version that wrote them), except `bytes`, stored as they are; tuples come back as lists. For
//! `new_sqlite_classes` the worker's own tables sit beside it, reached by `ctx.storage.sql.exec(sql, *bindings)`
//! with values always bound; that connection is locked down as D1's is (no `ATTACH`, no extensions), and an
//! authorizer refuses the worker's SQL the `_cf_` tables, transaction statements (`transaction_sync` exists for
//! that) and PRAGMAs other than a few that only read. With `--state :memory:` each object's database lives in
//! memory for the life of the server (eviction keeps it). Storage calls are frames on `/dev/pyworkers` answered
//! at once by the object's own device, which is the only one that reaches that object's storage.

pub mod storage;

use super::state::Location;
use crate::entrypoint::marshal::Value;
use anyhow::{bail, Context, Result};
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use storage::Storage;

/// A `durable_objects.bindings` entry, resolved against `migrations`.
#[derive(Debug, Clone, PartialEq)]
pub struct DurableConfig {
    /// The name on `env`.
    pub binding: String,
    /// The class the worker module defines.
    pub class_name: String,
    /// The namespace: the class's first name, which `renamed_classes` keeps.
    pub namespace: String,
    /// Whether the class is SQLite-backed (`new_sqlite_classes`): `ctx.storage.sql` is on.
    pub sqlite: bool,
}

/// `durable_objects` and `migrations` of a configuration: the bindings, and warnings for the log.
pub fn parse(config: &Map<String, Json>) -> Result<(Vec<DurableConfig>, Vec<String>)> {
    // Class → (namespace, sqlite), as the migrations leave it; and the classes they deleted.
    let mut classes: HashMap<String, (String, bool)> = HashMap::new();
    let mut deleted: HashMap<String, String> = HashMap::new();
    let names = |m: &Map<String, Json>, key: &str| -> Result<Vec<String>> {
        match m.get(key) {
            None => Ok(Vec::new()),
            Some(Json::Array(list)) => list
                .iter()
                .map(|v| v.as_str().map(str::to_string).with_context(|| format!("`migrations[].{key}` holds a non-string")))
                .collect(),
            Some(_) => bail!("`migrations[].{key}` must be a list of class names"),
        }
    };
    for m in super::config_objects(config, "migrations", "migrations")? {
        let tag = m.get("tag").and_then(Json::as_str).unwrap_or("(no tag)").to_string();
        if m.contains_key("transferred_classes") {
            bail!("migration {tag}: `transferred_classes` (moving a class from another worker) is not supported");
        }
        for (key, sqlite) in [("new_classes", false), ("new_sqlite_classes", true)] {
            for class in names(m, key)? {
                if classes.contains_key(&class) {
                    bail!("migration {tag}: class {class} already exists (declared by an earlier migration)");
                }
                deleted.remove(&class);
                classes.insert(class.clone(), (class, sqlite));
            }
        }
        for r in super::config_objects(m, "renamed_classes", "migrations[].renamed_classes")? {
            let (Some(from), Some(to)) = (r.get("from").and_then(Json::as_str), r.get("to").and_then(Json::as_str)) else {
                bail!("migration {tag}: a `renamed_classes` entry needs `from` and `to`");
            };
            let entry = classes.remove(from).with_context(|| format!("migration {tag}: renames {from}, which no earlier migration made"))?;
            classes.insert(to.to_string(), entry);
        }
        for class in names(m, "deleted_classes")? {
            classes.remove(&class);
            deleted.insert(class, tag.clone());
        }
    }
    let Some(durable) = config.get("durable_objects") else { return Ok((Vec::new(), Vec::new())) };
    let durable = durable.as_object().context("`durable_objects` must be an object")?;
    let mut warnings = Vec::new();
    let mut out = Vec::new();
    for b in super::config_objects(durable, "bindings", "durable_objects.bindings")? {
        let text = |key: &str| b.get(key).and_then(Json::as_str).map(str::to_string);
        let binding = text("name").context("a `durable_objects.bindings` entry has no `name`")?;
        let class_name = text("class_name").with_context(|| format!("Durable Object binding {binding} has no `class_name`"))?;
        if let Some(script) = text("script_name") {
            bail!("Durable Object binding {binding}: `script_name` ({script}: a class of another worker) is not supported");
        }
        if let Some(tag) = deleted.get(&class_name) {
            bail!("Durable Object binding {binding}: class {class_name} was deleted by migration {tag}");
        }
        let (namespace, sqlite) = classes.get(&class_name).cloned().unwrap_or_else(|| {
            warnings.push(format!(
                "Durable Object class {class_name} is in no migration (new_sqlite_classes or new_classes); treated as new_sqlite_classes"
            ));
            (class_name.clone(), true)
        });
        out.push(DurableConfig { binding, class_name, namespace, sqlite });
    }
    Ok((out, warnings))
}

const ID_TAG: &[u8] = b"pyworkers durable object id\0";
const NAME_TAG: &[u8] = b"pyworkers durable object name\0";

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The id whose body is `body[..16]`.
fn id_of(namespace: &str, body: &[u8]) -> String {
    let body = &body[..16];
    let check = digest(&[ID_TAG, namespace.as_bytes(), b"\0", body]);
    let mut bytes = body.to_vec();
    bytes.extend_from_slice(&check[..16]);
    hex::encode(bytes)
}

/// The id `idFromName(name)` gives in `namespace`.
pub fn id_from_name(namespace: &str, name: &str) -> String {
    id_of(namespace, &digest(&[NAME_TAG, namespace.as_bytes(), b"\0", name.as_bytes()]))
}

/// A new id (`newUniqueId`) in `namespace`.
pub fn unique_id(namespace: &str) -> String {
    use rand_core::RngCore;
    let mut body = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut body);
    id_of(namespace, &body)
}

/// `text` as an id of `namespace` (lowercase), or why it is not one.
pub fn check_id(namespace: &str, text: &str) -> Result<String> {
    let bytes = match hex::decode(text) {
        Ok(b) if b.len() == 32 => b,
        _ => bail!("invalid Durable Object id {text:?}: an id is 64 hexadecimal digits"),
    };
    let id = id_of(namespace, &bytes[..16]);
    if id != text.to_ascii_lowercase() {
        bail!("Durable Object id {text:?} is not an id of this namespace ({namespace})");
    }
    Ok(id)
}

/// One object, resolved: what its thread and its instance are made for.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRef {
    /// `namespace:id`: names the object to the host (and in call chains).
    pub key: String,
    /// Its binding's configuration.
    pub config: DurableConfig,
    /// Its id (64 hex digits).
    pub id: String,
    /// The name it was made from, when it was.
    pub name: Option<String>,
}

impl ObjectRef {
    /// What the guest is configured with: `{"class", "binding", "id", "name", "key", "sqlite"}`.
    pub fn descriptor(&self) -> Value {
        Value::Dict(vec![
            (Value::str("class"), Value::str(self.config.class_name.clone())),
            (Value::str("binding"), Value::str(self.config.binding.clone())),
            (Value::str("id"), Value::str(self.id.clone())),
            (Value::str("name"), self.name.clone().map_or(Value::None, Value::Str)),
            (Value::str("key"), Value::str(self.key.clone())),
            (Value::str("sqlite"), Value::Bool(self.config.sqlite)),
        ])
    }
}

/// The Durable Object namespaces of one server.
pub struct Durable {
    namespaces: HashMap<String, DurableConfig>,
    location: Location,
    /// With `--state :memory:`, every object's database, kept for the life of the server.
    memory: Mutex<HashMap<String, Arc<Storage>>>,
}

impl Durable {
    /// The namespaces of `config`, their objects' storage under `location`.
    pub fn new(config: &[DurableConfig], location: &Location) -> Durable {
        Durable {
            namespaces: config.iter().map(|c| (c.binding.clone(), c.clone())).collect(),
            location: location.clone(),
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// The bindings' names.
    pub fn bindings(&self) -> impl Iterator<Item = &String> {
        self.namespaces.keys()
    }

    fn namespace(&self, binding: &str) -> Result<&DurableConfig> {
        self.namespaces.get(binding).with_context(|| format!("no Durable Object namespace bound as {binding:?}"))
    }

    /// The object a stub of `binding` names: by `id` (checked against the namespace) or by `name`.
    pub fn resolve(&self, binding: &str, id: Option<&str>, name: Option<&str>) -> Result<ObjectRef> {
        let config = self.namespace(binding)?;
        let id = match (id, name) {
            (Some(id), _) => check_id(&config.namespace, id)?,
            (None, Some(name)) => id_from_name(&config.namespace, name),
            (None, None) => bail!("a Durable Object stub with neither an id nor a name"),
        };
        Ok(ObjectRef {
            key: format!("{}:{id}", config.namespace),
            config: config.clone(),
            id,
            name: name.map(str::to_string),
        })
    }

    /// Open (or create) `object`'s storage.
    pub fn storage(&self, object: &ObjectRef) -> Result<Arc<Storage>> {
        let file = format!("do/{}/{}.sqlite3", super::safe_file_name(&object.config.namespace), object.id);
        let open = || -> Result<Arc<Storage>> {
            Ok(Arc::new(Storage::new(self.location.open(&file)?, object.config.sqlite)?))
        };
        match self.location {
            Location::Dir(_) => open(),
            Location::Memory => {
                let mut memory = self.memory.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(s) = memory.get(&object.key) {
                    return Ok(s.clone());
                }
                let s = open()?;
                memory.insert(object.key.clone(), s.clone());
                Ok(s)
            }
        }
    }

    /// Serve an id frame: `do.id_from_name(binding, name)`, `do.new_id(binding)`, `do.check_id(binding, text)`.
    pub fn call(&self, op: &str, args: &[Value]) -> Result<Value> {
        let binding = args.first().context("no binding")?.as_str("binding")?;
        let ns = &self.namespace(binding)?.namespace;
        Ok(Value::Str(match (op, &args[1..]) {
            ("id_from_name", [name]) => id_from_name(ns, name.as_str("name")?),
            ("new_id", []) => unique_id(ns),
            ("check_id", [text]) => check_id(ns, text.as_str("id")?)?,
            _ => bail!("bad do.{op} call"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_per_name_and_checked_per_namespace() {
        let a = id_from_name("Room", "lobby");
        assert_eq!(a.len(), 64);
        assert_eq!(a, id_from_name("Room", "lobby"));
        assert_ne!(a, id_from_name("Room", "kitchen"));
        assert_ne!(a, id_from_name("Other", "lobby"));
        assert_eq!(check_id("Room", &a.to_uppercase()).unwrap(), a, "a named id is a valid id");
        assert!(check_id("Other", &a).unwrap_err().to_string().contains("not an id of this namespace"));
        assert!(check_id("Room", "abc").is_err());
        let u = unique_id("Room");
        assert_ne!(u, unique_id("Room"));
        assert_eq!(check_id("Room", &u).unwrap(), u);
    }

    #[test]
    fn migrations_resolve_classes() {
        let config: Json = json5::from_str(
            r#"{
                durable_objects: { bindings: [
                    { name: "A", class_name: "Chat" }, { name: "B", class_name: "Counter" }, { name: "C", class_name: "Loose" },
                ] },
                migrations: [
                    { tag: "v1", new_classes: ["Counter"], new_sqlite_classes: ["Room"] },
                    { tag: "v2", renamed_classes: [{ from: "Room", to: "Chat" }] },
                ],
            }"#,
        )
        .unwrap();
        let (bindings, warnings) = parse(config.as_object().unwrap()).unwrap();
        assert_eq!(
            bindings[0],
            DurableConfig { binding: "A".into(), class_name: "Chat".into(), namespace: "Room".into(), sqlite: true }
        );
        assert!(!bindings[1].sqlite);
        assert!(bindings[2].sqlite && warnings.len() == 1 && warnings[0].contains("Loose"), "{warnings:?}");
        let deleted: Json = json5::from_str(
            r#"{ durable_objects: { bindings: [{ name: "A", class_name: "Gone" }] },
                 migrations: [{ tag: "v1", new_classes: ["Gone"] }, { tag: "v2", deleted_classes: ["Gone"] }] }"#,
        )
        .unwrap();
        assert!(parse(deleted.as_object().unwrap()).unwrap_err().to_string().contains("deleted by migration v2"));
    }
}
