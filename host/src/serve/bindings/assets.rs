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

/// The assets of one project.
pub struct Assets {
    root: PathBuf,
    /// Whether the worker sees every request first (it reaches assets through `env.ASSETS`).
    pub run_worker_first: bool,
    not_found: NotFound,
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

impl Assets {
    /// The assets under `dir`.
    pub fn new(dir: &Path, run_worker_first: bool, not_found: NotFound) -> Result<Assets> {
        let root = dir
            .canonicalize()
            .with_context(|| format!("assets.directory {} does not exist", dir.display()))?;
        if !root.is_dir() {
            anyhow::bail!("assets.directory {} is not a directory", dir.display());
        }
        Ok(Assets { root, run_worker_first, not_found })
    }

    /// The answer to `method path` in front of the worker (`path` as in the request line, query included or not),
    /// `None` when the assets have nothing for it and the worker should answer. `navigate`: the request is a
    /// browser navigation (it gets the single-page application's `index.html`). A `404-page` is not served here:
    /// as on Cloudflare, a miss goes to the worker, which can ask `env.ASSETS` for it.
    pub fn serve(&self, method: &str, path: &str, if_none_match: Option<&str>, navigate: bool) -> Option<Served> {
        self.lookup(method, path, if_none_match, navigate, false)
    }

    fn lookup(&self, method: &str, path: &str, if_none_match: Option<&str>, navigate: bool, page404: bool) -> Option<Served> {
        if method != "GET" && method != "HEAD" {
            return None;
        }
        let path = path.split(['?', '#']).next().unwrap_or("/");
        let Some(relative) = clean(path) else {
            return Some(plain(404, "Not Found"));
        };
        let head = method == "HEAD";
        if let Some(file) = self.find(&relative) {
            return Some(self.file(&file, 200, if_none_match, head));
        }
        match self.not_found {
            NotFound::None => None,
            NotFound::SinglePageApplication if navigate => {
                self.inside(&self.root.join("index.html")).map(|f| self.file(&f, 200, if_none_match, head))
            }
            NotFound::SinglePageApplication => None,
            NotFound::Page404 if !page404 => None,
            NotFound::Page404 => {
                let mut dir = relative.clone();
                loop {
                    if let Some(f) = self.inside(&self.root.join(&dir).join("404.html")) {
                        return Some(self.file(&f, 404, None, head));
                    }
                    if !dir.pop() {
                        return None;
                    }
                }
            }
        }
    }

    /// `env.ASSETS.fetch`: like [`serve`](Self::serve), but a miss is a 404, never the worker.
    pub fn fetch(&self, method: &str, path: &str, if_none_match: Option<&str>, navigate: bool) -> Served {
        self.lookup(method, path, if_none_match, navigate, true).unwrap_or_else(|| plain(404, "Not Found"))
    }

    /// The file for a cleaned path: itself, `PATH.html`, or `PATH/index.html`.
    fn find(&self, relative: &Path) -> Option<PathBuf> {
        let exact = self.root.join(relative);
        let mut candidates = vec![exact.join("index.html")];
        if !relative.as_os_str().is_empty() {
            candidates.insert(0, exact.clone());
            let mut html = exact.into_os_string();
            html.push(".html");
            candidates.insert(1, PathBuf::from(html));
        }
        candidates.into_iter().find_map(|c| self.inside(&c))
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

/// A request path as a relative path, `None` when it tries to leave the directory.
fn clean(path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8().ok()?;
    let mut out = PathBuf::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return None,
            s if s.contains('\\') || s.contains('\0') => return None,
            s => out.push(s),
        }
    }
    Some(out)
}

/// The content type Cloudflare sends for `file`.
pub fn content_type(file: &Path) -> String {
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let fixed = match ext.as_str() {
        "html" | "htm" => Some("text/html; charset=utf-8"),
        "css" => Some("text/css; charset=utf-8"),
        "js" | "mjs" => Some("text/javascript; charset=utf-8"),
        "json" => Some("application/json; charset=utf-8"),
        "txt" => Some("text/plain; charset=utf-8"),
        "svg" => Some("image/svg+xml"),
        "ico" => Some("image/vnd.microsoft.icon"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        _ => None,
    };
    match fixed {
        Some(t) => t.to_string(),
        None => mime_guess::from_ext(&ext).first_or_octet_stream().to_string(),
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

    #[test]
    fn index_types_etag_and_traversal() {
        let outer = tempfile::tempdir().unwrap();
        let dir = outer.path().join("public");
        std::fs::create_dir_all(dir.join("docs")).unwrap();
        std::fs::write(dir.join("index.html"), "<h1>home</h1>").unwrap();
        std::fs::write(dir.join("docs/about.html"), "about").unwrap();
        std::fs::write(dir.join("app.js"), "1").unwrap();
        std::fs::write(dir.join("404.html"), "missing").unwrap();
        std::fs::write(outer.path().join("secret.txt"), "secret").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(outer.path().join("secret.txt"), dir.join("link.txt")).unwrap();
        let a = Assets::new(&dir, false, NotFound::Page404).unwrap();
        let home = a.serve("GET", "/", None, false).unwrap();
        assert_eq!((home.status, &home.body[..]), (200, &b"<h1>home</h1>"[..]));
        assert_eq!(home.headers[0].1, "text/html; charset=utf-8");
        let etag = home.headers[1].1.clone();
        assert_eq!(a.serve("GET", "/index.html", Some(&etag), false).unwrap().status, 304);
        assert_eq!(a.serve("GET", "/docs/about", None, false).unwrap().body, "about");
        assert_eq!(a.serve("GET", "/app.js?v=1", None, false).unwrap().headers[0].1, "text/javascript; charset=utf-8");
        for evil in ["/../secret.txt", "/%2e%2e/secret.txt", "/docs/%2E%2E/%2e%2e/secret.txt", "/link.txt", "/..%5csecret.txt"] {
            let r = a.fetch("GET", evil, None, false);
            assert_ne!(&r.body[..], b"secret", "{evil}");
            assert_eq!(r.status, 404, "{evil}");
        }
        assert!(a.serve("GET", "/nope", None, false).is_none(), "a miss goes to the worker");
        let page = a.fetch("GET", "/docs/nope", None, false);
        assert_eq!((page.status, &page.body[..]), (404, &b"missing"[..]));
        let spa = Assets::new(&dir, false, NotFound::SinglePageApplication).unwrap();
        assert_eq!(spa.serve("GET", "/route/x", None, true).unwrap().status, 200);
        assert!(spa.serve("GET", "/api/x", None, false).is_none());
        assert!(spa.serve("POST", "/", None, true).is_none());
        assert_eq!(content_type(Path::new("x.ico")), "image/vnd.microsoft.icon");
        assert_eq!(content_type(Path::new("x.png")), "image/png");
    }
}
