//! A side module's data segments, made passive so that instantiating it writes nothing to memory: the linker
//! copies the segments to `__memory_base` itself when it loads the library, and a restored snapshot, whose memory
//! already holds what they became (relocated, then changed by the library's own code), instantiates the library
//! again without a byte of memory being written — no 600 KB copy saved and put back, and no copy-on-write of
//! those pages in every instance.
//!
//! Only segments placed relative to `__memory_base` (`global.get`, optionally `+ i32.const`, as `wasm-ld -pie`
//! emits) are moved; a module with any other active segment is left as it is and instantiation writes its data,
//! as before.

use std::ops::Range;
use wasm_encoder::{DataSection, Module as Encoded, RawSection};
use wasmparser::{DataKind, Operator, Parser, Payload, TypeRef};

/// A side module ready to compile.
pub struct Prepared<'a> {
    /// What to compile: the module with passive segments, or the original bytes if nothing was moved.
    pub wasm: std::borrow::Cow<'a, [u8]>,
    /// The segments the loader must copy: offset from `__memory_base`, and the bytes' range in the original file.
    pub segments: Vec<(u32, Range<usize>)>,
}

impl Prepared<'_> {
    /// Whether instantiating the compiled module leaves memory untouched (its segments were moved).
    pub fn passive(&self) -> bool {
        matches!(self.wasm, std::borrow::Cow::Owned(_))
    }
}

/// Make `wasm`'s active data segments passive, if every one is relative to `__memory_base`.
pub fn prepare(wasm: &[u8]) -> anyhow::Result<Prepared<'_>> {
    let unchanged = Prepared { wasm: std::borrow::Cow::Borrowed(wasm), segments: Vec::new() };
    let mut memory_base = None;
    let mut imported_globals = 0u32;
    let mut segments = Vec::new();
    let mut passive = DataSection::new();
    let mut data_section = None;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    if let TypeRef::Global(_) = import.ty {
                        if import.module == "env" && import.name == "__memory_base" {
                            memory_base = Some(imported_globals);
                        }
                        imported_globals += 1;
                    }
                }
            }
            Payload::DataSection(reader) => {
                data_section = Some(reader.range());
                for data in reader {
                    let data = data?;
                    match data.kind {
                        DataKind::Passive => {}
                        DataKind::Active { memory_index: 0, offset_expr } => {
                            let Some(offset) = relative_offset(&offset_expr, memory_base)? else {
                                return Ok(unchanged);
                            };
                            let start = data.data.as_ptr() as usize - wasm.as_ptr() as usize;
                            segments.push((offset, start..start + data.data.len()));
                        }
                        DataKind::Active { .. } => return Ok(unchanged),
                    }
                    passive.passive(data.data.iter().copied());
                }
            }
            _ => {}
        }
    }
    let Some(data_range) = data_section.filter(|_| !segments.is_empty()) else {
        return Ok(unchanged);
    };
    // Copy every section as it is, in order, except the data section, which becomes `passive`.
    let mut out = Encoded::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        if let Payload::DataSection(reader) = &payload {
            if reader.range() == data_range {
                out.section(&passive);
                continue;
            }
        }
        if let Some((id, range)) = payload.as_section() {
            out.section(&RawSection { id, data: &wasm[range] });
        }
    }
    Ok(Prepared { wasm: std::borrow::Cow::Owned(out.finish()), segments })
}

/// The offset from `__memory_base` that `expr` computes, or `None` if it is not of that shape.
fn relative_offset(expr: &wasmparser::ConstExpr<'_>, memory_base: Option<u32>) -> anyhow::Result<Option<u32>> {
    let Some(base) = memory_base else { return Ok(None) };
    let ops: Vec<Operator<'_>> = expr.get_operators_reader().into_iter().collect::<Result<_, _>>()?;
    Ok(match ops.as_slice() {
        [Operator::GlobalGet { global_index }, Operator::End] if *global_index == base => Some(0),
        [Operator::GlobalGet { global_index }, Operator::I32Const { value }, Operator::I32Add, Operator::End]
            if *global_index == base && *value >= 0 =>
        {
            Some(*value as u32)
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{ConstExpr, EntityType, GlobalType, ImportSection, MemoryType, ValType};

    /// A module importing `__memory_base` and memory, with the given active segments (offset expr, bytes).
    fn module(segments: &[(ConstExpr, &[u8])]) -> Vec<u8> {
        let mut imports = ImportSection::new();
        imports.import(
            "env",
            "memory",
            EntityType::Memory(MemoryType { minimum: 1, maximum: None, memory64: false, shared: false, page_size_log2: None }),
        );
        imports.import(
            "env",
            "__memory_base",
            EntityType::Global(GlobalType { val_type: ValType::I32, mutable: false, shared: false }),
        );
        let mut data = DataSection::new();
        for (offset, bytes) in segments {
            data.active(0, offset, bytes.iter().copied());
        }
        let mut m = Encoded::new();
        m.section(&imports);
        m.section(&data);
        m.finish()
    }

    fn instantiate(wasm: &[u8], base: i32) -> Vec<u8> {
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, wasm).unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        let memory = wasmtime::Memory::new(&mut store, wasmtime::MemoryType::new(1, None)).unwrap();
        let global = wasmtime::Global::new(
            &mut store,
            wasmtime::GlobalType::new(wasmtime::ValType::I32, wasmtime::Mutability::Const),
            wasmtime::Val::I32(base),
        )
        .unwrap();
        wasmtime::Instance::new(&mut store, &module, &[memory.into(), global.into()]).unwrap();
        memory.data(&store)[..4096].to_vec()
    }

    #[test]
    fn relative_segments_become_passive_and_are_listed_for_the_loader() {
        let add = ConstExpr::extended([
            wasm_encoder::Instruction::GlobalGet(0),
            wasm_encoder::Instruction::I32Const(8),
            wasm_encoder::Instruction::I32Add,
        ]);
        let wasm = module(&[(ConstExpr::global_get(0), b"abc"), (add, b"xyz")]);
        let prepared = prepare(&wasm).unwrap();
        assert!(prepared.passive());
        let listed: Vec<(u32, &[u8])> = prepared.segments.iter().map(|(o, r)| (*o, &wasm[r.clone()])).collect();
        assert_eq!(listed, vec![(0, &b"abc"[..]), (8, &b"xyz"[..])]);
        // The original writes its data on instantiation; the prepared module writes nothing.
        let original = instantiate(&wasm, 100);
        assert_eq!(&original[100..103], b"abc");
        assert_eq!(&original[108..111], b"xyz");
        assert!(instantiate(&prepared.wasm, 100).iter().all(|&b| b == 0));
    }

    #[test]
    fn a_module_with_an_absolute_segment_is_left_as_it_is() {
        let wasm = module(&[(ConstExpr::global_get(0), b"abc"), (ConstExpr::i32_const(64), b"z")]);
        let prepared = prepare(&wasm).unwrap();
        assert!(!prepared.passive());
        assert!(prepared.segments.is_empty());
        assert_eq!(&*prepared.wasm, &wasm[..]);
    }
}
