//! Static assets: files under the project's `assets.directory`, served before the worker (unless
//! `run_worker_first`) and to `env.ASSETS.fetch(request)`, with Cloudflare's content types, ETags and
//! `not_found_handling`.
//!
//! A request path can never name a file outside the directory: it is percent-decoded, any `..` segment (or
//! backslash, or NUL) is refused outright, and the file found is canonicalized (resolving symlinks) and must still
//! lie under the canonical directory.

use anyhow::{Context, Result};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What to answer when no file matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotFound {
    /// Nothing: the worker gets the request (or `env.ASSETS.fetch` answers 404).
    None,
    /// `/index.html` with 200, for navigation requests (a single-page application's router takes it from there).
    SinglePageApplication,
    /// The nearest `404.html` up the path, with 404.
    Page404,
}

impl NotFound {
    /// `not_found_handling` as the configuration spells it.
    pub fn parse(text: Option<&str>) -> Result<NotFound> {
        Ok(match text {
            None | Some("none") => NotFound::None,
            Some("single-page-application") => NotFound::SinglePageApplication,
            Some("404-page") => NotFound::Page404,
            Some(other) => anyhow::bail!(
                "assets.not_found_handling is {other:?}; expected \"single-page-application\", \"404-page\" or \"none\""
            ),
        })
    }
}

/// `run_worker_first`: `true`/`false`, or route patterns (`"/api/*"`, `"!/api/docs/*"`) deciding per request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WorkerFirst {
    /// Assets first, the worker on a miss (the default).
    #[default]
    Never,
    /// The worker sees every request (it reaches the files through `env.ASSETS`).
    Always,
    /// Patterns: a path matching a negative (`!`) pattern goes straight to the assets, even when they have nothing
    /// for it; else one matching a positive pattern goes to the worker; else the default applies.
    Routes {
        /// The positive patterns.
        worker: Vec<String>,
        /// The negative patterns, without their `!`.
        assets: Vec<String>,
    },
}

/// Where [`WorkerFirst::route`] sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// To the worker.
    Worker,
    /// To the assets, which answer whether or not they have a file (a negative pattern matched).
    Assets,
    /// Assets if they have a file, else the worker.
    Default,
}

impl WorkerFirst {
    /// `run_worker_first` as the configuration gives it (absent: [`Never`](Self::Never)).
    pub fn parse(value: Option<&serde_json::Value>) -> Result<WorkerFirst> {
        let list = match value {
            None | Some(serde_json::Value::Bool(false)) => return Ok(WorkerFirst::Never),
            Some(serde_json::Value::Bool(true)) => return Ok(WorkerFirst::Always),
            Some(serde_json::Value::Array(list)) => list,
            Some(_) => anyhow::bail!("`assets.run_worker_first` must be true, false or a list of route patterns"),
        };
        let (mut worker, mut assets) = (Vec::new(), Vec::new());
        for rule in list {
            let rule = rule.as_str().context("`assets.run_worker_first` holds a non-string")?;
            match rule.strip_prefix('!') {
                Some(negative) if negative.starts_with('/') => assets.push(negative.to_string()),
                None if rule.starts_with('/') => worker.push(rule.to_string()),
                _ => anyhow::bail!(
                    "`assets.run_worker_first` rule {rule:?} must start with \"/\" (or \"!/\" to exclude routes)"
                ),
            }
        }
        Ok(WorkerFirst::Routes { worker, assets })
    }

    /// Where a request for `path` (the URL's path, as sent) goes.
    pub fn route(&self, path: &str) -> Route {
        match self {
            WorkerFirst::Never => Route::Default,
            WorkerFirst::Always => Route::Worker,
            WorkerFirst::Routes { worker, assets } => {
                if assets.iter().any(|p| glob(p, path)) {
                    Route::Assets
                } else if worker.iter().any(|p| glob(p, path)) {
                    Route::Worker
                } else {
                    Route::Default
                }
            }
        }
    }
}

