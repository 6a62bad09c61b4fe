//! Outbound HTTP on behalf of guests: one host-side client (hyper + rustls, http and https) shared by every
//! instance, the `--allow-host` policy every request and every redirect hop must pass, and the limits (timeouts,
//! response size, redirect count) that keep one guest's fetch from costing the server more than it allows.
//!
//! This module owns the policy decision; callers (the Python host call, components' `wasi:http/outgoing-handler`)
//! must never reach the network without asking [`AllowList`] first.

use anyhow::{bail, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The hosts outbound requests may reach (`--allow-host`). Empty = nothing is allowed.
#[derive(Clone, Debug, Default)]
pub struct AllowList {
    rules: Vec<HostRule>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostRule {
    /// `*`: any host, any port.
    Any,
    /// `*.example.com`: any subdomain of the suffix (not the bare domain), any port.
    Subdomains(String),
    /// `example.com` (any port) or `example.com:8080` (that port only). Lowercase, IPv6 without brackets.
    Host { host: String, port: Option<u16> },
}

impl AllowList {
    /// An allow list from `--allow-host` values: `HOST`, `HOST:PORT`, `[IPv6]:PORT`, `*.DOMAIN` or `*`.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<AllowList> {
        let rules = entries
            .into_iter()
            .map(HostRule::parse)
            .collect::<Result<_>>()?;
        Ok(AllowList { rules })
    }

    /// An allow list that allows every host (`--allow-host '*'`).
    pub fn any() -> AllowList {
        AllowList {
            rules: vec![HostRule::Any],
        }
    }

    /// Whether a request to `host:port` may go out. `host` as it appears in a URL (IPv6 may keep its brackets).
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = normalise_host(host);
        self.rules.iter().any(|rule| match rule {
            HostRule::Any => true,
            HostRule::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| !head.is_empty()),
            HostRule::Host { host: h, port: p } => *h == host && p.is_none_or(|p| p == port),
        })
    }

    /// [`allows`](Self::allows), or the `Denied` error that tells the user which flag would allow it.
    pub fn check(&self, host: &str, port: u16) -> Result<(), OutboundError> {
        if self.allows(host, port) {
            return Ok(());
        }
        let host = normalise_host(host);
        let shown = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        Err(OutboundError::new(
            OutboundErrorKind::Denied,
            format!(
                "outbound request to {shown}:{port} denied: allow it with --allow-host {shown}"
            ),
        ))
    }
}

impl HostRule {
    fn parse(text: &str) -> Result<HostRule> {
        let text = text.trim();
        if text == "*" {
            return Ok(HostRule::Any);
        }
        if let Some(suffix) = text.strip_prefix("*.") {
            if suffix.is_empty() || suffix.contains([':', '*', '/']) {
                bail!("`--allow-host {text}`: a wildcard is `*` or `*.domain`, without a port");
            }
            return Ok(HostRule::Subdomains(format!(
                ".{}",
                suffix.to_ascii_lowercase()
            )));
        }
        let (host, port) = split_host_port(text)
            .ok_or_else(|| anyhow::anyhow!("`--allow-host {text}`: expected HOST or HOST:PORT"))?;
        if host.is_empty() || host.contains(['/', '*', '@', ' ']) {
            bail!("`--allow-host {text}`: expected HOST or HOST:PORT");
        }
        Ok(HostRule::Host {
            host: normalise_host(host),
            port,
        })
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; `None` if the port is not a number.
fn split_host_port(text: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match text.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 address.
        Some((host, _)) if host.contains(':') => Some((text, None)),
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((text, None)),
    }
}

fn normalise_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Limits every outbound request is held to, whatever the guest asks for.
#[derive(Clone, Debug)]
pub struct OutboundLimits {
    /// Longest wait for a TCP connection (and TLS handshake) to one hop.
    pub connect_timeout: Duration,
    /// Largest response body read; past it the request fails with `TooLarge`.
    pub max_response_bytes: u64,
    /// Redirects followed before giving up.
    pub max_redirects: u32,
}

impl Default for OutboundLimits {
    fn default() -> Self {
        OutboundLimits {
            connect_timeout: Duration::from_secs(10),
            max_response_bytes: 32 << 20,
            max_redirects: 10,
        }
    }
}

/// One outbound request, as a guest describes it.
#[derive(Clone, Debug)]
pub struct OutboundRequest {
    /// `GET`, `POST`, ... (any token).
    pub method: String,
    /// Absolute `http://` or `https://` URL; non-ASCII characters in the path and query are percent-encoded.
    pub url: String,
    /// In order; repeated names are sent repeatedly.
    pub headers: Vec<(String, String)>,
    /// The request body (empty for none).
    pub body: Bytes,
    /// Deadline for the whole exchange: every hop, and reading the body.
    pub timeout: Duration,
    /// Follow redirects here (each hop checked against the policy), as `fetch` does; `false` returns a redirect
    /// as the answer, for clients that follow redirects themselves (`requests`, `httpx`, `urllib3`, `http.client`).
    pub follow_redirects: bool,
}

/// The answer to an [`OutboundRequest`], after redirects.
#[derive(Clone, Debug)]
pub struct OutboundResponse {
    /// HTTP status of the last hop.
    pub status: u16,
    /// In order, repeated names kept; values that are not UTF-8 are decoded as latin-1.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Bytes,
    /// The URL that answered (differs from the request's after a redirect).
    pub url: String,
}

/// Why an outbound request failed; callers branch on the kind (e.g. `Denied` → Python `PermissionError`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundError {
    /// What went wrong.
    pub kind: OutboundErrorKind,
    /// One line for the user, naming the flag to change where one would help.
    pub message: String,
}

