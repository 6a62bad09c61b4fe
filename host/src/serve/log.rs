//! The server log (stderr): one access line per request, server events, and guests' own output prefixed with the
//! instance that wrote it.
//!
//! Every entry is written with a single `write_all` on a locked stderr, so lines from concurrent requests never
//! interleave. This module never writes to stdout: stdout carries only the `serving http://...` line.

use std::io::Write;
use std::time::Duration;

/// Longest guest line kept whole; a longer one is logged in pieces rather than buffered without bound.
const MAX_LINE: usize = 16 * 1024;

/// One access-log line: `GET /path 200 1.23ms`.
pub fn access(method: &str, path: &str, status: u16, elapsed: Duration) {
    let ms = elapsed.as_secs_f64() * 1000.0;
    line(&format!("{method} {path} {status} {ms:.2}ms"));
}

/// A server event (a trap, a refused request, shutdown progress), as one line.
pub fn line(text: &str) {
    let mut entry = String::with_capacity(text.len() + 1);
    entry.push_str(text);
    entry.push('\n');
    let _ = std::io::stderr().lock().write_all(entry.as_bytes());
}

/// A guest's output stream turned into log lines, each starting with `prefix` (e.g. `[hello.wasm#12] `).
/// A partial last line is written when the value is dropped (the instance is gone).
pub struct PrefixedLines {
    prefix: String,
    pending: Vec<u8>,
}

impl PrefixedLines {
    /// Lines that will start with `prefix` followed by a space.
    pub fn new(prefix: impl Into<String>) -> PrefixedLines {
        PrefixedLines {
            prefix: prefix.into(),
            pending: Vec::new(),
        }
    }

    /// Take the guest's bytes; every complete line is logged now.
    pub fn write(&mut self, mut bytes: &[u8]) {
        while let Some(newline) = bytes.iter().position(|&b| b == b'\n') {
            self.pending.extend_from_slice(&bytes[..newline]);
            self.emit();
            bytes = &bytes[newline + 1..];
        }
        self.pending.extend_from_slice(bytes);
        while self.pending.len() >= MAX_LINE {
            let rest = self.pending.split_off(MAX_LINE);
            self.emit();
            self.pending = rest;
        }
    }

    /// Name a new request in the lines that follow (an instance serving another one); a partial line the
    /// previous request left is written first, under its own prefix.
    pub fn set_prefix(&mut self, prefix: &str) {
        if !self.pending.is_empty() {
            self.emit();
        }
        self.prefix = prefix.to_string();
    }

    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.pending);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        line(&format!("{} {text}", self.prefix));
        self.pending.clear();
    }
}

impl Drop for PrefixedLines {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.emit();
        }
    }
}
