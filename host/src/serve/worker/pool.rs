//! The instance pool: `--instances` threads, each driving one Python instance restored from the worker's snapshot.
//!
//! Wasm runs on these threads, never on the async runtime's: a step is CPU work and short. Each thread owns its
//! instance and runs it as a reactor ([`Entrypoint::step`]): it takes jobs from one queue that all threads share
//! (an idle thread picks up the next request), starts the outbound calls the worker makes on the async runtime (so
//! a request waiting on the network holds no core and the instance keeps taking requests meanwhile), and feeds back
//! their results. Deadlines: epoch interruption stops a step that runs too long (the instance is thrown away, its
//! requests answered 503); a request waiting too long is cancelled and answered 503. An instance that traps or
//! fails in any way is thrown away and the next one is restored fresh, so no request ever sees what it left behind.
//! A new instance is restored *before* the next job arrives, so `--max-requests-per-instance 1` costs a restore
//! between requests, not during one.

use super::hostcall::HostcallDevice;
use crate::entrypoint::marshal::Value;
use crate::entrypoint::{
    Entrypoint, Event, HandlerError, NativeEntrypoint, OutboundError as GuestOutboundError,
    OutboundResponse as GuestOutboundResponse, Outgoing, Response,
};
use crate::serve::log;
use crate::serve::outbound::{self, Outbound};
use crate::snapshot::Restorer;
use crate::vfs::Output;
use anyhow::Result;
use crossbeam_channel::{Receiver, Sender};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How often the engine's epoch advances: the granularity of CPU deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Most events one instance works on at once.
const MAX_CONCURRENT: usize = 256;

/// What a job is.
pub enum Work {
    /// An HTTP request.
    Fetch(crate::entrypoint::Request),
    /// A cron trigger (or `/__scheduled`).
    Scheduled(crate::entrypoint::ScheduledEvent),
    /// A queue batch (`/__queue`).
    Queue(crate::entrypoint::MessageBatch),
}

/// How a job ended.
pub enum Answer {
    /// The worker's response (to a fetch).
    Response(Response),
    /// A scheduled or queue handler finished.
    Done,
    /// It failed: status and a one-line body for the client (the details went to the log).
    Failed(u16, String),
}

/// One unit of work for the pool.
pub struct Job {
    /// What to do.
    pub work: Work,
    /// When it must be answered.
    pub deadline: Instant,
    /// Where the answer goes.
    pub reply: tokio::sync::oneshot::Sender<Answer>,
}

/// The snapshot instances come from; replaced (with a new generation) when `--watch` sees a change.
pub struct Source {
    /// The restorer.
    pub restorer: Arc<Restorer>,
    /// Bumped on every replacement.
    pub generation: u64,
}

/// What every instance thread shares.
pub struct Shared {
    /// The current snapshot.
    pub source: RwLock<Source>,
    /// `env` of every instance.
    pub vars: Vec<(String, Value)>,
    /// `--max-memory`.
    pub max_memory: u64,
    /// `--max-requests-per-instance`.
    pub max_requests: Option<u64>,
    /// `--timeout`: the deadline outbound calls get by default.
    pub timeout: Duration,
    /// The outbound client.
    pub outbound: Outbound,
    /// The async runtime outbound calls run on.
    pub runtime: tokio::runtime::Handle,
    /// KV, D1 and assets bindings, shared by every instance.
    pub bindings: Arc<crate::serve::bindings::Bindings>,
}

/// Start `count` instance threads taking jobs from `jobs`.
pub fn start(count: usize, shared: Arc<Shared>, jobs: Receiver<Job>) -> Result<()> {
    for index in 0..count {
        let shared = shared.clone();
        let jobs = jobs.clone();
        std::thread::Builder::new()
            .name(format!("worker-{index}"))
            .spawn(move || Thread::new(index, shared, jobs).run())?;
    }
    Ok(())
}

/// An event in an instance, waiting for its answer.
struct Pending {
    reply: tokio::sync::oneshot::Sender<Answer>,
    deadline: Instant,
}

/// A live instance.
struct Instance {
    entry: NativeEntrypoint,
    generation: u64,
    served: u64,
    number: u64,
}

struct Thread {
    index: usize,
    shared: Arc<Shared>,
    jobs: Receiver<Job>,
    done_tx: Sender<(u64, std::result::Result<GuestOutboundResponse, GuestOutboundError>)>,
    done_rx: Receiver<(u64, std::result::Result<GuestOutboundResponse, GuestOutboundError>)>,
    instance: Option<Instance>,
    pending: HashMap<u64, Pending>,
    /// Outbound calls in flight (their results are ignored if the instance is gone).
    ops: HashSet<u64>,
    next_id: u64,
    next_timer: Option<Instant>,
    background: u32,
    instances_made: u64,
}

impl Thread {
    fn new(index: usize, shared: Arc<Shared>, jobs: Receiver<Job>) -> Thread {
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        Thread {
            index,
            shared,
            jobs,
            done_tx,
            done_rx,
            instance: None,
            pending: HashMap::new(),
            ops: HashSet::new(),
            next_id: 1,
            next_timer: None,
            background: 0,
            instances_made: 0,
        }
    }

