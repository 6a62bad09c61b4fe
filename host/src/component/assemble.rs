//! Assemble the Pyodide component: Pyodide's state and code modules, the shim, and the generated modules, as core
//! instances of one component linked by its own instantiate statements (the design in `guest-adapters/README.md`).
//!
//! The component is written as WebAssembly text — its WASI types, the order of its instances, its lowerings and
//! its lift read best that way — with an empty placeholder for every core module, parsed with `wat`, and then
//! each placeholder's section is replaced by the real module's bytes. Replacing a core module's bytes changes no
//! index, so the splice is exact; the result is validated before it is returned.

use super::archives;
use super::generate::generate;
use crate::runtime::split::STATE_MODULE;
use anyhow::{bail, Context, Result};
use std::fmt::Write;

/// The index of the program among the archives the component carries: after the three of [`Parts::stdlib`], the
/// program's source, or a worker's files, its module's name and its vars (the shim's `loader` reads them so).
pub const PROGRAM_ARCHIVE: usize = 3;

/// The WASI version the component imports and exports (any Wasmtime serving 0.2 accepts it).
const WASI: &str = "0.2.0";

/// Where the guest's randomness comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entropy {
    /// `wasi:random`: the component runs as it is.
    Wasi,
    /// An imported `pyworkers:runtime/entropy` component, reseeded before CPython boots: plug one in with `wac
    /// plug` (`guest-adapters/entropy`, or any other) before running it.
    Import,
}

/// The `entropy` interface the component imports (`--import-entropy`).
const RUNTIME_PACKAGE: &str = "pyworkers:runtime/entropy@0.1.0";

/// The `reactor` interface a worker's component exports.
pub const REACTOR_INTERFACE: &str = "pyworkers:runtime/reactor@0.1.0";

/// What the component runs.
#[derive(Debug, Clone, Copy)]
pub enum Program<'a> {
    /// A program's source, run like `python -c`: the component exports `wasi:cli/run`.
    Source(&'a [u8]),
    /// A worker: its files (a tar, mounted at `/app`) and its top-level module. The component exports
    /// [`REACTOR_INTERFACE`] (`wit/reactor.wit`); the worker is imported on the first call.
    Worker {
        /// The tar of the worker's files.
        files: &'a [u8],
        /// Its top-level module (a dotted Python name).
        module: &'a str,
        /// Its configuration's `vars`, a `marshal` dict (`{}` for none): the defaults of the `env` it is
        /// configured with, under any the caller of `configure` gives.
        vars: &'a [u8],
    },
}

/// What a component is assembled from.
pub struct Parts<'a> {
    /// Pyodide's state module (`runtime::split`): its memory and mutable globals.
    pub state: &'a [u8],
    /// Pyodide's code module (`runtime::split`), unchanged.
    pub code: &'a [u8],
    /// The shim (`guest-adapters/emscripten-shim`, `wasm32-wasip1`).
    pub shim: &'a [u8],
    /// The stdlib zip, the stdlib bytecode tar and the runtime's Python tar, in the order the shim's loader
    /// reads them.
    pub stdlib: [&'a [u8]; 3],
    /// What it runs.
    pub program: Program<'a>,
    /// Where the guest's randomness comes from.
    pub entropy: Entropy,
}

