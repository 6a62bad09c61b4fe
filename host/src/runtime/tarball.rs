//! Taking the few files we need out of an npm tarball (`package/...` inside a gzipped tar).
//!
//! Only named members are extracted, each to a path we choose, so a tarball's own paths (absolute, `..`,
//! symlinks) can never write anywhere else.

use super::cache;
use super::digest::{check_sha256, sha256_reader};
use super::progress::Step;
use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// One file to take out of a tarball.
pub(crate) struct Member<'a> {
    /// Path inside the tarball, e.g. `package/pyodide.asm.wasm`.
    pub name: &'a str,
    /// Where to put it.
    pub dest: PathBuf,
    /// Its pinned SHA-256, or `None` when the tarball's own pin is the only guarantee needed (scratch files).
    pub sha256: Option<&'a str>,
}

/// Fail unless the tarball at `path` hashes to `expected`.
pub(crate) fn verify(path: &Path, what: &str, expected: &str) -> Result<()> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let actual = sha256_reader(io::BufReader::new(file))
        .with_context(|| format!("reading {}", path.display()))?;
    check_sha256(
        what,
        &actual,
        expected,
        "npm returned a different package than the one pyworkers pins; check which registry or mirror npm uses \
         (`npm config get registry`), or clear npm's cache (`npm cache clean --force`), then run `pyworkers setup`",
    )
}

/// Extract `members` from the gzipped tarball at `path`, verifying each pinned hash before the file is renamed into
/// place, so nothing unverified ever appears under its real name.
pub(crate) fn extract(path: &Path, what: &str, members: &[Member<'_>]) -> Result<()> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let step = Step::bytes(&format!("extracting and verifying {what}"), total);
    let mut archive = tar::Archive::new(GzDecoder::new(
        step.bar().wrap_read(io::BufReader::new(file)),
    ));
    let mut remaining: Vec<&Member<'_>> = members.iter().collect();
    let entries = archive
        .entries()
        .with_context(|| format!("reading {what} ({})", path.display()))?;
    for entry in entries {
        if remaining.is_empty() {
            break;
        }
        let mut entry = entry.with_context(|| format!("reading {what} ({})", path.display()))?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let Some(i) = remaining.iter().position(|m| m.name == name) else {
            continue;
        };
        let member = remaining.swap_remove(i);
        write_member(&mut entry, what, member)?;
    }
    if let Some(missing) = remaining.first() {
        bail!(
            "{what} has no {}: the package layout changed; this pyworkers build cannot use it",
            missing.name
        );
    }
    step.done(&format!("extracted and verified {what}"));
    Ok(())
}

/// Stream one member to a partial file next to its destination, hashing as it goes, then check and commit it.
fn write_member(entry: &mut impl Read, what: &str, member: &Member<'_>) -> Result<()> {
    let dir = cache::parent(&member.dest);
    cache::create_dir(dir)?;
    let mut partial = cache::partial_file(dir)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = entry
            .read(&mut buf)
            .with_context(|| format!("reading {} from {what}", member.name))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        partial
            .write_all(&buf[..n])
            .with_context(|| format!("writing {}", member.dest.display()))?;
    }
    if let Some(expected) = member.sha256 {
        check_sha256(
            &format!("{} in {what}", member.name),
            &hex::encode(hasher.finalize()),
            expected,
            "the package does not match what pyworkers pins; clear npm's cache (`npm cache clean --force`) and \
             run `pyworkers setup`",
        )?;
    }
    cache::commit(partial, &member.dest)
}
