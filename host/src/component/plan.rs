//! How each import the shim does not answer is answered: a constant, a trap, or a call back into Pyodide.

use anyhow::{bail, Context, Result};
use pyworkers_emscripten::unsupported::{classify, Failure, ASYNC_DLOPEN};

/// The `dlerror()` text of `dlopen` in the component: side modules are loaded only by the native host so far.
pub const NO_SIDE_MODULES: &str = "the pyworkers Pyodide component cannot load side modules (.so files) yet";

/// What `sys._emscripten_info.runtime` says inside the component.
pub const RUNTIME_NAME: &str = concat!("pyworkers ", env!("CARGO_PKG_VERSION"), " (component)");

/// A core value type, as the WebAssembly text writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum ValType {
    I32,
    I64,
    F32,
    F64,
    ExternRef,
}

impl ValType {
    fn of(ty: wasmparser::ValType) -> Result<ValType> {
        Ok(match ty {
            wasmparser::ValType::I32 => ValType::I32,
            wasmparser::ValType::I64 => ValType::I64,
            wasmparser::ValType::F32 => ValType::F32,
            wasmparser::ValType::F64 => ValType::F64,
            wasmparser::ValType::Ref(r) if r.is_extern_ref() => ValType::ExternRef,
            other => bail!("unsupported import value type {other}"),
        })
    }

    /// The text name.
    pub fn wat(self) -> &'static str {
        match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::ExternRef => "externref",
        }
    }

    /// The instruction pushing `code` (integers) or zero/null (the rest).
    pub fn constant(self, code: i32) -> String {
        match self {
            ValType::I32 => format!("(i32.const {code})"),
            ValType::I64 => format!("(i64.const {code})"),
            ValType::F32 => "(f32.const 0)".into(),
            ValType::F64 => "(f64.const 0)".into(),
            ValType::ExternRef => "(ref.null extern)".into(),
        }
    }
}

/// One function import of Pyodide's code module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncImport {
    /// The import's module (`env`, `wasi_snapshot_preview1`).
    pub module: String,
    /// The import's name.
    pub name: String,
    /// Parameter types.
    pub params: Vec<ValType>,
    /// Result types.
    pub results: Vec<ValType>,
}

impl FuncImport {
    /// `(param ...) (result ...)`.
    pub fn signature(&self) -> String {
        let list = |kw: &str, tys: &[ValType]| match tys.is_empty() {
            true => String::new(),
            false => format!(" ({kw} {})", tys.iter().map(|t| t.wat()).collect::<Vec<_>>().join(" ")),
        };
        format!("{}{}", list("param", &self.params), list("result", &self.results))
    }

    /// Instructions pushing `code` for every result.
    pub fn results_of(&self, code: i32) -> String {
        self.results.iter().map(|t| t.constant(code)).collect::<Vec<_>>().join(" ")
    }

    fn expect(&self, params: &[ValType], results: &[ValType]) -> Result<()> {
        if self.params != params || self.results != results {
            bail!("Pyodide imports {}.{} as ({}), which pyworkers does not know how to answer", self.module, self.name, self.signature());
        }
        Ok(())
    }
}

/// The function imports of a core module, in order.
pub fn func_imports(wasm: &[u8]) -> Result<Vec<FuncImport>> {
    let mut types = Vec::new();
    let mut imports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.context("reading Pyodide's code module")? {
            wasmparser::Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group?.into_types() {
                        types.push(match &sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => Some(f.clone()),
                            _ => None,
                        });
                    }
                }
            }
            wasmparser::Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    let wasmparser::TypeRef::Func(index) = import.ty else { continue };
                    let ty = types
                        .get(index as usize)
                        .cloned()
                        .flatten()
                        .with_context(|| format!("import {}.{} has no function type", import.module, import.name))?;
                    let convert = |tys: &[wasmparser::ValType]| tys.iter().map(|t| ValType::of(*t)).collect::<Result<Vec<_>>>();
                    imports.push(FuncImport {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                        params: convert(ty.params())?,
                        results: convert(ty.results())?,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(imports)
}

/// A call back into Pyodide, made by the fix-up module's function for one import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// Raise `RuntimeError(message)` in Python (the shared policy's [`Failure::Raise`]), answer zeros.
    Raise(String),
    /// Record `message` for `dlerror()`, answer NULL.
    Dlerror(String),
    /// `_Py_emscripten_runtime()`: a fresh C string naming the runtime ([`RUNTIME_NAME`]).
    RuntimeName,
    /// `__call_sighandler(fp, sig)`: call the handler through Pyodide's function table.
    SigHandler,
}

