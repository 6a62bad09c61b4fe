//! Python workers behind the front end: the instance pool restored from snapshots. The lead replaces this file.

use super::{Handler, ServeOptions};
use anyhow::{anyhow, Result};
use bytes::Bytes;
use std::sync::Arc;

/// The handler for the Python worker at `options.path`.
pub fn handler(options: &ServeOptions) -> Result<Arc<PythonWorkers>> {
    let _ = options;
    Err(anyhow!("Python workers are not wired yet"))
}

/// Python workers' instance pool (not wired yet).
pub struct PythonWorkers;

impl Handler for PythonWorkers {
    async fn handle(&self, _req: http::Request<Bytes>) -> http::Response<Bytes> {
        super::text_response(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "Python workers are not wired yet",
        )
    }
}
