//! Pyodide's module split in two: *code* that is compiled once, and *state* that a snapshot replaces.
//!
//! The code module is Pyodide's module with its linear memory and its mutable globals turned into imports from
//! [`STATE_MODULE`]; it keeps the functions, tables, element segments, exports and immutable globals, and loses the
//! data segments. A state module has no functions at all: it defines that memory (its data segments are the
//! memory's contents, so Wasmtime builds a copy-on-write image of them) and those globals (their initialisers are
//! the values), and exports them. Pyodide's own initial state is one state module; each snapshot is another. An instance is a state instance
//! with the code module linked to it, so making a snapshot compiles a few kilobytes of metadata and an image, never
//! Pyodide's 9 MB of code again.
//!
//! Global indices do not move: the globals up to the last mutable one become imports, in index order, and the rest
//! stay defined after them, so the global index space is the same and no function body needs rewriting. In Pyodide
//! that is 284 state globals — the 280 `GOT.func.*` imports (addresses of JS-library functions that have no wasm
//! body, 0 here) and 4 mutable ones (the stack pointer and its kin) — while its 1,140 immutable globals (addresses
//! of exported data) stay in the code: every instance links ~550 imports rather than ~1,700, which is a fifth of
//! what restoring an instance costs.

use anyhow::{bail, Context, Result};
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{
    ConstExpr, DataSection, EntityType, ExportKind, ExportSection, GlobalSection, ImportSection,
    MemorySection,
};
use wasmparser::{Parser, Payload, TypeRef};

/// The import module name under which the code module finds its memory and globals.
pub const STATE_MODULE: &str = "pyworkers:state";

/// Name of the memory in a state module.
pub const MEMORY: &str = "memory";

/// Name of global `index` in a state module.
pub fn global_name(index: usize) -> String {
    format!("g{index}")
}

/// A global's value as a state module initialises it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GlobalValue {
    /// An `i32`.
    I32(i32),
    /// An `i64`.
    I64(i64),
    /// An `f32`, as bits.
    F32(u32),
    /// An `f64`, as bits.
    F64(u64),
    /// A value that cannot be a constant initialiser (a reference): Pyodide's original initialiser is kept.
    Keep,
}

/// A run of memory a state module initialises.
#[derive(Debug, Clone)]
pub struct Segment<'a> {
    /// Byte offset in linear memory.
    pub offset: u32,
    /// The bytes.
    pub data: &'a [u8],
}

/// What a state module must match: the type of Pyodide's memory and of each of its globals, with Pyodide's own
/// initialisers.
pub struct Shape {
    memory: wasmparser::MemoryType,
    /// Every global of Pyodide's module (imported `GOT.func` ones first), in index order.
    globals: Vec<(wasmparser::GlobalType, Init)>,
    /// How many of them, from the first, the state holds: through the last mutable one.
    state: usize,
    /// How many of them Pyodide's module imports.
    imported: usize,
}

/// A global's initialiser in Pyodide's module.
#[derive(Clone)]
enum Init {
    /// An imported `GOT.func` address: always 0 here.
    Zero,
    /// The constant expression's bytes (re-encoded).
    Expr(ConstExpr),
}

