//! Everything `pyworkers serve` is told on its command line, resolved once before the server starts, plus the
//! parsers for the flag values (sizes, `KEY=VALUE` pairs), so the hot path never parses anything.
//!
//! This module holds no behaviour: it must never open files, bind sockets or read the environment.

use super::outbound::AllowList;
use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The address `serve` binds when `--addr` is not given (what `wrangler dev` uses).
pub const DEFAULT_ADDR: &str = "127.0.0.1:8787";
/// Per-request deadline when `--timeout` is not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Per-instance linear-memory cap when `--max-memory` is not given.
pub const DEFAULT_MAX_MEMORY: u64 = 128 << 20;
/// Request-body limit when `--max-body` is not given (Cloudflare's smallest plan accepts 100 MB).
pub const DEFAULT_MAX_BODY: u64 = 100 << 20;
/// Live Durable Objects at most when `--max-durable-objects` is not given.
pub const DEFAULT_MAX_DURABLE_OBJECTS: usize = 32;
/// How long an idle Durable Object stays live when `--durable-object-idle` is not given (Cloudflare evicts idle
/// objects after a minute or two).
pub const DEFAULT_DURABLE_OBJECT_IDLE: Duration = Duration::from_secs(120);

/// The resolved flags of `pyworkers serve`.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// What to serve: a `.wasm` component, a `.py` file, a worker directory or a project directory.
    pub path: PathBuf,
    /// Where to listen; port 0 picks a free port (printed on the first stdout line).
    pub addr: SocketAddr,
    /// `--var KEY=VALUE`, in command-line order (later ones win).
    pub vars: Vec<(String, String)>,
    /// Wall-clock deadline for one request, from the moment its headers arrived.
    pub timeout: Duration,
    /// Linear-memory cap of one instance, in bytes.
    pub max_memory: u64,
    /// Request-body limit in bytes; a longer body is answered 413 without reading it all.
    pub max_body: u64,
    /// Requests one instance serves before it is thrown away; `None` = unlimited, `Some(1)` = fresh per request.
    pub max_requests_per_instance: Option<u64>,
    /// How many instances run at the same time.
    pub instances: usize,
    /// Hosts that outbound requests may reach.
    pub allow_hosts: AllowList,
    /// Rebuild the worker and replace instances when its sources change.
    pub watch: bool,
    /// Enable `/__scheduled?cron=...` and `POST /__queue?queue=NAME`.
    pub test_scheduled: bool,
    /// The cache directory (`$PYWORKERS_HOME`): compiled components and snapshots live there.
    pub home: PathBuf,
    /// `--state DIR` (`:memory:` for none); `None`: `<project>/.pyworkers/state`.
    pub state: Option<PathBuf>,
    /// Most Durable Objects live (each with its instance) at once.
    pub max_durable_objects: usize,
    /// How long a Durable Object with nothing to do stays live.
    pub durable_object_idle: Duration,
}

impl ServeOptions {
    /// The defaults for serving `path` with cache directory `home`, as if no flag were given.
    pub fn new(path: PathBuf, home: PathBuf) -> ServeOptions {
        ServeOptions {
            path,
            addr: DEFAULT_ADDR.parse().expect("the default address parses"),
            vars: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            max_memory: DEFAULT_MAX_MEMORY,
            max_body: DEFAULT_MAX_BODY,
            max_requests_per_instance: None,
            instances: default_instances(),
            allow_hosts: AllowList::default(),
            watch: false,
            test_scheduled: false,
            home,
            state: None,
            max_durable_objects: DEFAULT_MAX_DURABLE_OBJECTS,
            durable_object_idle: DEFAULT_DURABLE_OBJECT_IDLE,
        }
    }
}

/// One instance per core, as the runtime has one worker thread per core.
pub fn default_instances() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Parse a byte count: a plain number, or a number with a unit (`k`/`KB` = 1000, `KiB` = 1024, up to `G`/`GiB`),
/// case-insensitive, optional space: `128MiB`, `100 MB`, `64k`.
pub fn parse_bytes(text: &str) -> Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        bail!("`{text}` is not a size: expected a number with an optional unit, e.g. 128MiB");
    }
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "ki" | "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mi" | "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gi" | "gib" => 1 << 30,
        other => {
            bail!("unknown size unit `{other}` in `{text}`: use B, KB, KiB, MB, MiB, GB or GiB")
        }
    };
    let value: f64 = number
        .parse()
        .with_context(|| format!("`{number}` is not a number"))?;
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        bail!("size `{text}` is out of range");
    }
    Ok(bytes as u64)
}

/// Parse a duration the way people write them: `500ms`, `2s`, `1m`, `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let duration = humantime::parse_duration(text.trim())
        .with_context(|| format!("`{text}` is not a duration: write e.g. 500ms, 2s or 1m"))?;
    if duration.is_zero() {
        bail!("a duration of zero would refuse every request");
    }
    Ok(duration)
}

/// Parse `KEY=VALUE` (the value may contain `=`; the key may not be empty).
pub fn parse_var(text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => bail!("`{text}` is not KEY=VALUE"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_and_without_units() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("128MiB").unwrap(), 128 << 20);
        assert_eq!(parse_bytes("100 MB").unwrap(), 100_000_000);
        assert_eq!(parse_bytes("64k").unwrap(), 64_000);
        assert_eq!(parse_bytes("1.5KiB").unwrap(), 1536);
        assert!(parse_bytes("MiB").is_err());
        assert!(parse_bytes("12 parsecs").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn vars() {
        assert_eq!(
            parse_var("A=b=c").unwrap(),
            ("A".to_string(), "b=c".to_string())
        );
        assert_eq!(parse_var("A=").unwrap(), ("A".to_string(), String::new()));
        assert!(parse_var("=x").is_err());
        assert!(parse_var("novalue").is_err());
    }
}
