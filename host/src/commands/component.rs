use super::Common;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// `pyworkers component`: build the Pyodide component for a program.
///
/// The output is one WebAssembly component holding Pyodide's unmodified code, its initial state, the Emscripten
/// ABI and VFS (the shim this binary was built with), the standard library and the program. It exports
/// `wasi:cli/run` and imports only WASI 0.2 (stdout, stderr, clocks, randomness, exit), so any Wasmtime runs it:
///
///   wasmtime run -W exceptions=y,gc=y program.wasm
///
/// Inside, the program sees what `pyworkers run` gives a script: the standard library, a writable in-memory
/// `/tmp` and home; nothing of the host. The run ends like `python -c`: 0, or 1 after an uncaught exception (any
/// other `sys.exit` status is reported as 1, all WASI 0.2 can say). Not yet in the component: workers' HTTP
/// entry points, packages and side modules, snapshots.
#[derive(clap::Args)]
pub struct ComponentCmd {
    #[command(flatten)]
    common: Common,
    /// Program passed in as a string (like `python -c`).
    #[arg(short = 'c', value_name = "CODE", conflicts_with = "script")]
    code: Option<String>,
    /// The Python file to run.
    #[arg(value_name = "SCRIPT", required_unless_present = "code")]
    script: Option<PathBuf>,
    /// Where to write the component.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Draw the program's randomness from an imported `pyworkers:runtime/entropy` component instead of
    /// `wasi:random`. Plug one in before running it, e.g. `wac plug program.wasm --plug
    /// target/guest-adapters/wasm32-wasip2/release/entropy_component.wasm -o plugged.wasm`.
    #[arg(long)]
    import_entropy: bool,
}

impl ComponentCmd {
    pub fn execute(self) -> Result<i32> {
        let program = match (&self.code, &self.script) {
            (Some(code), _) => code.clone().into_bytes(),
            (None, Some(script)) => std::fs::read(script).with_context(|| format!("reading {}", script.display()))?,
            (None, None) => bail!("give a SCRIPT or -c CODE"),
        };
        let shim = pyworkers::component::shim()?;
        let runtime = self.common.runtime()?;
        let engine = pyworkers::interpreter::engine(1)?;
        let pyodide = pyworkers::interpreter::Pyodide::load(&runtime, &engine)?;
        let wasm = runtime.read_wasm()?;
        let state = pyodide.shape()?.initial_state(&wasm)?;
        let code = pyodide.code_wasm()?;
        let zip = std::fs::read(runtime.stdlib_zip_path())?;
        let bytecode = std::fs::read(runtime.ensure_stdlib_bytecode(|| pyworkers::stdlib::build(&pyodide))?)?;
        let component = pyworkers::component::assemble(&pyworkers::component::Parts {
            state: &state,
            code: &code,
            shim,
            archives: [&zip, &bytecode, pyworkers::PYWORKERS_LIB_TAR, &program],
            entropy: match self.import_entropy {
                true => pyworkers::component::Entropy::Import,
                false => pyworkers::component::Entropy::Wasi,
            },
        })?;
        pyworkers::runtime::write_file_atomic(&self.output, &component)
            .with_context(|| format!("writing {}", self.output.display()))?;
        // An artifact for others to run, not a private cache file.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.output, std::fs::Permissions::from_mode(0o644))?;
        }
        let size = component.len() as f64 / (1 << 20) as f64;
        match self.import_entropy {
            false => eprintln!(
                "wrote {} ({size:.1} MiB); run it with: wasmtime run -W exceptions=y,gc=y {}",
                self.output.display(),
                self.output.display()
            ),
            true => eprintln!(
                "wrote {} ({size:.1} MiB), importing pyworkers:runtime/entropy: `wac plug` an entropy component into it, then wasmtime run -W exceptions=y,gc=y",
                self.output.display()
            ),
        }
        Ok(0)
    }
}
