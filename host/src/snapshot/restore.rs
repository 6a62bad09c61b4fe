//! Restoring: build the snapshot's state module once (cached: it is data, so "compiling" it takes milliseconds),
//! then stamp out instances — each a state instance from an `InstancePre`, whose memory is a copy-on-write mapping
//! of the module's image (pooling allocator), with Pyodide's code linked to it.

use super::format::{Decode, FdState, SnapshotData};
use super::prefault::TouchedPages;
use crate::emscripten::dylink::Library;
use crate::emscripten::{Clock, EmContext};
use crate::interpreter::{Host, Interpreter, Outcome, Pyodide};
use crate::runtime::split::Segment;
use crate::vfs::{MemFs, NodeRef, OpenFile, Vfs};
use anyhow::{bail, Context, Result};
use std::sync::Arc;
use std::time::Instant;
use wasmtime::InstancePre;

/// Turns one snapshot into as many instances as needed.
pub struct Restorer {
    pyodide: Arc<Pyodide>,
    state: InstancePre<Host>,
    template: Vfs,
    data: SnapshotData,
    /// How long preparing this restorer took to load (or build) the state module.
    pub module_load: std::time::Duration,
    /// The pages its instances touch, faulted in ahead of the guest.
    touched: TouchedPages,
    /// The side modules the snapshot holds, compiled, in load order.
    libraries: Vec<Library>,
}

impl Restorer {
    /// Prepare to restore `data` over `pyodide`. `vfs` must already hold the read-only mounts (standard library,
    /// worker); the snapshot's in-memory files and fds are put into it here. The state module comes from the
    /// compiled cache, built on first use.
    pub fn new(pyodide: &Arc<Pyodide>, data: SnapshotData, mut vfs: Vfs) -> Result<Restorer> {
        let runtime = pyodide.runtime();
        if data.pyodide_sha256 != pyodide.sha256() {
            bail!(
                "snapshot was made with a different Pyodide (module sha256 {}), this pyworkers uses {}: make the snapshot again",
                data.pyodide_sha256,
                pyodide.sha256()
            );
        }
        // The runtime's own Python is part of the captured memory and of the mounted files: both must match.
        if data.pyworkers_version != crate::build_id() {
            bail!(
                "snapshot was made by pyworkers {}, this is pyworkers {}: make the snapshot again",
                data.pyworkers_version,
                crate::build_id()
            );
        }
        // Modules imported after restore load from the bytecode archive mounted now; the snapshot's memory already
        // holds code and paths from the one mounted while preparing.
        let bytecode = runtime.stdlib_bytecode_sha256().unwrap_or_default();
        if !data.stdlib_bytecode_sha256.is_empty() && data.stdlib_bytecode_sha256 != bytecode {
            bail!(
                "snapshot was made with a different standard-library bytecode archive (sha256 {}, this cache has {}): make the snapshot again",
                data.stdlib_bytecode_sha256,
                if bytecode.is_empty() { "none" } else { &bytecode }
            );
        }
        let start = Instant::now();
        // A snapshot read from a file is named by the file's checksum (verified once); one just captured by its
        // payload.
        let name = if data.file_sha256.is_empty() {
            format!("payload {}", data.payload_sha256())
        } else {
            format!("file {}", data.file_sha256)
        };
        let identity = format!("snapshot state module (split v2) of {name} over {}", data.pyodide_sha256);
        let state = runtime.load_compiled(pyodide.engine(), "the snapshot's state", &identity, || {
            let full;
            let data = if data.segments_elided {
                let origin = data
                    .origin
                    .as_ref()
                    .context("the snapshot's memory was not read")?;
                let bytes = std::fs::read(origin)
                    .with_context(|| format!("reading snapshot {}", origin.display()))?;
                full = SnapshotData::decode_with(&bytes, Decode::Full)
                    .with_context(|| format!("snapshot {}", origin.display()))?;
                if full.file_sha256 != data.file_sha256 {
                    bail!("snapshot {} changed while it was being read", origin.display());
                }
                &full
            } else {
                &data
            };
            let segments: Vec<Segment<'_>> = data
                .segments
                .iter()
                .map(|(offset, data)| Segment {
                    offset: *offset,
                    data,
                })
                .collect();
            pyodide
                .shape()?
                .state(data.memory_pages as u64, &segments, &data.globals)
        })?;
        let state = pyodide.state_pre(&state)?;
        let module_load = start.elapsed();
        for (path, limit, nodes) in &data.host.memfs {
            let fs = MemFs::from_nodes(nodes.clone(), *limit)
                .map_err(|_| anyhow::anyhow!("snapshot memfs {path} is malformed"))?;
            vfs.replace_memfs(path, fs).map_err(|_| {
                anyhow::anyhow!("snapshot has files for {path}, which is not a writable mount here")
            })?;
        }
        let libraries = compile_libraries(pyodide, &data.host.dylink, &vfs)?;
        restore_fds(&mut vfs, &data.host.fds)?;
        vfs.chdir(&data.host.cwd).map_err(|e| {
            anyhow::anyhow!("snapshot's directory {} is gone ({e:?})", data.host.cwd)
        })?;
        Ok(Restorer {
            pyodide: pyodide.clone(),
            state,
            template: vfs,
            data,
            module_load,
            touched: TouchedPages::default(),
            libraries,
        })
    }

