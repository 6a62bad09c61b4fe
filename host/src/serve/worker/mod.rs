//! Python workers behind the front end: the project resolved ([`project`]), its dedicated snapshot made or found in
//! the cache ([`prepare`]), and a pool of instances restored from it ([`pool`]) that answers requests, cron
//! triggers and (under `--test-scheduled`) `/__scheduled` and `/__queue`.

mod cron;
pub mod hostcall;
pub mod objects;
pub mod pool;
pub mod prepare;
pub mod project;

use super::outbound::{Outbound, OutboundLimits};
use super::{log, text_response, Handler, RequestContext, ServeOptions};
use crate::entrypoint::marshal::Value;
use crate::entrypoint::{Message, MessageBatch, Request, ScheduledEvent};
use crate::interpreter::Pyodide;
use crate::snapshot::Worker;
use anyhow::{Context, Result};
use bytes::Bytes;
use pool::{Answer, Job, Shared, Source, Work};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The Python worker at `options.path`, ready to serve: snapshot made (or found), instance threads started.
pub fn handler(options: &ServeOptions) -> Result<Arc<PythonWorkers>> {
    let start = Instant::now();
    let project = project::Project::resolve(&options.path)?;
    if !project.unsupported.is_empty() {
        log::line(&format!(
            "warning: {} has keys and bindings pyworkers does not support yet, ignored: {}",
            project.config.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
            project.unsupported.join(", ")
        ));
    }
    // Bindings first: an unreadable state file stops the server before any instance starts.
    let location = crate::serve::bindings::state::Location::from_flag(options.state.as_deref(), &project.dir);
    let bindings = Arc::new(
        crate::serve::bindings::Bindings::open(&project.bindings, &location).context("opening the bindings' state")?,
    );
    let runtime = crate::runtime::Runtime::ensure(&options.home)?
        .with_cache_cap(crate::runtime::usage::cap_from_env().map_err(anyhow::Error::msg)?);
    for warning in &project.bindings.warnings {
        log::line(&format!("warning: {warning}"));
    }
    let objects = objects::Objects::new(options.max_durable_objects, options.durable_object_idle);
    // The pool's instances, plus two for preparing a snapshot (at start and on --watch), plus the live objects.
    let mut slots = pool::instance_slots(options.instances) + 2;
    if bindings.durable.is_some() {
        slots += objects.slots();
    }
    let engine = crate::interpreter::engine(slots)?;
    let pyodide = Arc::new(Pyodide::load(&runtime, &engine)?);
    let packages = match project.bundle {
        Some(_) => None,
        None => crate::packages::install(&project.root(), &options.home).context("installing the worker's packages")?,
    };
    if let Some(p) = &packages {
        log::line(&format!(
            "packages: {} ({}; {} downloaded)",
            p.packages.iter().map(|p| format!("{} {}", p.name, p.version)).collect::<Vec<_>>().join(", "),
            if p.resolved { "resolved, pyworkers.lock written" } else { "from pyworkers.lock" },
            p.downloaded
        ));
    }
    let with_packages = move |w: Worker| match &packages {
        Some(p) => w.with_site_packages(p),
        None => w,
    };
    let worker = match &project.bundle {
        Some(bundle) => bundle.worker()?,
        None => with_packages(Worker::load(&project.source, &project.module)?),
    };
    let worker = worker.with_bytecode(&pyodide)?;
    let (restorer, made) = prepare::restorer(&pyodide, &worker).context("preparing the worker's snapshot")?;
    let memory = restorer.data().memory_pages as u64 * 65536;
    if options.max_memory < memory {
        anyhow::bail!(
            "--max-memory {} is less than the worker's snapshot already uses ({} MiB)",
            options.max_memory,
            memory >> 20
        );
    }
    log::line(&format!(
        "worker {} (module `{}`): snapshot {} in {:.0?}",
        project.name,
        project.module,
        if made { "made" } else { "found in the cache" },
        start.elapsed()
    ));
    let mut vars = project.vars.clone();
    for (k, v) in &options.vars {
        vars.retain(|(name, _)| name != k);
        vars.push((k.clone(), Value::str(v.clone())));
    }
    let shared = Arc::new(Shared {
        source: RwLock::new(Source { restorer: Arc::new(restorer), generation: 1 }),
        vars,
        max_memory: options.max_memory,
        max_requests: options.max_requests_per_instance,
        timeout: options.timeout,
        outbound: Outbound::new(options.allow_hosts.clone(), OutboundLimits::default()),
        runtime: tokio::runtime::Handle::current(),
        instances_made: Default::default(),
        bindings: bindings.clone(),
        objects,
    });
    let (jobs, queue) = crossbeam_channel::unbounded();
    pool::start(options.instances.max(1), shared.clone(), queue)?;
    start_epoch_ticker(engine);
    let workers = Arc::new(PythonWorkers {
        jobs,
        test_scheduled: options.test_scheduled,
        timeout: options.timeout,
        assets: bindings.assets.as_ref().map(|(_, a)| a.clone()),
    });
    if let Some(queues) = &bindings.queues {
        for consumer in &bindings.consumers {
            tokio::spawn(consume(queues.clone(), consumer.clone(), workers.clone()));
        }
    }
    for expr in &project.crons {
        cron::schedule(expr, workers.clone())?;
    }
    if options.watch && project.bundle.is_none() {
        watch(project, pyodide, shared, worker.sha256, with_packages)?;
    }
    Ok(workers)
}

