//! One Durable Object's storage: a SQLite database of its own holding the key-value API's table `_cf_KV` and, for
//! `new_sqlite_classes`, the worker's own tables (see the [design](super)).

use super::super::d1;
use super::super::state::Database;
use crate::entrypoint::marshal::Value;
use anyhow::{bail, Context, Result};
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

/// Longest key, in bytes (Cloudflare's limit).
pub const MAX_KEY: usize = 2048;
/// Most keys one `get`/`put`/`delete` takes (Cloudflare's limit).
pub const MAX_KEYS: usize = 128;
/// Largest value of a `new_sqlite_classes` object, in bytes (Cloudflare's limit).
pub const MAX_VALUE_SQLITE: usize = 2 << 20;
/// Largest value of a `new_classes` (key-value) object, in bytes (Cloudflare's limit).
pub const MAX_VALUE_KV: usize = 128 << 10;

/// A stored value: JSON text, or raw bytes (`kind` 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// 0: `data` is JSON text; 1: `data` is the value itself (`bytes`).
    pub kind: i64,
    /// The encoded value.
    pub data: Vec<u8>,
}

/// PRAGMAs the worker's SQL may run: they read, and change nothing about durability.
const READ_PRAGMAS: [&str; 11] = [
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "quick_check",
    "integrity_check",
    "defer_foreign_keys",
];

/// One object's storage.
pub struct Storage {
    db: Database,
    sqlite: bool,
    /// Set while the worker's own SQL is prepared: what the authorizer polices.
    user_sql: Arc<AtomicBool>,
    /// Open `transaction_sync`/`transaction` savepoints.
    depth: AtomicU32,
}