impl Shape {
    /// Read the memory and global declarations of `wasm` (Pyodide's converted module), skipping its code.
    pub fn of(wasm: &[u8]) -> Result<Shape> {
        let mut re = RoundtripReencoder;
        let mut memory = None;
        let mut globals = Vec::new();
        let mut parser = Parser::new(0);
        let mut rest = wasm;
        loop {
            let (consumed, payload) = match parser.parse(rest, true)? {
                wasmparser::Chunk::NeedMoreData(_) => bail!("Pyodide's module is truncated"),
                wasmparser::Chunk::Parsed { consumed, payload } => (consumed, payload),
            };
            rest = &rest[consumed..];
            match payload {
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import?;
                        match import.ty {
                            TypeRef::Global(ty) if import.module == "GOT.func" => {
                                globals.push((ty, Init::Zero))
                            }
                            TypeRef::Global(_) => bail!(
                                "unexpected global import {}.{}",
                                import.module,
                                import.name
                            ),
                            TypeRef::Memory(_) => bail!("Pyodide's module imports its memory already"),
                            _ => {}
                        }
                    }
                }
                Payload::MemorySection(reader) => {
                    for m in reader {
                        if memory.replace(m?).is_some() {
                            bail!("Pyodide's module has more than one memory");
                        }
                    }
                }
                Payload::GlobalSection(reader) => {
                    for g in reader {
                        let g = g?;
                        globals.push((g.ty, Init::Expr(re.const_expr(g.init_expr)?)));
                    }
                }
                Payload::CodeSectionStart { size, .. } => {
                    parser.skip_section();
                    rest = &rest[size as usize..];
                }
                Payload::End(_) => break,
                _ => {}
            }
        }
        let imported = globals.iter().take_while(|(_, init)| matches!(init, Init::Zero)).count();
        let state = globals.iter().rposition(|(ty, _)| ty.mutable).map_or(0, |last| last + 1).max(imported);
        Ok(Shape {
            memory: memory.context("Pyodide's module defines no memory")?,
            globals,
            state,
            imported,
        })
    }

    /// How many globals a state module defines.
    pub fn global_count(&self) -> usize {
        self.state
    }

    fn state_globals(&self) -> &[(wasmparser::GlobalType, Init)] {
        &self.globals[..self.state]
    }

    /// The state module holding Pyodide's own initial state: its data segments and global initialisers, as in
    /// `wasm`.
    pub fn initial_state(&self, wasm: &[u8]) -> Result<Vec<u8>> {
        let mut re = RoundtripReencoder;
        let mut data = DataSection::new();
        for payload in Parser::new(0).parse_all(wasm) {
            if let Payload::DataSection(reader) = payload? {
                for segment in reader {
                    let segment = segment?;
                    match segment.kind {
                        wasmparser::DataKind::Active {
                            memory_index: 0,
                            offset_expr,
                        } => {
                            data.active(0, &re.const_expr(offset_expr)?, segment.data.iter().copied());
                        }
                        _ => bail!("Pyodide's module has a passive data segment, which a state module cannot hold"),
                    }
                }
            }
        }
        let inits: Vec<ConstExpr> = self.state_globals().iter().map(|(ty, init)| original(ty, init)).collect();
        self.encode(self.memory.initial, &inits, &data)
    }

    /// A state module with memory `pages` long holding `segments` (zero elsewhere) and `globals` (by index;
    /// [`GlobalValue::Keep`] keeps Pyodide's initialiser).
    pub fn state(&self, pages: u64, segments: &[Segment<'_>], globals: &[GlobalValue]) -> Result<Vec<u8>> {
        if globals.len() != self.state {
            bail!(
                "the state has {} globals, Pyodide's module keeps {} in its state",
                globals.len(),
                self.state
            );
        }
        let inits = self
            .state_globals()
            .iter()
            .zip(globals)
            .map(|((ty, init), value)| match *value {
                GlobalValue::I32(v) => ConstExpr::i32_const(v),
                GlobalValue::I64(v) => ConstExpr::i64_const(v),
                GlobalValue::F32(v) => ConstExpr::f32_const(f32::from_bits(v).into()),
                GlobalValue::F64(v) => ConstExpr::f64_const(f64::from_bits(v).into()),
                GlobalValue::Keep => original(ty, init),
            })
            .collect::<Vec<_>>();
        let mut data = DataSection::new();
        for s in segments {
            data.active(0, &ConstExpr::i32_const(s.offset as i32), s.data.iter().copied());
        }
        self.encode(pages.max(self.memory.initial), &inits, &data)
    }

    fn encode(&self, pages: u64, inits: &[ConstExpr], data: &DataSection) -> Result<Vec<u8>> {
        let mut re = RoundtripReencoder;
        let mut module = wasm_encoder::Module::new();
        let mut memory_type = re.memory_type(self.memory)?;
        memory_type.minimum = pages;
        let mut memories = MemorySection::new();
        memories.memory(memory_type);
        module.section(&memories);
        let mut globals = GlobalSection::new();
        for ((ty, _), init) in self.state_globals().iter().zip(inits) {
            globals.global(re.global_type(*ty)?, init);
        }
        module.section(&globals);
        let mut exports = ExportSection::new();
        exports.export(MEMORY, ExportKind::Memory, 0);
        for index in 0..self.state {
            exports.export(&global_name(index), ExportKind::Global, index as u32);
        }
        module.section(&exports);
        module.section(data);
        Ok(module.finish())
    }
}

fn original(ty: &wasmparser::GlobalType, init: &Init) -> ConstExpr {
    match init {
        Init::Expr(e) => e.clone(),
        Init::Zero => match ty.content_type {
            wasmparser::ValType::I64 => ConstExpr::i64_const(0),
            _ => ConstExpr::i32_const(0),
        },
    }
}

/// The code module of `wasm` (see the module docs).
pub fn code_module(wasm: &[u8], shape: &Shape) -> Result<Vec<u8>> {
    let mut re = RoundtripReencoder;
    let mut module = wasm_encoder::Module::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.context("parsing Pyodide's module")?;
        match payload {
            Payload::Version { .. } | Payload::End(_) => {}
            Payload::ImportSection(reader) => {
                let mut imports = ImportSection::new();
                for import in reader.into_imports() {
                    let import = import?;
                    if !matches!(import.ty, TypeRef::Global(_)) {
                        imports.import(import.module, import.name, re.entity_type(import.ty)?);
                    }
                }
                imports.import(STATE_MODULE, MEMORY, EntityType::Memory(re.memory_type(shape.memory)?));
                for (index, (ty, _)) in shape.state_globals().iter().enumerate() {
                    imports.import(
                        STATE_MODULE,
                        &global_name(index),
                        EntityType::Global(re.global_type(*ty)?),
                    );
                }
                module.section(&imports);
            }
            // The globals after the state's stay here, at the same indices.
            Payload::GlobalSection(_) => {
                let mut globals = GlobalSection::new();
                for (ty, init) in &shape.globals[shape.state.max(shape.imported)..] {
                    match init {
                        Init::Expr(e) => globals.global(re.global_type(*ty)?, e),
                        Init::Zero => bail!("an imported global after a defined one"),
                    };
                }
                if !globals.is_empty() {
                    module.section(&globals);
                }
            }
            // The state module defines these.
            Payload::MemorySection(_)
            | Payload::DataSection(_)
            | Payload::DataCountSection { .. } => {}
            Payload::CodeSectionEntry(_) => {} // copied whole with the section start
            other => {
                if let Some((id, range)) = other.as_section() {
                    module.section(&wasm_encoder::RawSection {
                        id,
                        data: &wasm[range],
                    });
                }
            }
        }
    }
    Ok(module.finish())
}

