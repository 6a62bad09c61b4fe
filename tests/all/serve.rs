//! `pyworkers serve`: a plain `wasi:http/proxy` component (the guest in `tests/guests/http-hello`, built here for
//! wasm32-wasip2) served over real HTTP, with its limits; and the outbound HTTP client against a local upstream.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pyworkers::serve::outbound::{
    AllowList, Outbound, OutboundErrorKind, OutboundLimits, OutboundRequest,
};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

// ---- the guest component -------------------------------------------------------------------------------------

/// The guest component, built (release, wasm32-wasip2) once per test process.
fn guest() -> &'static Path {
    static GUEST: OnceLock<PathBuf> = OnceLock::new();
    GUEST.get_or_init(|| crate::support::wasm_guest("tests/guests/http-hello/Cargo.toml", "http_hello.wasm"))
}

/// The cache directory for compiled components: the suite's shared one, so the guest compiles once.
fn home() -> PathBuf {
    std::env::var_os("PYWORKERS_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(pyworkers::runtime::default_home)
}

// ---- a running server ----------------------------------------------------------------------------------------

/// `pyworkers serve PATH --addr 127.0.0.1:0 ARGS...`, with its log collected (also used by `serve_python`).
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        Server::serve(guest(), args)
    }

    /// Serve `path` (a component, a `.py` file, a worker or project directory).
    pub(crate) fn serve(path: &Path, args: &[&str]) -> Server {
        Server::serve_env(path, args, &[])
    }

    /// [`Server::serve`] with extra environment variables.
    pub(crate) fn serve_env(path: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pyworkers"))
            .arg("serve")
            .arg(path)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("PYWORKERS_HOME", home())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning pyworkers serve");
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        std::thread::spawn({
            let log = log.clone();
            move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                    log.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = BufReader::new(stdout).read_line(&mut first);
            let _ = tx.send(first);
        });
        // The first start compiles the component (seconds); later ones load it from the cache.
        let first = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_default();
        let addr = first
            .trim()
            .strip_prefix("serving http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "no `serving http://ADDR` line, got {first:?}; log:\n{}",
                    log.lock().unwrap()
                )
            });
        Server { child, addr, log }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Wait up to 5 s for the log to contain `needle` (guest output and log lines arrive asynchronously).
    pub(crate) fn wait_for_log(&self, needle: &str) -> String {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            if log.contains(needle) || Instant::now() > until {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn sigterm(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    }

    pub(crate) fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- an HTTP client --------------------------------------------------------------------------------------------

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub(crate) type TestClient =
    Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

pub(crate) fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub(crate) async fn send(
    client: &TestClient,
    method: &str,
    url: &str,
    body: Vec<u8>,
) -> (u16, Bytes) {
    let request = http::Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = client.request(request).await.expect("sending the request");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body)
}

pub(crate) fn get(url: &str) -> (u16, Bytes) {
    runtime().block_on(send(&client(), "GET", url, Vec::new()))
}

pub(crate) fn text(body: &Bytes) -> String {
    String::from_utf8_lossy(body).into_owned()
}

// ---- components ------------------------------------------------------------------------------------------------

#[test]
fn component_says_hello_and_logs_the_request() {
    let server = Server::start(&[]);
    let (status, body) = get(&server.url("/hi?x=1"));
    assert_eq!(status, 200, "{}", text(&body));
    assert_eq!(text(&body), "hello from a component\nGET /hi\n");
    let log = server.wait_for_log("GET /hi 200 ");
    assert!(
        log.contains("GET /hi 200 "),
        "no access-log line in:\n{log}"
    );
}

#[test]
fn component_echoes_a_binary_body() {
    let server = Server::start(&[]);
    let payload: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let (status, body) = runtime().block_on(send(
        &client(),
        "PUT",
        &server.url("/echo"),
        payload.clone(),
    ));
    assert_eq!(status, 200);
    let prefix = b"hello from a component\nPUT /echo\n";
    assert_eq!(&body[..prefix.len()], prefix);
    assert!(
        body[prefix.len()..] == payload[..],
        "the body came back changed"
    );
}

#[test]
fn body_one_byte_past_the_limit_is_refused() {
    let server = Server::start(&["--max-body", "1000"]);
    let rt = runtime();
    let client = client();
    let (status, _) = rt.block_on(send(&client, "POST", &server.url("/"), vec![7; 1000]));
    assert_eq!(status, 200, "a body exactly at the limit is accepted");
    let (status, body) = rt.block_on(send(&client, "POST", &server.url("/"), vec![7; 1001]));
    assert_eq!(status, 413);
    assert!(text(&body).contains("--max-body"), "{}", text(&body));
    assert_eq!(text(&body).lines().count(), 1, "a one-line body");

    // Without a Content-Length (chunked), the limit is enforced while reading.
    let request = http::Request::post(server.url("/"))
        .body(Chunks::new(vec![Bytes::from(vec![1u8; 600]); 2]))
        .unwrap();
    let streaming: Client<_, Chunks> = Client::builder(TokioExecutor::new()).build_http();
    let response = rt.block_on(streaming.request(request)).unwrap();
    assert_eq!(response.status().as_u16(), 413);
}

/// A body sent as separate chunks with no length known in advance (so HTTP/1.1 sends it chunked).
struct Chunks(std::collections::VecDeque<Bytes>);

impl Chunks {
    fn new(chunks: impl IntoIterator<Item = Bytes>) -> Chunks {
        Chunks(chunks.into_iter().collect())
    }
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}

#[test]
fn spin_is_stopped_at_the_deadline_and_the_next_request_is_served() {
    let server = Server::start(&["--timeout", "1s"]);
    let start = Instant::now();
    let (status, body) = get(&server.url("/spin"));
    let took = start.elapsed();
    assert!(
        status == 503 || status == 500,
        "got {status}: {}",
        text(&body)
    );
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    assert!(
        took >= Duration::from_millis(900),
        "answered early, after {took:?}"
    );
    let (status, body) = get(&server.url("/after"));
    assert_eq!(status, 200);
    assert!(text(&body).starts_with("hello from a component"));
}

#[test]
fn memory_bomb_is_contained_and_the_next_request_is_served() {
    let server = Server::start(&["--max-memory", "32MiB"]);
    let (status, body) = get(&server.url("/bomb"));
    assert_eq!(status, 500, "{}", text(&body));
    assert!(text(&body).contains("--max-memory"), "{}", text(&body));
    let (status, _) = get(&server.url("/after"));
    assert_eq!(status, 200);
}

#[test]
fn sixty_four_concurrent_requests_all_succeed() {
    let server = Server::start(&[]);
    let rt = runtime();
    let client = client();
    let statuses = rt.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let client = client.clone();
                let url = server.url(&format!("/n{i}"));
                tokio::spawn(async move { send(&client, "GET", &url, Vec::new()).await })
            })
            .collect();
        let mut statuses = Vec::new();
        for (i, task) in tasks.into_iter().enumerate() {
            let (status, body) = task.await.unwrap();
            assert_eq!(text(&body), format!("hello from a component\nGET /n{i}\n"));
            statuses.push(status);
        }
        statuses
    });
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
}

