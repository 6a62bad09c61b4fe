use super::Common;
use anyhow::{bail, Context, Result};
use pyworkers::emscripten::EmContext;
use pyworkers::interpreter::{BootOptions, Interpreter};
use pyworkers::vfs::layout::{self, MountSpec};
use pyworkers::vfs::{Fs, Input};
use std::path::PathBuf;
use std::sync::Arc;

/// `pyworkers run`: behaves like `python SCRIPT [ARGS...]` or `python -c CODE [ARGS...]`.
///
/// The guest sees only: the standard library, writable in-memory `/tmp` and home (`/home/pyworkers`, the starting
/// directory), the script itself (read-only, at `/app/<name>`), and each `--mount`. Nothing else of the host.
#[derive(clap::Args)]
#[command(trailing_var_arg = true)]
pub struct Run {
    #[command(flatten)]
    common: Common,
    /// Program passed in as a string (like `python -c`).
    #[arg(short = 'c', value_name = "CODE")]
    code: Option<String>,
    /// Mount a tar file or a host directory read-only at GUEST_PATH (a directory is packed into a tar when the
    /// command starts; its later changes are not seen). Repeatable.
    #[arg(long = "mount", value_name = "SOURCE:GUEST_PATH")]
    mounts: Vec<MountSpec>,
    /// Set an environment variable in the guest (the host environment is not passed). Repeatable.
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Pin the string hash seed (like PYTHONHASHSEED) for reproducible runs.
    #[arg(long)]
    hash_seed: Option<u32>,
    /// The script to run, then its arguments (or, with -c, the arguments).
    #[arg(value_name = "SCRIPT [ARGS]...", allow_hyphen_values = true)]
    args: Vec<String>,
}

impl Run {
    pub fn execute(self) -> Result<i32> {
        let (script, argv) = match (&self.code, self.args.split_first()) {
            (Some(_), _) => (
                None,
                std::iter::once("-c".to_string())
                    .chain(self.args.iter().cloned())
                    .collect::<Vec<_>>(),
            ),
            (None, Some((script, rest))) => {
                let path = PathBuf::from(script);
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .context("script path has no file name")?
                    .to_string();
                let guest = format!("/app/{name}");
                (
                    Some((path, guest.clone())),
                    std::iter::once(guest).chain(rest.iter().cloned()).collect(),
                )
            }
            (None, None) => {
                bail!("nothing to run: give a SCRIPT or -c CODE (see `pyworkers run --help`)")
            }
        };

        let runtime = pyworkers::runtime::Runtime::ensure(&self.common.home())?;
        let engine = pyworkers::interpreter::engine()?;
        let module = runtime.load_module(&engine)?;
        let trampoline = pyworkers::emscripten::trampoline::compile(&engine)?;
        let stdlib: Arc<[u8]> = std::fs::read(runtime.stdlib_zip_path())
            .context("reading the standard library")?
            .into();

        let mut vfs = layout::standard(stdlib)?;
        for spec in &self.mounts {
            spec.apply(&mut vfs)
                .with_context(|| format!("--mount {}:{}", spec.source.display(), spec.guest))?;
        }
        if let Some((host, guest)) = &script {
            let bytes: Arc<[u8]> = std::fs::read(host)
                .with_context(|| format!("can't open file '{}'", host.display()))?
                .into();
            vfs.mount(guest, Fs::Blob(bytes), false)
                .map_err(|e| anyhow::anyhow!("mounting the script: errno {}", e.0))?;
        }
        vfs.stdin = Input::Inherit;

        let mut em = EmContext::new(vfs);
        em.environ = guest_environment(&self.env)?;
        let options = BootOptions {
            argv,
            hash_seed: self.hash_seed,
            ..BootOptions::default()
        };
        let mut interp = Interpreter::boot(&engine, &module, &trampoline, em, &options)?;
        let call = match (&self.code, &script) {
            (Some(code), _) => format!(
                "import _pyworkers.cli as c; c.run_command({})",
                py_str(code)
            ),
            (None, Some((_, guest))) => {
                format!("import _pyworkers.cli as c; c.run_path({})", py_str(guest))
            }
            (None, None) => unreachable!(),
        };
        Ok(interp.run_source(&call)?.exit_status())
    }
}

/// The guest's environment: a fixed base plus `--env` entries.
fn guest_environment(extra: &[String]) -> Result<Vec<String>> {
    let mut env = vec![
        format!("HOME={}", layout::HOME),
        "USER=pyworkers".into(),
        "LOGNAME=pyworkers".into(),
        "PATH=/".into(),
        "LANG=C.UTF-8".into(),
        "TZ=UTC".into(),
    ];
    for kv in extra {
        let (k, _) = kv
            .split_once('=')
            .with_context(|| format!("--env {kv}: expected KEY=VALUE"))?;
        if k.is_empty() || k.contains('\0') {
            bail!("--env {kv}: bad variable name");
        }
        env.retain(|e| !e.starts_with(&format!("{k}=")));
        env.push(kv.clone());
    }
    Ok(env)
}

/// A Python string literal for `s`.
fn py_str(s: &str) -> String {
    let mut out = String::from("'");
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}
