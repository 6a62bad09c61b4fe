//! The archives module: the files the component carries (the stdlib zip, its bytecode, the runtime's Python, the
//! program) as passive data segments, copied into the shim's memory on request with `memory.init`. Built with
//! `wasm-encoder`: megabytes of data do not belong in a text module.

use wasm_encoder::{
    CodeSection, DataCountSection, DataSection, EntityType, ExportKind, ExportSection, Function,
    FunctionSection, ImportSection, Instruction, MemoryType, Module, TypeSection, ValType,
};

/// A module importing `bridge.shim_memory` and exporting `len(index) -> i32` and `copy(index, dst)`; an index out
/// of range traps.
pub(super) fn module(archives: &[&[u8]]) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I32]);
    types.ty().function([ValType::I32, ValType::I32], []);
    let mut imports = ImportSection::new();
    let memory = MemoryType { minimum: 0, maximum: None, memory64: false, shared: false, page_size_log2: None };
    imports.import("bridge", "shim_memory", EntityType::Memory(memory));
    let mut functions = FunctionSection::new();
    functions.function(0);
    functions.function(1);
    let mut exports = ExportSection::new();
    exports.export("len", ExportKind::Func, 0);
    exports.export("copy", ExportKind::Func, 1);

    // Each body: `if index == k { ...; return }` for every archive, then `unreachable`.
    let mut len = Function::new([]);
    let mut copy = Function::new([]);
    for (k, bytes) in archives.iter().enumerate() {
        for f in [&mut len, &mut copy] {
            f.instruction(&Instruction::LocalGet(0));
            f.instruction(&Instruction::I32Const(k as i32));
            f.instruction(&Instruction::I32Eq);
            f.instruction(&Instruction::If(wasm_encoder::BlockType::Empty));
        }
        len.instruction(&Instruction::I32Const(bytes.len() as i32));
        len.instruction(&Instruction::Return);
        copy.instruction(&Instruction::LocalGet(1));
        copy.instruction(&Instruction::I32Const(0));
        copy.instruction(&Instruction::I32Const(bytes.len() as i32));
        copy.instruction(&Instruction::MemoryInit { mem: 0, data_index: k as u32 });
        copy.instruction(&Instruction::Return);
        for f in [&mut len, &mut copy] {
            f.instruction(&Instruction::End);
        }
    }
    for f in [&mut len, &mut copy] {
        f.instruction(&Instruction::Unreachable);
        f.instruction(&Instruction::End);
    }
    let mut code = CodeSection::new();
    code.function(&len);
    code.function(&copy);
    let mut data = DataSection::new();
    for bytes in archives {
        data.passive(bytes.iter().copied());
    }
    let mut module = Module::new();
    module.section(&types);
    module.section(&imports);
    module.section(&functions);
    module.section(&exports);
    module.section(&DataCountSection { count: archives.len() as u32 });
    module.section(&code);
    module.section(&data);
    module.finish()
}
