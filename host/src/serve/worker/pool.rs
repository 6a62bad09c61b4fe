//! The instance pool: `--instances` threads, each driving one Python instance restored from the worker's snapshot.
//!
//! Wasm runs on these threads, never on the async runtime's: a step is CPU work and short. Each thread owns its
//! instance and runs it as a reactor ([`Entrypoint::step`]): it takes jobs from one queue that all threads share
//! (an idle thread picks up the next request), starts the outbound calls the worker makes on the async runtime (so
//! a request waiting on the network holds no core and the instance keeps taking requests meanwhile), and feeds back
//! their results. Deadlines: epoch interruption stops a step that runs too long (the instance is thrown away, its
//! requests answered 503); a request waiting too long is cancelled and answered 503. An instance that traps or
//! fails in any way is thrown away and the next one is restored fresh, so no request ever sees what it left behind.
//!
//! Instances are made and destroyed off the serving path by the [factory](Factory): threads at the lowest CPU
//! priority (`SCHED_IDLE`) restore the next instances ahead of need and drop retired ones. So
//! `--max-requests-per-instance 1` costs a serving thread only the hand-over of a ready instance, and the restore
//! never competes for a core with a request being served. On a machine too busy to give the factory time, a
//! serving thread that finds no ready instance makes one itself, at its own priority.

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
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Instances made so far (numbers them in the log).
    pub instances_made: AtomicU64,
    /// KV, D1 and assets bindings, shared by every instance.
    pub bindings: Arc<crate::serve::bindings::Bindings>,
}

/// How many live instances a pool of `count` serving threads can hold at once: one per serving thread, one ready
/// in each factory thread, and up to `count` retired ones not yet dropped (one more for a race on that bound).
/// The engine is sized for it.
pub fn instance_slots(count: usize) -> u32 {
    (count.max(1) * 3 + 1) as u32
}

/// Start `count` instance threads taking jobs from `jobs`, and `count` factory threads making their instances.
pub fn start(count: usize, shared: Arc<Shared>, jobs: Receiver<Job>) -> Result<()> {
    // A rendezvous channel: a factory holds the instance it made until a serving thread takes it, so there are
    // never more ready instances than factory threads.
    let (ready_tx, ready_rx) = crossbeam_channel::bounded(0);
    let (retired_tx, retired_rx) = crossbeam_channel::unbounded();
    for index in 0..count {
        let factory = Factory { shared: shared.clone(), ready: ready_tx.clone(), retired: retired_rx.clone() };
        std::thread::Builder::new().name(format!("factory-{index}")).spawn(move || factory.run())?;
    }
    for index in 0..count {
        let thread = Thread::new(shared.clone(), jobs.clone(), ready_rx.clone(), retired_tx.clone(), count);
        std::thread::Builder::new().name(format!("worker-{index}")).spawn(move || thread.run())?;
    }
    Ok(())
}

/// An instance restored and configured, not yet serving.
struct Made {
    entry: NativeEntrypoint,
    restorer: Arc<Restorer>,
    generation: u64,
    number: u64,
}

/// An instance a serving thread is done with, on its way to the factory to be dropped.
struct Retired {
    entry: NativeEntrypoint,
    restorer: Arc<Restorer>,
    served: u64,
}

/// Instances that served at most this many requests teach their snapshot which pages a fresh instance writes
/// (see `snapshot::prefault`); one that lived longer wrote what a fresh one would not.
const LEARN_FROM_SERVED: u64 = 16;

/// Makes instances ahead of need and drops retired ones, at the lowest CPU priority.
struct Factory {
    shared: Arc<Shared>,
    /// Ready instances (or why one could not be made) for the serving threads.
    ready: Sender<std::result::Result<Made, String>>,
    /// Instances the serving threads are done with.
    retired: Receiver<Retired>,
}