#[test]
fn sigterm_finishes_the_request_in_flight_and_exits_zero() {
    let mut server = Server::start(&[]);
    let url = server.url("/sleep?ms=1500");
    let in_flight = std::thread::spawn(move || get(&url));
    std::thread::sleep(Duration::from_millis(400));
    server.sigterm();
    let (status, body) = in_flight.join().unwrap();
    assert_eq!(status, 200, "{}", text(&body));
    let exit = server.wait(Duration::from_secs(6));
    assert!(
        exit.is_some_and(|s| s.success()),
        "exit: {exit:?}; log:\n{}",
        server.log()
    );
    // Shut down means no longer accepting.
    assert!(std::net::TcpStream::connect(server.addr).is_err());
}

#[test]
fn guest_output_goes_to_the_log_with_its_prefix() {
    let server = Server::start(&[]);
    let (status, _) = get(&server.url("/log"));
    assert_eq!(status, 200);
    let log = server.wait_for_log("a line on stderr");
    assert!(
        log.lines()
            .any(|l| l.starts_with("[http_hello.wasm#") && l.ends_with("] a line on stdout")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.starts_with("[http_hello.wasm#") && l.ends_with("] a line on stderr")),
        "{log}"
    );
}

#[test]
fn component_outbound_requests_follow_the_allow_list() {
    let rt = runtime();
    let upstream = rt.block_on(Upstream::start());
    let target = format!("http://127.0.0.1:{}/echo", upstream.port());

    let denied = Server::start(&[]);
    let (status, body) = get(&denied.url(&format!("/fetch?url={target}")));
    assert_eq!(status, 200);
    assert!(text(&body).contains("HttpRequestDenied"), "{}", text(&body));
    let log = denied.wait_for_log("--allow-host 127.0.0.1");
    assert!(
        log.contains("denied: allow it with --allow-host 127.0.0.1"),
        "{log}"
    );

    let allowed = Server::start(&["--allow-host", "127.0.0.1"]);
    let (status, body) = get(&allowed.url(&format!("/fetch?url={target}")));
    assert_eq!(status, 200);
    assert_eq!(text(&body), "status 200");
}