impl Storage {
    /// The storage in `db`; `sqlite`: the class is in `new_sqlite_classes` (its SQL API is on).
    pub fn new(db: Database, sqlite: bool) -> Result<Storage> {
        let user_sql = Arc::new(AtomicBool::new(false));
        {
            let conn = db.lock();
            d1::lock_down(&conn)?;
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS _cf_KV (key TEXT PRIMARY KEY, value BLOB NOT NULL, kind INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID",
            )?;
            let policing = user_sql.clone();
            conn.authorizer(Some(move |ctx: AuthContext<'_>| {
                if policing.load(Ordering::Relaxed) {
                    authorize(ctx.action)
                } else {
                    Authorization::Allow
                }
            }));
        }
        Ok(Storage { db, sqlite, user_sql, depth: AtomicU32::new(0) })
    }

    fn max_value(&self) -> usize {
        if self.sqlite {
            MAX_VALUE_SQLITE
        } else {
            MAX_VALUE_KV
        }
    }

    /// The values of `keys`, in order (`None`: missing).
    pub fn get(&self, keys: &[String]) -> Result<Vec<Option<Stored>>> {
        check_count(keys.len())?;
        let conn = self.db.lock();
        let mut stmt = conn.prepare_cached("SELECT value, kind FROM _cf_KV WHERE key = ?1")?;
        keys.iter()
            .map(|k| {
                let mut rows = stmt.query([k])?;
                Ok(match rows.next()? {
                    Some(r) => Some(Stored { data: r.get(0)?, kind: r.get(1)? }),
                    None => None,
                })
            })
            .collect()
    }

    /// Store every `(key, value)`, all or none; durable when this returns.
    pub fn put(&self, entries: &[(String, Stored)]) -> Result<()> {
        check_count(entries.len())?;
        for (key, value) in entries {
            check_key(key)?;
            if value.data.len() > self.max_value() {
                bail!("the value of {key:?} is {} bytes; the limit is {}", value.data.len(), self.max_value());
            }
        }
        let conn = self.db.lock();
        atomically(&conn, || {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO _cf_KV (key, value, kind) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, kind = excluded.kind",
            )?;
            for (key, value) in entries {
                stmt.execute(rusqlite::params![key, value.data, value.kind])?;
            }
            Ok(())
        })
    }

    /// Remove `keys`: how many existed.
    pub fn delete(&self, keys: &[String]) -> Result<u64> {
        check_count(keys.len())?;
        let conn = self.db.lock();
        atomically(&conn, || {
            let mut stmt = conn.prepare_cached("DELETE FROM _cf_KV WHERE key = ?1")?;
            let mut count = 0;
            for key in keys {
                count += stmt.execute([key])? as u64;
            }
            Ok(count)
        })
    }

    /// Remove everything: every key and, for a SQLite-backed object, every table of its own.
    pub fn delete_all(&self) -> Result<()> {
        let conn = self.db.lock();
        atomically(&conn, || {
            conn.execute("DELETE FROM _cf_KV", [])?;
            let tables: Vec<(String, String)> = conn
                .prepare(
                    "SELECT type, name FROM sqlite_master
                     WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_cf_KV'",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (kind, name) in tables {
                let kind = if kind == "view" { "VIEW" } else { "TABLE" };
                conn.execute_batch(&format!("DROP {kind} IF EXISTS \"{}\"", name.replace('"', "\"\"")))?;
            }
            Ok(())
        })
    }

    /// Keys in order (descending when `reverse`) with their values: those starting with `prefix`, from `start`
    /// (inclusive) to `end` (exclusive), at most `limit`.
    pub fn list(
        &self,
        prefix: Option<&str>,
        start: Option<&str>,
        end: Option<&str>,
        limit: Option<u64>,
        reverse: bool,
    ) -> Result<Vec<(String, Stored)>> {
        let conn = self.db.lock();
        let sql = if reverse {
            "SELECT key, value, kind FROM _cf_KV
             WHERE (?1 IS NULL OR substr(key, 1, length(?1)) = ?1) AND (?2 IS NULL OR key >= ?2) AND (?3 IS NULL OR key < ?3)
             ORDER BY key DESC LIMIT ?4"
        } else {
            "SELECT key, value, kind FROM _cf_KV
             WHERE (?1 IS NULL OR substr(key, 1, length(?1)) = ?1) AND (?2 IS NULL OR key >= ?2) AND (?3 IS NULL OR key < ?3)
             ORDER BY key LIMIT ?4"
        };
        let limit = limit.map_or(-1, |l| l.min(i64::MAX as u64) as i64);
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(rusqlite::params![prefix, start, end, limit], |r| {
            Ok((r.get(0)?, Stored { data: r.get(1)?, kind: r.get(2)? }))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// `ctx.storage.sql.exec(sql, *params)`: every statement of `sql` runs in order, `params` bound to the last,
    /// whose outcome this is (`rows_read`/`changes` summed over all of them).
    pub fn sql(&self, sql: &str, params: &[Value]) -> Result<d1::Outcome> {
        if !self.sqlite {
            bail!("this Durable Object class has no SQL storage: declare it in a migration's new_sqlite_classes");
        }
        let conn = self.db.lock();
        let statements: Vec<&str> = d1::statements(sql).collect();
        let Some((last, before)) = statements.split_last() else { bail!("no SQL statement to run") };
        atomically(&conn, || {
            // Only the worker's statements are policed, not the savepoint around them.
            self.user_sql.store(true, Ordering::Relaxed);
            let result = (|| {
                let (mut read, mut written) = (0, 0);
                for statement in before {
                    let o = d1::run(&conn, statement, &[])?;
                    read += o.rows_read;
                    written += o.changes;
                }
                let mut o = d1::run(&conn, last, params)?;
                o.rows_read += read;
                o.changes += written;
                Ok(o)
            })();
            self.user_sql.store(false, Ordering::Relaxed);
            result
        })
    }

    /// `transaction_sync`/`transaction`: `"begin"` a savepoint, `"commit"` or `"rollback"` the innermost.
    pub fn transaction(&self, op: &str) -> Result<()> {
        let conn = self.db.lock();
        let depth = self.depth.load(Ordering::Relaxed);
        match op {
            "begin" => {
                conn.execute_batch(&format!("SAVEPOINT pyworkers_{}", depth + 1))?;
                self.depth.store(depth + 1, Ordering::Relaxed);
            }
            "commit" | "rollback" if depth == 0 => bail!("no transaction is open"),
            "commit" => {
                conn.execute_batch(&format!("RELEASE pyworkers_{depth}"))?;
                self.depth.store(depth - 1, Ordering::Relaxed);
            }
            "rollback" => {
                conn.execute_batch(&format!("ROLLBACK TO pyworkers_{depth}; RELEASE pyworkers_{depth}"))?;
                self.depth.store(depth - 1, Ordering::Relaxed);
            }
            other => bail!("unknown transaction operation {other:?}"),
        }
        Ok(())
    }

    /// `ctx.storage.sql.database_size`: bytes the database takes.
    pub fn size(&self) -> Result<u64> {
        let conn = self.db.lock();
        let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok((pages * size).max(0) as u64)
    }
}

/// Run `f` in a savepoint: it commits when `f` succeeds, else nothing `f` did stays. Works inside an open
/// `transaction_sync` as outside one.
fn atomically<T>(conn: &rusqlite::Connection, f: impl FnOnce() -> Result<T>) -> Result<T> {
    conn.execute_batch("SAVEPOINT pyworkers_op")?;
    match f() {
        Ok(v) => {
            conn.execute_batch("RELEASE pyworkers_op")?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO pyworkers_op; RELEASE pyworkers_op");
            Err(e)
        }
    }
}

/// What the worker's own SQL may do (see the [design](super)).
fn authorize(action: AuthAction<'_>) -> Authorization {
    let internal = |name: &str| name.len() >= 4 && name[..4].eq_ignore_ascii_case("_cf_");
    match action {
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => Authorization::Deny,
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => Authorization::Deny,
        AuthAction::Pragma { pragma_name, .. } => {
            if READ_PRAGMAS.contains(&pragma_name.to_ascii_lowercase().as_str()) {
                Authorization::Allow
            } else {
                Authorization::Deny
            }
        }
        AuthAction::Function { function_name } if function_name.eq_ignore_ascii_case("load_extension") => {
            Authorization::Deny
        }
        AuthAction::Read { table_name, .. }
        | AuthAction::Insert { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::Delete { table_name }
        | AuthAction::DropTable { table_name }
        | AuthAction::CreateTable { table_name }
        | AuthAction::AlterTable { table_name, .. }
        | AuthAction::CreateIndex { table_name, .. }
        | AuthAction::CreateTrigger { table_name, .. }
            if internal(table_name) =>
        {
            Authorization::Deny
        }
        _ => Authorization::Allow,
    }
}

fn check_count(n: usize) -> Result<()> {
    if n > MAX_KEYS {
        bail!("{n} keys in one call; the limit is {MAX_KEYS}");
    }
    Ok(())
}

fn check_key(key: &str) -> Result<()> {
    if key.len() > MAX_KEY {
        bail!("a key is {} bytes; the limit is {MAX_KEY}", key.len());
    }
    Ok(())
}

/// Serve one storage frame (`"storage.get"`, ...) for the object whose storage this is: `op` after the dot.
pub fn call(storage: &Storage, op: &str, args: &[Value]) -> Result<Value> {
    let keys = |v: &Value| -> Result<Vec<String>> {
        v.as_seq("keys")?.iter().map(|k| Ok(k.as_str("key")?.to_string())).collect()
    };
    let opt_str = |v: &Value| -> Result<Option<String>> {
        Ok(match v {
            Value::None => None,
            v => Some(v.as_str("key")?.to_string()),
        })
    };
    let stored = |s: Stored| Value::Tuple(vec![Value::Int(s.kind), Value::Bytes(s.data)]);
    Ok::<_, anyhow::Error>(match (op, args) {
        ("get", [k]) => Value::List(storage.get(&keys(k)?)?.into_iter().map(|v| v.map_or(Value::None, stored)).collect()),
        ("put", [entries]) => {
            let entries = entries
                .as_seq("entries")?
                .iter()
                .map(|e| match e.as_seq("entry")? {
                    [k, kind, data] => Ok((
                        k.as_str("key")?.to_string(),
                        Stored { kind: kind.as_int("kind")?, data: data.as_bytes("value")?.to_vec() },
                    )),
                    _ => bail!("a storage entry is not (key, kind, value)"),
                })
                .collect::<Result<Vec<_>>>()?;
            storage.put(&entries)?;
            Value::None
        }
        ("delete", [k]) => Value::Int(storage.delete(&keys(k)?)? as i64),
        ("delete_all", []) => {
            storage.delete_all()?;
            Value::None
        }
        ("list", [prefix, start, end, limit, reverse]) => {
            let limit = match limit {
                Value::None => None,
                v => Some(v.as_int("limit")?.max(0) as u64),
            };
            let rows = storage.list(
                opt_str(prefix)?.as_deref(),
                opt_str(start)?.as_deref(),
                opt_str(end)?.as_deref(),
                limit,
                matches!(reverse, Value::Bool(true)),
            )?;
            Value::List(
                rows.into_iter()
                    .map(|(k, s)| Value::Tuple(vec![Value::Str(k), Value::Int(s.kind), Value::Bytes(s.data)]))
                    .collect(),
            )
        }
        ("sql", [sql, params]) => {
            let o = storage.sql(sql.as_str("sql")?, params.as_seq("bindings")?)?;
            Value::Tuple(vec![
                Value::List(o.columns.into_iter().map(Value::Str).collect()),
                Value::List(o.rows.into_iter().map(Value::List).collect()),
                Value::Int(o.rows_read as i64),
                Value::Int(o.changes as i64),
            ])
        }
        ("transaction", [op]) => {
            storage.transaction(op.as_str("operation")?)?;
            Value::None
        }
        ("size", []) => Value::Int(storage.size()? as i64),
        _ => bail!("bad storage.{op} call"),
    })
    .context("Durable Object storage")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::bindings::state::Location;

    fn json(text: &str) -> Stored {
        Stored { kind: 0, data: text.as_bytes().to_vec() }
    }

    #[test]
    fn kv_list_ranges_and_delete_all() {
        let s = Storage::new(Location::Memory.open("o").unwrap(), true).unwrap();
        s.put(&[("b".into(), json("2")), ("a".into(), json("1")), ("c".into(), json("3")), ("ab".into(), json("4"))])
            .unwrap();
        assert_eq!(s.get(&["a".into(), "zz".into()]).unwrap(), vec![Some(json("1")), None]);
        let keys = |rows: Vec<(String, Stored)>| rows.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(keys(s.list(None, None, None, None, false).unwrap()), ["a", "ab", "b", "c"]);
        assert_eq!(keys(s.list(Some("a"), None, None, None, false).unwrap()), ["a", "ab"]);
        assert_eq!(keys(s.list(None, Some("ab"), Some("c"), None, false).unwrap()), ["ab", "b"]);
        assert_eq!(keys(s.list(None, None, None, Some(2), true).unwrap()), ["c", "b"]);
        assert_eq!(s.delete(&["a".into(), "nope".into()]).unwrap(), 1);
        s.sql("CREATE TABLE t (x); INSERT INTO t VALUES (1)", &[]).unwrap();
        s.delete_all().unwrap();
        assert!(s.list(None, None, None, None, false).unwrap().is_empty());
        assert!(s.sql("SELECT * FROM t", &[]).is_err(), "delete_all drops the object's tables");
    }

    #[test]
    fn sql_is_policed_and_transactions_nest() {
        let s = Storage::new(Location::Memory.open("o").unwrap(), true).unwrap();
        let o = s.sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES (?)", &[Value::str("x")]).unwrap();
        assert_eq!(o.changes, 1);
        let o = s.sql("SELECT v FROM t WHERE id = ?", &[Value::Int(1)]).unwrap();
        assert_eq!((o.rows[0][0].clone(), o.rows_read), (Value::str("x"), 1));
        for refused in [
            "SELECT * FROM _cf_KV",
            "DELETE FROM _CF_kv",
            "BEGIN",
            "SAVEPOINT x",
            "PRAGMA journal_mode=DELETE",
            "PRAGMA synchronous=OFF",
            "ATTACH DATABASE ':memory:' AS x",
            "SELECT load_extension('x')",
        ] {
            assert!(s.sql(refused, &[]).is_err(), "{refused} was allowed");
        }
        assert!(s.sql("PRAGMA table_info(t)", &[]).is_ok());
        s.put(&[("k".into(), json("1"))]).unwrap();
        s.transaction("begin").unwrap();
        s.sql("INSERT INTO t (v) VALUES ('y')", &[]).unwrap();
        s.transaction("begin").unwrap();
        s.put(&[("k".into(), json("2"))]).unwrap();
        s.transaction("rollback").unwrap();
        s.transaction("commit").unwrap();
        assert_eq!(s.get(&["k".into()]).unwrap()[0], Some(json("1")));
        assert_eq!(s.sql("SELECT count(*) FROM t", &[]).unwrap().rows[0][0], Value::Int(2));
        let kv = Storage::new(Location::Memory.open("o").unwrap(), false).unwrap();
        assert!(kv.sql("SELECT 1", &[]).unwrap_err().to_string().contains("new_sqlite_classes"));
    }
}
