//! The implementations the `entrypoint` suite drives: the reference workers on the real Pyodide through the host's
//! [`crate::entrypoint::Entrypoint`] (each instance restored from the worker's dedicated snapshot, made or found
//! in the cache as `serve` does), and a component through its exports.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;
use wasmtime::Store;

use super::{Answer, MessageBatch, Reference, Request, Response, ScheduledEvent, Worker, Workers, WORKER_VARIABLE};
use crate::conformance::component::{ComponentFile, State};
use crate::conformance::native::Python;
use crate::entrypoint::marshal::Value;
use crate::entrypoint::{Entrypoint, NativeEntrypoint, OutboundError, OutboundRequest, OutboundResponse};
use crate::snapshot::Restorer;

mod bindings {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({ path: "../wit", world: "entrypoint-provider" });
}

use bindings::exports::pyworkers::runtime::entrypoint as export;

/// The reference workers `echo` and `fetch-only` on Pyodide: a restorer for each one's dedicated snapshot.
#[derive(Clone)]
pub struct NativeWorkers {
    restorers: HashMap<&'static str, Arc<Restorer>>,
}

/// Make (or find in the cache) the dedicated snapshots of the reference workers the suite runs.
pub fn native(python: &Python) -> Result<NativeWorkers> {
    let mut restorers = HashMap::new();
    for reference in [Reference::Echo, Reference::FetchOnly] {
        let worker = python.worker(reference)?;
        let (restorer, _made) = crate::serve::worker::prepare::restorer(&python.pyodide, &worker)?;
        restorers.insert(reference.name(), Arc::new(restorer));
    }
    Ok(NativeWorkers { restorers })
}

impl Workers for NativeWorkers {
    /// An instance as `serve` makes one: restored, `restored()` run, configured (no vars, no bindings).
    fn start(&self, worker: Reference) -> Result<Box<dyn Worker>> {
        let restorer = self
            .restorers
            .get(worker.name())
            .ok_or_else(|| anyhow::anyhow!("the native entrypoint subject does not run {}", worker.name()))?;
        let mut interp = restorer.instantiate(|_| {})?;
        Restorer::restored(&mut interp)?;
        let entry = NativeEntrypoint::new(interp, &[], Value::Dict(Vec::new()), "[conformance]", None)?;
        Ok(Box::new(Native(entry)))
    }
}

struct Native(NativeEntrypoint);

/// The reference workers make no outbound calls; one that did gets this.
fn no_outbound(_: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
    Err(OutboundError { kind: "denied".into(), message: "the conformance suite allows no outbound calls".into() })
}

impl Worker for Native {
    fn handlers(&mut self) -> Result<Vec<String>> {
        self.0.handlers()
    }

    fn fetch(&mut self, request: Request) -> Answer<Response> {
        Entrypoint::fetch(&mut self.0, request, &mut no_outbound)
    }

    fn scheduled(&mut self, event: ScheduledEvent) -> Answer<()> {
        Entrypoint::scheduled(&mut self.0, event, &mut no_outbound)
    }

    fn queue(&mut self, batch: MessageBatch) -> Answer<()> {
        Entrypoint::queue(&mut self.0, batch, &mut no_outbound)
    }
}

/// Makes instances of `entrypoint-provider` components: one told which reference worker to be, or one per
/// reference worker.
#[derive(Clone)]
pub struct ComponentWorkers {
    /// `None`: the one component plays every reference worker; else the component of each, by name.
    files: Vec<(Option<String>, Arc<ComponentFile>, bindings::EntrypointProviderPre<State>)>,
}

/// Link `file` as an `entrypoint-provider`; fails if it does not export `entrypoint` with the WIT's types.
pub fn component(file: &Arc<ComponentFile>) -> Result<ComponentWorkers> {
    Ok(ComponentWorkers { files: vec![(None, file.clone(), link(file)?)] })
}

/// Link each file as the `entrypoint-provider` of the reference worker it is named after.
pub fn component_per_worker(files: &[(String, std::path::PathBuf)]) -> Result<ComponentWorkers> {
    let known = [Reference::Echo, Reference::FetchOnly, Reference::DrawsAtImport].map(Reference::name);
    let mut linked = Vec::new();
    for (name, path) in files {
        if !known.contains(&name.as_str()) {
            anyhow::bail!("`{name}` is not a reference worker (one of {})", known.join(", "));
        }
        let file = Arc::new(ComponentFile::load(path)?);
        let pre = link(&file)?;
        linked.push((Some(name.clone()), file, pre));
    }
    Ok(ComponentWorkers { files: linked })
}

fn link(file: &Arc<ComponentFile>) -> Result<bindings::EntrypointProviderPre<State>> {
    bindings::EntrypointProviderPre::new(file.pre()?).map_err(|e| file.not_a("entrypoint-provider", e))
}

impl Workers for ComponentWorkers {
    /// A fresh instance in a fresh store whose environment names `worker`.
    fn start(&self, worker: Reference) -> Result<Box<dyn Worker>> {
        let (_, file, pre) = self
            .files
            .iter()
            .find(|(name, ..)| name.as_deref().is_none_or(|n| n == worker.name()))
            .ok_or_else(|| anyhow::anyhow!("no component was given for the reference worker {}", worker.name()))?;
        let mut store = file.store_with_env(&[(WORKER_VARIABLE, worker.name())]);
        let instance = pre.instantiate(&mut store)?;
        Ok(Box::new(Instance { store, instance }))
    }
}

struct Instance {
    store: Store<State>,
    instance: bindings::EntrypointProvider,
}

fn error(e: export::HandlerError) -> super::HandlerError {
    match e {
        export::HandlerError::NotDefined(name) => super::HandlerError::NotDefined(name),
        export::HandlerError::Exception(text) => super::HandlerError::Exception(text),
    }
}

impl Worker for Instance {
    fn handlers(&mut self) -> Result<Vec<String>> {
        Ok(self.instance.pyworkers_runtime_entrypoint().call_handlers(&mut self.store)?)
    }

    fn fetch(&mut self, request: Request) -> Answer<Response> {
        let request = export::Request {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
        };
        let answer = self.instance.pyworkers_runtime_entrypoint().call_fetch(&mut self.store, &request)?;
        Ok(answer
            .map(|r| Response { status: r.status, headers: r.headers, body: r.body })
            .map_err(error))
    }

    fn scheduled(&mut self, event: ScheduledEvent) -> Answer<()> {
        let event = export::ScheduledEvent { cron: event.cron, scheduled_time: event.scheduled_time };
        Ok(self.instance.pyworkers_runtime_entrypoint().call_scheduled(&mut self.store, &event)?.map_err(error))
    }

    fn queue(&mut self, batch: MessageBatch) -> Answer<()> {
        let batch = export::MessageBatch {
            queue: batch.queue,
            messages: batch
                .messages
                .into_iter()
                .map(|m| export::Message { id: m.id, timestamp: m.timestamp, body: m.body, attempts: m.attempts })
                .collect(),
        };
        Ok(self.instance.pyworkers_runtime_entrypoint().call_queue(&mut self.store, &batch)?.map_err(error))
    }
}
