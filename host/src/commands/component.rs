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
/// other `sys.exit` status is reported as 1, all WASI 0.2 can say).
///
/// With `--worker PATH` (a `.py` file, a worker directory, a Wrangler project or a bundle, as `pyworkers serve`
/// takes) the component holds the worker instead and exports its raw event loop, `pyworkers:runtime/reactor`
/// (`wit/reactor.wit`). `wac plug` the worker adapter (`guest-adapters/worker`) onto it to get a
/// `wasi:http/proxy` component that `pyworkers serve` and `wasmtime serve -W exceptions=y,gc=y -Scli` both serve.
/// Not yet in the component: packages and side modules, bindings (KV, D1, Durable Objects, queues), outbound
/// `fetch` (answered as denied), snapshots.
#[derive(clap::Args)]
pub struct ComponentCmd {
    #[command(flatten)]
    common: Common,
    /// Program passed in as a string (like `python -c`).
    #[arg(short = 'c', value_name = "CODE", conflicts_with_all = ["script", "worker"])]
    code: Option<String>,
    /// The Python file to run.
    #[arg(value_name = "SCRIPT", required_unless_present_any = ["code", "worker"], conflicts_with = "worker")]
    script: Option<PathBuf>,
    /// Build a worker's component: PATH is what `pyworkers serve` takes (a `.py` file, a directory with
    /// `main.py`/`entry.py`/`worker.py`, a Wrangler project, or a bundle).
    #[arg(long, value_name = "PATH")]
    worker: Option<PathBuf>,
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
        let (program, worker) = match (&self.code, &self.script, &self.worker) {
            (Some(code), _, _) => (code.clone().into_bytes(), None),
            (None, Some(script), _) => (std::fs::read(script).with_context(|| format!("reading {}", script.display()))?, None),
            (None, None, Some(path)) => (Vec::new(), Some(worker(path)?)),
            (None, None, None) => bail!("give a SCRIPT, -c CODE or --worker PATH"),
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
            stdlib: [&zip, &bytecode, pyworkers::PYWORKERS_LIB_TAR],
            program: match &worker {
                Some((w, vars)) => pyworkers::component::Program::Worker { files: w.archive.bytes(), module: &w.module, vars },
                None => pyworkers::component::Program::Source(&program),
            },
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
        if let Some((w, _)) = &worker {
            eprintln!(
                "wrote {} ({size:.1} MiB): worker module `{}`, exporting {}; `wac plug worker_adapter.wasm --plug {} -o served.wasm` (the adapter is guest-adapters/worker) makes it a wasi:http/proxy component",
                self.output.display(),
                w.module,
                pyworkers::component::REACTOR_INTERFACE,
                self.output.display(),
            );
            return Ok(0);
        }
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

/// The worker at `path`, as `pyworkers serve` finds it, refusing what the component cannot carry yet.
fn worker(path: &std::path::Path) -> Result<(pyworkers::snapshot::Worker, Vec<u8>)> {
    let project = pyworkers::serve::worker::project::Project::resolve(path)?;
    if project.bindings_json.is_some() {
        bail!("{} declares bindings (KV, D1, Durable Objects, queues or assets), which the component does not provide yet", path.display());
    }
    let worker = match &project.bundle {
        Some(bundle) => bundle.worker()?,
        None => pyworkers::snapshot::Worker::load(&project.source, &project.module)?,
    };
    let requirements = pyworkers::packages::requirements::read(&project.root())?;
    if worker.site_packages.is_some() || requirements.is_some_and(|r| !r.lines.is_empty()) {
        bail!("{} has Python packages, which the component does not carry yet", path.display());
    }
    use pyworkers::entrypoint::marshal::{dumps, Value};
    let vars = Value::Dict(project.vars.iter().map(|(k, v)| (Value::str(k.clone()), v.clone())).collect());
    Ok((worker, dumps(&vars)))
}
