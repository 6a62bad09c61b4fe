//! The implementations the `snapshot` suite drives: the host's own lifecycle on the real Pyodide
//! ([`snapshot::boot_for_prepare`], [`snapshot::prepare`], [`snapshot::capture`], [`Restorer`]) with a reference
//! worker mounted, and a component through its `snapshot` exports.

use std::sync::{Arc, Mutex};

use anyhow::Result;
use wasmtime::Store;

use super::{Answer, Captured, Kind, Snapshot, Snapshots};
use crate::conformance::component::{ComponentFile, State};
use crate::conformance::entrypoint::{Reference, WORKER_VARIABLE};
use crate::conformance::native::Python;
use crate::emscripten::EmContext;
use crate::interpreter::{Interpreter, Pyodide};
use crate::snapshot::{self, HashSeed, Restorer, Worker, WorkerInfo};
use crate::vfs::{Output, Vfs};

mod bindings {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({ path: "../wit", world: "snapshot-provider" });
}

use bindings::exports::pyworkers::runtime::snapshot as export;

/// The hash seed of every instance the suite prepares: pinned, so that instances prepared alike are alike and a
/// captured snapshot's state module is found in the cache on the next run.
const HASH_SEED: u32 = 0x5eed_c0de;

/// The host's snapshot lifecycle over Pyodide, with the reference workers' files.
#[derive(Clone)]
pub struct NativeSnapshots {
    pyodide: Arc<Pyodide>,
    workers: Vec<(Reference, Arc<Worker>)>,
}

/// The native subject over `python`.
pub fn native(python: &Python) -> Result<NativeSnapshots> {
    let workers = [Reference::Echo, Reference::DrawsAtImport]
        .into_iter()
        .map(|r| Ok((r, Arc::new(python.worker(r)?))))
        .collect::<Result<_>>()?;
    Ok(NativeSnapshots { pyodide: python.pyodide.clone(), workers })
}

/// The file system of an instance of `worker`: the standard library, and the worker at its snapshot mount.
fn worker_vfs(pyodide: &Pyodide, worker: &Worker) -> Result<Vfs> {
    let mut vfs = crate::stdlib::vfs(pyodide)?;
    worker.mount(&mut vfs, snapshot::WORKER_ROOT)?;
    Ok(vfs)
}

/// Standard error kept in memory: a refusal's `Err(string)` carries the traceback Python printed.
#[derive(Clone, Default)]
struct Stderr(Arc<Mutex<Vec<u8>>>);

impl Stderr {
    fn sink(&self) -> Output {
        let buffer = self.0.clone();
        Output::Sink(Box::new(move |bytes| buffer.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(bytes)))
    }

