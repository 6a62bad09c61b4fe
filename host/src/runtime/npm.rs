//! Node.js and npm, the only external tools we use: npm fetches the pinned packages (with its own cache, proxy and
//! mirror configuration, which users already have right), node runs binaryen's `wasm-opt`.
//!
//! Child processes' output is captured and shown only when they fail: on success it is noise (npm warns about
//! unrelated user config), on failure it is the diagnosis.

use anyhow::{anyhow, bail, Context, Result};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The oldest Node.js major version we support; older ones lack what binaryen's JS build uses.
const MIN_NODE_MAJOR: u32 = 18;

/// How to start node and npm. Tests point these at missing programs to prove a step never runs them.
#[derive(Debug, Clone)]
pub(crate) struct Tools {
    /// The `node` executable.
    pub node: OsString,
    /// The `npm` executable.
    pub npm: OsString,
}

impl Default for Tools {
    fn default() -> Self {
        Tools {
            node: "node".into(),
            npm: "npm".into(),
        }
    }
}

impl Tools {
    /// Fail with an actionable error unless node is present and recent enough.
    pub fn check_node(&self) -> Result<()> {
        let output = run(Command::new(&self.node).arg("--version"), "node")?;
        let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
        let major = version
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok());
        match major {
            Some(major) if major >= MIN_NODE_MAJOR => Ok(()),
            _ => bail!(
                "Node.js {version} is too old: install Node.js ≥ {MIN_NODE_MAJOR} and npm, then run `pyworkers setup`"
            ),
        }
    }

    /// `npm pack <spec>` in `dir`; returns the tarball's path. Uses npm's cache when it already holds the package
    /// (`--prefer-offline`) because the caller verifies the tarball's hash anyway.
    pub fn pack(&self, spec: &str, dir: &Path) -> Result<PathBuf> {
        let output = run(
            Command::new(&self.npm)
                .args([
                    "pack",
                    spec,
                    "--prefer-offline",
                    "--ignore-scripts",
                    "--no-fund",
                    "--no-audit",
                ])
                .env("npm_config_update_notifier", "false")
                .current_dir(dir),
            "npm",
        )?;
        if !output.status.success() {
            bail!(
                "npm could not download {spec} ({}): check your network connection and npm configuration \
                 (proxy, registry), then run `pyworkers setup` again\n{}",
                output.status,
                transcript(&output)
            );
        }
        tracing::debug!(spec, output = %String::from_utf8_lossy(&output.stderr), "npm pack succeeded");
        find_tarball(dir).with_context(|| {
            format!(
                "npm pack {spec} reported success but left no tarball in {}\n{}",
                dir.display(),
                transcript(&output)
            )
        })
    }

    /// `node <script> <args>`, failing with the script's output and `what` to do if it fails.
    pub fn node_script(&self, script: &Path, args: &[OsString], failure: &str) -> Result<()> {
        let output = run(Command::new(&self.node).arg(script).args(args), "node")?;
        if !output.status.success() {
            bail!("{failure} ({})\n{}", output.status, transcript(&output));
        }
        tracing::debug!(script = %script.display(), output = %String::from_utf8_lossy(&output.stderr), "node finished");
        Ok(())
    }
}

/// Run `command` to completion with its output captured; a missing program becomes the "install it" error.
fn run(command: &mut Command, program: &str) -> Result<Output> {
    tracing::debug!(?command, "running");
    command.stdin(std::process::Stdio::null()).output().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            anyhow!("{program} not found: install Node.js ≥ {MIN_NODE_MAJOR} and npm, then run `pyworkers setup`")
        } else {
            anyhow!(
                "could not run {program} ({e}): check your Node.js and npm installation, then run `pyworkers setup`"
            )
        }
    })
}

/// The single `.tgz` file `npm pack` wrote into `dir`.
fn find_tarball(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|ext| ext == "tgz"))
}

/// A child's output, indented, for the body of an error message (the top line says what to do).
fn transcript(output: &Output) -> String {
    let mut text = String::new();
    for stream in [&output.stdout, &output.stderr] {
        for line in String::from_utf8_lossy(stream)
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            text.push_str("    ");
            text.push_str(line);
            text.push('\n');
        }
    }
    if text.is_empty() {
        text.push_str("    (no output)\n");
    }
    text.trim_end().to_string()
}