/// A queue consumer: deliver a batch when `max_batch_size` messages are ready or the oldest has waited
/// `max_batch_timeout`, then settle it by how the handler ended (see [`crate::serve::bindings::queues`]).
async fn consume(
    queues: Arc<crate::serve::bindings::queues::Queues>,
    config: crate::serve::bindings::queues::ConsumerConfig,
    workers: Arc<PythonWorkers>,
) {
    let poll = std::time::Duration::from_millis(50);
    loop {
        tokio::time::sleep(poll).await;
        let due = match queues.ready(&config.queue) {
            Ok((0, _)) => false,
            Ok((count, oldest)) => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
                count >= config.max_batch_size as u64
                    || oldest.is_some_and(|t| now - t >= (config.max_batch_timeout * 1000.0) as i64)
            }
            Err(e) => {
                log::line(&format!("queue {}: cannot read its messages: {e:#}", config.queue));
                false
            }
        };
        if !due {
            continue;
        }
        let leased = match queues.lease(&config.queue, config.max_batch_size) {
            Ok(l) if !l.is_empty() => l,
            Ok(_) => continue,
            Err(e) => {
                log::line(&format!("queue {}: cannot lease messages: {e:#}", config.queue));
                continue;
            }
        };
        let batch = MessageBatch {
            queue: config.queue.clone(),
            messages: leased
                .iter()
                .map(|m| Message { id: m.id.to_string(), timestamp: m.timestamp, body: m.body.clone(), attempts: m.attempts })
                .collect(),
        };
        let answer = workers.submit(Work::Queue(batch), Instant::now() + workers.timeout).await;
        let succeeded = match answer.failed() {
            Some((_, line)) => {
                log::line(&format!("queue {}: batch of {} failed, retrying: {line}", config.queue, leased.len()));
                false
            }
            _ => true,
        };
        if let Err(e) = queues.settle(&config, &leased, succeeded) {
            log::line(&format!("queue {}: cannot settle a batch: {e:#}", config.queue));
        }
    }
}

/// Advance the engine's epoch every [`pool::EPOCH_TICK`]: what CPU deadlines count.
fn start_epoch_ticker(engine: wasmtime::Engine) {
    std::thread::Builder::new()
        .name("epoch".into())
        .spawn(move || loop {
            std::thread::sleep(pool::EPOCH_TICK);
            engine.increment_epoch();
        })
        .expect("starting the epoch thread");
}

/// `--watch`: when the worker's files change, make a new snapshot and switch new instances to it. Instances of
/// the old one finish what they hold and retire; no connection is dropped.
fn watch(
    project: project::Project,
    pyodide: Arc<Pyodide>,
    shared: Arc<Shared>,
    mut current: String,
    with_packages: impl Fn(Worker) -> Worker + Send + 'static,
) -> Result<()> {
    std::thread::Builder::new().name("watch".into()).spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let Ok(worker) = Worker::load(&project.source, &project.module).map(&with_packages) else { continue };
        if worker.sha256 == current {
            continue;
        }
        current = worker.sha256.clone();
        let start = Instant::now();
        match prepare::restorer(&pyodide, &worker) {
            Ok((restorer, _)) => {
                if let Ok(mut source) = shared.source.write() {
                    source.restorer = Arc::new(restorer);
                    source.generation += 1;
                }
                log::line(&format!("worker changed: new snapshot in {:.0?}; new instances use it", start.elapsed()));
            }
            Err(e) => log::line(&format!("worker changed but cannot be loaded, still serving the previous one: {e:#}")),
        }
    })?;
    Ok(())
}

/// The handler: requests become jobs for the pool.
pub struct PythonWorkers {
    jobs: crossbeam_channel::Sender<Job>,
    test_scheduled: bool,
    timeout: std::time::Duration,
    /// Static assets, answered before the worker as `run_worker_first` says.
    assets: Option<Arc<crate::serve::bindings::assets::Assets>>,
}