/// Whether `path` matches `pattern` as a whole, `*` standing for any run of characters (`/` included).
pub fn glob(pattern: &str, path: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = path.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// `html_handling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HtmlHandling {
    /// `"auto-trailing-slash"` (the default): `/a` serves `a.html`, `/a/` serves `a/index.html`, other spellings
    /// are redirected.
    #[default]
    AutoTrailingSlash,
    /// `"none"`: a path serves exactly the file it names.
    None,
}

impl HtmlHandling {
    /// `html_handling` as the configuration spells it, and a warning for the values not supported yet.
    pub fn parse(text: Option<&str>) -> Result<(HtmlHandling, Option<String>)> {
        Ok(match text {
            None | Some("auto-trailing-slash") => (HtmlHandling::AutoTrailingSlash, None),
            Some("none") => (HtmlHandling::None, None),
            Some(other @ ("force-trailing-slash" | "drop-trailing-slash")) => (
                HtmlHandling::AutoTrailingSlash,
                Some(format!("assets.html_handling {other:?} is not supported yet: serving with \"auto-trailing-slash\"")),
            ),
            Some(other) => anyhow::bail!(
                "assets.html_handling is {other:?}; expected \"auto-trailing-slash\", \"force-trailing-slash\", \"drop-trailing-slash\" or \"none\""
            ),
        })
    }
}

/// What a path names.
enum Intent {
    File(PathBuf),
    Redirect(String),
}

/// What the assets answer in front of the worker.
#[derive(Debug)]
pub enum Front {
    /// This response, without running the worker.
    Served(Served),
    /// Nothing: the worker answers.
    Worker,
}

/// The assets of one project.
pub struct Assets {
    root: PathBuf,
    worker_first: WorkerFirst,
    not_found: NotFound,
    html_handling: HtmlHandling,
    /// Cloudflare's `assets_navigation_prefers_asset_serving` (on by default from compatibility date 2025-04-01):
    /// a navigation request (`Sec-Fetch-Mode: navigate`) that matches no file gets `not_found_handling` from the
    /// assets instead of going to the worker.
    navigation_prefers_assets: bool,
}

/// A response from the assets.
#[derive(Debug)]
pub struct Served {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body (empty for HEAD and 304).
    pub body: Bytes,
}

/// Files Wrangler never uploads as assets: configuration for the asset server, not content.
const META_FILES: [&str; 3] = [".assetsignore", "_headers", "_redirects"];

impl Assets {
    /// The assets under `dir`.
    pub fn new(
        dir: &Path,
        worker_first: WorkerFirst,
        not_found: NotFound,
        html_handling: HtmlHandling,
        navigation_prefers_assets: bool,
    ) -> Result<Assets> {
        let root = dir
            .canonicalize()
            .with_context(|| format!("assets.directory {} does not exist", dir.display()))?;
        if !root.is_dir() {
            anyhow::bail!("assets.directory {} is not a directory", dir.display());
        }
        Ok(Assets { root, worker_first, not_found, html_handling, navigation_prefers_assets })
    }

    /// The answer to `method path` in front of the worker (`path` as in the request line, query included or not).
    /// `navigate`: the request is a browser navigation (`Sec-Fetch-Mode: navigate`).
    ///
    /// As on Cloudflare: `run_worker_first` decides first; then a file that matches is served (a method other than
    /// GET or HEAD gets 405); a miss goes to the worker, except a navigation request when
    /// `assets_navigation_prefers_asset_serving` is on, which gets `not_found_handling` (the single-page
    /// application's `index.html`, or the nearest `404.html`) if there is one.
    pub fn front(&self, method: &str, path: &str, if_none_match: Option<&str>, navigate: bool) -> Front {
        match self.worker_first.route(path.split(['?', '#']).next().unwrap_or("/")) {
            Route::Worker => Front::Worker,
            Route::Assets => Front::Served(self.fetch(method, path, if_none_match)),
            Route::Default => {
                let not_found = navigate && self.navigation_prefers_assets;
                match self.lookup(method, path, if_none_match, not_found) {
                    Some(served) => Front::Served(served),
                    None => Front::Worker,
                }
            }
        }
    }

