//! Rewriting Pyodide's module, as Wizer does: *instrument* (make every global reachable from the host) and
//! *rewrite* (bake a captured state in as the module's initial state).
//!
//! Instrumenting turns the `GOT.func.*` global imports — addresses of JS-library functions that have no wasm body,
//! always 0 here — into ordinary defined globals, so instances need no per-store imports and can come from an
//! `InstancePre`, and exports every global as `__pyworkers_global_N` so its value can be captured. Indices do not
//! move: the imported globals come first in the global index space, and their replacements are put first in the
//! global section.
//!
//! Rewriting additionally replaces every global's initialiser with its captured value, sets the memory's initial
//! size, and replaces the data segments with the captured non-zero memory. Constructors are simply not called again.
//! Everything else (types, code, tables, element segments, custom sections) is copied byte for byte.

use anyhow::{bail, Context, Result};
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{
    ConstExpr, DataCountSection, DataSection, ExportKind, ExportSection, GlobalSection,
    ImportSection,
};
use wasmparser::{Parser, Payload, TypeRef};

/// Prefix of the exports that instrumenting adds, one per global.
pub const GLOBAL_EXPORT_PREFIX: &str = "__pyworkers_global_";

/// A captured global value.
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
    /// A value that cannot be a constant initialiser (a reference): the original initialiser is kept.
    Keep,
}

/// A run of memory to restore.
#[derive(Debug, Clone)]
pub struct Segment<'a> {
    /// Byte offset in linear memory.
    pub offset: u32,
    /// The bytes.
    pub data: &'a [u8],
}

/// The state baked into a pre-initialised module.
pub struct Baked<'a> {
    /// Every global's value, by global index (imports first).
    pub globals: &'a [GlobalValue],
    /// Initial size of memory 0, in pages.
    pub memory_pages: u64,
    /// The non-zero memory.
    pub segments: &'a [Segment<'a>],
}

/// Instrument `wasm` (see the module docs).
pub fn instrument(wasm: &[u8]) -> Result<Vec<u8>> {
    transform(wasm, None)
}

/// Instrument `wasm` and bake `state` into it.
pub fn rewrite(wasm: &[u8], state: &Baked<'_>) -> Result<Vec<u8>> {
    transform(wasm, Some(state))
}

fn const_of(value: GlobalValue) -> Option<ConstExpr> {
    Some(match value {
        GlobalValue::I32(v) => ConstExpr::i32_const(v),
        GlobalValue::I64(v) => ConstExpr::i64_const(v),
        GlobalValue::F32(v) => ConstExpr::f32_const(f32::from_bits(v).into()),
        GlobalValue::F64(v) => ConstExpr::f64_const(f64::from_bits(v).into()),
        GlobalValue::Keep => return None,
    })
}

fn transform(wasm: &[u8], baked: Option<&Baked<'_>>) -> Result<Vec<u8>> {
    let mut module = wasm_encoder::Module::new();
    let mut re = RoundtripReencoder;
    // Imported globals turned into defined ones, in index order: (type, captured-or-zero initialiser).
    let mut imported_globals: Vec<wasmparser::GlobalType> = Vec::new();
    let mut total_globals = 0u32;
    let mut saw_globals = false;
    let mut already_instrumented = false;

    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.context("parsing Pyodide's module")?;
        match payload {
            Payload::Version { .. } | Payload::End(_) => {}
            Payload::ImportSection(reader) => {
                let mut imports = ImportSection::new();
                for import in reader.into_imports() {
                    let import = import?;
                    if let TypeRef::Global(ty) = import.ty {
                        if import.module != "GOT.func" {
                            bail!("unexpected global import {}.{}", import.module, import.name);
                        }
                        imported_globals.push(ty);
                        continue;
                    }
                    imports.import(import.module, import.name, re.entity_type(import.ty)?);
                }
                module.section(&imports);
            }
            Payload::GlobalSection(reader) => {
                saw_globals = true;
                let mut globals = GlobalSection::new();
                let value_at = |index: u32| {
                    baked.map(|b| {
                        b.globals
                            .get(index as usize)
                            .copied()
                            .unwrap_or(GlobalValue::Keep)
                    })
                };
                for (i, ty) in imported_globals.iter().enumerate() {
                    let init = value_at(i as u32)
                        .and_then(const_of)
                        .unwrap_or_else(|| ConstExpr::i32_const(0));
                    globals.global(re.global_type(*ty)?, &init);
                }
                let base = imported_globals.len() as u32;
                for (i, global) in reader.into_iter().enumerate() {
                    let global = global?;
                    let init = match value_at(base + i as u32).and_then(const_of) {
                        Some(init) => init,
                        None => re.const_expr(global.init_expr)?,
                    };
                    globals.global(re.global_type(global.ty)?, &init);
                }
                total_globals = globals.len();
                module.section(&globals);
            }
            Payload::ExportSection(reader) => {
                if !saw_globals {
                    bail!("module has no global section");
                }
                let mut exports = ExportSection::new();
                for export in reader {
                    let export = export?;
                    already_instrumented |= export.name.starts_with(GLOBAL_EXPORT_PREFIX);
                    exports.export(export.name, re.export_kind(export.kind)?, export.index);
                }
                if !already_instrumented {
                    for index in 0..total_globals {
                        exports.export(
                            &format!("{GLOBAL_EXPORT_PREFIX}{index}"),
                            ExportKind::Global,
                            index,
                        );
                    }
                }
                module.section(&exports);
            }
            Payload::MemorySection(reader) if baked.is_some() => {
                let mut memories = wasm_encoder::MemorySection::new();
                for (i, memory) in reader.into_iter().enumerate() {
                    let mut ty = re.memory_type(memory?)?;
                    if i == 0 {
                        ty.minimum = baked
                            .map(|b| b.memory_pages)
                            .unwrap_or(ty.minimum)
                            .max(ty.minimum);
                    }
                    memories.memory(ty);
                }
                module.section(&memories);
            }
            Payload::DataCountSection { .. } if baked.is_some() => {
                let segments = baked.map(|b| b.segments.len()).unwrap_or(0);
                module.section(&DataCountSection {
                    count: segments as u32,
                });
            }
            Payload::DataSection(_) if baked.is_some() => {
                let mut data = DataSection::new();
                for segment in baked.map(|b| b.segments).unwrap_or_default() {
                    data.active(
                        0,
                        &ConstExpr::i32_const(segment.offset as i32),
                        segment.data.iter().copied(),
                    );
                }
                module.section(&data);
            }
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
    if imported_globals.is_empty() && total_globals == 0 {
        bail!("module has no globals to instrument");
    }
    Ok(module.finish())
}

/// Split `memory` into segments holding all its non-zero bytes. Zero runs shorter than `gap` stay inside a segment:
/// fewer, larger segments make a smaller module and a faster copy-on-write image.
pub fn nonzero_segments(memory: &[u8], gap: usize) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < memory.len() {
        // Skip zeros a word at a time where possible.
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
}