#[test]
fn bad_flags_are_refused_before_serving() {
    for (flag, value) in [
        ("--timeout", "soon"),
        ("--max-memory", "lots"),
        ("--allow-host", "host:port"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_pyworkers"))
            .args(["serve", "x.wasm", flag, value])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flag} {value} was accepted");
        assert!(out.stdout.is_empty());
    }
}

// ---- the front end, in process ----------------------------------------------------------------------------------

/// Records what the front end hands it; `/hang` never answers.
struct Recorder {
    seen: Mutex<Vec<(String, Option<u64>)>>,
}

impl pyworkers::serve::Handler for Recorder {
    async fn handle(&self, req: http::Request<Bytes>) -> http::Response<Bytes> {
        let context = req
            .extensions()
            .get::<pyworkers::serve::RequestContext>()
            .copied();
        self.seen
            .lock()
            .unwrap()
            .push((req.uri().to_string(), context.map(|c| c.id)));
        if req.uri().path() == "/hang" {
            std::future::pending::<()>().await;
        }
        http::Response::new(req.into_body())
    }
}

/// Run the front end in process around a [`Recorder`]; returns its address and a shutdown trigger.
async fn front_end(
    timeout: Duration,
) -> (
    SocketAddr,
    Arc<Recorder>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let recorder = Arc::new(Recorder {
        seen: Mutex::new(Vec::new()),
    });
    let mut options = pyworkers::serve::ServeOptions::new(PathBuf::from("unused"), home());
    options.timeout = timeout;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handler = recorder.clone();
    let server = tokio::spawn(async move {
        pyworkers::serve::serve_with(listener, &options, handler, async {
            let _ = stopped.await;
        })
        .await
    });
    (addr, recorder, stop, server)
}

#[test]
fn front_end_gives_handlers_an_absolute_uri_and_a_context() {
    let rt = runtime();
    rt.block_on(async {
        let (addr, recorder, stop, server) = front_end(Duration::from_secs(5)).await;
        let client = client();
        let (status, body) = send(
            &client,
            "POST",
            &format!("http://{addr}/p?q=1"),
            b"abc".to_vec(),
        )
        .await;
        assert_eq!((status, &body[..]), (200, &b"abc"[..]));
        let request = http::Request::get(format!("http://{addr}/named"))
            .header("host", "example.test:8080")
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert_eq!(client.request(request).await.unwrap().status(), 200);
        let seen = recorder.seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                (format!("http://{addr}/p?q=1"), Some(1)),
                ("http://example.test:8080/named".to_string(), Some(2)),
            ]
        );
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    });
}

#[test]
fn front_end_answers_for_a_handler_past_its_deadline() {
    let rt = runtime();
    rt.block_on(async {
        let (addr, _recorder, stop, server) = front_end(Duration::from_millis(300)).await;
        let start = Instant::now();
        let (status, body) =
            send(&client(), "GET", &format!("http://{addr}/hang"), Vec::new()).await;
        let took = start.elapsed();
        assert_eq!(status, 503);
        assert!(text(&body).contains("--timeout"), "{}", text(&body));
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(2),
            "{took:?}"
        );
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    });
}

// ---- outbound ----------------------------------------------------------------------------------------------------

/// A local upstream for outbound tests:
/// `/echo` answers the method, the request's `x-a` values and body, with repeated and latin-1 response headers;
/// `/slow` answers after 2 s; `/big` is 2 MiB with a length, `/big-chunked` without one;
/// `/redirect?to=URL` is a 302 to URL; `/loop` is a 302 to itself; `/hop` is a 307 to `/echo`.
struct Upstream {
    addr: SocketAddr,
}