    /// `env.ASSETS.fetch`: the file, else `not_found_handling` for any request, else 404 — never the worker.
    pub fn fetch(&self, method: &str, path: &str, if_none_match: Option<&str>) -> Served {
        self.lookup(method, path, if_none_match, true).unwrap_or_else(|| plain(404, "Not Found"))
    }

    fn lookup(&self, method: &str, target: &str, if_none_match: Option<&str>, not_found: bool) -> Option<Served> {
        let target = target.split('#').next().unwrap_or("/");
        let (raw, query) = match target.split_once('?') {
            Some((raw, query)) => (raw, format!("?{query}")),
            None => (target, String::new()),
        };
        let Some(path) = clean(raw) else {
            return Some(plain(404, "Not Found"));
        };
        let allowed = method == "GET" || method == "HEAD";
        let head = method == "HEAD";
        match self.intent(&path, true) {
            Some(_) if !allowed => return Some(plain(405, "Method Not Allowed")),
            Some(Intent::Redirect(to)) => return Some(redirect(&format!("{}{query}", encode(&to)))),
            // Served at its canonical spelling only, as Cloudflare does: `/a%2Db` or `/a//b` are redirected.
            Some(Intent::File(_)) if encode(&path) != raw => return Some(redirect(&format!("{}{query}", encode(&path)))),
            Some(Intent::File(file)) => return Some(self.file(&file, 200, if_none_match, head)),
            None => {}
        }
        if !not_found {
            return None;
        }
        let (file, status) = match self.not_found {
            NotFound::None => return None,
            NotFound::SinglePageApplication => (self.exists("/index.html")?, 200),
            NotFound::Page404 => {
                // The nearest 404.html: in the request's directory, then each parent up to the root.
                let mut dir = path.clone();
                loop {
                    if dir.is_empty() {
                        return None;
                    }
                    dir.truncate(dir.rfind('/').unwrap_or(0));
                    if let Some(f) = self.exists(&format!("{dir}/404.html")) {
                        break (f, 404);
                    }
                }
            }
        };
        if !allowed {
            return Some(plain(405, "Method Not Allowed"));
        }
        Some(self.file(&file, status, if status == 200 { if_none_match } else { None }, head))
    }

    /// The file at the cleaned path `path` (`/a/b`), if it is one under the root (never a metafile).
    fn exists(&self, path: &str) -> Option<PathBuf> {
        let relative = path.trim_start_matches('/');
        if relative.is_empty() || relative.ends_with('/') || META_FILES.contains(&relative) {
            return None;
        }
        self.inside(&self.root.join(relative))
    }

