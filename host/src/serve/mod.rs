//! `pyworkers serve`: an HTTP server in front of a [`Handler`] — a Python worker's instance pool, or any plain
//! `wasi:http/proxy` component ([`component`]) — with the limits a shared server needs: a deadline per request,
//! a body-size limit, a memory cap per instance, an outbound allow list ([`outbound`]).
//!
//! The front end ([`serve`], in `http.rs`) owns everything HTTP: it buffers the request body within `--max-body`,
//! gives the handler an absolute URL and a [`RequestContext`], enforces the deadline even on a handler that never
//! answers, writes the access log ([`log`]) and drains connections on Ctrl-C / SIGTERM. Handlers own everything
//! about running guest code and never fail: each maps its failures to a 500/503 response ([`text_response`]).

pub mod bindings;
mod compiled;
pub mod component;
mod http;
pub mod log;
pub mod options;
pub mod outbound;
pub mod worker;

pub use self::http::{serve, serve_with, text_response};
pub use options::ServeOptions;

use bytes::Bytes;
use std::future::Future;
use std::time::Instant;

/// What answers requests: given a request with its whole body, produce a whole response.
///
/// The request's URI is absolute (`http://<Host header or bound address><path>`), and its extensions hold the
/// [`RequestContext`]. A handler never fails: it maps its own failures (exceptions, traps, exhausted instances)
/// to 500/503 responses with a one-line body, and logs why.
pub trait Handler: Send + Sync + 'static {
    /// Answer one request.
    fn handle(
        &self,
        req: ::http::Request<Bytes>,
    ) -> impl Future<Output = ::http::Response<Bytes>> + Send;
}

/// Per-request facts the front end hands every handler, as a request extension.
#[derive(Clone, Copy, Debug)]
pub struct RequestContext {
    /// Sequence number of the request since the server started (1, 2, ...), for log prefixes.
    pub id: u64,
    /// When the request must be answered (`--timeout` after its headers arrived). The front end answers 503 a
    /// moment after it, so a handler that stops its guest at this instant gets to give the better answer.
    pub deadline: Instant,
}
