//! Choosing versions: pip, run by pyworkers on the host, resolves the requirements for Pyodide's platform
//! (`--platform pyemscripten_… --python-version 3.14 --implementation cp --abi cp314 --only-binary=:all:`), which
//! accepts the platform's wheels and pure-Python `none-any` ones. Wheels only: a package with neither is an error
//! naming it and the platform (pyworkers does not build sdists).
//!
//! pip is `python3 -m pip` unless `PYWORKERS_PYTHON` names another interpreter; its index is pip's own
//! configuration (`PIP_INDEX_URL`, `pip.conf`). Its output, with its download progress, goes to stderr.

use super::lock::Package;
use super::requirements::Requirements;
use super::wheel::{self, Cache};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Resolve `reqs`: download the chosen wheels and their dependencies into the cache; what was chosen.
pub fn resolve(reqs: &Requirements, cache: &Cache) -> Result<Vec<Package>> {
    let dir = tempfile::tempdir().context("creating a download directory")?;
    pip_download(dir.path(), &reqs.lines, false)?;
    let mut packages = Vec::new();
    for path in wheels_in(dir.path())? {
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default().to_string();
        let (name, version) = wheel::name_version(&file)?;
        let (sha256, _) = cache.put(&path)?;
        packages.push(Package { name, version, wheel: file, sha256 });
    }
    Ok(packages)
}

/// Download the wheel the lock pinned for `package` (no dependencies: the lock lists them all) and check its hash.
pub fn fetch_pinned(package: &Package, cache: &Cache) -> Result<PathBuf> {
    let dir = tempfile::tempdir().context("creating a download directory")?;
    pip_download(dir.path(), &[format!("{}=={}", package.name, package.version)], true)?;
    let path = dir.path().join(&package.wheel);
    if !path.is_file() {
        bail!("pip did not download {} (delete the lock to resolve again)", package.wheel);
    }
    let (sha256, cached) = cache.put(&path)?;
    if sha256 != package.sha256 {
        bail!("{} has SHA-256 {sha256}, the lock says {}: refusing it", package.wheel, package.sha256);
    }
    Ok(cached)
}

fn wheels_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut wheels = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("whl") => wheels.push(path),
            _ => bail!("pip downloaded {}, which is not a wheel", path.display()),
        }
    }
    wheels.sort();
    Ok(wheels)
}

fn pip_download(dest: &Path, requirements: &[String], no_deps: bool) -> Result<()> {
    let python = std::env::var("PYWORKERS_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:"])
        .args(["--platform", super::PLATFORM, "--python-version", super::PYTHON_VERSION])
        .args(["--implementation", "cp", "--abi", super::ABI, "--abi", "none"])
        .arg("--dest")
        .arg(dest);
    if no_deps {
        cmd.arg("--no-deps");
    }
    cmd.arg("--").args(requirements).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| {
        format!("resolving packages needs pip: could not start `{python} -m pip` (set PYWORKERS_PYTHON to a Python with pip)")
    })?;
    // Both streams to our stderr as they come (pip's progress), the errors kept for the message.
    let out = child.stdout.take().map(|s| std::thread::spawn(move || relay(s)));
    let err = child.stderr.take().map(|s| std::thread::spawn(move || relay(s)));
    let status = child.wait().context("waiting for pip")?;
    let mut lines = Vec::new();
    for t in [out, err].into_iter().flatten() {
        lines.extend(t.join().unwrap_or_default());
    }
    if status.success() {
        return Ok(());
    }
    if let Some(name) = lines.iter().find_map(|l| l.split("No matching distribution found for ").nth(1)) {
        bail!(
            "no wheel of {} for {} (Python {}, Pyodide {}): pyworkers installs wheels only, pure-Python (`none-any`) or built for that platform",
            name.trim(),
            super::PLATFORM,
            super::PYTHON_VERSION,
            crate::runtime::PYODIDE_VERSION
        );
    }
    let tail: Vec<&str> = lines.iter().rev().filter(|l| l.contains("ERROR")).map(String::as_str).collect();
    bail!("pip failed ({status}){}", if tail.is_empty() { String::new() } else { format!(": {}", tail.join("; ")) })
}

fn relay(stream: impl std::io::Read) -> Vec<String> {
    let mut lines = Vec::new();
    for line in BufReader::new(stream).lines().map_while(Result::ok) {
        eprintln!("pip: {line}");
        lines.push(line);
    }
    lines
}
