//! Restoring: compile the pre-initialised module once (cached), then stamp out instances from an `InstancePre`.
//! Each instance's memory is a copy-on-write mapping of the module's image (pooling allocator), so an instance
//! costs an instantiation, not a heap copy.

use super::format::{FdState, SnapshotData};
use super::transform::{self, Baked, Segment};
use crate::emscripten::{self, Clock, EmContext};
use crate::interpreter::{Host, Interpreter, Outcome};
use crate::vfs::{MemFs, NodeRef, OpenFile, Vfs};
use anyhow::{bail, Context, Result};
use std::time::Instant;
use wasmtime::{Engine, InstancePre, Linker, Module, Store};

/// Turns one snapshot into as many instances as needed.
pub struct Restorer {
    pre: InstancePre<Host>,
    trampoline: Module,
    template: Vfs,
    data: SnapshotData,
    /// How long preparing this restorer took to load (or compile) the module.
    pub module_load: std::time::Duration,
}

impl Restorer {
    /// Prepare to restore `data`. `vfs` must already hold the read-only mounts (standard library, worker); the
    /// snapshot's in-memory files and fds are put into it here. The pre-initialised module comes from the compiled
    /// cache in `runtime`'s home, built on first use.
    pub fn new(
        engine: &Engine,
        runtime: &crate::runtime::Runtime,
        data: SnapshotData,
        mut vfs: Vfs,
    ) -> Result<Restorer> {
        if data.pyodide_sha256 != runtime.wasm_sha256() {
            bail!(
                "snapshot was made with a different Pyodide (module sha256 {}), this pyworkers uses {}: make the snapshot again",
                data.pyodide_sha256,
                runtime.wasm_sha256()
            );
        }
        // The runtime's own Python is part of the captured memory and of the mounted files: both must match.
        if data.pyworkers_version != env!("CARGO_PKG_VERSION") {
            bail!(
                "snapshot was made by pyworkers {}, this is pyworkers {}: make the snapshot again",
                data.pyworkers_version,
                env!("CARGO_PKG_VERSION")
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
        let identity = format!(
            "snapshot {} over {}",
            data.payload_sha256(),
            data.pyodide_sha256
        );
        let module = runtime.load_compiled(
            engine,
            "the snapshot's pre-initialised module",
            &identity,
            || {
                let base =
                    std::fs::read(runtime.wasm_path()).context("reading Pyodide's module")?;
                let segments: Vec<Segment<'_>> = data
                    .segments
                    .iter()
                    .map(|(o, d)| Segment {
                        offset: *o,
                        data: d,
                    })
                    .collect();
                transform::rewrite(
                    &base,
                    &Baked {
                        globals: &data.globals,
                        memory_pages: data.memory_pages as u64,
                        segments: &segments,
                    },
                )
            },
        )?;
        let module_load = start.elapsed();
        let mut linker = Linker::new(engine);
        emscripten::add_to_linker(&mut linker, &module)?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(anyhow::Error::from)
            .context("linking the snapshot")?;
        for (path, limit, nodes) in &data.host.memfs {
            let fs = MemFs::from_nodes(nodes.clone(), *limit)
                .map_err(|_| anyhow::anyhow!("snapshot memfs {path} is malformed"))?;
            vfs.replace_memfs(path, fs).map_err(|_| {
                anyhow::anyhow!("snapshot has files for {path}, which is not a writable mount here")
            })?;
        }
        restore_fds(&mut vfs, &data.host.fds)?;
        vfs.chdir(&data.host.cwd).map_err(|e| {
            anyhow::anyhow!(
                "snapshot's directory {} is gone (errno {})",
                data.host.cwd,
                e.0
            )
        })?;
        let trampoline = emscripten::trampoline::compile(engine)?;
        Ok(Restorer {
            pre,
            trampoline,
            template: vfs,
            data,
            module_load,
        })
    }

    /// The snapshot being restored.
    pub fn data(&self) -> &SnapshotData {
        &self.data
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
        let mut store = Store::new(self.pre.module().engine(), Host { em });
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(anyhow::Error::from)
            .context("instantiating the snapshot")?;
        let exports = emscripten::exports(&mut store, &instance)?;
        store.data_mut().em.exports = Some(exports);
        let index = emscripten::trampoline::install(&mut store, &self.trampoline, &instance)?;
        if index != host.trampoline_index {
            bail!(
                "call trampoline landed in table slot {index}, the snapshot expects {}",
                host.trampoline_index
            );
        }
        store.data_mut().em.python_ready = true;
        Ok(Interpreter::from_restored(store, instance, index))
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

fn restore_fds(vfs: &mut Vfs, fds: &[FdState]) -> Result<()> {
    vfs.clear_fds();
    for f in fds {
        let node = if f.stdio >= 0 {
            NodeRef::Stdio(f.stdio as u8)
        } else {
            vfs.resolve(&f.path, true).map_err(|e| {
                anyhow::anyhow!(
                    "snapshot had {} open, which is gone (errno {})",
                    f.path,
                    e.0
                )
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
            .map_err(|e| anyhow::anyhow!("restoring fd {}: errno {}", f.fd, e.0))?;
    }
    Ok(())
}
