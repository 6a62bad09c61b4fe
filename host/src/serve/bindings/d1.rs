//! D1 databases: the worker's own SQL on its own SQLite file, values always bound as parameters.
//!
//! Isolation: the connection allows no attached databases (`SQLITE_LIMIT_ATTACHED` = 0, so `ATTACH` fails) and no
//! extension loading (rusqlite is built without it, and SQLite's `load_extension()` SQL function is off by default).

use super::state::Database;
use crate::entrypoint::marshal::Value;
use anyhow::{bail, Result};
use rusqlite::limits::Limit;
use rusqlite::types::{Value as Sql, ValueRef};
use std::time::Instant;

/// One D1 database.
pub struct D1 {
    db: Database,
}

/// What one statement produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Column names (empty for a statement returning no rows).
    pub columns: Vec<String>,
    /// The rows.
    pub rows: Vec<Vec<Value>>,
    /// Rows changed.
    pub changes: u64,
    /// The last inserted rowid.
    pub last_row_id: i64,
    /// Rows read: those returned, or the rows a full scan stepped over when that is more (SQLite counts no other
    /// reads, so an index search reads as the rows it found).
    pub rows_read: u64,
    /// How long it took, in milliseconds.
    pub duration: f64,
}

/// Migrations are recorded here, as wrangler records them.
const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS d1_migrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)";

impl D1 {
    /// The D1 database in `db`, locked down (see the module docs).
    pub fn new(db: Database) -> Result<D1> {
        lock_down(&db.lock())?;
        Ok(D1 { db })
    }

    /// Run one statement with `params` bound.
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<Outcome> {
        let conn = self.db.lock();
        run(&conn, sql, params)
    }

    /// Run statements in one transaction: all of them, or (on the first error) none.
    pub fn batch(&self, statements: &[(String, Vec<Value>)]) -> Result<Vec<Outcome>> {
        let mut conn = self.db.lock();
        let tx = conn.transaction()?;
        let mut out = Vec::with_capacity(statements.len());
        for (sql, params) in statements {
            out.push(run(&tx, sql, params)?);
        }
        tx.commit()?;
        Ok(out)
    }

    /// Run `sql` (any number of statements, nothing bound): how many statements ran and how long it took (ms).
    pub fn exec(&self, sql: &str) -> Result<(u64, f64)> {
        let start = Instant::now();
        let conn = self.db.lock();
        let mut count = 0;
        for statement in statements(sql) {
            conn.execute_batch(statement)?;
            count += 1;
        }
        Ok((count, start.elapsed().as_secs_f64() * 1000.0))
    }

    /// Run every statement of `sql` in order in one transaction (what `pyworkers d1 execute` does): each one's
    /// outcome.
    pub fn run_script(&self, sql: &str) -> Result<Vec<Outcome>> {
        let mut conn = self.db.lock();
        let tx = conn.transaction()?;
        let mut out = Vec::new();
        for statement in statements(sql) {
            out.push(run(&tx, statement, &[])?);
        }
        tx.commit()?;
        Ok(out)
    }

    /// Apply the `.sql` files of `dir` not yet recorded in `d1_migrations`, in name order, each in a
    /// transaction: the names applied.
    pub fn apply_migrations(&self, dir: &std::path::Path) -> Result<Vec<String>> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("cannot read the migrations directory {}: {e}", dir.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        let mut conn = self.db.lock();
        conn.execute_batch(MIGRATIONS_TABLE)?;
        let mut applied = Vec::new();
        for file in files {
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let done: bool =
                conn.query_row("SELECT count(*) FROM d1_migrations WHERE name = ?1", [&name], |r| r.get::<_, i64>(0))?
                    > 0;
            if done {
                continue;
            }
            let sql = std::fs::read_to_string(&file)?;
            let tx = conn.transaction()?;
            tx.execute_batch(&sql).map_err(|e| anyhow::anyhow!("migration {name} failed: {e}"))?;
            tx.execute("INSERT INTO d1_migrations (name) VALUES (?1)", [&name])?;
            tx.commit()?;
            applied.push(name);
        }
        Ok(applied)
    }
}

/// Lock a connection that runs the worker's own SQL down: no attached databases (so `ATTACH` fails). Extension
/// loading needs no switch: rusqlite is built without it and SQLite's `load_extension()` SQL function is off.
pub(crate) fn lock_down(conn: &rusqlite::Connection) -> Result<()> {
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
    Ok(())
}