    fn take(&self) -> String {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Snapshots for NativeSnapshots {
    /// A fresh interpreter booted for preparing, as `pyworkers snapshot` and `serve` boot one.
    fn start(&self, reference: Reference) -> Result<Box<dyn Snapshot>> {
        let worker = self
            .workers
            .iter()
            .find(|(r, _)| *r == reference)
            .map(|(_, w)| w.clone())
            .ok_or_else(|| anyhow::anyhow!("the native snapshot subject does not run {}", reference.name()))?;
        let stderr = Stderr::default();
        let mut em = EmContext::new(worker_vfs(&self.pyodide, &worker)?);
        em.environ = crate::vfs::layout::environment();
        em.vfs.stderr = stderr.sink();
        let interp = snapshot::boot_for_prepare(&self.pyodide, em, HASH_SEED)?;
        Ok(Box::new(Native { pyodide: self.pyodide.clone(), worker, interp, kind: None, stderr }))
    }
}

struct Native {
    pyodide: Arc<Pyodide>,
    worker: Arc<Worker>,
    interp: Interpreter,
    /// What the last successful `prepare` prepared (a restored instance: what its snapshot holds).
    kind: Option<Kind>,
    stderr: Stderr,
}

impl Native {
    /// The host's functions report a guest that raised as an error, and a guest that trapped as one whose chain
    /// says it crashed: the first is the WIT's `Err(string)` (with what Python printed), the second a trap.
    fn answer(&self, result: Result<()>) -> Answer {
        match result {
            Ok(()) => Ok(Ok(())),
            Err(e) if format!("{e:#}").contains("Python crashed") => Err(e),
            Err(e) => Ok(Err(format!("{e:#}\n{}", self.stderr.take()))),
        }
    }
}

impl Snapshot for Native {
    fn prepare(&mut self, kind: Kind) -> Answer {
        let module = (kind == Kind::Dedicated).then_some(self.worker.module.as_str());
        let result = snapshot::prepare(&mut self.interp, kind, module, true);
        if result.is_ok() {
            self.kind = Some(kind);
        }
        self.answer(result)
    }

    fn restored(&mut self) -> Answer {
        let result = Restorer::restored(&mut self.interp);
        self.answer(result)
    }

    fn draw(&mut self) -> Result<Option<Vec<u8>>> {
        let module = self.worker.module.clone();
        let func = self
            .interp
            .lookup(&module, "draw")?
            .ok_or_else(|| anyhow::anyhow!("{module}.draw is not there: {}", self.stderr.take()))?;
        let bytes = self.interp.call_bytes(func, b"")?;
        bytes.map(Some).ok_or_else(|| anyhow::anyhow!("{module}.draw raised: {}", self.stderr.take()))
    }

    /// [`snapshot::capture`] and a [`Restorer`] over it, as `serve` makes one for a worker.
    fn capture(&mut self) -> Result<Option<Box<dyn Captured>>> {
        let kind = self.kind.ok_or_else(|| anyhow::anyhow!("the suite captured an instance it had not prepared"))?;
        let info = (kind == Kind::Dedicated).then(|| WorkerInfo {
            bundle_sha256: self.worker.sha256.clone(),
            module: self.worker.module.clone(),
            mount: snapshot::WORKER_ROOT.into(),
        });
        let mut data =
            snapshot::capture(&mut self.interp, kind, self.pyodide.sha256(), info, HashSeed::Pinned(HASH_SEED))?;
        data.stdlib_bytecode_sha256 = self.pyodide.runtime().stdlib_bytecode_sha256().unwrap_or_default();
        let restorer = Restorer::new(&self.pyodide, data, worker_vfs(&self.pyodide, &self.worker)?)?;
        Ok(Some(Box::new(NativeCaptured { restorer, pyodide: self.pyodide.clone(), worker: self.worker.clone(), kind })))
    }
}

struct NativeCaptured {
    restorer: Restorer,
    pyodide: Arc<Pyodide>,
    worker: Arc<Worker>,
    kind: Kind,
}

impl Captured for NativeCaptured {
    fn restore(&self) -> Result<Box<dyn Snapshot>> {
        let stderr = Stderr::default();
        let interp = self.restorer.instantiate(|em| em.vfs.stderr = stderr.sink())?;
        Ok(Box::new(Native {
            pyodide: self.pyodide.clone(),
            worker: self.worker.clone(),
            interp,
            kind: Some(self.kind),
            stderr,
        }))
    }
}

/// Makes instances of one `snapshot-provider` component, told which reference worker is theirs.
#[derive(Clone)]
pub struct ComponentSnapshots {
    file: Arc<ComponentFile>,
    pre: bindings::SnapshotProviderPre<State>,
}

/// Link `file` as a `snapshot-provider`; fails if it does not export `snapshot` with the WIT's types.
pub fn component(file: &Arc<ComponentFile>) -> Result<ComponentSnapshots> {
    let pre = bindings::SnapshotProviderPre::new(file.pre()?).map_err(|e| file.not_a("snapshot-provider", e))?;
    Ok(ComponentSnapshots { file: file.clone(), pre })
}

impl Snapshots for ComponentSnapshots {
    fn start(&self, worker: Reference) -> Result<Box<dyn Snapshot>> {
        let mut store = self.file.store_with_env(&[(WORKER_VARIABLE, worker.name())]);
        let instance = self.pre.instantiate(&mut store)?;
        Ok(Box::new(Instance { store, instance }))
    }
}

struct Instance {
    store: Store<State>,
    instance: bindings::SnapshotProvider,
}

impl Snapshot for Instance {
    fn prepare(&mut self, kind: Kind) -> Answer {
        let kind = match kind {
            Kind::Baseline => export::Kind::Baseline,
            Kind::Dedicated => export::Kind::Dedicated,
        };
        Ok(self.instance.pyworkers_runtime_snapshot().call_prepare(&mut self.store, kind)?)
    }

    fn restored(&mut self) -> Answer {
        Ok(self.instance.pyworkers_runtime_snapshot().call_restored(&mut self.store)?)
    }

    /// The WIT has no draw.
    fn draw(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    /// A component's memory is not reachable through its exports.
    fn capture(&mut self) -> Result<Option<Box<dyn Captured>>> {
        Ok(None)
    }
}