impl Upstream {
    async fn start() -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(
                    TokioIo::new(stream),
                    hyper::service::service_fn(|req| async move {
                        Ok::<_, std::convert::Infallible>(Upstream::answer(req).await)
                    }),
                ));
            }
        });
        Upstream { addr }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.addr.port())
    }

    async fn answer(
        req: http::Request<hyper::body::Incoming>,
    ) -> http::Response<http_body_util::combinators::BoxBody<Bytes, std::io::Error>> {
        let full = |b: Bytes| Full::new(b).map_err(|never| match never {}).boxed();
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        match path.as_str() {
            "/echo" => {
                let method = req.method().to_string();
                let seen: Vec<String> = req
                    .headers()
                    .get_all("x-a")
                    .iter()
                    .map(|v| v.to_str().unwrap().to_string())
                    .collect();
                let body = req.into_body().collect().await.unwrap().to_bytes();
                http::Response::builder()
                    .header("x-method", method)
                    .header("x-seen-a", seen.join(","))
                    .header("set-cookie", "a=1")
                    .header("set-cookie", "b=2")
                    .header(
                        "x-latin",
                        http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
                    )
                    .body(full(body))
                    .unwrap()
            }
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                http::Response::new(full(Bytes::from_static(b"late")))
            }
            "/big" => http::Response::new(full(Bytes::from(vec![b'x'; 2 << 20]))),
            "/big-chunked" => {
                let chunks = (0..32).map(|_| Bytes::from(vec![b'y'; 64 << 10]));
                http::Response::new(Chunks::new(chunks).boxed())
            }
            "/redirect" => http::Response::builder()
                .status(302)
                .header("location", query.strip_prefix("to=").unwrap_or("/"))
                .body(full(Bytes::new()))
                .unwrap(),
            "/loop" => http::Response::builder()
                .status(302)
                .header("location", "/loop")
                .body(full(Bytes::new()))
                .unwrap(),
            "/hop" => http::Response::builder()
                .status(307)
                .header("location", "/echo")
                .body(full(Bytes::new()))
                .unwrap(),
            _ => http::Response::builder()
                .status(404)
                .body(full(Bytes::new()))
                .unwrap(),
        }
    }
}

fn request(method: &str, url: String) -> OutboundRequest {
    OutboundRequest {
        method: method.to_string(),
        url,
        headers: Vec::new(),
        body: Bytes::new(),
        timeout: Duration::from_secs(10),
        follow_redirects: true,
    }
}

fn allow_local() -> AllowList {
    AllowList::parse(["127.0.0.1"]).unwrap()
}

#[test]
fn outbound_round_trip_with_repeated_headers_and_a_binary_body() {
    let rt = runtime();
    let upstream = rt.block_on(Upstream::start());
    let outbound = Outbound::new(allow_local(), OutboundLimits::default());
    let body: Vec<u8> = (0..=255u8).rev().cycle().take(5000).collect();
    let mut req = request("POST", upstream.url("/echo"));
    req.headers = vec![("x-a".into(), "1".into()), ("x-a".into(), "2".into())];
    req.body = Bytes::from(body.clone());
    let response = rt.block_on(outbound.fetch(req)).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body[..] == body[..]);
    let header = |name: &str| -> Vec<&str> {
        response
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(header("x-method"), ["POST"]);
    assert_eq!(header("x-seen-a"), ["1,2"]);
    assert_eq!(header("set-cookie"), ["a=1", "b=2"]);
    assert_eq!(header("x-latin"), ["caf\u{e9}"]);
    assert_eq!(response.url, upstream.url("/echo"));

    let response = rt
        .block_on(outbound.fetch(request("GET", upstream.url("/echo"))))
        .unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body.is_empty());
}

