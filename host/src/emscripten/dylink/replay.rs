//! Snapshots of instances that loaded side modules: [`record`] says what the linker did (libraries in load order
//! at their memory and table bases, the GOT, the functions it appended to the table); [`replay`] redoes it in a
//! restored instance — the same modules instantiated at the same bases — without relocations or constructors,
//! whose effects are already in the snapshot's memory. Anything that does not land where it did is refused.

use super::link::{lookup, relocate, resolve_imports, Loaded, Placement};
use super::{Failure, SlotRecord};
use crate::emscripten::EmscriptenView;
use anyhow::{bail, Context, Result};
use wasmtime::{Extern, Global, GlobalType, Instance, Module, Mutability, Ref, StoreContextMut, Val, ValType};

/// A library as a snapshot records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryRecord {
    /// Where it was.
    pub placement: Placement,
    /// The `struct dso` addresses that name it.
    pub handles: Vec<u32>,
}

/// A library compiled for [`replay`].
pub struct Library {
    /// The module, as [`segments::prepare`](super::segments::prepare) left it.
    pub module: Module,
    /// Whether instantiating it writes its data segments (they could not be made passive): replay then puts back
    /// what memory held.
    pub writes_memory: bool,
}

/// Everything the linker did in one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Libraries in load order.
    pub libraries: Vec<LibraryRecord>,
    /// Functions appended to the table, in order.
    pub slots: Vec<SlotRecord>,
    /// GOT entries: symbol, value, whether resolved.
    pub got: Vec<(String, i32, bool)>,
}

impl Record {
    /// Whether nothing was loaded.
    pub fn is_empty(&self) -> bool {
        self.libraries.is_empty()
    }
}

/// What the linker of `store` did so far.
pub fn record<T: EmscriptenView>(store: &mut StoreContextMut<'_, T>) -> Record {
    let dl = &store.data_mut().em().dylink;
    let libraries = dl
        .loaded
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut handles: Vec<u32> = dl.handles.iter().filter(|(_, &j)| j == i).map(|(&h, _)| h).collect();
            handles.sort();
            LibraryRecord { placement: l.placement.clone(), handles }
        })
        .collect();
    let slots = dl.appended.clone();
    let mut got: Vec<(String, Global, bool)> =
        dl.got.iter().map(|(k, g)| (k.clone(), *g, dl.got_resolved.contains(k))).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let got = got
        .into_iter()
        .map(|(k, g, resolved)| (k, g.get(&mut *store).i32().unwrap_or(0), resolved))
        .collect();
    Record { libraries, slots, got }
}

fn link_error(f: Failure) -> anyhow::Error {
    match f {
        Failure::Link(m) => anyhow::anyhow!(m),
        Failure::Unwind(e) => anyhow::Error::from(e),
    }
}

/// Redo `record` in `store`, a fresh instance of the snapshot it was taken with; `modules[i]` is library `i`
/// compiled (its file's hash already checked against the record).
pub fn replay<T: EmscriptenView>(store: &mut StoreContextMut<'_, T>, record: &Record, modules: &[Library]) -> Result<()> {
    if modules.len() != record.libraries.len() {
        bail!("{} libraries recorded, {} compiled", record.libraries.len(), modules.len());
    }
    let exports = store.data_mut().em().exports.clone().context("no main module")?;
    for (symbol, value, resolved) in &record.got {
        let g = Global::new(&mut *store, GlobalType::new(ValType::I32, Mutability::Var), Val::I32(*value)).map_err(anyhow::Error::from)?;
        let dl = &mut store.data_mut().em().dylink;
        dl.got.insert(symbol.clone(), g);
        if *resolved {
            dl.got_resolved.insert(symbol.clone());
        }
    }
    let mut slots = record.slots.iter().peekable();
    for (index, (record, module)) in record.libraries.iter().zip(modules).enumerate() {
        let lib = &record.placement;
        if lib.table_size > 0 {
            while let Some(s) = slots.next_if(|s| s.slot < lib.table_base) {
                append(store, s)?;
            }
            let size = exports.table.size(&*store);
            if size != lib.table_base as u64 {
                bail!("{}: the function table has {size} slots where the snapshot put the library at {}", lib.name, lib.table_base);
            }
            exports.table.grow(&mut *store, lib.table_size as u64, Ref::Func(None)).map_err(anyhow::Error::from)?;
        }
        let mut got_entries = Vec::new();
        // Every undefined import was weak when the library was loaded, or the load would have failed.
        let imports = resolve_imports(store, &module.module, lib.memory_base, lib.table_base, &|_| true, &mut got_entries)
            .map_err(link_error)
            .with_context(|| format!("linking {} again", lib.name))?;
        // Memory already holds what the data segments became. Passive segments are not written; active ones are,
        // so what was there is put back.
        let range = lib.memory_base as usize..lib.memory_base as usize + lib.memory_size as usize;
        if exports.memory.data(&*store).get(range.clone()).is_none() {
            bail!("{}: its memory lies outside the snapshot's", lib.name);
        }
        let saved = module.writes_memory.then(|| exports.memory.data(&*store)[range.clone()].to_vec());
        let instance = Instance::new(&mut *store, &module.module, &imports)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("instantiating {} again", lib.name))?;
        if let Some(saved) = saved {
            exports.memory.data_mut(&mut *store)[range].copy_from_slice(&saved);
        }
        let relocated = relocate(store, &instance, lib.memory_base).map_err(link_error)?;
        let dl = &mut store.data_mut().em().dylink;
        if lib.global {
            for (k, v) in &relocated {
                if !super::link::is_internal(k) {
                    dl.global.entry(k.clone()).or_insert((v.clone(), index));
                }
            }
        }
        for h in &record.handles {
            dl.handles.insert(*h, index);
        }
        dl.loaded.push(Loaded { placement: lib.clone(), exports: relocated });
    }
    for s in slots {
        append(store, s)?;
    }
    Ok(())
}

/// Append the function `s` names to the table, where the snapshot had it.
fn append<T: EmscriptenView>(store: &mut StoreContextMut<'_, T>, s: &SlotRecord) -> Result<()> {
    let func = match s.library {
        None => lookup(store, &s.symbol).and_then(|(e, owner)| owner.is_none().then_some(e)),
        Some(i) => store.data_mut().em().dylink.loaded.get(i as usize).and_then(|l| l.exports.get(&s.symbol).cloned()),
    };
    let Some(Extern::Func(func)) = func else {
        bail!("table slot {}: function `{}` is gone", s.slot, s.symbol)
    };
    let table = store.data_mut().em().exports.as_ref().context("no main module")?.table;
    let at = table.grow(&mut *store, 1, Ref::Func(Some(func))).map_err(anyhow::Error::from)?;
    if at != s.slot as u64 {
        bail!("function `{}` landed in table slot {at}, the snapshot had it in {}", s.symbol, s.slot);
    }
    store.data_mut().em().dylink.appended.push(s.clone());
    Ok(())
}
