//! Queues: producers' messages kept durably in the state store (`queues.sqlite3`), delivered to the worker's
//! `queue(batch)` handler in batches of up to `max_batch_size`, or after `max_batch_timeout` seconds.
//!
//! A delivered batch is leased (invisible) until its handler finishes. Success acks every message the handler did
//! not `retry()`; a failure retries every message it did not `ack()`. A message retried more than `max_retries`
//! times goes to the `dead_letter_queue`, or is dropped. Leases do not outlive the server: at start every message
//! is visible again, so a batch interrupted by a crash is delivered again (at-least-once, as on Cloudflare).

use super::state::Database;
use anyhow::Result;
use rusqlite::params;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// A `queues.consumers` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerConfig {
    /// The queue consumed.
    pub queue: String,
    /// Most messages per batch (Cloudflare's default: 10).
    pub max_batch_size: u32,
    /// Longest a message waits for its batch to fill, in seconds (default 5).
    pub max_batch_timeout: f64,
    /// Retries before a message is dead-lettered or dropped (default 3).
    pub max_retries: u32,
    /// Where messages that ran out of retries go.
    pub dead_letter_queue: Option<String>,
}

/// One leased message.
#[derive(Debug, Clone, PartialEq)]
pub struct Leased {
    /// Its id.
    pub id: i64,
    /// Its JSON body.
    pub body: Vec<u8>,
    /// When it was sent (ms since the epoch).
    pub timestamp: u64,
    /// Deliveries so far, this one included.
    pub attempts: u32,
}

/// The queues of one project.
pub struct Queues {
    db: Database,
    /// Explicit `ack()`/`retry()` outcomes reported by handlers, by message id, until the consumer settles them.
    outcomes: Mutex<HashMap<i64, bool>>,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Queues {
    /// The queues in `db`; leases of a previous run are released.
    pub fn new(db: Database) -> Result<Queues> {
        {
            let conn = db.lock();
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS messages (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, body BLOB NOT NULL,
                    sent_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, leased INTEGER NOT NULL DEFAULT 0,
                    visible_at INTEGER NOT NULL DEFAULT 0);
                 CREATE INDEX IF NOT EXISTS messages_queue ON messages (queue, leased, visible_at, id);
                 UPDATE messages SET leased = 0 WHERE leased = 1;",
            )?;
        }
        Ok(Queues { db, outcomes: Mutex::new(HashMap::new()) })
    }

    /// Store `bodies` (JSON) on `queue`, durably, in one transaction; `delay` seconds before they are visible.
    pub fn send(&self, queue: &str, bodies: &[Vec<u8>], delay: f64) -> Result<()> {
        let mut conn = self.db.lock();
        let tx = conn.transaction()?;
        let now = now_ms();
        let visible = now + (delay.max(0.0) * 1000.0) as i64;
        for body in bodies {
            tx.execute(
                "INSERT INTO messages (queue, body, sent_at, visible_at) VALUES (?1, ?2, ?3, ?4)",
                params![queue, body, now, visible],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// How many messages are ready on `queue`, and when the oldest ready one was sent (ms).
    pub fn ready(&self, queue: &str) -> Result<(u64, Option<i64>)> {
        let conn = self.db.lock();
        Ok(conn.query_row(
            "SELECT count(*), min(max(sent_at, visible_at)) FROM messages WHERE queue = ?1 AND leased = 0 AND visible_at <= ?2",
            params![queue, now_ms()],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
        )?)
    }

    /// Lease up to `max` ready messages of `queue`, oldest first.
    pub fn lease(&self, queue: &str, max: u32) -> Result<Vec<Leased>> {
        let mut conn = self.db.lock();
        let tx = conn.transaction()?;
        let leased: Vec<Leased> = {
            let mut stmt = tx.prepare(
                "SELECT id, body, sent_at, attempts FROM messages
                 WHERE queue = ?1 AND leased = 0 AND visible_at <= ?2 ORDER BY id LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![queue, now_ms(), max], |r| {
                Ok(Leased {
                    id: r.get(0)?,
                    body: r.get(1)?,
                    timestamp: r.get::<_, i64>(2)? as u64,
                    attempts: r.get::<_, u32>(3)? + 1,
                })
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for m in &leased {
            tx.execute("UPDATE messages SET leased = 1, attempts = attempts + 1 WHERE id = ?1", [m.id])?;
        }
        tx.commit()?;
        Ok(leased)
    }

    /// A handler's explicit outcome for message `id`: `true` ack, `false` retry.
    pub fn report(&self, id: i64, ack: bool) {
        self.outcomes.lock().unwrap_or_else(|p| p.into_inner()).insert(id, ack);
    }

    /// Settle a delivered batch: `succeeded` says whether its handler finished without raising.
    pub fn settle(&self, config: &ConsumerConfig, batch: &[Leased], succeeded: bool) -> Result<()> {
        let explicit: HashMap<i64, bool> = {
            let mut outcomes = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
            batch.iter().filter_map(|m| outcomes.remove(&m.id).map(|o| (m.id, o))).collect()
        };
        let mut conn = self.db.lock();
        let tx = conn.transaction()?;
        for m in batch {
            let ack = explicit.get(&m.id).copied().unwrap_or(succeeded);
            if ack {
                tx.execute("DELETE FROM messages WHERE id = ?1", [m.id])?;
            } else if m.attempts > config.max_retries {
                match &config.dead_letter_queue {
                    Some(dlq) => tx.execute(
                        "UPDATE messages SET queue = ?2, attempts = 0, leased = 0, visible_at = 0 WHERE id = ?1",
                        params![m.id, dlq],
                    )?,
                    None => tx.execute("DELETE FROM messages WHERE id = ?1", [m.id])?,
                };
            } else {
                tx.execute("UPDATE messages SET leased = 0 WHERE id = ?1", [m.id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::bindings::state::Location;

    #[test]
    fn send_lease_retry_and_dead_letter() {
        let q = Queues::new(Location::Memory.open("q").unwrap()).unwrap();
        let config = ConsumerConfig {
            queue: "jobs".into(),
            max_batch_size: 10,
            max_batch_timeout: 0.0,
            max_retries: 1,
            dead_letter_queue: Some("dead".into()),
        };
        q.send("jobs", &[b"1".to_vec(), b"2".to_vec()], 0.0).unwrap();
        assert_eq!(q.ready("jobs").unwrap().0, 2);
        let batch = q.lease("jobs", 10).unwrap();
        assert_eq!(batch.len(), 2);
        assert!(q.lease("jobs", 10).unwrap().is_empty(), "leased messages are invisible");
        q.report(batch[0].id, true);
        q.settle(&config, &batch, false).unwrap();
        let again = q.lease("jobs", 10).unwrap();
        assert_eq!((again.len(), again[0].body.as_slice(), again[0].attempts), (1, &b"2"[..], 2));
        q.settle(&config, &again, false).unwrap();
        assert_eq!(q.ready("jobs").unwrap().0, 0);
        assert_eq!(q.lease("dead", 10).unwrap()[0].body, b"2");
    }
}