/// The kinds of [`OutboundError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboundErrorKind {
    /// The host is not allowed by `--allow-host`.
    Denied,
    /// The request's deadline passed.
    Timeout,
    /// The response body exceeded the size limit.
    TooLarge,
    /// Anything else: bad URL, connection refused, TLS failure, too many redirects.
    Error,
}

impl OutboundError {
    fn new(kind: OutboundErrorKind, message: impl Into<String>) -> OutboundError {
        OutboundError {
            kind,
            message: message.into(),
        }
    }

    fn error(message: impl Into<String>) -> OutboundError {
        OutboundError::new(OutboundErrorKind::Error, message)
    }
}

impl fmt::Display for OutboundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OutboundError {}

/// The certificates in the PEM file `$SSL_CERT_FILE`, if it is set; a file that cannot be read is reported once,
/// on stderr, and trusted for nothing.
fn env_roots() -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) else {
        return Vec::new();
    };
    match rustls::pki_types::CertificateDer::pem_file_iter(&path) {
        Ok(certs) => certs.filter_map(|c| c.ok()).collect(),
        Err(e) => {
            eprintln!(
                "warning: SSL_CERT_FILE={}: cannot read certificates ({e}); outbound https trusts the Web PKI only",
                std::path::Path::new(&path).display()
            );
            Vec::new()
        }
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The shared outbound client. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct Outbound {
    inner: Arc<Inner>,
}

struct Inner {
    policy: AllowList,
    limits: OutboundLimits,
    client: HttpsClient,
}

impl Outbound {
    /// A client that lets requests through `policy` and holds them to `limits`, trusting the Web PKI's roots plus
    /// any in the PEM file `$SSL_CERT_FILE` names (OpenSSL's convention: a private CA, a corporate proxy's).
    pub fn new(policy: AllowList, limits: OutboundLimits) -> Outbound {
        Outbound::with_extra_roots(policy, limits, env_roots())
    }

    /// [`Outbound::new`] trusting `extra` roots besides the Web PKI's (and not `$SSL_CERT_FILE`'s).
    pub fn with_extra_roots(
        policy: AllowList,
        limits: OutboundLimits,
        extra: Vec<rustls::pki_types::CertificateDer<'static>>,
    ) -> Outbound {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(limits.connect_timeout));
        http.set_nodelay(true);
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let (added, ignored) = roots.add_parsable_certificates(extra);
        if ignored > 0 {
            tracing::warn!(added, ignored, "some extra root certificates could not be used");
        }
        // The provider is named rather than taken from the process default, so another crate enabling a second
        // provider can never make this panic.
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Outbound {
            inner: Arc::new(Inner {
                policy,
                limits,
                client,
            }),
        }
    }

    /// The policy requests are checked against.
    pub fn policy(&self) -> &AllowList {
        &self.inner.policy
    }

    /// Send `req`, following redirects (each hop checked against the policy), and read the whole response.
    /// Must be awaited inside a tokio runtime.
    pub async fn fetch(&self, req: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let timeout = req.timeout;
        match tokio::time::timeout(timeout, self.follow(req)).await {
            Ok(result) => result,
            Err(_) => Err(OutboundError::new(
                OutboundErrorKind::Timeout,
                format!(
                    "outbound request timed out after {}",
                    humantime::format_duration(timeout)
                ),
            )),
        }
    }

    /// [`fetch`](Self::fetch) from a thread that is not running async code (e.g. a guest's host call on a
    /// blocking thread): the request runs on `handle`'s runtime, so it holds no core while it waits. Never call
    /// it from inside an async task: it blocks that task's worker thread.
    pub fn fetch_blocking(
        &self,
        handle: &tokio::runtime::Handle,
        req: OutboundRequest,
    ) -> Result<OutboundResponse, OutboundError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let this = self.clone();
        handle.spawn(async move {
            let _ = tx.send(this.fetch(req).await);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(OutboundError::error(
                "outbound request abandoned: the server is shutting down",
            ))
        })
    }

    async fn follow(&self, req: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let limits = &self.inner.limits;
        let mut method = http::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| OutboundError::error(format!("invalid method `{}`", req.method)))?;
        let mut url = parse_url(&req.url)?;
        let mut headers = req.headers;
        let mut body = req.body;
        let mut hops = 0;
        loop {
            let (host, port) = host_port(&url)?;
            self.inner.policy.check(&host, port)?;
            let request = build_request(&method, &url, &headers, body.clone())?;
            let response = self.inner.client.request(request).await.map_err(|e| {
                OutboundError::error(format!("outbound request to {url} failed: {}", chain(&e)))
            })?;
            let status = response.status();
            let location = response
                .headers()
                .get(http::header::LOCATION)
                .map(|v| decode_header_value(v.as_bytes()));
            if let (true, true, Some(location)) = (req.follow_redirects, status.is_redirection(), location) {
                if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
                    return read_response(response, url, limits).await;
                }
                if hops == limits.max_redirects {
                    return Err(OutboundError::error(format!(
                        "outbound request to {} gave up after {} redirects",
                        req.url, limits.max_redirects
                    )));
                }
                hops += 1;
                let next = parse_url(&resolve(&url, &location))?;
                // As browsers do: 303, and 301/302 after a POST, become a GET without a body.
                if status == http::StatusCode::SEE_OTHER
                    || (matches!(status.as_u16(), 301 | 302) && method == http::Method::POST)
                {
                    if method != http::Method::HEAD {
                        method = http::Method::GET;
                    }
                    body = Bytes::new();
                    headers.retain(|(name, _)| {
                        !name.eq_ignore_ascii_case("content-length")
                            && !name.eq_ignore_ascii_case("content-type")
                    });
                }
                // Credentials meant for one host are not handed to another.
                if next.authority() != url.authority() {
                    headers.retain(|(name, _)| {
                        !name.eq_ignore_ascii_case("authorization")
                            && !name.eq_ignore_ascii_case("cookie")
                            && !name.eq_ignore_ascii_case("host")
                    });
                }
                url = next;
                continue;
            }
            return read_response(response, url, limits).await;
        }
    }
}

