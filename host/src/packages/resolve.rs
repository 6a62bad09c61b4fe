//! Choosing versions: pip, run by pyworkers on the host, resolves the requirements for Pyodide's platform
//! (`--platform pyemscripten_… --python-version 3.14 --implementation cp --abi cp314 --only-binary=:all:`), which
//! accepts the platform's wheels and pure-Python `none-any` ones. Wheels only: a package with neither is an error
//! naming it and the platform — except for the few in [`PURE_FALLBACK`], whose sdists are known to build a complete
//! pure-Python wheel when their optional C speedups cannot be compiled. For those pyworkers builds that wheel on the
//! host with the C compiler disabled (`CC=false`) and `SOURCE_DATE_EPOCH` fixed, so a rebuild is byte-identical and
//! matches the hash in the lock; the result is checked to be `none-any` with no compiled file in it.
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

/// Distributions (normalised names) whose sdist has a pure-Python fallback that is the whole package: MarkupSafe's
/// `_speedups` C module is optional and `_native.py` does the same work.
pub const PURE_FALLBACK: &[&str] = &["markupsafe"];

/// A fixed wheel timestamp (1980-01-01, the earliest a zip can hold), so building the same sdist twice gives the
/// same bytes.
const SOURCE_DATE_EPOCH: &str = "315532800";

/// pip found no usable wheel for a requirement.
#[derive(Debug, thiserror::Error)]
#[error(
    "no wheel of {spec} for {platform} (Python {python}, Pyodide {pyodide}): pyworkers installs wheels only, pure-Python (`none-any`) or built for that platform",
    platform = super::PLATFORM,
    python = super::PYTHON_VERSION,
    pyodide = crate::runtime::PYODIDE_VERSION
)]
pub struct NoWheel {
    /// The requirement as pip named it.
    pub spec: String,
}

/// Resolve `reqs`: download the chosen wheels and their dependencies into the cache; what was chosen.
pub fn resolve(reqs: &Requirements, cache: &Cache) -> Result<Vec<Package>> {
    let built = tempfile::tempdir().context("creating a build directory")?;
    let mut fallbacks: Vec<String> = Vec::new();
    let dir = loop {
        let dir = tempfile::tempdir().context("creating a download directory")?;
        let links = (!fallbacks.is_empty()).then(|| built.path());
        match pip_download(dir.path(), &reqs.lines, false, links) {
            Ok(()) => break dir,
            Err(e) => match e.downcast_ref::<NoWheel>() {
                Some(missing) if has_pure_fallback(&missing.spec) && !fallbacks.contains(&missing.spec) => {
                    let spec = missing.spec.clone();
                    eprintln!("pip: no wheel of {spec} for {}: building its pure-Python fallback from the sdist", super::PLATFORM);
                    build_pure(&spec, built.path())?;
                    fallbacks.push(spec);
                }
                _ => return Err(e),
            },
        }
    };
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
    let spec = format!("{}=={}", package.name, package.version);
    if has_pure_fallback(&package.name) && package.wheel.ends_with("-none-any.whl") {
        build_pure(&spec, dir.path())?;
    } else {
        pip_download(dir.path(), &[spec], true, None)?;
    }
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

/// Whether `spec` (a requirement) names a distribution in [`PURE_FALLBACK`].
fn has_pure_fallback(spec: &str) -> bool {
    let name: String = spec
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .map(|c| if matches!(c, '_' | '.') { '-' } else { c.to_ascii_lowercase() })
        .collect();
    PURE_FALLBACK.contains(&name.as_str())
}

/// Build `spec`'s pure-Python wheel from its sdist into `out`, with no C compiler.
fn build_pure(spec: &str, out: &Path) -> Result<()> {
    let sdist = tempfile::tempdir().context("creating a download directory")?;
    let mut download = pip();
    download.args(["download", "--disable-pip-version-check", "--no-deps", "--no-binary", ":all:", "--dest"]);
    download.arg(sdist.path()).arg("--").arg(spec);
    run_pip(download).with_context(|| format!("downloading the sdist of {spec}"))?;
    let file = std::fs::read_dir(sdist.path())?
        .next()
        .with_context(|| format!("pip downloaded no sdist of {spec}"))??
        .path();
    let mut build = pip();
    build.args(["wheel", "--disable-pip-version-check", "--no-deps", "--no-binary", ":all:", "--wheel-dir"]);
    build.arg(out).arg(&file).env("CC", "false").env("CXX", "false").env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH);
    run_pip(build).with_context(|| format!("building the pure-Python wheel of {spec}"))?;
    for entry in std::fs::read_dir(out)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let compiled = zip::ZipArchive::new(std::fs::File::open(&path)?)
            .map(|z| z.file_names().any(|f| f.ends_with(".so") || f.ends_with(".pyd")))
            .unwrap_or(true);
        if wheel::is_compiled(&name) || compiled {
            bail!("building {spec} without a C compiler gave {name}, which is not pure Python");
        }
    }
    Ok(())
}

fn pip() -> Command {
    let mut cmd = Command::new(python());
    cmd.args(["-m", "pip"]);
    cmd
}

fn python() -> String {
    std::env::var("PYWORKERS_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn pip_download(dest: &Path, requirements: &[String], no_deps: bool, find_links: Option<&Path>) -> Result<()> {
    let mut cmd = pip();
    if let Some(links) = find_links {
        cmd.arg("download").arg("--find-links").arg(links);
    } else {
        cmd.arg("download");
    }
    cmd.args(["--disable-pip-version-check", "--only-binary=:all:"])
        .args(["--platform", super::PLATFORM, "--python-version", super::PYTHON_VERSION])
        .args(["--implementation", "cp", "--abi", super::ABI, "--abi", "none"])
        .arg("--dest")
        .arg(dest);
    if no_deps {
        cmd.arg("--no-deps");
    }
    cmd.arg("--").args(requirements);
    let lines = run_pip(cmd)?;
    let missing = lines.iter().find_map(|l| l.split("No matching distribution found for ").nth(1));
    if let Some(spec) = missing.or_else(|| lines.iter().find_map(|l| fallback_conflict(l))) {
        return Err(NoWheel { spec: spec.trim().to_string() }.into());
    }
    Ok(())
}

/// The requirement in a line of pip's conflict report (`jinja2 3.1.6 depends on MarkupSafe>=2.0`) when it names a
/// package with a pure-Python fallback. With several requirements pip backtracks and reports a conflict instead of
/// "No matching distribution", though the cause is the same: that package has no wheel for the platform.
fn fallback_conflict(line: &str) -> Option<&str> {
    line.split(" depends on ").nth(1).map(str::trim).filter(|spec| has_pure_fallback(spec))
}

/// Run pip, relaying its output to stderr; its output lines, or an error with its `ERROR` lines. A missing wheel is
/// left to the caller (the lines say so).
fn run_pip(mut cmd: Command) -> Result<Vec<String>> {
    let python = python();
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
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
    let missing_wheel = |l: &String| l.contains("No matching distribution found for ") || fallback_conflict(l).is_some();
    if status.success() || lines.iter().any(missing_wheel) {
        return Ok(lines);
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_conflict_over_a_package_with_a_fallback_is_a_missing_wheel() {
        assert_eq!(super::fallback_conflict("    jinja2 3.1.6 depends on MarkupSafe>=2.0"), Some("MarkupSafe>=2.0"));
        assert_eq!(super::fallback_conflict("    fastapi 0.1 depends on starlette>=1"), None);
        assert_eq!(super::fallback_conflict("Collecting jinja2"), None);
    }
}
