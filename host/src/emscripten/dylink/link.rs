//! Loading one side module, step by step as Emscripten's `loadWebAssemblyModule` does: needed libraries first,
//! memory from `calloc` aligned as `dylink.0` asks, table slots appended, imports resolved (main module, then
//! `RTLD_GLOBAL` libraries, then the library's own exports for its GOT), instantiation into the caller's store,
//! then `__wasm_apply_data_relocs` and `__wasm_call_ctors`.

use super::{dso, Dylink, Failure, Metadata};
use crate::emscripten::{EmscriptenView, GuestExit, GuestMemory, SliceMemory};
use std::collections::HashMap;
use wasmtime::{
    Extern, StoreContextMut, ExternType, Func, Global, GlobalType, Instance, Mutability, Ref, Val, ValType,
};

/// Deepest chain of `needed` libraries followed (a cycle would otherwise never end).
const MAX_DEPTH: u32 = 16;

/// Where a library was put, and under what name: what a snapshot records and replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Its path, normalised.
    pub name: String,
    /// SHA-256 of its file.
    pub sha256: String,
    /// Where its data lives (`__memory_base`).
    pub memory_base: u32,
    /// Bytes reserved there.
    pub memory_size: u32,
    /// Its first table slot (`__table_base`).
    pub table_base: u32,
    /// Slots reserved there.
    pub table_size: u32,
    /// Whether its symbols are in the global scope.
    pub global: bool,
}

/// A library in the store.
pub struct Loaded {
    /// Where it is.
    pub placement: Placement,
    /// Its exports, data addresses already relocated by `memory_base`.
    pub exports: HashMap<String, Extern>,
}

/// Exports that are the linker's business, never symbols (Emscripten's `isInternalSym`).
pub(super) fn is_internal(name: &str) -> bool {
    matches!(
        name,
        "memory"
            | "__memory_base"
            | "__table_base"
            | "__stack_pointer"
            | "__indirect_function_table"
            | "__cpp_exception"
            | "__c_longjmp"
            | "__wasm_apply_data_relocs"
            | "__dso_handle"
            | "__tls_size"
            | "__tls_align"
            | "__set_stack_limits"
            | "_emscripten_tls_init"
            | "__wasm_init_tls"
            | "__wasm_call_ctors"
    ) || name.starts_with("__em_js__")
        || name.starts_with("__start_em_")
        || name.starts_with("__stop_em_")
}

fn dl<'a, T: EmscriptenView>(store: &'a mut StoreContextMut<'_, T>) -> &'a mut Dylink {
    &mut store.data_mut().em().dylink
}

fn guest(e: wasmtime::Error) -> Failure {
    Failure::Unwind(e)
}

/// Normalise `path` against the working directory.
fn normalise<T: EmscriptenView>(store: &mut StoreContextMut<'_, T>, path: &str) -> Result<String, Failure> {
    let cwd = store.data_mut().em().vfs.cwd().to_string();
    crate::vfs::path::absolute(&cwd, path).map_err(|e| Failure::Link(format!("bad path {path:?} ({e:?})")))
}