impl PythonWorkers {
    /// Run `work` in the pool; the answer, or why there is none.
    async fn submit(&self, work: Work, deadline: Instant) -> Answer {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if self.jobs.send(Job { work, deadline, reply: pool::Reply::Task(reply), chain: Vec::new() }).is_err() {
            return Answer::Failed(503, "the server is shutting down".into());
        }
        answer.await.unwrap_or_else(|_| Answer::Failed(500, "the worker's instance went away".into()))
    }

    /// A cron trigger firing now.
    pub async fn scheduled(&self, cron: &str) -> Answer {
        let scheduled_time = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let event = ScheduledEvent { cron: cron.to_string(), scheduled_time };
        self.submit(Work::Scheduled(event), Instant::now() + self.timeout).await
    }

    async fn test_route(&self, req: &http::Request<Bytes>, deadline: Instant) -> Option<http::Response<Bytes>> {
        let path = req.uri().path();
        if !self.test_scheduled || !(path == "/__scheduled" || path == "/__queue") {
            return None;
        }
        let query: Vec<(String, String)> = url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let answer = if path == "/__scheduled" {
            let cron = param("cron").unwrap_or_default();
            let event = ScheduledEvent {
                cron,
                scheduled_time: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
            };
            self.submit(Work::Scheduled(event), deadline).await
        } else {
            if req.method() != http::Method::POST {
                return Some(text_response(http::StatusCode::METHOD_NOT_ALLOWED, "POST a JSON list of messages to /__queue?queue=NAME"));
            }
            let Some(queue) = param("queue") else {
                return Some(text_response(http::StatusCode::BAD_REQUEST, "/__queue needs ?queue=NAME"));
            };
            let messages: Vec<serde_json::Value> = match serde_json::from_slice(req.body()) {
                Ok(serde_json::Value::Array(list)) => list,
                _ => return Some(text_response(http::StatusCode::BAD_REQUEST, "the body must be a JSON list of messages")),
            };
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
            let batch = MessageBatch {
                queue,
                messages: messages
                    .iter()
                    .enumerate()
                    .map(|(i, body)| Message {
                        id: format!("{now}-{i}"),
                        timestamp: now,
                        body: serde_json::to_vec(body).unwrap_or_default(),
                        attempts: 1,
                    })
                    .collect(),
            };
            self.submit(Work::Queue(batch), deadline).await
        };
        Some(match answer.failed() {
            None => text_response(
                http::StatusCode::OK,
                if path == "/__scheduled" { "Ran scheduled event" } else { "Ran queue handler" },
            ),
            Some((status, line)) => failed(status, &line),
        })
    }
}

fn failed(status: u16, line: &str) -> http::Response<Bytes> {
    text_response(http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR), line)
}

impl Handler for PythonWorkers {
    async fn handle(&self, req: http::Request<Bytes>) -> http::Response<Bytes> {
        let deadline = req
            .extensions()
            .get::<RequestContext>()
            .map(|c| c.deadline)
            .unwrap_or_else(|| Instant::now() + self.timeout);
        if let Some(response) = self.test_route(&req, deadline).await {
            return response;
        }
        if let Some(assets) = &self.assets {
            let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
            let navigate = header("sec-fetch-mode") == Some("navigate");
            let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let front = assets.front(req.method().as_str(), target, header("if-none-match"), navigate);
            if let crate::serve::bindings::assets::Front::Served(served) = front {
                let mut builder = http::Response::builder().status(served.status);
                for (k, v) in &served.headers {
                    builder = builder.header(k.as_str(), v.as_str());
                }
                return builder.body(served.body).unwrap_or_else(|e| failed(500, &format!("asset response: {e}")));
            }
        }
        let (parts, body) = req.into_parts();
        let headers = parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), super::outbound::decode_header_value(v.as_bytes())))
            .collect();
        let request = Request {
            method: parts.method.as_str().to_string(),
            url: parts.uri.to_string(),
            headers,
            body: body.to_vec(),
        };
        match self.submit(Work::Fetch(request), deadline).await {
            Answer::Response(r) => {
                let mut builder = http::Response::builder().status(r.status);
                for (k, v) in &r.headers {
                    builder = builder.header(k.as_str(), v.as_bytes());
                }
                builder.body(Bytes::from(r.body)).unwrap_or_else(|e| {
                    failed(500, &format!("the worker's response is not valid HTTP: {e}"))
                })
            }
            Answer::Done | Answer::Value(_) => failed(500, "the worker answered a request with no response"),
            other => {
                let (status, line) = other.failed().unwrap_or((500, String::new()));
                failed(status, &line)
            }
        }
    }
}