fn build_request(
    method: &http::Method,
    url: &http::Uri,
    headers: &[(String, String)],
    body: Bytes,
) -> Result<http::Request<Full<Bytes>>, OutboundError> {
    let mut builder = http::Request::builder()
        .method(method.clone())
        .uri(url.clone());
    for (name, value) in headers {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| OutboundError::error(format!("invalid header name `{name}`")))?;
        let value = http::HeaderValue::from_str(value)
            .map_err(|_| OutboundError::error(format!("invalid value for header `{name}`")))?;
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(body))
        .map_err(|e| OutboundError::error(format!("invalid request: {e}")))
}

async fn read_response(
    response: http::Response<hyper::body::Incoming>,
    url: http::Uri,
    limits: &OutboundLimits,
) -> Result<OutboundResponse, OutboundError> {
    let too_large = || {
        OutboundError::new(
            OutboundErrorKind::TooLarge,
            format!(
                "outbound response from {url} is larger than the {}-byte limit",
                limits.max_response_bytes
            ),
        )
    };
    let (parts, body) = response.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_response_bytes) {
        return Err(too_large());
    }
    let limit = usize::try_from(limits.max_response_bytes).unwrap_or(usize::MAX);
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(e) => {
            return Err(OutboundError::error(format!(
                "reading the response from {url} failed: {e}"
            )))
        }
    };
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                decode_header_value(value.as_bytes()),
            )
        })
        .collect();
    Ok(OutboundResponse {
        status: parts.status.as_u16(),
        headers,
        body,
        url: url.to_string(),
    })
}

/// UTF-8 if it is, else latin-1 (every byte is the code point of the same value), as HTTP's history demands.
pub fn decode_header_value(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// An absolute http(s) URL; non-ASCII and spaces in it are percent-encoded first, as browsers do.
fn parse_url(text: &str) -> Result<http::Uri, OutboundError> {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte > 0x7e || byte <= b' ' {
            encoded.push_str(&format!("%{byte:02X}"));
        } else {
            encoded.push(char::from(byte));
        }
    }
    let url: http::Uri = encoded
        .parse()
        .map_err(|_| OutboundError::error(format!("invalid URL `{text}`")))?;
    match url.scheme_str() {
        Some("http") | Some("https") if url.host().is_some_and(|h| !h.is_empty()) => Ok(url),
        Some("http") | Some("https") => {
            Err(OutboundError::error(format!("URL `{text}` has no host")))
        }
        _ => Err(OutboundError::error(format!(
            "URL `{text}` is not http:// or https://"
        ))),
    }
}