    /// What a cleaned path names under `html_handling`: a file, or a redirect to the path the file is served at
    /// (`redirects: false` while checking where a redirect would land).
    ///
    /// `auto-trailing-slash` (Cloudflare's default): `a.html` is served at `/a`, `a/index.html` at `/a/`; the other
    /// spellings of those (`/a.html`, `/a/`, `/a/index.html`, `/a/index`, `/a`) are redirected there with 307.
    fn intent(&self, path: &str, redirects: bool) -> Option<Intent> {
        if self.html_handling == HtmlHandling::None {
            return self.exists(path).map(Intent::File);
        }
        let moved = |file: &str, to: &str| -> Option<Intent> {
            if !redirects || to.is_empty() {
                return None;
            }
            let target = self.exists(file)?;
            if self.exists(to).is_some() {
                return None;
            }
            match self.intent(to, false) {
                Some(Intent::File(f)) if f == target => Some(Intent::Redirect(to.to_string())),
                _ => None,
            }
        };
        if let Some(stem) = path.strip_suffix("/index") {
            if let Some(f) = self.exists(path) {
                return Some(Intent::File(f));
            }
            if let Some(r) = moved(&format!("{path}.html"), &format!("{stem}/")).or_else(|| moved(&format!("{stem}.html"), stem)) {
                return Some(r);
            }
        } else if let Some(stem) = path.strip_suffix("/index.html") {
            if let Some(r) = moved(path, &format!("{stem}/")).or_else(|| moved(&format!("{stem}.html"), stem)) {
                return Some(r);
            }
        } else if let Some(stem) = path.strip_suffix('/') {
            if let Some(f) = self.exists(&format!("{path}index.html")) {
                return Some(Intent::File(f));
            }
            if let Some(r) = moved(&format!("{stem}.html"), stem) {
                return Some(r);
            }
        } else if let Some(stem) = path.strip_suffix(".html") {
            if let Some(r) = moved(path, stem).or_else(|| moved(&format!("{stem}/index.html"), &format!("{stem}/"))) {
                return Some(r);
            }
        }
        if let Some(f) = self.exists(path).or_else(|| self.exists(&format!("{path}.html"))) {
            return Some(Intent::File(f));
        }
        moved(&format!("{path}/index.html"), &format!("{path}/"))
    }

    /// `candidate` canonicalized, if it is a regular file under the root.
    fn inside(&self, candidate: &Path) -> Option<PathBuf> {
        let real = candidate.canonicalize().ok()?;
        (real.starts_with(&self.root) && real.is_file()).then_some(real)
    }

    fn file(&self, file: &Path, status: u16, if_none_match: Option<&str>, head: bool) -> Served {
        let Ok(body) = std::fs::read(file) else { return plain(404, "Not Found") };
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..16]));
        let headers = vec![
            ("content-type".to_string(), content_type(file)),
            ("etag".to_string(), etag.clone()),
            ("cache-control".to_string(), "public, max-age=0, must-revalidate".to_string()),
        ];
        let matches = if_none_match
            .is_some_and(|v| v.split(',').any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == etag));
        if status == 200 && matches {
            return Served { status: 304, headers, body: Bytes::new() };
        }
        Served { status, headers, body: if head { Bytes::new() } else { Bytes::from(body) } }
    }
}

/// A request path (percent-encoded, as sent) decoded to `/a/b` (a trailing `/` kept, repeated and `.` segments
/// dropped); `None` when it tries to leave the directory.
fn clean(path: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8().ok()?;
    let mut out = String::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return None,
            s if s.contains('\\') || s.contains('\0') => return None,
            s => {
                out.push('/');
                out.push_str(s);
            }
        }
    }
    if out.is_empty() || decoded.ends_with('/') {
        out.push('/');
    }
    Some(out)
}

/// What `encodeURIComponent` leaves alone.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// A cleaned path percent-encoded segment by segment, as Cloudflare spells the path it serves a file at.
fn encode(path: &str) -> String {
    path.split('/').map(|s| percent_encoding::utf8_percent_encode(s, COMPONENT).to_string()).collect::<Vec<_>>().join("/")
}

fn redirect(location: &str) -> Served {
    Served { status: 307, headers: vec![("location".into(), location.to_string())], body: Bytes::new() }
}

/// The content type Cloudflare sends for `file`: Wrangler's MIME table (the `mime` package) with `; charset=utf-8`
/// added to every `text/` type; the few entries where that table differs from `mime_guess` are fixed here.
pub fn content_type(file: &Path) -> String {
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let fixed = match ext.as_str() {
        "js" | "mjs" | "cjs" => Some("text/javascript"),
        "json" | "map" => Some("application/json"),
        "ico" => Some("image/vnd.microsoft.icon"),
        "xml" => Some("application/xml"),
        "wasm" => Some("application/wasm"),
        "md" | "markdown" => Some("text/markdown"),
        _ => None,
    };
    let base = match fixed {
        Some(t) => t.to_string(),
        None => mime_guess::from_ext(&ext).first_or_octet_stream().to_string(),
    };
    if base.starts_with("text/") && !base.contains("charset") {
        format!("{base}; charset=utf-8")
    } else {
        base
    }
}