/// Load library `path` (and what it needs); `handle` is its `struct dso`, `file` its bytes if libc has them.
pub(super) fn load<T: EmscriptenView>(
    store: &mut StoreContextMut<'_, T>,
    path: &str,
    global: bool,
    handle: Option<u32>,
    file: Option<Vec<u8>>,
    depth: u32,
) -> Result<(), Failure> {
    if depth > MAX_DEPTH {
        return Err(Failure::Link(format!("needed libraries nest deeper than {MAX_DEPTH} (a cycle?)")));
    }
    let name = normalise(store, path)?;
    // Already loaded: widen its scope if asked, and answer this handle with it.
    if let Some(index) = dl(store).loaded.iter().position(|l| l.placement.name == name) {
        let dl = dl(store);
        if global && !dl.loaded[index].placement.global {
            dl.loaded[index].placement.global = true;
            let exports: Vec<_> = dl.loaded[index].exports.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            for (k, v) in exports {
                if !is_internal(&k) {
                    dl.global.entry(k).or_insert((v, index));
                }
            }
        }
        if let Some(h) = handle {
            dl.handles.insert(h, index);
        }
        return Ok(());
    }
    let bytes = match file {
        Some(b) => b,
        None => store
            .data_mut()
            .em()
            .vfs
            .read_file(&name)
            .map_err(|e| Failure::Link(format!("cannot read {name}: {e:?}")))?,
    };
    let meta = Metadata::parse(&bytes)?;
    for needed in &meta.needed {
        let found = find_needed(store, needed, &name, &meta.runtime_paths)?;
        load(store, &found, global, None, None, depth + 1)?;
    }
    let engine = store.engine().clone();
    let compiler = dl(store).compiler.clone();
    let prepared = super::segments::prepare(&bytes)
        .map_err(|e| Failure::Link(format!("{name} is not a valid module: {e:#}")))?;
    let module = compiler
        .compile(&engine, &name, &prepared.wasm)
        .map_err(|e| Failure::Link(format!("cannot compile {name}: {e:#}")))?;
    let exports = store.data_mut().em().exports.clone().ok_or_else(|| Failure::Link("no main module".into()))?;

    // Memory: `calloc(size + align)` rounded up to the alignment, as the JS linker does once the runtime is up.
    let align = 1u64 << meta.memory_align;
    let memory_base = if meta.memory_size > 0 {
        let calloc = exports.main.get_func(&mut *store, "calloc").ok_or_else(|| Failure::Link("no calloc".into()))?;
        let total = meta.memory_size as u64 + align;
        let total = i32::try_from(total).map_err(|_| Failure::Link(format!("{name} wants {total} bytes")))?;
        let mut out = [Val::I32(0)];
        calloc.call(&mut *store, &[Val::I32(total), Val::I32(1)], &mut out).map_err(guest)?;
        let ptr = out[0].unwrap_i32() as u32 as u64;
        if ptr == 0 {
            return Err(Failure::Link(format!("out of memory reserving {total} bytes for {name}")));
        }
        (ptr.div_ceil(align) * align) as u32
    } else {
        0
    };
    // Table: append `table_size` empty slots.
    let table_base = if meta.table_size > 0 {
        let base = exports
            .table
            .grow(&mut *store, meta.table_size as u64, Ref::Func(None))
            .map_err(|e| Failure::Link(format!("cannot grow the function table by {}: {e}", meta.table_size)))?;
        base as u32
    } else {
        0
    };
    if let Some(h) = handle {
        let mem = exports.memory.data_mut(&mut *store);
        let mut mem = SliceMemory::new(mem);
        let _ = mem.write_u8(h.wrapping_add(dso::MEM_ALLOCATED), 1);
        let _ = mem.write_u32(h.wrapping_add(dso::MEM_ADDR), memory_base);
        let _ = mem.write_u32(h.wrapping_add(dso::MEM_SIZE), meta.memory_size);
        let _ = mem.write_u32(h.wrapping_add(dso::TABLE_ADDR), table_base);
        let _ = mem.write_u32(h.wrapping_add(dso::TABLE_SIZE), meta.table_size);
    }

    let mut got_entries = Vec::new();
    let imports = resolve_imports(store, &module, memory_base, table_base, &|f| meta.weak_imports.contains(f), &mut got_entries)?;
    let instance = Instance::new(&mut *store, &module, &imports)
        .map_err(|e| Failure::Link(format!("cannot instantiate {name}: {e:#}")))?;
    // What instantiation would have written, had the segments stayed active.
    for (offset, range) in &prepared.segments {
        let at = memory_base as usize + *offset as usize;
        let data = &bytes[range.clone()];
        let mem = exports.memory.data_mut(&mut *store);
        mem.get_mut(at..at + data.len())
            .ok_or_else(|| Failure::Link(format!("{name}: a data segment lies outside memory")))?
            .copy_from_slice(data);
    }
    index_slots(store, table_base, meta.table_size)?;

    let relocated = relocate(store, &instance, memory_base)?;
    // The GOT: the library's own definitions first (`updateGOT`), then the global scope (`reportUndefinedSymbols`).
    for (symbol, weak) in got_entries {
        if dl(store).got_resolved.contains(&symbol) {
            continue;
        }
        let own = dl(store).loaded.len();
        let found = match relocated.get(&symbol).filter(|_| !is_internal(&symbol)) {
            Some(e) => Some((e.clone(), Some(own))),
            None => lookup(store, &symbol),
        };
        let value = match found.map(|(e, owner)| (e, owner)) {
            Some((Extern::Func(f), owner)) => slot_of(store, f, owner, &symbol).map_err(guest)?,
            Some((Extern::Global(g), _)) => g.get(&mut *store).i32().unwrap_or(0) as u32,
            _ if weak => 0,
            _ => return Err(Failure::Link(format!("undefined symbol: {symbol}"))),
        };
        let entry = dl(store).got[&symbol];
        entry.set(&mut *store, Val::I32(value as i32)).map_err(guest)?;
        dl(store).got_resolved.insert(symbol);
    }

    for init in ["__wasm_apply_data_relocs", "__wasm_call_ctors"] {
        if let Some(f) = instance.get_func(&mut *store, init) {
            f.call(&mut *store, &[], &mut []).map_err(|e| match e.downcast_ref::<GuestExit>() {
                Some(_) => Failure::Unwind(e),
                None => Failure::Link(format!("{init} of {name} failed: {e:#}")),
            })?;
        }
    }
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let dl = dl(store);
    if global {
        let index = dl.loaded.len();
        for (k, v) in &relocated {
            if !is_internal(k) {
                dl.global.entry(k.clone()).or_insert((v.clone(), index));
            }
        }
    }
    dl.loaded.push(Loaded {
        placement: Placement {
            name,
            sha256,
            memory_base,
            memory_size: meta.memory_size,
            table_base,
            table_size: meta.table_size,
            global,
        },
        exports: relocated,
    });
    if let Some(h) = handle {
        let index = dl.loaded.len() - 1;
        dl.handles.insert(h, index);
    }
    Ok(())
}