fn host_port(url: &http::Uri) -> Result<(String, u16), OutboundError> {
    let host = url
        .host()
        .ok_or_else(|| OutboundError::error(format!("URL `{url}` has no host")))?;
    let port = url.port_u16().unwrap_or(match url.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    Ok((host.to_string(), port))
}

/// Where a `Location` header points, relative to the URL that sent it.
fn resolve(base: &http::Uri, location: &str) -> String {
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or("");
    if location.contains("://") {
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = base.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!("{scheme}://{authority}{dir}{location}")
    }
}

/// An error and its sources on one line: hyper's top-level messages ("client error (Connect)") say little alone.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real TLS exchange with a local server whose certificate (for `localhost`) only the test trusts: the
    /// request succeeds with that root added and fails verification without it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn https_verifies_the_peer_and_trusts_extra_roots() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert = key.cert.der().clone();
        let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.key_pair.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], private)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let mut buf = vec![0u8; 4096];
                    let _ = tls.read(&mut buf).await;
                    let body = "hello over tls";
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-peer: test\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(reply.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        let request = || OutboundRequest {
            method: "GET".into(),
            url: format!("https://localhost:{port}/x"),
            headers: Vec::new(),
            body: Bytes::new(),
            timeout: Duration::from_secs(10),
            follow_redirects: true,
        };
        let trusting = Outbound::with_extra_roots(AllowList::any(), OutboundLimits::default(), vec![cert]);
        let response = trusting.fetch(request()).await.expect("https with the test's root");
        assert_eq!(response.status, 200);
        assert_eq!(&response.body[..], b"hello over tls");
        assert!(response.headers.iter().any(|(k, v)| k == "x-peer" && v == "test"));

        let web_pki_only = Outbound::with_extra_roots(AllowList::any(), OutboundLimits::default(), Vec::new());
        let error = web_pki_only.fetch(request()).await.expect_err("an unknown issuer must be refused");
        assert!(
            format!("{error:?}").to_lowercase().contains("certificate"),
            "the error should say the certificate was not trusted: {error:?}"
        );
    }

    #[test]
    fn allow_list_rules() {
        let list =
            AllowList::parse(["example.com", "api.test:8080", "*.cdn.net", "[::1]:9000"]).unwrap();
        assert!(list.allows("example.com", 443));
        assert!(list.allows("EXAMPLE.com", 80));
        assert!(!list.allows("www.example.com", 443));
        assert!(list.allows("api.test", 8080));
        assert!(!list.allows("api.test", 8081));
        assert!(list.allows("img.cdn.net", 443));
        assert!(!list.allows("cdn.net", 443));
        assert!(list.allows("[::1]", 9000));
        assert!(!list.allows("::1", 9001));
        assert!(AllowList::any().allows("anything", 1));
        assert!(!AllowList::default().allows("localhost", 80));
        assert!(AllowList::parse(["host:notaport"]).is_err());
        assert!(AllowList::parse(["*.x:80"]).is_err());
    }

    #[test]
    fn denied_names_the_flag() {
        let error = AllowList::default().check("Example.com", 443).unwrap_err();
        assert_eq!(error.kind, OutboundErrorKind::Denied);
        assert_eq!(
            error.message,
            "outbound request to example.com:443 denied: allow it with --allow-host example.com"
        );
    }

    #[test]
    fn redirect_targets() {
        let base: http::Uri = "http://a.test:81/x/y?q=1".parse().unwrap();
        assert_eq!(resolve(&base, "https://b.test/z"), "https://b.test/z");
        assert_eq!(resolve(&base, "//c.test/z"), "http://c.test/z");
        assert_eq!(resolve(&base, "/z"), "http://a.test:81/z");
        assert_eq!(resolve(&base, "z?w"), "http://a.test:81/x/z?w");
    }

    #[test]
    fn urls_and_header_values() {
        assert_eq!(
            parse_url("http://h.test/caf\u{e9} x").unwrap().path(),
            "/caf%C3%A9%20x"
        );
        assert!(parse_url("ftp://h.test/").is_err());
        assert!(parse_url("/relative").is_err());
        assert_eq!(decode_header_value(b"caf\xe9"), "caf\u{e9}");
        assert_eq!(decode_header_value("café".as_bytes()), "café");
    }
}
