//! The project's state store: where KV namespaces and D1 databases keep their data, as SQLite files.
//!
//! Layout: `<project>/.pyworkers/state/` (or `--state DIR`) holds `kv.sqlite3` (every KV namespace, one table keyed
//! by namespace id) and `d1/<database_id or name>.sqlite3` (one file per D1 database, since the worker's own SQL runs
//! there). `--state :memory:` keeps everything in memory and nothing outlives the process.
//!
//! Concurrency: each database has exactly **one connection, behind a mutex**, shared by every instance thread, so
//! writers inside one server queue on the mutex and never see "database is locked". A `busy_timeout` covers the one
//! case the mutex cannot: another process (the `pyworkers d1`/`kv` CLI) writing the same file.
//!
//! Durability: WAL with `synchronous=FULL`, so a write the worker awaited has been fsynced: it survives `kill -9`
//! and power loss alike. (`NORMAL` would only survive the former; reads, the hot path, cost the same either way.)
//!
//! A file that SQLite cannot read stops the server at start with its name in the message; it is never replaced.

use anyhow::{Context, Result};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How long a write waits for another *process* holding the file's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the state store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory of SQLite files (created when missing).
    Dir(PathBuf),
    /// Nothing on disk (`--state :memory:`).
    Memory,
}

impl Location {
    /// `--state` as given (`None`: the project's default, `<project>/.pyworkers/state`).
    pub fn from_flag(flag: Option<&Path>, project_dir: &Path) -> Location {
        match flag {
            Some(p) if p.as_os_str() == ":memory:" => Location::Memory,
            Some(p) => Location::Dir(p.to_path_buf()),
            None => Location::Dir(project_dir.join(".pyworkers").join("state")),
        }
    }

    /// Open (or create) the database `name` (a relative path like `kv.sqlite3` or `d1/x.sqlite3`).
    pub fn open(&self, name: &str) -> Result<Database> {
        let (conn, path) = match self {
            Location::Memory => (Connection::open_in_memory()?, None),
            Location::Dir(dir) => {
                let path = dir.join(name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating the state directory {}", parent.display()))?;
                }
                let conn = Connection::open(&path)
                    .with_context(|| format!("cannot open the state file {}", path.display()))?;
                (conn, Some(path))
            }
        };
        let shown = path.as_ref().map_or(":memory:".to_string(), |p| p.display().to_string());
        configure(&conn).with_context(|| {
            format!("the state file {shown} cannot be read as SQLite (corrupt, or not a database); move it away or fix it")
        })?;
        Ok(Database { path, conn: Mutex::new(conn) })
    }
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Reading the schema is what fails on a file that is not a database.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if mode != "wal" && mode != "memory" {
        anyhow::bail!("cannot switch to WAL mode (journal mode is {mode})");
    }
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
    Ok(())
}

/// One SQLite database and its single connection.
pub struct Database {
    path: Option<PathBuf>,
    conn: Mutex<Connection>,
}

impl Database {
    /// The file, if on disk.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The connection, for one operation. A poisoned lock (a panic mid-operation) still yields it: SQLite rolls
    /// back whatever the operation left open.
    pub fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_and_corrupt_files_named() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::Dir(dir.path().to_path_buf());
        let db = loc.open("d1/x.sqlite3").unwrap();
        let mode: String = db.lock().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        std::fs::write(dir.path().join("bad.sqlite3"), vec![7u8; 4096]).unwrap();
        let err = format!("{:#}", loc.open("bad.sqlite3").err().unwrap());
        assert!(err.contains("bad.sqlite3"), "{err}");
        assert_eq!(std::fs::read(dir.path().join("bad.sqlite3")).unwrap(), vec![7u8; 4096]);
        assert_eq!(Location::from_flag(Some(Path::new(":memory:")), dir.path()), Location::Memory);
    }
}
