//! `triggers.crons`: each expression fires the worker's scheduled handler on schedule while the server runs
//! (parsed and computed by the `croner` crate, in UTC as on Cloudflare).

use super::PythonWorkers;
use anyhow::{Context, Result};
use std::sync::Arc;

/// Fire `expr` on schedule for as long as the server runs.
pub fn schedule(expr: &str, workers: Arc<PythonWorkers>) -> Result<()> {
    let cron = croner::Cron::new(expr)
        .parse()
        .with_context(|| format!("`{expr}` in triggers.crons is not a cron expression"))?;
    let expr = expr.to_string();
    tokio::spawn(async move {
        loop {
            let now = chrono::Utc::now();
            let Ok(next) = cron.find_next_occurrence(&now, false) else { return };
            let wait = (next - now).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            match workers.scheduled(&expr).await.failed() {
                Some((status, line)) => super::log::line(&format!("cron `{expr}`: {status} {line}")),
                None => super::log::line(&format!("cron `{expr}`: ran the scheduled handler")),
            }
        }
    });
    Ok(())
}