    fn run(mut self) {
        let never = crossbeam_channel::never();
        loop {
            if self.instance.is_none() {
                if let Err(e) = self.restore() {
                    log::line(&format!("[worker {}] cannot restore an instance: {e:#}", self.index));
                    // Answer one waiting job rather than spin, so a broken snapshot shows up as 500s.
                    match self.jobs.recv_timeout(Duration::from_millis(200)) {
                        Ok(job) => {
                            let _ = job.reply.send(Answer::Failed(500, format!("cannot start the worker: {e:#}")));
                        }
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                        Err(_) => {}
                    }
                    continue;
                }
            }
            let accepting = self.accepting();
            let jobs = if accepting { &self.jobs } else { &never };
            let wait = self.wait_time();
            let mut inbox = Vec::new();
            crossbeam_channel::select! {
                recv(jobs) -> job => match job {
                    Ok(job) => inbox.push(self.admit(job)),
                    Err(_) if self.pending.is_empty() => return,
                    Err(_) => {}
                },
                recv(self.done_rx) -> done => if let Ok((op, result)) = done {
                    if self.ops.remove(&op) {
                        inbox.push(Event::Completed { op, result });
                    }
                },
                default(wait) => {}
            }
            // Take whatever else is already there, so one step handles it all.
            while let Ok((op, result)) = self.done_rx.try_recv() {
                if self.ops.remove(&op) {
                    inbox.push(Event::Completed { op, result });
                }
            }
            while self.accepting() && inbox.len() < 64 {
                match self.jobs.try_recv() {
                    Ok(job) => inbox.push(self.admit(job)),
                    Err(_) => break,
                }
            }
            self.expire(&mut inbox);
            let timer_due = self.next_timer.is_some_and(|t| t <= Instant::now());
            if inbox.is_empty() && !timer_due {
                self.retire_if_done();
                continue;
            }
            self.step(inbox);
            self.retire_if_done();
        }
    }

    /// Whether the instance may take another job now.
    fn accepting(&self) -> bool {
        let Some(instance) = &self.instance else { return false };
        let stale = instance.generation != self.shared.source.read().map(|s| s.generation).unwrap_or(0);
        let exhausted = self
            .shared
            .max_requests
            .is_some_and(|max| instance.served + self.pending.len() as u64 >= max);
        !stale && !exhausted && self.background == 0 && self.pending.len() < MAX_CONCURRENT
    }

    /// How long to wait for something to happen: until the next timer or deadline.
    fn wait_time(&self) -> Duration {
        let now = Instant::now();
        let mut until = self.next_timer;
        for p in self.pending.values() {
            until = Some(until.map_or(p.deadline, |u| u.min(p.deadline)));
        }
        match until {
            Some(t) => t.saturating_duration_since(now),
            None => Duration::from_secs(3600),
        }
    }

