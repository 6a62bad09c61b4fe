//! The HTTP front end: listen, serve HTTP/1.1 (keep-alive) and HTTP/2 connections, turn each request into a
//! whole-body request for the [`Handler`] within the limits, answer for it when it runs out of time, log it, and
//! drain on Ctrl-C / SIGTERM.
//!
//! It must never read a request body past `--max-body`, and never leave a request unanswered past its deadline.

use super::{log, Handler, RequestContext, ServeOptions};
use anyhow::{Context, Result};
use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// How long in-flight requests may take to finish once shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long after a request's deadline the front end answers for a handler that has not: long enough for a
/// handler that interrupts its guest at the deadline to answer itself (with a better log line), short enough to be
/// invisible to a client.
const DEADLINE_GRACE: Duration = Duration::from_millis(100);

/// Serve `handler` on `options.addr` until Ctrl-C or SIGTERM, then finish in-flight requests (up to 5 s).
///
/// The first line on stdout is `serving http://ADDR` with the address actually bound (so port 0 can be used).
pub async fn serve(options: &ServeOptions, handler: Arc<impl Handler>) -> Result<()> {
    let listener = TcpListener::bind(options.addr)
        .await
        .with_context(|| format!("listening on {}", options.addr))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let shutdown = shutdown_signal()?;
    println!("serving http://{local}");
    serve_with(listener, options, handler, shutdown).await
}

/// [`serve`] on a listener the caller bound, until `shutdown` resolves (for embedding and tests: nothing is
/// printed and no signal handler is installed). `options.addr` is not used.
pub async fn serve_with(
    listener: TcpListener,
    options: &ServeOptions,
    handler: Arc<impl Handler>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let local = listener.local_addr().context("reading the bound address")?;
    let front = Arc::new(Front {
        handler,
        local,
        max_body: options.max_body,
        timeout: options.timeout,
        next_id: AtomicU64::new(1),
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    loop {
        let (stream, _peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the connections we have.
                    log::line(&format!("accepting a connection failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Small responses should leave at once rather than wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let front = front.clone();
        let service = hyper::service::service_fn(move |req| {
            let front = front.clone();
            async move { Ok::<_, Infallible>(front.respond(req).await) }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away mid-request is its own business, not the server's.
            let _ = connection.await;
        });
    }

    drop(listener);
    let open = graceful.count();
    if open > 0 {
        log::line(&format!(
            "shutting down: finishing requests on {open} open connection(s)"
        ));
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => {
            log::line("shutting down: gave up on requests still running after 5 s");
        }
    }
    Ok(())
}

/// A response with a one-line `text/plain` body (a trailing newline is added), for errors and refusals.
pub fn text_response(status: StatusCode, line: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(format!("{line}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain;charset=UTF-8"),
    );
    response
}

/// A future that resolves on the first Ctrl-C (SIGINT) or SIGTERM. The handlers are installed here, before the
/// address is printed, so a signal sent as soon as the server says it is up is never the default (fatal) one.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("handling SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// What every connection shares.
struct Front<H> {
    handler: Arc<H>,
    local: SocketAddr,
    max_body: u64,
    timeout: Duration,
    next_id: AtomicU64,
}

impl<H: Handler> Front<H> {
    /// Answer one request and log it.
    async fn respond(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let start = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let response = self.answer(req, start).await;
        log::access(
            method.as_str(),
            &path,
            response.status().as_u16(),
            start.elapsed(),
        );
        response.map(Full::new)
    }

    async fn answer(&self, req: Request<Incoming>, start: Instant) -> Response<Bytes> {
        let deadline = start + self.timeout;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (mut parts, body) = req.into_parts();

        let too_large = || {
            text_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "request body is larger than the {}-byte limit (--max-body)",
                    self.max_body
                ),
            )
        };
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body) {
            return too_large();
        }
        let limit = usize::try_from(self.max_body).unwrap_or(usize::MAX);
        let body =
            match tokio::time::timeout_at(deadline.into(), Limited::new(body, limit).collect())
                .await
            {
                Ok(Ok(collected)) => collected.to_bytes(),
                Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
                Ok(Err(e)) => {
                    return text_response(
                        StatusCode::BAD_REQUEST,
                        &format!("reading the request body failed: {e}"),
                    )
                }
                Err(_) => {
                    return text_response(
                        StatusCode::REQUEST_TIMEOUT,
                        "the request body did not arrive within the deadline (--timeout)",
                    )
                }
            };

        match self.absolute_uri(&parts) {
            Some(uri) => parts.uri = uri,
            None => {
                return text_response(
                    StatusCode::BAD_REQUEST,
                    "invalid Host header or request URI",
                )
            }
        }
        parts.extensions.insert(RequestContext { id, deadline });
        let req = Request::from_parts(parts, body);

        let answered =
            tokio::time::timeout_at((deadline + DEADLINE_GRACE).into(), self.handler.handle(req))
                .await;
        match answered {
            Ok(response) => response,
            Err(_) => {
                log::line(&format!(
                    "request #{id} did not finish within the {} deadline",
                    humantime::format_duration(self.timeout)
                ));
                text_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!(
                        "the worker did not answer within {} (--timeout)",
                        humantime::format_duration(self.timeout)
                    ),
                )
            }
        }
    }

    /// `http://<authority><path?query>`: the authority from the request line (HTTP/2, absolute-form), else the
    /// Host header, else the address we are bound to.
    fn absolute_uri(&self, parts: &http::request::Parts) -> Option<Uri> {
        let authority = match parts.uri.authority() {
            Some(authority) => authority.clone(),
            None => match parts.headers.get(http::header::HOST) {
                Some(host) => host.to_str().ok()?.parse().ok()?,
                None => self.local.to_string().parse().ok()?,
            },
        };
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        Uri::builder()
            .scheme("http")
            .authority(authority)
            .path_and_query(path)
            .build()
            .ok()
    }
}