impl Factory {
    fn run(self) {
        lowest_cpu_priority();
        loop {
            let made = make(&self.shared).map_err(|e| format!("{e:#}"));
            let failed = made.is_err();
            let mut made = Some(made);
            // Drop retired instances while waiting for a serving thread to take this one.
            while let Some(item) = made.take() {
                let mut select = crossbeam_channel::Select::new();
                let send = select.send(&self.ready);
                let drop = select.recv(&self.retired);
                let operation = select.select();
                match operation.index() {
                    i if i == send => {
                        if operation.send(&self.ready, item).is_err() {
                            return; // The server is gone.
                        }
                    }
                    i if i == drop => {
                        if let Ok(mut retired) = operation.recv(&self.retired) {
                            if retired.served <= LEARN_FROM_SERVED {
                                retired.restorer.learn(retired.entry.interpreter());
                            }
                        }
                        made = Some(item);
                    }
                    _ => unreachable!("two operations were registered"),
                }
            }
            if failed {
                // Do not spin on a snapshot that cannot be restored; each failure still answers one request.
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// Restore and configure one instance from the current snapshot.
fn make(shared: &Shared) -> Result<Made> {
    let (restorer, generation) = {
        let source = shared.source.read().map_err(|_| anyhow::anyhow!("source lock poisoned"))?;
        (source.restorer.clone(), source.generation)
    };
    let number = shared.instances_made.fetch_add(1, Ordering::Relaxed) + 1;
    let prefix = format!("[instance {number}]");
    let max_memory = shared.max_memory;
    let device = HostcallDevice::new(
        shared.outbound.clone(),
        shared.runtime.clone(),
        shared.timeout,
        shared.bindings.clone(),
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
    let entry = NativeEntrypoint::new(interp, &shared.vars, shared.bindings.descriptors(), &prefix)?;
    Ok(Made { entry, restorer, generation, number })
}

/// Run the calling thread only when no other thread wants the CPU (Linux `SCHED_IDLE`; elsewhere, or if refused,
/// the lowest `nice`). A thread cannot take back a priority it gave up without privilege, which is why making
/// instances has threads of its own.
fn lowest_cpu_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0 {
            return;
        }
    }
    #[cfg(unix)]
    // SAFETY: plain syscall on the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

/// An event in an instance, waiting for its answer.
struct Pending {
    reply: tokio::sync::oneshot::Sender<Answer>,
    deadline: Instant,
}

/// A live instance.
struct Instance {
    entry: NativeEntrypoint,
    restorer: Arc<Restorer>,
    generation: u64,
    served: u64,
    number: u64,
}

struct Thread {
    shared: Arc<Shared>,
    jobs: Receiver<Job>,
    ready: Receiver<std::result::Result<Made, String>>,
    retired: Sender<Retired>,
    /// Most retired instances left waiting for the factory.
    backlog: usize,
    done_tx: Sender<(u64, std::result::Result<GuestOutboundResponse, GuestOutboundError>)>,
    done_rx: Receiver<(u64, std::result::Result<GuestOutboundResponse, GuestOutboundError>)>,
    instance: Option<Instance>,
    pending: HashMap<u64, Pending>,
    /// Outbound calls in flight (their results are ignored if the instance is gone).
    ops: HashSet<u64>,
    next_id: u64,
    next_timer: Option<Instant>,
    background: u32,
}

impl Thread {
    fn new(
        shared: Arc<Shared>,
        jobs: Receiver<Job>,
        ready: Receiver<std::result::Result<Made, String>>,
        retired: Sender<Retired>,
        backlog: usize,
    ) -> Thread {
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        Thread {
            shared,
            jobs,
            ready,
            retired,
            backlog,
            done_tx,
            done_rx,
            instance: None,
            pending: HashMap::new(),
            ops: HashSet::new(),
            next_id: 1,
            next_timer: None,
            background: 0,
        }
    }

    fn run(mut self) {
        let never = crossbeam_channel::never();
        loop {
            if self.instance.is_none() {
                // A ready instance if the factory has one; else make it here, at this thread's own priority,
                // rather than wait on a factory the scheduler may be starving.
                let made = match self.ready.try_recv() {
                    Ok(made) => made,
                    Err(_) => make(&self.shared).map_err(|e| format!("{e:#}")),
                };
                match made {
                    Ok(made) => self.adopt(made),
                    Err(e) => {
                        log::line(&format!("cannot restore an instance: {e}"));
                        // Answer one waiting job, so a broken snapshot shows up as 500s rather than hangs.
                        match self.jobs.recv_timeout(Duration::from_millis(200)) {
                            Ok(job) => {
                                let _ = job.reply.send(Answer::Failed(500, format!("cannot start the worker: {e}")));
                            }
                            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                            Err(_) => {}
                        }
                    }
                }
                continue;
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

    /// Take a ready instance from the factory, unless its snapshot was replaced meanwhile.
    fn adopt(&mut self, made: Made) {
        let current = self.shared.source.read().map(|s| s.generation).unwrap_or(0);
        if made.generation != current {
            return; // Dropped here: stale instances come once per --watch change.
        }
        self.instance = Some(Instance {
            entry: made.entry,
            restorer: made.restorer,
            generation: made.generation,
            served: 0,
            number: made.number,
        });
        self.next_timer = None;
        self.background = 0;
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
        if let Some(instance) = self.instance.take() {
            // Freeing an instance's memory is work too: the factory does it, unless it is so starved of CPU that
            // retired instances pile up (they hold pool slots), in which case this thread does.
            if self.retired.len() < self.backlog {
                let _ = self.retired.send(Retired {
                    entry: instance.entry,
                    restorer: instance.restorer,
                    served: instance.served,
                });
            }
        }
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
                            let prefix = format!("[instance {}]", instance_number(&self.instance));
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
            "[instance {}] discarded: {error:#}",
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