    /// The snapshot being restored.
    pub fn data(&self) -> &SnapshotData {
        &self.data
    }

    /// The Pyodide this restores into.
    pub fn pyodide(&self) -> &Arc<Pyodide> {
        &self.pyodide
    }

    /// A new instance in exactly the captured state, with `vfs` customised by `setup` (e.g. standard streams).
    /// Its entropy is still the captured (deterministic) stream: call [`Restorer::restored`] before running code.
    pub fn instantiate(&self, setup: impl FnOnce(&mut EmContext)) -> Result<Interpreter> {
        let host = &self.data.host;
        let mut em = EmContext::new(self.template.fork());
        em.environ = host.environ.clone();
        em.program = host.program.clone();
        em.umask = host.umask;
        em.clock = Clock::live(host.monotonic_ns);
        em.entropy = crate::entropy::Entropy::from_state(&host.entropy);
        setup(&mut em);
        let mut interp = Interpreter::instantiate(&self.pyodide, &self.state, em)
            .context("instantiating the snapshot")?;
        if !self.touched.is_empty() {
            let memory = interp.memory()?;
            let store = interp.store_mut();
            self.touched.prefault(memory.data_ptr(&*store), memory.data_size(&*store));
        }
        if interp.trampoline_index() != host.trampoline_index {
            bail!(
                "call trampoline landed in table slot {}, the snapshot expects {}",
                interp.trampoline_index(),
                host.trampoline_index
            );
        }
        if !host.dylink.is_empty() {
            let mut store = wasmtime::AsContextMut::as_context_mut(interp.store_mut());
            crate::emscripten::dylink::replay(&mut store, &host.dylink, &self.libraries)
                .context("loading the snapshot's compiled extensions again")?;
        }
        interp.host().em.python_ready = true;
        Ok(interp)
    }

    /// Learn from `interp`, an instance of this snapshot about to be dropped, which pages of memory instances
    /// touch, so the next instances get them faulted in ahead ([`prefault`](super::prefault)).
    pub fn learn(&self, interp: &mut Interpreter) {
        let Ok(memory) = interp.memory() else { return };
        let store = interp.store_mut();
        self.touched.learn(memory.data_ptr(&*store), memory.data_size(&*store));
    }

    /// How many pages new instances get faulted in writable ahead.
    pub fn prefaulted_pages(&self) -> usize {
        self.touched.written()
    }

    /// Switch `interp` to live entropy and run the guest's `restored()` hook (reseeds `random`, etc.).
    pub fn restored(interp: &mut Interpreter) -> Result<()> {
        interp.host().em.entropy.reseed();
        match interp.call_function("_pyworkers.snapshot", "restored")? {
            Outcome::Completed => Ok(()),
            other => bail!("the snapshot's restored() hook failed ({other:?})"),
        }
    }
}

/// Compile each library the snapshot loaded, from the file at its path, refusing one whose content changed.
fn compile_libraries(
    pyodide: &Pyodide,
    record: &crate::emscripten::dylink::Record,
    vfs: &Vfs,
) -> Result<Vec<Library>> {
    record
        .libraries
        .iter()
        .map(|lib| {
            let bytes = vfs.read_file(&lib.placement.name).map_err(|e| {
                anyhow::anyhow!("the snapshot holds compiled extension {}, which is not here ({e:?})", lib.placement.name)
            })?;
            let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
            if sha != lib.placement.sha256 {
                bail!(
                    "compiled extension {} changed since the snapshot was made (sha256 {}, the snapshot has {}): make the snapshot again",
                    lib.placement.name,
                    sha,
                    lib.placement.sha256
                );
            }
            let prepared = crate::emscripten::dylink::segments::prepare(&bytes)
                .with_context(|| format!("compiled extension {}", lib.placement.name))?;
            let module = pyodide.runtime().load_side_module(pyodide.engine(), &lib.placement.name, &prepared.wasm)?;
            Ok(Library { module, writes_memory: !prepared.passive() })
        })
        .collect()
}

fn restore_fds(vfs: &mut Vfs, fds: &[FdState]) -> Result<()> {
    vfs.clear_fds();
    for f in fds {
        let node = if f.stdio >= 0 {
            NodeRef::Stdio(f.stdio as u8)
        } else {
            vfs.resolve(&f.path, true).map_err(|e| {
                anyhow::anyhow!("snapshot had {} open, which is gone ({e:?})", f.path)
            })?
        };
        let file = OpenFile {
            node,
            path: f.path.clone(),
            flags: f.flags,
            pos: f.pos,
            dir_entries: None,
        };
        vfs.set_fd(f.fd, file)
            .map_err(|e| anyhow::anyhow!("restoring fd {}: {e:?}", f.fd))?;
    }
    Ok(())
}
