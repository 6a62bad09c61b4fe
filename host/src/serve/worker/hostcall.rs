//! `/dev/pyworkers`: the blocking host-call channel for guest code that cannot return to the host mid-call (the
//! standard library's `http.client`, hence `urllib.request`).
//!
//! The guest writes one request frame (`marshal` of `("fetch", method, url, headers, body, timeout_seconds[,
//! redirect])`, `redirect` `"follow"` (the default) or `"manual"` for clients that follow redirects themselves), then
//! reads the reply: a 4-byte little-endian length and `marshal((ok, value))`. The request runs on the async
//! runtime through the same outbound client and `--allow-host` policy as `workers.fetch`; only this instance's
//! thread waits for it.
//!
//! Binding calls (`("kv.get", binding, key)`, `("d1.query", binding, sql, params)`, ...) go to
//! [`Bindings::call`], answered on this thread at once: local SQLite needs no async runtime. A Durable Object's
//! instance has its object's storage on its device (`("storage.get", keys)`, ...): no other instance can reach it.

use crate::serve::bindings::durable::storage::{self, Storage};

use crate::entrypoint::marshal::{self, Value};
use crate::serve::bindings::Bindings;
use crate::serve::outbound::{self, Outbound};
use std::sync::Arc;
use crate::vfs::{Device, Errno};
use std::time::Duration;

/// Where the device is mounted in every served instance.
pub const DEVICE: &str = "/dev/pyworkers";

/// Largest request frame accepted (the body included).
const MAX_FRAME: usize = 64 << 20;

/// One instance's host-call device.
pub struct HostcallDevice {
    outbound: Outbound,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
    bindings: Arc<Bindings>,
    storage: Option<Arc<Storage>>,
    request: Vec<u8>,
    reply: Vec<u8>,
    read: usize,
}

impl HostcallDevice {
    /// A device whose calls go through `outbound` on `runtime`, with `timeout` when the guest sets none, and
    /// whose binding calls go to `bindings`; `storage`: the Durable Object's, in that object's instance.
    pub fn new(
        outbound: Outbound,
        runtime: tokio::runtime::Handle,
        timeout: Duration,
        bindings: Arc<Bindings>,
        storage: Option<Arc<Storage>>,
    ) -> HostcallDevice {
        HostcallDevice { outbound, runtime, timeout, bindings, storage, request: Vec::new(), reply: Vec::new(), read: 0 }
    }

    fn serve(&self, frame: &[u8]) -> Value {
        let failure = |kind: &str, message: String| {
            Value::Tuple(vec![Value::Bool(false), Value::Tuple(vec![Value::str(kind), Value::Str(message)])])
        };
        if let Ok(Value::Tuple(items)) = marshal::loads(frame) {
            if let Some((Value::Str(kind), args)) = items.split_first() {
                if let Some(op) = kind.strip_prefix("storage.") {
                    return match &self.storage {
                        Some(s) => match storage::call(s, op, args) {
                            Ok(v) => Value::Tuple(vec![Value::Bool(true), v]),
                            Err(e) => failure("storage", format!("{e:#}")),
                        },
                        None => failure("error", "storage exists only inside a Durable Object".into()),
                    };
                }
                if kind != "fetch" {
                    return match self.bindings.call(kind, args) {
                        Ok(v) => Value::Tuple(vec![Value::Bool(true), v]),
                        Err((kind, message)) => failure(kind, message),
                    };
                }
            }
        }
        let request = match parse(frame, self.timeout) {
            Ok(r) => r,
            Err(e) => return failure("error", format!("bad host call: {e:#}")),
        };
        match crate::serve::worker::pool::convert(self.outbound.fetch_blocking(&self.runtime, request)) {
            Ok(r) => Value::Tuple(vec![
                Value::Bool(true),
                Value::Tuple(vec![
                    Value::Int(r.status as i64),
                    Value::List(
                        r.headers
                            .into_iter()
                            .map(|(k, v)| Value::Tuple(vec![Value::Str(k), Value::Str(v)]))
                            .collect(),
                    ),
                    Value::Bytes(r.body),
                    Value::Str(r.url),
                ]),
            ]),
            Err(e) => failure(&e.kind, e.message),
        }
    }
}

fn parse(frame: &[u8], default_timeout: Duration) -> anyhow::Result<outbound::OutboundRequest> {
    let value = marshal::loads(frame)?;
    let items = value.as_seq("host call")?;
    let (kind, method, url, headers, body, timeout, redirect) = match items {
        [kind, method, url, headers, body, timeout] => (kind, method, url, headers, body, timeout, None),
        [kind, method, url, headers, body, timeout, redirect] => {
            (kind, method, url, headers, body, timeout, Some(redirect.as_str("redirect")?))
        }
        _ => anyhow::bail!("expected (kind, method, url, headers, body, timeout[, redirect])"),
    };
    let follow_redirects = match redirect {
        None | Some("follow") => true,
        Some("manual") => false,
        Some(other) => anyhow::bail!("redirect is \"follow\" or \"manual\", not {other:?}"),
    };
    if kind.as_str("kind")? != "fetch" {
        anyhow::bail!("unknown host call {:?}", kind);
    }
    let headers = headers
        .as_seq("headers")?
        .iter()
        .map(|h| match h.as_seq("header")? {
            [k, v] => Ok((k.as_str("name")?.to_string(), v.as_str("value")?.to_string())),
            _ => anyhow::bail!("a header is not a pair"),
        })
        .collect::<anyhow::Result<_>>()?;
    let timeout = match timeout {
        Value::Float(s) if s.is_finite() && *s > 0.0 => Duration::from_secs_f64(*s).min(default_timeout),
        Value::Int(s) if *s > 0 => Duration::from_secs(*s as u64).min(default_timeout),
        _ => default_timeout,
    };
    Ok(outbound::OutboundRequest {
        method: method.as_str("method")?.to_string(),
        url: url.as_str("url")?.to_string(),
        headers,
        body: body.as_bytes("body")?.to_vec().into(),
        timeout,
        follow_redirects,
    })
}

impl Device for HostcallDevice {
    fn write(&mut self, data: &[u8]) -> Result<usize, Errno> {
        if self.request.len() + data.len() > MAX_FRAME {
            return Err(Errno::FBIG);
        }
        self.request.extend_from_slice(data);
        // A frame is complete when it parses; a partial write waits for the rest.
        if marshal::loads(&self.request).is_ok() {
            let frame = std::mem::take(&mut self.request);
            let reply = marshal::dumps(&self.serve(&frame));
            self.reply = (reply.len() as u32).to_le_bytes().to_vec();
            self.reply.extend_from_slice(&reply);
            self.read = 0;
        }
        Ok(data.len())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        let rest = &self.reply[self.read..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.read += n;
        Ok(n)
    }
}
