//! KV namespaces: `get`/`put`/`delete`/`list` with metadata and expiry, every namespace a slice (by its `id`) of one
//! table in the state store's `kv.sqlite3`.
//!
//! Expired keys are invisible at once (every read filters on the clock) and deleted when next touched.

use super::state::Database;
use anyhow::{bail, Result};
use rusqlite::{params, OptionalExtension};
use std::time::{SystemTime, UNIX_EPOCH};

/// Most keys one `list` returns (Cloudflare's limit, and its default).
pub const MAX_LIST: usize = 1000;

/// The store of every KV namespace.
pub struct Kv {
    db: Database,
}

/// One stored value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The bytes.
    pub value: Vec<u8>,
    /// Seconds since the Unix epoch when it expires.
    pub expiration: Option<i64>,
    /// Its metadata, as JSON text.
    pub metadata: Option<String>,
}

/// One key of a `list`.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key.
    pub name: String,
    /// When it expires.
    pub expiration: Option<i64>,
    /// Its metadata (JSON text).
    pub metadata: Option<String>,
}

/// A page of `list`.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// The keys, in order.
    pub keys: Vec<Key>,
    /// Whether there are no more.
    pub list_complete: bool,
    /// Where the next page starts (when not complete).
    pub cursor: Option<String>,
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl Kv {
    /// The KV store in `db` (its table created if missing).
    pub fn new(db: Database) -> Result<Kv> {
        db.lock().execute_batch(
            "CREATE TABLE IF NOT EXISTS kv (
                namespace TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                expiration INTEGER, metadata TEXT, PRIMARY KEY (namespace, key)
            ) WITHOUT ROWID",
        )?;
        Ok(Kv { db })
    }

    /// The value of `key` in `namespace`, unless missing or expired.
    pub fn get(&self, namespace: &str, key: &str) -> Result<Option<Entry>> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT value, expiration, metadata FROM kv WHERE namespace = ?1 AND key = ?2",
        )?;
        let entry = stmt
            .query_row(params![namespace, key], |r| {
                Ok(Entry { value: r.get(0)?, expiration: r.get(1)?, metadata: r.get(2)? })
            })
            .optional()?;
        match entry {
            Some(e) if e.expiration.is_some_and(|t| t <= now()) => {
                conn.prepare_cached("DELETE FROM kv WHERE namespace = ?1 AND key = ?2")?
                    .execute(params![namespace, key])?;
                Ok(None)
            }
            other => Ok(other),
        }
    }

    /// Store `entry` under `key`; the write is durable when this returns.
    pub fn put(&self, namespace: &str, key: &str, entry: &Entry) -> Result<()> {
        validate_key(key)?;
        self.db
            .lock()
            .prepare_cached(
                "INSERT INTO kv (namespace, key, value, expiration, metadata) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (namespace, key) DO UPDATE
                 SET value = excluded.value, expiration = excluded.expiration, metadata = excluded.metadata",
            )?
            .execute(params![namespace, key, entry.value, entry.expiration, entry.metadata])?;
        Ok(())
    }

    /// Remove `key` (nothing happens when it is missing).
    pub fn delete(&self, namespace: &str, key: &str) -> Result<()> {
        self.db
            .lock()
            .prepare_cached("DELETE FROM kv WHERE namespace = ?1 AND key = ?2")?
            .execute(params![namespace, key])?;
        Ok(())
    }

    /// Keys starting with `prefix`, in order, after `cursor`, at most `limit` (≤ [`MAX_LIST`]).
    pub fn list(&self, namespace: &str, prefix: &str, limit: usize, cursor: Option<&str>) -> Result<Listing> {
        let limit = limit.clamp(1, MAX_LIST);
        let after = match cursor {
            Some(c) if !c.is_empty() => {
                let bytes = hex::decode(c).map_err(|_| anyhow::anyhow!("invalid list cursor"))?;
                String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("invalid list cursor"))?
            }
            _ => String::new(),
        };
        let conn = self.db.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT key, expiration, metadata FROM kv
             WHERE namespace = ?1 AND substr(key, 1, length(?2)) = ?2 AND key > ?3
               AND (expiration IS NULL OR expiration > ?4)
             ORDER BY key LIMIT ?5",
        )?;
        let mut keys: Vec<Key> = stmt
            .query_map(params![namespace, prefix, after, now(), (limit + 1) as i64], |r| {
                Ok(Key { name: r.get(0)?, expiration: r.get(1)?, metadata: r.get(2)? })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let list_complete = keys.len() <= limit;
        keys.truncate(limit);
        let cursor = if list_complete { None } else { keys.last().map(|k| hex::encode(k.name.as_bytes())) };
        Ok(Listing { keys, list_complete, cursor })
    }
}

/// Cloudflare's rules for a key: not empty, not `.` or `..`, at most 512 bytes.
fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() || key == "." || key == ".." {
        bail!("KV key {key:?} is not allowed (empty, \".\" and \"..\" are not keys)");
    }
    if key.len() > 512 {
        bail!("KV key is {} bytes; the limit is 512", key.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::bindings::state::Location;

    fn entry(v: &str, expiration: Option<i64>) -> Entry {
        Entry { value: v.as_bytes().to_vec(), expiration, metadata: None }
    }

    #[test]
    fn put_get_list_expire() {
        let kv = Kv::new(Location::Memory.open("kv").unwrap()).unwrap();
        kv.put("ns", "a", &entry("1", None)).unwrap();
        kv.put("ns", "b", &entry("2", Some(now() + 100))).unwrap();
        kv.put("ns", "c", &entry("3", Some(now() - 1))).unwrap();
        kv.put("other", "a", &entry("x", None)).unwrap();
        assert_eq!(kv.get("ns", "a").unwrap().unwrap().value, b"1");
        assert_eq!(kv.get("ns", "c").unwrap(), None);
        let page = kv.list("ns", "", 1, None).unwrap();
        assert_eq!((page.keys[0].name.as_str(), page.list_complete), ("a", false));
        let page = kv.list("ns", "", 1, page.cursor.as_deref()).unwrap();
        assert_eq!(page.keys.len(), 1);
        assert_eq!(page.keys[0].name, "b");
        assert!(page.list_complete && page.cursor.is_none(), "the expired key is not listed");
        kv.delete("ns", "a").unwrap();
        assert_eq!(kv.get("ns", "a").unwrap(), None);
        assert!(kv.put("ns", "", &entry("", None)).is_err());
    }
}