/// The component for `parts`: it exports `wasi:cli/run`, which boots CPython and runs the program, or for a worker
/// the `reactor` interface.
pub fn assemble(parts: &Parts<'_>) -> Result<Vec<u8>> {
    let mut carried: Vec<&[u8]> = parts.stdlib.to_vec();
    match parts.program {
        Program::Source(source) => carried.push(source),
        Program::Worker { files, module, vars } => {
            if !pyworkers_emscripten::boot::is_module_name(module) {
                bail!("`{module}` is not a Python module name");
            }
            carried.extend([files, module.as_bytes(), vars]);
        }
    }
    let generated = generate(parts.code, parts.shim)?;
    let preview1 = wat::parse_str(include_str!("preview1.wat")).context("the preview 1 module")?;
    let entropy = wat::parse_str(include_str!("entropy.wat")).context("the entropy module")?;
    let trampoline = wat::parse_str(crate::emscripten::trampoline::WAT).context("the trampoline")?;
    let io_memory = wat::parse_str(super::bridge::memory(2))?;
    let archives = archives::module(&carried);
    // The core modules, in the order the component text declares them.
    let mut modules: Vec<(&str, &[u8])> = vec![
        ("State", parts.state),
        ("ShimMemory", &generated.shim_memory),
        ("IoMemory", &io_memory),
        ("Bridge", &generated.bridge),
        ("Preview1", &preview1),
        ("Archives", &archives),
    ];
    if parts.entropy == Entropy::Import {
        modules.push(("Entropy", &entropy));
    }
    modules.extend([
        ("Shim", parts.shim),
        ("Fallbacks", &generated.fallbacks),
        ("Code", parts.code),
        ("Trampoline", &trampoline),
        ("Fixup", &generated.fixup),
    ]);
    let names: Vec<&str> = modules.iter().map(|(name, _)| *name).collect();
    let text = component_text(&names, parts.entropy, &generated.imports, &parts.program)?;
    let skeleton = wat::parse_str(&text).context("the component's text")?;
    let bytes: Vec<&[u8]> = modules.iter().map(|(_, bytes)| *bytes).collect();
    let component = splice(&skeleton, &bytes)?;
    let mut features = wasmparser::WasmFeatures::all();
    features.remove(wasmparser::WasmFeatures::CM_ASYNC);
    wasmparser::Validator::new_with_features(features)
        .validate_all(&component)
        .context("the assembled component does not validate")?;
    Ok(component)
}

