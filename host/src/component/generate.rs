//! The modules [`assemble`] puts around Pyodide that are generated from Pyodide's own import list and the shim,
//! rather than compiled from Rust: the bridge, the fallbacks and the fix-up (see the module docs of each).

use super::plan::{func_imports, FuncImport, Plan};
use super::{bridge, fallbacks, fixup};

/// The shim (`guest-adapters/emscripten-shim`) this binary was built with (`build.rs`); empty if the
/// `wasm32-wasip1` target was missing then.
const SHIM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/emscripten_shim.wasm"));

/// The shim this binary was built with, or why there is none.
pub fn shim() -> anyhow::Result<&'static [u8]> {
    if SHIM.is_empty() {
        anyhow::bail!(
            "this pyworkers was built without the Pyodide component's shim: run `rustup target add wasm32-wasip1` and build it again"
        );
    }
    Ok(SHIM)
}

/// The generated core modules, for one Pyodide code module and one shim.
pub struct Generated {
    /// The bridge: both memories, copies between them, calls into Pyodide for the shim (`bridge.rs`).
    pub bridge: Vec<u8>,
    /// A module defining the shim's memory, at the size the shim asks for.
    pub shim_memory: Vec<u8>,
    /// The fallbacks: exports `MODULE.NAME` for each import the shim does not answer, and `callbacks`, its table.
    pub fallbacks: Vec<u8>,
    /// The fix-up: imports the tables and Pyodide's exports (module `code`), fills the tables on start.
    pub fixup: Vec<u8>,
    /// Every function import of the code, in order, and whether the shim answers it (else the fallbacks do).
    pub imports: Vec<(FuncImport, bool)>,
}

/// Generate the bridge, the fallbacks and the fix-up for Pyodide's code module `code` and the shim `shim`
/// (`guest-adapters/emscripten-shim`): the fallbacks answer every function import of the code that the shim
/// does not export as `MODULE.NAME`.
pub fn generate(code: &[u8], shim: &[u8]) -> anyhow::Result<Generated> {
    let shim = ShimShape::of(shim)?;
    let imports: Vec<(FuncImport, bool)> = func_imports(code)?
        .into_iter()
        .map(|i| {
            let answered = shim.answers(&i.module, &i.name);
            (i, answered)
        })
        .collect();
    let plan = Plan::new(imports.iter().filter(|(_, answered)| !answered).map(|(i, _)| i.clone()))?;
    Ok(Generated {
        bridge: wat::parse_str(bridge::wat())?,
        shim_memory: wat::parse_str(bridge::memory(shim.memory_pages))?,
        fallbacks: wat::parse_str(fallbacks::wat(&plan))?,
        fixup: wat::parse_str(fixup::wat(&plan))?,
        imports,
    })
}

/// The bridge alone (what the shim's own tests instantiate it with): imports `state.memory` (Pyodide's),
/// `shim.memory` and `io.memory`.
pub fn bridge_module() -> Vec<u8> {
    wat::parse_str(bridge::wat()).expect("the bridge's text parses")
}

/// The archives module carrying `archives`, importing the shim's memory as `bridge.shim_memory`.
pub fn archives_module(archives: &[&[u8]]) -> Vec<u8> {
    super::archives::module(archives)
}

/// What the generated modules need to know of the shim.
struct ShimShape {
    /// Its exports named `MODULE.NAME`.
    answers: std::collections::HashSet<String>,
    /// The minimum size of its imported memory (`env.memory`), in pages.
    memory_pages: u64,
}

impl ShimShape {
    fn of(shim: &[u8]) -> anyhow::Result<ShimShape> {
        use anyhow::Context;
        let mut answers = std::collections::HashSet::new();
        let mut memory_pages = None;
        for payload in wasmparser::Parser::new(0).parse_all(shim) {
            match payload.context("reading the shim")? {
                wasmparser::Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import?;
                        if let ("env", "memory", wasmparser::TypeRef::Memory(m)) = (import.module, import.name, import.ty) {
                            memory_pages = Some(m.initial);
                        }
                    }
                }
                wasmparser::Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export?;
                        if export.name.contains('.') {
                            answers.insert(export.name.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        let memory_pages = memory_pages.context("the shim does not import its memory as env.memory")?;
        Ok(ShimShape { answers, memory_pages })
    }

    fn answers(&self, module: &str, name: &str) -> bool {
        self.answers.contains(&format!("{module}.{name}"))
    }
}

