//! The Pyodide component (`pyworkers::component::assemble`): Pyodide's unmodified code module, its state, the
//! shim and the generated modules as core instances of one component, exporting `wasi:cli/run`. Run as a
//! component — by Wasmtime's component API here and by stock `wasmtime run` — it boots CPython from the archives
//! it carries and runs the program, with nothing from the host but WASI's stdout, stderr, clocks and randomness.

use std::process::Command;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// A program touching what a worker would: imports from the stdlib zip, a file, randomness, clocks, stdout and
/// stderr.
const PROGRAM: &str = r#"
import json, os, re, sys, time, random
open('/tmp/probe.txt', 'w').write('written inside the component')
print(json.dumps({
    'read': open('/tmp/probe.txt').read(),
    'match': re.sub(r'\d+', '#', 'a1b22'),
    'random': len({random.random() for _ in range(8)}),
    'urandom': len(os.urandom(33)),
    'after_2025': time.time() > 1.7e9,
    'runtime': sys._emscripten_info.runtime,
}, sort_keys=True))
print('to stderr', file=sys.stderr)
"#;

/// What [`PROGRAM`] prints.
fn expected() -> String {
    format!(
        "{{\"after_2025\": true, \"match\": \"a#b#\", \"random\": 8, \"read\": \"written inside the component\", \"runtime\": \"{}\", \"urandom\": 33}}\n",
        pyworkers::component::RUNTIME_NAME
    )
}

/// Assemble the component for `program` from the cached Pyodide and the shim the binary embeds.
fn assemble(program: &str) -> Vec<u8> {
    let pyodide = crate::support::pyodide();
    let runtime = pyodide.runtime();
    let shim = crate::support::shim();
    let wasm = runtime.read_wasm().unwrap();
    let state = pyodide.shape().unwrap().initial_state(&wasm).unwrap();
    let code = pyodide.code_wasm().unwrap();
    let zip = std::fs::read(runtime.stdlib_zip_path()).unwrap();
    let bytecode = std::fs::read(runtime.ensure_stdlib_bytecode(|| pyworkers::stdlib::build(pyodide)).unwrap()).unwrap();
    pyworkers::component::assemble(&pyworkers::component::Parts {
        state: &state,
        code: &code,
        shim,
        stdlib: [&zip, &bytecode, pyworkers::PYWORKERS_LIB_TAR],
        program: pyworkers::component::Program::Source(program.as_bytes()),
        entropy: pyworkers::component::Entropy::Wasi,
    })
    .unwrap()
}

struct Wasi {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Wasi {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

/// Run the component's `wasi:cli/run` with Wasmtime's component API: (succeeded, stdout, stderr).
fn run(component: &[u8]) -> (bool, String, String) {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.wasm_exceptions(true);
    config.wasm_gc(true);
    config.wasm_function_references(true);
    config.wasm_multi_memory(true);
    let engine = Engine::new(&config).unwrap();
    let component = Component::new(&engine, component).unwrap();
    // Nothing from the host but WASI: no pyworkers-specific import at all.
    let imports: Vec<String> = component.component_type().imports(&engine).map(|(name, _)| name.to_string()).collect();
    assert!(imports.iter().all(|name| name.starts_with("wasi:")), "imports: {imports:?}");
    assert!(imports.iter().any(|name| name.starts_with("wasi:cli/stdout")), "imports: {imports:?}");
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    let (stdout, stderr) = (MemoryOutputPipe::new(1 << 20), MemoryOutputPipe::new(1 << 20));
    let ctx = WasiCtx::builder().stdout(stdout.clone()).stderr(stderr.clone()).build();
    let mut store = Store::new(&engine, Wasi { ctx, table: ResourceTable::new() });
    let command = wasmtime_wasi::p2::bindings::sync::Command::instantiate(&mut store, &component, &linker).unwrap();
    // The program ends with `exit(status)` (as `python -c` does), which WASI reports as an `I32Exit` error.
    let ok = match command.wasi_cli_run().call_run(&mut store) {
        Ok(result) => result.is_ok(),
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(wasmtime_wasi::I32Exit(status)) => *status == 0,
            None => panic!("the component trapped: {e:?}\nstderr:\n{}", String::from_utf8_lossy(&stderr.contents())),
        },
    };
    let text = |pipe: MemoryOutputPipe| String::from_utf8_lossy(&pipe.contents()).into_owned();
    (ok, text(stdout), text(stderr))
}

#[test]
fn the_pyodide_component_runs_python_with_only_wasi_from_the_host() {
    let component = assemble(PROGRAM);
    let (ok, stdout, stderr) = run(&component);
    assert!(ok, "run failed; stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(stdout, expected(), "stderr:\n{stderr}");
    assert_eq!(stderr, "to stderr\n");

    // A program that raises: `run` answers err and the traceback is on stderr.
    let (ok, _, stderr) = run(&assemble("raise ValueError('on purpose')"));
    assert!(!ok, "a raising program must fail `run`");
    assert!(stderr.contains("ValueError: on purpose"), "stderr:\n{stderr}");
}

/// Stock `wasmtime run` (the pinned CLI, `tests/tools/install`) runs the file `pyworkers component` writes, given
/// the proposals Pyodide's code uses: exception handling (exnref) and GC types (the call trampoline's `ref.test`).
#[test]
fn stock_wasmtime_runs_the_component_pyworkers_component_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (script, path) = (dir.path().join("program.py"), dir.path().join("program.wasm"));
    std::fs::write(&script, PROGRAM).unwrap();
    let built = crate::support::pyworkers(&["component", script.to_str().unwrap(), "-o", path.to_str().unwrap()], b"");
    assert!(built.status.success(), "pyworkers component: {}", String::from_utf8_lossy(&built.stderr));
    assert!(String::from_utf8_lossy(&built.stderr).contains("wasmtime run -W exceptions=y,gc=y"));
    let run = |path: &std::path::Path| {
        Command::new(crate::support::tool("wasmtime")).args(["run", "-W", "exceptions=y,gc=y"]).arg(path).output().unwrap()
    };
    let output = run(&path);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "wasmtime run failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);
    assert_eq!(stdout, expected(), "stderr:\n{stderr}");
    assert_eq!(stderr, "to stderr\n");

    // `-c` code, ending with a status: WASI 0.2 reports any failure as 1.
    let built = crate::support::pyworkers(&["component", "-c", "import sys; sys.exit(3)", "-o", path.to_str().unwrap()], b"");
    assert!(built.status.success(), "pyworkers component -c: {}", String::from_utf8_lossy(&built.stderr));
    assert_eq!(run(&path).status.code(), Some(1));
}

#[test]
fn pyworkers_component_needs_a_program_and_an_output() {
    let none = crate::support::pyworkers(&["component", "-o", "/dev/null"], b"");
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("SCRIPT"), "{}", String::from_utf8_lossy(&none.stderr));
    let missing = crate::support::pyworkers(&["component", "/nonexistent/program.py", "-o", "/dev/null"], b"");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/program.py"));
}