/// The component, with an empty core module for each of `modules` (their names, in order).
fn component_text(
    modules: &[&str],
    entropy: Entropy,
    code_imports: &[(super::plan::FuncImport, bool)],
    program: &Program<'_>,
) -> Result<String> {
    let mut t = String::from("(component $C\n");
    // WASI 0.2, only what the shim's own preview 1 calls need.
    let _ = write!(
        t,
        r#"
  (import "wasi:io/error@{WASI}" (instance $io_error (export "error" (type (sub resource)))))
  (alias export $io_error "error" (type $error))
  (import "wasi:io/streams@{WASI}" (instance $streams
    (alias outer $C $error (type $io_error))
    (export "error" (type $error (eq $io_error)))
    (export "output-stream" (type $output_stream (sub resource)))
    (type $stream_error_def (variant (case "last-operation-failed" (own $error)) (case "closed")))
    (export "stream-error" (type $stream_error (eq $stream_error_def)))
    (export "[method]output-stream.blocking-write-and-flush"
      (func (param "self" (borrow $output_stream)) (param "contents" (list u8)) (result (result (error $stream_error)))))))
  (alias export $streams "output-stream" (type $output_stream))
  (import "wasi:cli/stdout@{WASI}" (instance $stdout
    (alias outer $C $output_stream (type $streams_output_stream))
    (export "output-stream" (type $output_stream (eq $streams_output_stream)))
    (export "get-stdout" (func (result (own $output_stream))))))
  (import "wasi:cli/stderr@{WASI}" (instance $stderr
    (alias outer $C $output_stream (type $streams_output_stream))
    (export "output-stream" (type $output_stream (eq $streams_output_stream)))
    (export "get-stderr" (func (result (own $output_stream))))))
  (import "wasi:clocks/monotonic-clock@{WASI}" (instance $monotonic
    (export "now" (func (result u64)))))
  (import "wasi:clocks/wall-clock@{WASI}" (instance $wall
    (type $datetime_def (record (field "seconds" u64) (field "nanoseconds" u32)))
    (export "datetime" (type $datetime (eq $datetime_def)))
    (export "now" (func (result $datetime)))))
  (import "wasi:random/random@{WASI}" (instance $random
    (export "get-random-u64" (func (result u64)))))
  (import "wasi:cli/exit@{WASI}" (instance $exit
    (export "exit" (func (param "status" (result))))))
"#
    );
    if entropy == Entropy::Import {
        let _ = write!(
            t,
            r#"  (import "{RUNTIME_PACKAGE}" (instance $entropy_import
    (type $mode_def (enum "deterministic" "live"))
    (export "mode" (type $mode (eq $mode_def)))
    (export "fill" (func (param "len" u32) (result (list u8))))
    (export "current-mode" (func (result $mode)))
    (export "reseed" (func))))
"#
        );
    }
    for name in modules {
        let _ = writeln!(t, "  (core module ${name})");
    }
    let (entropy_instance, entropy_source) = entropy_text(entropy);
    let _ = write!(
        t,
        r#"
  (core instance $state (instantiate $State))
  (core instance $shim_memory_instance (instantiate $ShimMemory))
  (core instance $io_memory_instance (instantiate $IoMemory))
  (core instance $bridge (instantiate $Bridge
    (with "state" (instance $state)) (with "shim" (instance $shim_memory_instance)) (with "io" (instance $io_memory_instance))))
  (alias core export $bridge "io_memory" (core memory $io_memory))
  (alias core export $shim_memory_instance "memory" (core memory $shim_memory))

  (alias export $stdout "get-stdout" (func $get_stdout))
  (alias export $stderr "get-stderr" (func $get_stderr))
  (alias export $streams "[method]output-stream.blocking-write-and-flush" (func $write))
  (alias export $monotonic "now" (func $monotonic_now))
  (alias export $wall "now" (func $wall_now))
  (alias export $random "get-random-u64" (func $random_u64))
  (alias export $exit "exit" (func $exit_fn))
  (core func $get_stdout_lowered (canon lower (func $get_stdout)))
  (core func $get_stderr_lowered (canon lower (func $get_stderr)))
  (core func $write_lowered (canon lower (func $write) (memory $io_memory)))
  (core func $monotonic_now_lowered (canon lower (func $monotonic_now)))
  (core func $wall_now_lowered (canon lower (func $wall_now) (memory $io_memory)))
  (core func $random_u64_lowered (canon lower (func $random_u64)))
  (core func $exit_lowered (canon lower (func $exit_fn)))
  (core instance $wasi
    (export "get-stdout" (func $get_stdout_lowered))
    (export "get-stderr" (func $get_stderr_lowered))
    (export "blocking-write-and-flush" (func $write_lowered))
    (export "monotonic-now" (func $monotonic_now_lowered))
    (export "wall-now" (func $wall_now_lowered))
    (export "get-random-u64" (func $random_u64_lowered))
    (export "exit" (func $exit_lowered)))
  (core instance $preview1 (instantiate $Preview1 (with "bridge" (instance $bridge)) (with "wasi" (instance $wasi))))
  (core instance $archives (instantiate $Archives (with "bridge" (instance $bridge))))
{entropy_instance}
  (core instance $shim_env (export "memory" (memory $shim_memory)))
  (core instance $shim (instantiate $Shim
    (with "env" (instance $shim_env))
    (with "bridge" (instance $bridge))
    (with "pyodide" (instance $bridge))
    (with "archives" (instance $archives))
    (with "entropy" (instance {entropy_source}))
    (with "wasi_snapshot_preview1" (instance $preview1))))
  (core instance $fallbacks (instantiate $Fallbacks (with "wasi_snapshot_preview1" (instance $preview1))))
"#
    );
    // Pyodide's imports, module by module, each from the shim if it exports `MODULE.NAME`, else the fallbacks.
    let import_modules: std::collections::BTreeSet<&str> = code_imports.iter().map(|(i, _)| i.module.as_str()).collect();
    let mut with = String::new();
    for (m, module) in import_modules.iter().enumerate() {
        let mut exports = String::new();
        for (i, (import, from_shim)) in code_imports.iter().filter(|(i, _)| i.module == *module).enumerate() {
            let full = format!("{}.{}", import.module, import.name);
            let from = if *from_shim { "$shim" } else { "$fallbacks" };
            if import.name.contains('"') || full.contains('\\') {
                bail!("Pyodide imports a name the component text cannot spell: {full}");
            }
            let _ = writeln!(t, "  (alias core export {from} \"{full}\" (core func $m{m}_{i}))");
            let _ = write!(exports, "\n    (export \"{}\" (func $m{m}_{i}))", import.name);
        }
        let _ = writeln!(t, "  (core instance $imports{m}{exports})");
        let _ = write!(with, " (with \"{module}\" (instance $imports{m}))");
    }
    let exports = export_text(program);
    let _ = write!(
        t,
        r#"
  (core instance $code (instantiate $Code{with} (with "{STATE_MODULE}" (instance $state))))
  (core instance $trampoline (instantiate $Trampoline (with "env" (instance $code))))
  (core instance (instantiate $Fixup
    (with "fallbacks" (instance $fallbacks))
    (with "bridge" (instance $bridge))
    (with "trampoline" (instance $trampoline))
    (with "code" (instance $code))))

{exports}
)
"#
    );
    Ok(t)
}