/// Split `memory` into segments holding all its non-zero bytes. Zero runs shorter than `gap` stay inside a segment:
/// fewer, larger segments make a smaller module and a faster copy-on-write image.
pub fn nonzero_segments(memory: &[u8], gap: usize) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < memory.len() {
        while i < memory.len() && memory[i] == 0 {
            i += 1;
        }
        if i >= memory.len() {
            break;
        }
        let start = i;
        let mut end = i;
        let mut zeros = 0;
        while i < memory.len() {
            if memory[i] == 0 {
                zeros += 1;
                if zeros >= gap {
                    break;
                }
            } else {
                zeros = 0;
                end = i + 1;
            }
            i += 1;
        }
        out.push(Segment {
            offset: start as u32,
            data: &memory[start..end],
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cover_exactly_the_nonzero_bytes() {
        let mut mem = vec![0u8; 10_000];
        mem[3] = 1;
        mem[5] = 2;
        mem[4000] = 3;
        mem[9999] = 4;
        let segs = nonzero_segments(&mem, 64);
        assert_eq!(segs.len(), 3);
        assert_eq!((segs[0].offset, segs[0].data), (3, &[1, 0, 2][..]));
        assert_eq!((segs[1].offset, segs[1].data), (4000, &[3][..]));
        assert_eq!((segs[2].offset, segs[2].data), (9999, &[4][..]));
        let mut rebuilt = vec![0u8; 10_000];
        for s in &segs {
            rebuilt[s.offset as usize..s.offset as usize + s.data.len()].copy_from_slice(s.data);
        }
        assert_eq!(rebuilt, mem);
        assert!(nonzero_segments(&[0; 100], 8).is_empty());
    }

    /// A module shaped like Pyodide's (a GOT.func import, a memory with data, mutable and immutable globals, code
    /// that touches both) splits into a code module and a state module that link and run as the original did.
    #[test]
    fn split_modules_link_and_behave_like_the_original() {
        let wat = r#"(module
            (import "GOT.func" "f" (global $got (mut i32)))
            (import "env" "host" (func $host (param i32)))
            (memory (export "memory") 1 10)
            (global $sp (mut i32) (i32.const 1024))
            (global $base i32 (i32.const 16))
            (data (i32.const 16) "hi")
            (func (export "bump") (result i32)
                (global.set $sp (i32.add (global.get $sp) (i32.const 8)))
                (i32.store (global.get $sp) (i32.load8_u (global.get $base)))
                (call $host (global.get $got))
                (global.get $sp))
            (export "sp" (global $sp)))"#;
        let wasm = wat::parse_str(wat).unwrap();
        let shape = Shape::of(&wasm).unwrap();
        // The GOT import and the stack pointer; the immutable $base stays in the code.
        assert_eq!(shape.global_count(), 2);
        let code = code_module(&wasm, &shape).unwrap();
        let initial = shape.initial_state(&wasm).unwrap();
        let engine = wasmtime::Engine::default();
        let code = wasmtime::Module::new(&engine, code).unwrap();
        let run = |state: &[u8]| {
            let state = wasmtime::Module::new(&engine, state).unwrap();
            let mut store = wasmtime::Store::new(&engine, ());
            let state = wasmtime::Instance::new(&mut store, &state, &[]).unwrap();
            let host = wasmtime::Func::wrap(&mut store, |_: i32| {});
            let mut imports = vec![host.into()];
            imports.push(state.get_export(&mut store, MEMORY).unwrap());
            for i in 0..2 {
                imports.push(state.get_export(&mut store, &global_name(i)).unwrap());
            }
            let instance = wasmtime::Instance::new(&mut store, &code, &imports).unwrap();
            let bump = instance.get_typed_func::<(), i32>(&mut store, "bump").unwrap();
            let sp = bump.call(&mut store, ()).unwrap();
            let mem = instance.get_memory(&mut store, "memory").unwrap();
            (sp, mem.data(&store)[sp as usize], mem.data(&store)[16..18].to_vec())
        };
        assert_eq!(run(&initial), (1032, b'h', b"hi".to_vec()));
        // A state with other memory and another stack pointer: the same code continues from it.
        let state = shape
            .state(
                2,
                &[Segment { offset: 16, data: b"yo" }],
                &[GlobalValue::I32(0), GlobalValue::I32(2048)],
            )
            .unwrap();
        assert_eq!(run(&state), (2056, b'y', b"yo".to_vec()));
        assert!(shape.state(1, &[], &[GlobalValue::Keep]).is_err());
    }
}