/// `pyworkers component --import-entropy` imports `pyworkers:runtime/entropy` instead of drawing from
/// `wasi:random`; `wac plug` puts the real `entropy` component (`guest-adapters/entropy`) or the all-zeros one
/// (`tests/guests/entropy-zeros`) into it, and stock `wasmtime run` runs each: Python's `os.urandom` and `random`
/// follow the plugged component, everything else is the same.
#[test]
fn swapping_the_entropy_component_changes_what_python_draws_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("draws.wasm");
    let program = "import os, random, json; print(json.dumps({'urandom': os.urandom(12).hex(), 'random': random.getrandbits(32), 'sum': sum(range(10))}))";
    let built = crate::support::pyworkers(&["component", "--import-entropy", "-c", program, "-o", path.to_str().unwrap()], b"");
    assert!(built.status.success(), "pyworkers component: {}", String::from_utf8_lossy(&built.stderr));
    let run = |plug: std::path::PathBuf, name: &str| -> serde_json::Value {
        let plugged = crate::compose::plugged(name, &path, &[plug]);
        let output = Command::new(crate::support::tool("wasmtime")).args(["run", "-W", "exceptions=y,gc=y"]).arg(&plugged).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{name}: {}\n{stdout}\n{}", output.status, String::from_utf8_lossy(&output.stderr));
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{name} printed {stdout:?}: {e}"))
    };
    let zeros = run(crate::compose::zeros(), "pyodide-entropy-zeros");
    assert_eq!(zeros["urandom"], "0".repeat(24), "{zeros}");
    assert_eq!(zeros["sum"], 45);
    // `random` seeds itself from os.urandom: all zeros give the same draw on every run.
    assert_eq!(run(crate::compose::zeros(), "pyodide-entropy-zeros-again")["random"], zeros["random"]);
    let real = run(crate::compose::adapter("entropy_component.wasm"), "pyodide-entropy");
    assert_ne!(real["urandom"], zeros["urandom"], "{real}");
    assert_eq!(real["sum"], 45);
    // Reseeded before CPython boots: live entropy, different on every run.
    let again = run(crate::compose::adapter("entropy_component.wasm"), "pyodide-entropy-again");
    assert_ne!(again["urandom"], real["urandom"]);

    // Unplugged, the component cannot run: the import is not WASI.
    let unplugged = Command::new(crate::support::tool("wasmtime")).args(["run", "-W", "exceptions=y,gc=y"]).arg(&path).output().unwrap();
    assert!(!unplugged.status.success());
    assert!(String::from_utf8_lossy(&unplugged.stderr).contains("pyworkers:runtime/entropy"), "{}", String::from_utf8_lossy(&unplugged.stderr));
}