/// How one import is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Every result is this integer (floats zero, references null); no results: a no-op.
    Constant(i32),
    /// The guest cannot go on (`abort`, a failed assertion), or the import cannot be reached: trap.
    Trap,
    /// `exit(status)`: end the run through the shim's `wasi_snapshot_preview1.proc_exit` (imported by the
    /// fallbacks), which the component answers with `wasi:cli/exit`.
    Exit,
    /// `system(cmd)`: there is no shell, so `system(NULL)` is 0 and any command fails with `ENOSYS`.
    System,
    /// Through the callback table, slot `slot`.
    Call { slot: u32, callback: Callback },
}

/// Every import the generated modules answer, with its answer; callback slots numbered in order.
pub struct Plan {
    /// Each import with its answer, in the module's import order.
    pub entries: Vec<(FuncImport, Answer)>,
    /// Number of callback slots (the table's size).
    pub slots: u32,
}

impl Plan {
    /// Decide an answer for each import.
    pub fn new(imports: impl IntoIterator<Item = FuncImport>) -> Result<Plan> {
        use ValType::I32;
        let mut slots = 0;
        let mut call = |callback| {
            slots += 1;
            Answer::Call { slot: slots - 1, callback }
        };
        let mut entries = Vec::new();
        for import in imports {
            let answer = match (import.module.as_str(), import.name.as_str()) {
                ("wasi_snapshot_preview1", "proc_exit") | ("env", "exit") => {
                    import.expect(&[I32], &[])?;
                    Answer::Exit
                }
                ("env", "_abort_js" | "__assert_fail") => Answer::Trap,
                ("wasi_snapshot_preview1", other) => {
                    bail!("Pyodide imports wasi_snapshot_preview1.{other}, which the shim does not answer")
                }
                ("env", "_emscripten_system") => {
                    import.expect(&[I32], &[I32])?;
                    Answer::System
                }
                ("env", "_Py_emscripten_runtime") => {
                    import.expect(&[], &[I32])?;
                    call(Callback::RuntimeName)
                }
                ("env", "__call_sighandler") => {
                    import.expect(&[I32, I32], &[])?;
                    call(Callback::SigHandler)
                }
                // CPython falls back to this only while no trampoline is installed, and the fix-up installs the
                // host's own (`trampoline.wat`) before anything runs: unreachable.
                ("env", "_PyEM_TrampolineCall_JS") => Answer::Trap,
                ("env", "_dlopen_js" | "_dlsym_js") => call(Callback::Dlerror(NO_SIDE_MODULES.into())),
                ("env", name) => match classify(name) {
                    Failure::Dl => call(Callback::Dlerror(ASYNC_DLOPEN.into())),
                    failure @ Failure::Raise(_) => call(Callback::Raise(failure.message(name).unwrap_or_default())),
                    failure => Answer::Constant(failure.code()),
                },
                (module, name) => bail!("Pyodide imports {module}.{name}, which nothing in the component answers"),
            };
            entries.push((import, answer));
        }
        Ok(Plan { entries, slots })
    }

    /// The imports answered through the callback table, with their slots.
    pub fn callbacks(&self) -> impl Iterator<Item = (&FuncImport, u32, &Callback)> {
        self.entries.iter().filter_map(|(import, answer)| match answer {
            Answer::Call { slot, callback } => Some((import, *slot, callback)),
            _ => None,
        })
    }
}

/// `bytes` as a WebAssembly text string literal.
pub fn string_literal(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in bytes {
        match b {
            b'"' | b'\\' => out.push_str(&format!("\\{}", b as char)),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:02x}")),
        }
    }
    out.push('"');
    out
}