fn plain(status: u16, text: &'static str) -> Served {
    Served {
        status,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: Bytes::from_static(text.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(front: Front) -> Served {
        match front {
            Front::Served(s) => s,
            Front::Worker => panic!("went to the worker"),
        }
    }

    #[test]
    fn index_types_etag_and_traversal() {
        let outer = tempfile::tempdir().unwrap();
        let dir = outer.path().join("public");
        std::fs::create_dir_all(dir.join("docs/deep")).unwrap();
        std::fs::write(dir.join("index.html"), "<h1>home</h1>").unwrap();
        std::fs::write(dir.join("docs/about.html"), "about").unwrap();
        std::fs::write(dir.join("docs/index.html"), "docs home").unwrap();
        std::fs::write(dir.join("docs/404.html"), "docs missing").unwrap();
        std::fs::write(dir.join("app.js"), "1").unwrap();
        std::fs::write(dir.join("_headers"), "/*\n  x: y").unwrap();
        std::fs::write(dir.join("404.html"), "missing").unwrap();
        std::fs::write(outer.path().join("secret.txt"), "secret").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(outer.path().join("secret.txt"), dir.join("link.txt")).unwrap();
        let a = Assets::new(&dir, WorkerFirst::Never, NotFound::Page404, HtmlHandling::AutoTrailingSlash, true).unwrap();
        let home = served(a.front("GET", "/", None, false));
        assert_eq!((home.status, &home.body[..]), (200, &b"<h1>home</h1>"[..]));
        assert_eq!(home.headers[0].1, "text/html; charset=utf-8");
        let etag = home.headers[1].1.clone();
        assert_eq!(served(a.front("GET", "/", Some(&etag), false)).status, 304);
        assert_eq!(served(a.front("GET", "/", Some(&format!("W/{etag}")), false)).status, 304);
        assert_eq!(served(a.front("GET", "/docs/about", None, false)).body, "about");
        // auto-trailing-slash: each page has one spelling; the others are redirected to it (the query kept).
        for (from, to) in [
            ("/index.html", "/"),
            ("/index", "/"),
            ("/docs/about.html", "/docs/about"),
            ("/docs/about/", "/docs/about"),
            ("/docs/about.html?x=1", "/docs/about?x=1"),
            ("/docs", "/docs/"),
            ("/docs/index.html", "/docs/"),
            ("/docs//about", "/docs/about"),
            ("/d%6Fcs/about", "/docs/about"),
        ] {
            let r = served(a.front("GET", from, None, false));
            assert_eq!((r.status, r.headers[0].1.as_str()), (307, to), "{from}");
        }
        assert_eq!(served(a.front("GET", "/docs/", None, false)).body, "docs home");
        let exact = Assets::new(&dir, WorkerFirst::Never, NotFound::None, HtmlHandling::None, true).unwrap();
        assert_eq!(served(exact.front("GET", "/docs/about.html", None, false)).status, 200);
        assert!(matches!(exact.front("GET", "/docs/about", None, false), Front::Worker));
        assert_eq!(served(a.front("GET", "/app.js?v=1", None, false)).headers[0].1, "text/javascript; charset=utf-8");
        assert_eq!(served(a.front("POST", "/app.js", None, false)).status, 405, "a file answers other methods with 405");
        for evil in ["/../secret.txt", "/%2e%2e/secret.txt", "/docs/%2E%2E/%2e%2e/secret.txt", "/link.txt", "/..%5csecret.txt"] {
            let r = a.fetch("GET", evil, None);
            assert_ne!(&r.body[..], b"secret", "{evil}");
            assert_eq!(r.status, 404, "{evil}");
        }
        assert!(matches!(a.front("GET", "/nope", None, false), Front::Worker), "a miss goes to the worker");
        assert!(matches!(a.front("GET", "/_headers", None, false), Front::Worker), "_headers is not an asset");
        // 404-page: the nearest 404.html up the path, with 404; in front of the worker only for navigations.
        let page = a.fetch("GET", "/docs/deep/nope", None);
        assert_eq!((page.status, &page.body[..]), (404, &b"docs missing"[..]));
        assert_eq!(a.fetch("GET", "/other/nope", None).body, "missing");
        assert_eq!(served(a.front("GET", "/docs/x", None, true)).status, 404);
        let old = Assets::new(&dir, WorkerFirst::Never, NotFound::Page404, HtmlHandling::AutoTrailingSlash, false).unwrap();
        assert!(matches!(old.front("GET", "/docs/x", None, true), Front::Worker), "before 2025-04-01");
        let spa = Assets::new(&dir, WorkerFirst::Never, NotFound::SinglePageApplication, HtmlHandling::AutoTrailingSlash, true).unwrap();
        let r = served(spa.front("GET", "/route/x", None, true));
        assert_eq!((r.status, &r.body[..]), (200, &b"<h1>home</h1>"[..]));
        assert!(matches!(spa.front("GET", "/api/x", None, false), Front::Worker));
        assert!(matches!(spa.front("POST", "/api/x", None, false), Front::Worker));
        assert_eq!(spa.fetch("GET", "/api/x", None).status, 200, "env.ASSETS.fetch applies it to every request");
        assert_eq!(content_type(Path::new("x.ico")), "image/vnd.microsoft.icon");
        assert_eq!(content_type(Path::new("x.png")), "image/png");
        assert_eq!(content_type(Path::new("x.svg")), "image/svg+xml");
        assert_eq!(content_type(Path::new("x.css")), "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("x.txt")), "text/plain; charset=utf-8");
        assert_eq!(content_type(Path::new("x.json")), "application/json");
        assert_eq!(content_type(Path::new("x.jpg")), "image/jpeg");
    }

    #[test]
    fn run_worker_first_routes() {
        let parse = |v: serde_json::Value| WorkerFirst::parse(Some(&v));
        assert_eq!(WorkerFirst::parse(None).unwrap(), WorkerFirst::Never);
        assert_eq!(parse(serde_json::json!(true)).unwrap(), WorkerFirst::Always);
        assert_eq!(WorkerFirst::Always.route("/x"), Route::Worker);
        let r = parse(serde_json::json!(["/api/*", "!/api/docs/*", "/login", "/*.php"])).unwrap();
        assert_eq!(r.route("/api/notes"), Route::Worker);
        assert_eq!(r.route("/api/notes/1/x"), Route::Worker, "* spans slashes");
        assert_eq!(r.route("/api/"), Route::Worker);
        assert_eq!(r.route("/api"), Route::Default, "/api/* needs the slash");
        assert_eq!(r.route("/api/docs/intro"), Route::Assets, "a negative rule wins");
        assert_eq!(r.route("/api/docs"), Route::Worker);
        assert_eq!(r.route("/login"), Route::Worker);
        assert_eq!(r.route("/login/x"), Route::Default, "no wildcard, an exact match");
        assert_eq!(r.route("/a/b.php"), Route::Worker);
        assert_eq!(r.route("/index.html"), Route::Default);
        assert!(parse(serde_json::json!(["api/*"])).is_err());
        assert!(parse(serde_json::json!([1])).is_err());
        assert!(parse(serde_json::json!("yes")).is_err());
        for (pattern, path, expected) in [
            ("/*", "/", true),
            ("/a*b*c", "/abc", true),
            ("/a*b*c", "/aXbYc", true),
            ("/a*b*c", "/acb", false),
            ("/*a*a", "/a", false),
            ("/*a*a", "/aa", true),
            ("/x", "/xy", false),
            ("*", "/anything", true),
        ] {
            assert_eq!(glob(pattern, path), expected, "{pattern} {path}");
        }
    }
}