/// The component text of what the component exports: `wasi:cli/run`, or a worker's `reactor`, lifted from the
/// shim's canonical-ABI functions over its own memory.
fn export_text(program: &Program<'_>) -> String {
    match program {
        Program::Source(_) => format!(
            r#"  (alias core export $shim "shim_run" (core func $shim_run))
  (type $run_type (func (result (result))))
  (func $run (type $run_type) (canon lift (core func $shim_run)))
  (instance $run_instance (export "run" (func $run)))
  (export "wasi:cli/run@{WASI}" (instance $run_instance))"#
        ),
        Program::Worker { .. } => format!(
            r#"  (alias core export $shim "shim_invoke" (core func $shim_invoke))
  (alias core export $shim "shim_invoke_post" (core func $shim_invoke_post))
  (alias core export $shim "cabi_realloc" (core func $shim_realloc))
  (type $invoke_type (func (param "function" string) (param "argument" (list u8)) (result (result (list u8) (error string)))))
  (func $invoke (type $invoke_type) (canon lift (core func $shim_invoke) (memory $shim_memory) (realloc $shim_realloc)
    string-encoding=utf8 (post-return $shim_invoke_post)))
  (instance $reactor_instance (export "invoke" (func $invoke)))
  (export "{REACTOR_INTERFACE}" (instance $reactor_instance))"#
        ),
    }
}

/// The component text that makes the shim's `entropy` instance, and its name.
fn entropy_text(entropy: Entropy) -> (&'static str, &'static str) {
    match entropy {
        // The preview 1 module's `fill` and `reseed`, over `wasi:random`.
        Entropy::Wasi => ("", "$preview1"),
        Entropy::Import => (
            r#"  (alias core export $bridge "io_realloc" (core func $io_realloc))
  (alias export $entropy_import "fill" (func $entropy_fill))
  (alias export $entropy_import "reseed" (func $entropy_reseed))
  (core func $entropy_fill_lowered (canon lower (func $entropy_fill) (memory $io_memory) (realloc $io_realloc)))
  (core func $entropy_reseed_lowered (canon lower (func $entropy_reseed)))
  (core instance $entropy_funcs (export "fill" (func $entropy_fill_lowered)) (export "reseed" (func $entropy_reseed_lowered)))
  (core instance $entropy (instantiate $Entropy (with "bridge" (instance $bridge)) (with "entropy" (instance $entropy_funcs))))"#,
            "$entropy",
        ),
    }
}

/// `skeleton` with its core modules, in order, replaced by `modules`.
fn splice(skeleton: &[u8], modules: &[&[u8]]) -> Result<Vec<u8>> {
    let mut out = skeleton[..8].to_vec();
    let mut next = modules.iter();
    let mut at = 8;
    while at < skeleton.len() {
        let id = skeleton[at];
        let (size, leb) = read_leb(&skeleton[at + 1..]).context("a section size")?;
        let body = at + 1 + leb;
        let end = body + size as usize;
        // Component section 1 is a core module.
        if id == 1 {
            let module = next.next().context("more core modules than parts")?;
            out.push(1);
            write_leb(&mut out, module.len() as u64);
            out.extend_from_slice(module);
        } else {
            out.extend_from_slice(&skeleton[at..end]);
        }
        at = end;
    }
    if next.next().is_some() {
        bail!("fewer core modules than parts");
    }
    Ok(out)
}

fn read_leb(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn write_leb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}