    fn admit(&mut self, job: Job) -> Event {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, Pending { reply: job.reply, deadline: job.deadline });
        match job.work {
            Work::Fetch(request) => Event::Fetch { id, request },
            Work::Scheduled(event) => Event::Scheduled { id, event },
            Work::Queue(batch) => Event::Queue { id, batch },
        }
    }

    /// Answer and cancel events whose deadline passed while they waited.
    fn expire(&mut self, inbox: &mut Vec<Event>) {
        let now = Instant::now();
        let late: Vec<u64> = self.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(id, _)| *id).collect();
        for id in late {
            if let Some(p) = self.pending.remove(&id) {
                let _ = p.reply.send(Answer::Failed(503, "the worker did not answer before its deadline".into()));
                inbox.push(Event::Cancel { id });
            }
        }
    }

    fn restore(&mut self) -> Result<()> {
        let (restorer, generation) = {
            let source = self.shared.source.read().map_err(|_| anyhow::anyhow!("source lock poisoned"))?;
            (source.restorer.clone(), source.generation)
        };
        self.instances_made += 1;
        let number = self.instances_made;
        let prefix = format!("[worker {}.{}]", self.index, number);
        let max_memory = self.shared.max_memory;
        let device = HostcallDevice::new(
            self.shared.outbound.clone(),
            self.shared.runtime.clone(),
            self.shared.timeout,
            self.shared.bindings.clone(),
        );
        let mut interp = restorer.instantiate(|em| {
            em.heap_max = max_memory;
            let mut out = log::PrefixedLines::new(prefix.clone());
            let mut err = log::PrefixedLines::new(prefix.clone());
            em.vfs.stdout = Output::Sink(Box::new(move |b| out.write(b)));
            em.vfs.stderr = Output::Sink(Box::new(move |b| err.write(b)));
            if let Err(e) = em.vfs.mount_device(super::hostcall::DEVICE, Box::new(device)) {
                tracing::warn!("cannot mount {}: {e}", super::hostcall::DEVICE);
            }
        })?;
        Restorer::restored(&mut interp)?;
        let entry = NativeEntrypoint::new(interp, &self.shared.vars, self.shared.bindings.descriptors(), &prefix)?;
        self.instance = Some(Instance { entry, generation, served: 0, number });
        self.next_timer = None;
        self.background = 0;
        Ok(())
    }

    /// Throw the instance away when it has done its share (or its snapshot was replaced) and nothing is pending.
    fn retire_if_done(&mut self) {
        let Some(instance) = &self.instance else { return };
        if !self.pending.is_empty() || self.background > 0 {
            return;
        }
        let stale = instance.generation != self.shared.source.read().map(|s| s.generation).unwrap_or(0);
        let exhausted = self.shared.max_requests.is_some_and(|max| instance.served >= max);
        if stale || exhausted {
            self.drop_instance();
        }
    }

    fn drop_instance(&mut self) {
        self.instance = None;
        self.ops.clear();
        self.next_timer = None;
        self.background = 0;
    }

    fn step(&mut self, inbox: Vec<Event>) {
        let Some(instance) = self.instance.as_mut() else { return };
        // CPU deadline: the earliest of the pending events' (a step for timers alone gets the request timeout).
        let now = Instant::now();
        let deadline = self
            .pending
            .values()
            .map(|p| p.deadline)
            .min()
            .unwrap_or(now + self.shared.timeout);
        let ticks = deadline.saturating_duration_since(now).as_nanos() / EPOCH_TICK.as_nanos() + 1;
        instance.entry.interpreter().set_deadline(ticks as u64);
        let result = instance.entry.step(inbox);
        instance.entry.interpreter().set_deadline(crate::interpreter::NO_DEADLINE);
        let outbox = match result {
            Ok(outbox) => outbox,
            Err(e) => return self.trapped(e),
        };
        self.next_timer = outbox.next_timer.map(|d| Instant::now() + d);
        self.background = outbox.background;
        for event in outbox.events {
            match event {
                Outgoing::Response { id, response } => self.answer(id, Answer::Response(response)),
                Outgoing::Done { id } => self.answer(id, Answer::Done),
                Outgoing::Failed { id, error } => {
                    let line = match &error {
                        HandlerError::NotDefined(name) => {
                            format!("the worker defines no handler for this event (looked for {name})")
                        }
                        HandlerError::Exception(traceback) => {
                            let prefix = format!("[worker {}.{}]", self.index, instance_number(&self.instance));
                            for l in traceback.lines() {
                                log::line(&format!("{prefix} {l}"));
                            }
                            let last = traceback.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("exception");
                            format!("the worker raised an exception: {}", last.trim())
                        }
                    };
                    self.answer(id, Answer::Failed(500, line));
                }
                Outgoing::Fetch { op, request } => self.start_fetch(op, request),
            }
        }
    }

    fn answer(&mut self, id: u64, answer: Answer) {
        if let Some(p) = self.pending.remove(&id) {
            if let Some(instance) = self.instance.as_mut() {
                instance.served += 1;
            }
            let _ = p.reply.send(answer);
        }
    }

    fn start_fetch(&mut self, op: u64, request: crate::entrypoint::OutboundRequest) {
        self.ops.insert(op);
        let outbound = self.shared.outbound.clone();
        let done = self.done_tx.clone();
        let timeout = self.shared.timeout;
        self.shared.runtime.spawn(async move {
            let result = outbound
                .fetch(outbound::OutboundRequest {
                    method: request.method,
                    url: request.url,
                    headers: request.headers,
                    body: request.body.into(),
                    timeout,
                })
                .await;
            let _ = done.send((op, convert(result)));
        });
    }

    /// The instance trapped (deadline, crash, exit) or its runtime failed: throw it away, answer what it held.
    fn trapped(&mut self, error: anyhow::Error) {
        let deadline = error
            .chain()
            .any(|e| e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt));
        let (status, line) = if deadline {
            (503, "the worker exceeded its deadline (--timeout); its instance was discarded".to_string())
        } else {
            (500, "the worker's instance crashed and was discarded".to_string())
        };
        log::line(&format!(
            "[worker {}.{}] instance discarded: {error:#}",
            self.index,
            instance_number(&self.instance)
        ));
        for (_, p) in self.pending.drain() {
            let _ = p.reply.send(Answer::Failed(status, line.clone()));
        }
        self.drop_instance();
    }
}

fn instance_number(instance: &Option<Instance>) -> u64 {
    instance.as_ref().map_or(0, |i| i.number)
}

/// The server's outbound result as the guest sees it.
pub fn convert(
    result: std::result::Result<outbound::OutboundResponse, outbound::OutboundError>,
) -> std::result::Result<GuestOutboundResponse, GuestOutboundError> {
    match result {
        Ok(r) => Ok(GuestOutboundResponse { status: r.status, headers: r.headers, body: r.body.to_vec(), url: r.url }),
        Err(e) => Err(GuestOutboundError {
            kind: match e.kind {
                outbound::OutboundErrorKind::Denied => "denied",
                outbound::OutboundErrorKind::Timeout => "timeout",
                outbound::OutboundErrorKind::TooLarge => "too-large",
                _ => "error",
            }
            .into(),
            message: e.message,
        }),
    }
}