#[test]
fn outbound_denied_names_the_flag() {
    let rt = runtime();
    let upstream = rt.block_on(Upstream::start());
    let outbound = Outbound::new(AllowList::default(), OutboundLimits::default());
    let error = rt
        .block_on(outbound.fetch(request("GET", upstream.url("/echo"))))
        .unwrap_err();
    assert_eq!(error.kind, OutboundErrorKind::Denied);
    assert_eq!(
        error.message,
        format!(
            "outbound request to 127.0.0.1:{} denied: allow it with --allow-host 127.0.0.1",
            upstream.port()
        )
    );
    // A rule for another port does not allow this one.
    let other_port = Outbound::new(
        AllowList::parse(["127.0.0.1:1"]).unwrap(),
        OutboundLimits::default(),
    );
    let error = rt
        .block_on(other_port.fetch(request("GET", upstream.url("/echo"))))
        .unwrap_err();
    assert_eq!(error.kind, OutboundErrorKind::Denied);
}

#[test]
fn outbound_timeout() {
    let rt = runtime();
    let upstream = rt.block_on(Upstream::start());
    let outbound = Outbound::new(allow_local(), OutboundLimits::default());
    let mut req = request("GET", upstream.url("/slow"));
    req.timeout = Duration::from_millis(300);
    let start = Instant::now();
    let error = rt.block_on(outbound.fetch(req)).unwrap_err();
    assert_eq!(error.kind, OutboundErrorKind::Timeout, "{error}");
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn outbound_response_too_large() {
    let rt = runtime();
    let upstream = rt.block_on(Upstream::start());
    let limits = OutboundLimits {
        max_response_bytes: 1 << 20,
        ..OutboundLimits::default()
    };
    let outbound = Outbound::new(allow_local(), limits);
    for path in ["/big", "/big-chunked"] {
        let error = rt
            .block_on(outbound.fetch(request("GET", upstream.url(path))))
            .unwrap_err();
        assert_eq!(error.kind, OutboundErrorKind::TooLarge, "{path}: {error}");
    }
    let roomy = Outbound::new(allow_local(), OutboundLimits::default());
    let response = rt
        .block_on(roomy.fetch(request("GET", upstream.url("/big-chunked"))))
        .unwrap();
    assert_eq!(response.body.len(), 2 << 20);
}

#[test]
fn outbound_redirects_are_followed_and_each_hop_is_checked() {
    let rt = runtime();
    let upstream = rt.block_on(Upstream::start());
    let outbound = Outbound::new(allow_local(), OutboundLimits::default());

    // 307 keeps the method and body.
    let mut req = request("POST", upstream.url("/hop"));
    req.body = Bytes::from_static(b"kept");
    let response = rt.block_on(outbound.fetch(req)).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(&response.body[..], b"kept");
    assert_eq!(response.url, upstream.url("/echo"));

    // A redirect to a host the policy does not allow is refused, naming that host.
    let to = format!("http://localhost:{}/echo", upstream.port());
    let error = rt
        .block_on(outbound.fetch(request("GET", upstream.url(&format!("/redirect?to={to}")))))
        .unwrap_err();
    assert_eq!(error.kind, OutboundErrorKind::Denied);
    assert!(error.message.contains("--allow-host localhost"), "{error}");

    // A redirect loop gives up.
    let looping = upstream.url("/loop");
    let error = rt
        .block_on(outbound.fetch(request("GET", looping)))
        .unwrap_err();
    assert_eq!(error.kind, OutboundErrorKind::Error);
    assert!(error.message.contains("redirects"), "{error}");

    // Not followed when the caller follows redirects itself: the 302 is the answer, its location intact.
    let mut req = request("GET", upstream.url(&format!("/redirect?to={to}")));
    req.follow_redirects = false;
    let response = rt.block_on(outbound.fetch(req)).unwrap();
    assert_eq!(response.status, 302);
    assert!(response.headers.iter().any(|(k, v)| k == "location" && *v == to), "{:?}", response.headers);
}

#[test]
fn outbound_blocking_from_a_plain_thread() {
    let rt = runtime();
    let upstream = rt.block_on(Upstream::start());
    let outbound = Outbound::new(allow_local(), OutboundLimits::default());
    let handle = rt.handle().clone();
    let url = upstream.url("/echo");
    let response = std::thread::spawn(move || {
        let mut req = request("PUT", url);
        req.body = Bytes::from_static(b"from a thread");
        outbound.fetch_blocking(&handle, req)
    })
    .join()
    .unwrap()
    .unwrap();
    assert_eq!(&response.body[..], b"from a thread");
}
