//! SHA-256 of what we download and produce, and the one comparison every pinned artifact goes through.
//!
//! Pins are compared here and nowhere else, so the "wrong hash" error reads the same for every artifact and can be
//! unit-tested with plain bytes.

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lowercase hex SHA-256 of everything `reader` yields.
pub(crate) fn sha256_reader(mut reader: impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut reader, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Lowercase hex SHA-256 of the file at `path`.
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    sha256_reader(io::BufReader::with_capacity(1 << 20, file))
        .with_context(|| format!("reading {}", path.display()))
}

/// Fail unless `actual` is the pinned `expected` hash. `what` names the artifact; `remedy` tells the user what to do,
/// because a mismatch has different causes (a registry mirror, a corrupt cache, a changed tool) at each call site.
pub(crate) fn check_sha256(what: &str, actual: &str, expected: &str, remedy: &str) -> Result<()> {
    if actual.eq_ignore_ascii_case(expected) {
        return Ok(());
    }
    bail!("{what} has the wrong SHA-256 ({actual}, expected {expected}): {remedy}")
}

/// [`check_sha256`] over bytes in memory.
pub(crate) fn check_bytes(what: &str, bytes: &[u8], expected: &str, remedy: &str) -> Result<()> {
    check_sha256(what, &sha256_hex(bytes), expected, remedy)
}