/// The statements of `sql` in order, each with its `;`, empty ones left out.
pub(crate) fn statements(sql: &str) -> impl Iterator<Item = &str> {
    let mut rest = sql;
    std::iter::from_fn(move || loop {
        if rest.trim().is_empty() {
            return None;
        }
        let end = statement_end(rest);
        let statement = &rest[..end];
        rest = &rest[end..];
        if !statement.trim().trim_end_matches(';').trim().is_empty() {
            return Some(statement);
        }
    })
}

/// Where the first statement of `sql` ends (after the `;` that SQLite says completes it).
fn statement_end(sql: &str) -> usize {
    sql.char_indices()
        .find(|&(i, c)| c == ';' && complete(&sql[..i + 1]))
        .map_or(sql.len(), |(i, _)| i + 1)
}

fn complete(sql: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(sql) else { return false };
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    unsafe { rusqlite::ffi::sqlite3_complete(c.as_ptr()) != 0 }
}

/// Run one statement of the worker's with `params` bound: its rows and what it changed.
pub(crate) fn run(conn: &rusqlite::Connection, sql: &str, params: &[Value]) -> Result<Outcome> {
    let start = Instant::now();
    let mut stmt = conn.prepare(sql)?;
    let bound = params.iter().map(to_sql).collect::<Result<Vec<_>>>()?;
    if bound.len() != stmt.parameter_count() {
        bail!("the statement has {} parameters but {} values were bound", stmt.parameter_count(), bound.len());
    }
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_string).collect();
    let width = columns.len();
    let mut rows = Vec::new();
    let mut cursor = stmt.query(rusqlite::params_from_iter(bound))?;
    while let Some(row) = cursor.next()? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => Value::None,
                ValueRef::Integer(n) => Value::Int(n),
                ValueRef::Real(f) => Value::Float(f),
                ValueRef::Text(t) => Value::Str(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
            });
        }
        rows.push(values);
    }
    drop(cursor);
    let readonly = stmt.readonly();
    let scanned = stmt.get_status(rusqlite::StatementStatus::FullscanStep).max(0) as u64;
    Ok(Outcome {
        columns,
        rows_read: scanned.max(rows.len() as u64),
        rows,
        changes: if readonly { 0 } else { conn.changes() },
        last_row_id: conn.last_insert_rowid(),
        duration: start.elapsed().as_secs_f64() * 1000.0,
    })
}

fn to_sql(value: &Value) -> Result<Sql> {
    Ok(match value {
        Value::None => Sql::Null,
        Value::Bool(b) => Sql::Integer(*b as i64),
        Value::Int(n) => Sql::Integer(*n),
        Value::Float(f) => Sql::Real(*f),
        Value::Str(s) => Sql::Text(s.clone()),
        Value::Bytes(b) => Sql::Blob(b.clone()),
        other => bail!("D1 cannot bind {other:?}: bind None, bool, int, float, str or bytes"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::bindings::state::Location;

    #[test]
    fn bound_values_batch_rollback_and_no_attach() {
        let d1 = D1::new(Location::Memory.open("d1").unwrap()).unwrap();
        assert_eq!(d1.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); CREATE INDEX i ON t(name);").unwrap().0, 2);
        let o = d1.query("INSERT INTO t (name) VALUES (?)", &[Value::str("a'); DROP TABLE t; --")]).unwrap();
        assert_eq!((o.changes, o.last_row_id), (1, 1));
        let o = d1.query("SELECT * FROM t WHERE id = ?", &[Value::Int(1)]).unwrap();
        assert_eq!(o.columns, vec!["id", "name"]);
        assert_eq!(o.rows[0][1], Value::str("a'); DROP TABLE t; --"));
        let err = d1
            .batch(&[
                ("INSERT INTO t (name) VALUES (?)".into(), vec![Value::str("b")]),
                ("INSERT INTO nope VALUES (1)".into(), vec![]),
            ])
            .unwrap_err();
        assert!(err.to_string().contains("no such table: nope"), "{err}");
        assert_eq!(d1.query("SELECT count(*) FROM t", &[]).unwrap().rows[0][0], Value::Int(1));
        let err = d1.query("ATTACH DATABASE '/tmp/x.db' AS x", &[]).unwrap_err().to_string();
        assert!(err.contains("too many attached"), "{err}");
        assert!(d1.query("SELECT load_extension('x')", &[]).is_err());
    }
}