/// Where needed library `lib` of `parent` lives: an absolute path, else in `parent`'s runtime paths, its
/// directory, or `/lib`/`/usr/lib`.
fn find_needed<T: EmscriptenView>(
    store: &mut StoreContextMut<'_, T>,
    lib: &str,
    parent: &str,
    runtime_paths: &[String],
) -> Result<String, Failure> {
    if lib.starts_with('/') {
        return Ok(lib.to_string());
    }
    let origin = parent.rsplit_once('/').map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
    let mut dirs: Vec<String> = runtime_paths.iter().map(|p| p.replace("$ORIGIN", origin)).collect();
    dirs.extend([origin.to_string(), "/lib".into(), "/usr/lib".into()]);
    for dir in dirs {
        let candidate = format!("{}/{lib}", dir.trim_end_matches('/'));
        if store.data_mut().em().vfs.resolve(&candidate, true).is_ok() {
            return Ok(candidate);
        }
    }
    Err(Failure::Link(format!("needed library {lib} not found")))
}

/// A symbol from the main module's exports (owner `None`) or an `RTLD_GLOBAL` library (its index).
pub(super) fn lookup<T: EmscriptenView>(store: &mut StoreContextMut<'_, T>, name: &str) -> Option<(Extern, Option<usize>)> {
    let main = store.data_mut().em().exports.as_ref()?.main;
    if let Some(found) = main.get_export(&mut *store, name) {
        return Some((found, None));
    }
    dl(store).global.get(name).map(|(e, i)| (e.clone(), Some(*i)))
}

/// The shared GOT entry for `symbol`, created (unresolved, 0) on first use.
fn got_entry<T: EmscriptenView>(store: &mut StoreContextMut<'_, T>, symbol: &str) -> Result<Global, Failure> {
    if let Some(g) = dl(store).got.get(symbol) {
        return Ok(*g);
    }
    let g = Global::new(&mut *store, GlobalType::new(ValType::I32, Mutability::Var), Val::I32(0)).map_err(guest)?;
    dl(store).got.insert(symbol.to_string(), g);
    Ok(g)
}

/// Record which functions slots `base..base + len` hold.
fn index_slots<T: EmscriptenView>(store: &mut StoreContextMut<'_, T>, base: u32, len: u32) -> Result<(), Failure> {
    if dl(store).slots.is_none() {
        return Ok(()); // built whole on first use
    }
    let table = store.data_mut().em().exports.as_ref().map(|e| e.table);
    let Some(table) = table else { return Ok(()) };
    for i in base..base + len {
        if let Some(f) = table.get(&mut *store, i as u64).and_then(|r| r.as_func().flatten().copied()) {
            let raw = f.to_raw(&mut *store) as usize;
            dl(store).slots.as_mut().map(|s| s.entry(raw).or_insert(i));
        }
    }
    Ok(())
}

/// The table slot holding `func` (export `symbol` of library `owner`, or of the main module), appending it if no
/// slot does (Emscripten's `addFunction`); an append is recorded for snapshots.
pub(super) fn slot_of<T: EmscriptenView>(
    store: &mut StoreContextMut<'_, T>,
    func: Func,
    owner: Option<usize>,
    symbol: &str,
) -> wasmtime::Result<u32> {
    let Some(table) = store.data_mut().em().exports.as_ref().map(|e| e.table) else {
        wasmtime::bail!("no function table")
    };
    if dl(store).slots.is_none() {
        let mut slots = HashMap::new();
        for i in 0..table.size(&*store) {
            if let Some(f) = table.get(&mut *store, i).and_then(|r| r.as_func().flatten().copied()) {
                slots.entry(f.to_raw(&mut *store) as usize).or_insert(i as u32);
            }
        }
        dl(store).slots = Some(slots);
    }
    let raw = func.to_raw(&mut *store) as usize;
    if let Some(&slot) = dl(store).slots.as_ref().and_then(|s| s.get(&raw)) {
        return Ok(slot);
    }
    let slot = table.grow(&mut *store, 1, Ref::Func(Some(func)))? as u32;
    let dl = dl(store);
    dl.slots.as_mut().map(|s| s.insert(raw, slot));
    dl.appended.push(super::SlotRecord { slot, library: owner.map(|i| i as u32), symbol: symbol.to_string() });
    Ok(slot)
}

/// The imports of `module` in its order: `__memory_base`/`__table_base`, the shared GOT entries (each listed in
/// `got_entries` with whether it is weak), and `env` symbols from the main module or global libraries. An undefined
/// weak function becomes a stub that traps if called; any other undefined symbol fails the load.
pub(super) fn resolve_imports<T: EmscriptenView>(
    store: &mut StoreContextMut<'_, T>,
    module: &wasmtime::Module,
    memory_base: u32,
    table_base: u32,
    weak: &dyn Fn(&str) -> bool,
    got_entries: &mut Vec<(String, bool)>,
) -> Result<Vec<Extern>, Failure> {
    let mut imports = Vec::new();
    for import in module.imports() {
        let (module_name, field) = (import.module(), import.name());
        let item: Extern = match (module_name, import.ty()) {
            ("env", ExternType::Global(_)) if field == "__memory_base" || field == "__table_base" => {
                let value = if field == "__memory_base" { memory_base } else { table_base };
                Global::new(&mut *store, GlobalType::new(ValType::I32, Mutability::Const), Val::I32(value as i32))
                    .map_err(guest)?
                    .into()
            }
            ("GOT.mem" | "GOT.func", ExternType::Global(_)) => {
                let global = got_entry(store, field)?;
                got_entries.push((field.to_string(), weak(field)));
                global.into()
            }
            ("env" | "wasi_snapshot_preview1", ty) => match lookup(store, field) {
                Some((found, _)) => found,
                None => match ty {
                    ExternType::Func(fty) if weak(field) => {
                        let missing = field.to_string();
                        Func::new(&mut *store, fty, move |_, _, _| {
                            wasmtime::bail!("called undefined weak symbol `{missing}`")
                        })
                        .into()
                    }
                    _ => return Err(Failure::Link(format!("undefined symbol: {field}"))),
                },
            },
            (m, _) => return Err(Failure::Link(format!("unsupported import {m}.{field}"))),
        };
        imports.push(item);
    }
    Ok(imports)
}

/// `instance`'s exports with data addresses (immutable globals) moved by `memory_base` (`relocateExports`).
pub(super) fn relocate<T: EmscriptenView>(
    store: &mut StoreContextMut<'_, T>,
    instance: &Instance,
    memory_base: u32,
) -> Result<HashMap<String, Extern>, Failure> {
    let mut relocated = HashMap::new();
    for export in instance.exports(&mut *store).map(|e| (e.name().to_string(), e.into_extern())).collect::<Vec<_>>() {
        let (export_name, item) = export;
        let item = match item {
            Extern::Global(g) if g.ty(&*store).mutability() == Mutability::Const => {
                let value = g.get(&mut *store).i32().unwrap_or(0);
                Global::new(
                    &mut *store,
                    GlobalType::new(ValType::I32, Mutability::Const),
                    Val::I32(value.wrapping_add(memory_base as i32)),
                )
                .map_err(guest)?
                .into()
            }
            other => other,
        };
        relocated.insert(export_name, item);
    }
    Ok(relocated)
}
