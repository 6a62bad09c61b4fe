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
//! Driving one instance — steps, deadlines, outbound calls, Durable Object calls, traps — is the [`Driver`]'s work,
//! which the Durable Objects' own threads ([`super::objects`]) share; a pool thread adds the shared job queue and
//! the replacement of instances.
//!
//! Instances are made and destroyed off the serving path by the [factory](Factory): threads at the lowest CPU
//! priority (`SCHED_IDLE`) restore the next instances ahead of need and drop retired ones. So
//! `--max-requests-per-instance 1` costs a serving thread only the hand-over of a ready instance, and the restore
//! never competes for a core with a request being served. On a machine too busy to give the factory time, a
//! serving thread that finds no ready instance makes one itself, at its own priority.

use super::hostcall::HostcallDevice;
use crate::entrypoint::marshal::Value;
use crate::entrypoint::{
    CallError, CallResult, Entrypoint, Event, HandlerError, NativeEntrypoint, ObjectCall,
    OutboundError as GuestOutboundError, OutboundResponse as GuestOutboundResponse, Outgoing, Response,
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
    /// An HTTP request (to the worker, or to a Durable Object's `fetch`).
    Fetch(crate::entrypoint::Request),
    /// A cron trigger (or `/__scheduled`).
    Scheduled(crate::entrypoint::ScheduledEvent),
    /// A queue batch (`/__queue`).
    Queue(crate::entrypoint::MessageBatch),
    /// A call on a Durable Object: a method, or its `fetch`.
    Call(crate::entrypoint::CallTarget),
}

/// How a job ended.
pub enum Answer {
    /// The worker's response (to a fetch).
    Response(Response),
    /// A scheduled or queue handler finished.
    Done,
    /// A Durable Object method returned this (`marshal`, from the object's guest).
    Value(Vec<u8>),
    /// The handler raised: the exception's last traceback line (`Type: message`; the traceback went to the log).
    Raised(String),
    /// It failed: status and a one-line body for the client (the details went to the log).
    Failed(u16, String),
}

impl Answer {
    /// Whether the job failed (raised, or could not run).
    pub fn failed(&self) -> Option<(u16, String)> {
        match self {
            Answer::Raised(line) => Some((500, format!("the worker raised an exception: {line}"))),
            Answer::Failed(status, line) => Some((*status, line.clone())),
            _ => None,
        }
    }

    /// The answer as the guest that made a Durable Object call sees it.
    fn returned(self) -> std::result::Result<CallResult, CallError> {
        let error = |kind: &str, message: String| Err(CallError { kind: kind.into(), message });
        match self {
            Answer::Value(v) => Ok(CallResult::Value(v)),
            Answer::Response(r) => Ok(CallResult::Response(r)),
            Answer::Done => error("error", "the Durable Object answered a call with nothing".into()),
            Answer::Raised(line) => error("exception", line),
            Answer::Failed(503, line) => error("timeout", line),
            Answer::Failed(_, line) => error("error", line),
        }
    }
}

/// Where a job's answer goes.
pub enum Reply {
    /// To a task on the async runtime (an HTTP request, a cron trigger, a queue batch).
    Task(tokio::sync::oneshot::Sender<Answer>),
    /// To the instance thread that made a Durable Object call: the call's `op`, on that thread's channel.
    Op(Sender<(u64, Done)>, u64),
}

impl Reply {
    /// Deliver `answer` (nothing happens if nobody waits any more).
    pub fn send(self, answer: Answer) {
        match self {
            Reply::Task(tx) => {
                let _ = tx.send(answer);
            }
            Reply::Op(tx, op) => {
                let _ = tx.send((op, Done::Call(answer)));
            }
        }
    }
}

/// Something an instance started that finished elsewhere.
pub enum Done {
    /// An outbound HTTP request.
    Fetch(std::result::Result<GuestOutboundResponse, GuestOutboundError>),
    /// A Durable Object call.
    Call(Answer),
}

/// One unit of work for the pool (or for a Durable Object's thread).
pub struct Job {
    /// What to do.
    pub work: Work,
    /// When it must be answered.
    pub deadline: Instant,
    /// Where the answer goes.
    pub reply: Reply,
    /// The Durable Objects whose calls wait on this one (see `serve::bindings::durable`); empty for requests.
    pub chain: Vec<String>,
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
    /// The live Durable Objects.
    pub objects: super::objects::Objects,
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
pub(super) struct Retired {
    entry: NativeEntrypoint,
    restorer: Arc<Restorer>,
    served: u64,
}

/// Instances that served at most this many requests teach their snapshot which pages a fresh instance touches
/// (see `snapshot::prefault`); one that lived longer touched what a fresh one would not.
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
    let number = shared.instances_made.fetch_add(1, Ordering::Relaxed) + 1;
    make_as(shared, &format!("[instance {number}]"), None)
        .map(|(entry, restorer, generation)| Made { entry, restorer, generation, number })
}

/// Restore one instance from the current snapshot and configure it, as `object` when it is one (its descriptor
/// and storage); `prefix` marks its output in the log. Returns it, its snapshot and the snapshot's generation.
pub(super) fn make_as(
    shared: &Shared,
    prefix: &str,
    object: Option<(Value, Arc<crate::serve::bindings::durable::storage::Storage>)>,
) -> Result<(NativeEntrypoint, Arc<Restorer>, u64)> {
    let (restorer, generation) = {
        let source = shared.source.read().map_err(|_| anyhow::anyhow!("source lock poisoned"))?;
        (source.restorer.clone(), source.generation)
    };
    let max_memory = shared.max_memory;
    let (descriptor, storage) = match object {
        Some((d, s)) => (Some(d), Some(s)),
        None => (None, None),
    };
    let device = HostcallDevice::new(
        shared.outbound.clone(),
        shared.runtime.clone(),
        shared.timeout,
        shared.bindings.clone(),
        storage,
    );
    let mut interp = restorer.instantiate(|em| {
        em.heap_max = max_memory;
        let mut out = log::PrefixedLines::new(prefix.to_string());
        let mut err = log::PrefixedLines::new(prefix.to_string());
        em.vfs.stdout = Output::Sink(Box::new(move |b| out.write(b)));
        em.vfs.stderr = Output::Sink(Box::new(move |b| err.write(b)));
        if let Err(e) = em.vfs.mount_device(super::hostcall::DEVICE, Box::new(device)) {
            tracing::warn!("cannot mount {}: {e}", super::hostcall::DEVICE);
        }
    })?;
    Restorer::restored(&mut interp)?;
    let entry = NativeEntrypoint::new(interp, &shared.vars, shared.bindings.descriptors(), prefix, descriptor)?;
    Ok((entry, restorer, generation))
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
    reply: Reply,
    deadline: Instant,
}

/// A live instance.
pub(super) struct Instance {
    pub(super) entry: NativeEntrypoint,
    /// The snapshot it came from.
    pub(super) restorer: Arc<Restorer>,
    pub(super) generation: u64,
    pub(super) served: u64,
    /// Marks its lines in the log: `[instance 3]`, `[object Room:1a2b…]`.
    pub(super) prefix: String,
}

/// One instance and the events it is working on: what a pool thread and a Durable Object's thread both drive. It
/// delivers events in steps, answers what the worker answers, starts the outbound requests and Durable Object
/// calls the worker makes and feeds back their results, and throws the instance away when it traps.
pub(super) struct Driver {
    pub(super) shared: Arc<Shared>,
    done_tx: Sender<(u64, Done)>,
    done_rx: Receiver<(u64, Done)>,
    pub(super) instance: Option<Instance>,
    pending: HashMap<u64, Pending>,
    /// Outbound calls in flight (their results are ignored if the instance is gone).
    ops: HashSet<u64>,
    next_id: u64,
    next_timer: Option<Instant>,
    pub(super) background: u32,
    /// Where discarded instances go to be freed (the factory), and how many may wait there; `None`: freed here.
    retired: Option<(Sender<Retired>, usize)>,
}

impl Driver {
    pub(super) fn new(shared: Arc<Shared>, retired: Option<(Sender<Retired>, usize)>) -> Driver {
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        Driver {
            shared,
            retired,
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

    /// Results of what the instance started elsewhere arrive here.
    pub(super) fn done(&self) -> &Receiver<(u64, Done)> {
        &self.done_rx
    }

    /// How many events are waiting for their answer.
    pub(super) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether the instance's snapshot has been replaced (`--watch`).
    pub(super) fn stale(&self) -> bool {
        self.instance
            .as_ref()
            .is_some_and(|i| i.generation != self.shared.source.read().map(|s| s.generation).unwrap_or(0))
    }

    /// Whether the instance has timed work due.
    pub(super) fn timer_due(&self) -> bool {
        self.next_timer.is_some_and(|t| t <= Instant::now())
    }

    /// How long to wait for something to happen: until the next timer or deadline.
    pub(super) fn wait_time(&self) -> Duration {
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

    /// `done` (if any) and whatever else has finished, as events for the next step.
    pub(super) fn collect(&mut self, done: Option<(u64, Done)>, inbox: &mut Vec<Event>) {
        let mut take = |ops: &mut HashSet<u64>, (op, done): (u64, Done)| {
            if ops.remove(&op) {
                inbox.push(match done {
                    Done::Fetch(result) => Event::Completed { op, result },
                    Done::Call(answer) => Event::Returned { op, result: answer.returned() },
                });
            }
        };
        if let Some(d) = done {
            take(&mut self.ops, d);
        }
        while let Ok(d) = self.done_rx.try_recv() {
            take(&mut self.ops, d);
        }
    }

    /// Make `job` one of the instance's events.
    pub(super) fn admit(&mut self, job: Job) -> Event {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, Pending { reply: job.reply, deadline: job.deadline });
        match job.work {
            Work::Fetch(request) => Event::Fetch { id, request },
            Work::Scheduled(event) => Event::Scheduled { id, event },
            Work::Queue(batch) => Event::Queue { id, batch },
            Work::Call(target) => Event::Call { id, target, chain: job.chain },
        }
    }

    /// Answer and cancel events whose deadline passed while they waited.
    pub(super) fn expire(&mut self, inbox: &mut Vec<Event>) {
        let now = Instant::now();
        let late: Vec<u64> = self.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(id, _)| *id).collect();
        for id in late {
            if let Some(p) = self.pending.remove(&id) {
                p.reply.send(Answer::Failed(503, "the worker did not answer before its deadline".into()));
                inbox.push(Event::Cancel { id });
            }
        }
    }

    /// Throw the instance away, and forget what it had started.
    pub(super) fn discard(&mut self) {
        self.ops.clear();
        self.next_timer = None;
        self.background = 0;
        if let Some(instance) = self.instance.take() {
            // Freeing an instance's memory is work too: the factory does it, unless it is so starved of CPU that
            // retired instances pile up (they hold pool slots), in which case this thread does.
            if let Some((retired, backlog)) = &self.retired {
                if retired.len() < *backlog {
                    let _ = retired.send(Retired {
                        entry: instance.entry,
                        restorer: instance.restorer,
                        served: instance.served,
                    });
                }
            }
        }
    }

    /// Take over `instance` (nothing may be pending).
    pub(super) fn set_instance(&mut self, instance: Instance) {
        self.instance = Some(instance);
        self.next_timer = None;
        self.background = 0;
    }

    /// Deliver `inbox` to the instance and act on what it produced.
    pub(super) fn step(&mut self, inbox: Vec<Event>) {
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
                Outgoing::Return { id, value } => self.answer(id, Answer::Value(value)),
                Outgoing::Failed { id, error } => {
                    let answer = match &error {
                        HandlerError::NotDefined(name) => Answer::Failed(
                            500,
                            format!("the worker defines no handler for this event (looked for {name})"),
                        ),
                        HandlerError::Exception(traceback) => {
                            let prefix = self.instance.as_ref().map_or("[instance]", |i| i.prefix.as_str());
                            for l in traceback.lines() {
                                log::line(&format!("{prefix} {l}"));
                            }
                            let last = traceback.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("exception");
                            Answer::Raised(last.trim().to_string())
                        }
                    };
                    self.answer(id, answer);
                }
                Outgoing::Fetch { op, request } => self.start_fetch(op, request),
                Outgoing::Call { op, call } => self.start_call(op, call),
            }
        }
    }

    fn answer(&mut self, id: u64, answer: Answer) {
        if let Some(p) = self.pending.remove(&id) {
            if let Some(instance) = self.instance.as_mut() {
                instance.served += 1;
            }
            p.reply.send(answer);
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
                    timeout: request.timeout.map_or(timeout, |t| t.min(timeout)),
                    follow_redirects: request.follow_redirects,
                })
                .await;
            let _ = done.send((op, Done::Fetch(convert(result))));
        });
    }

    /// Route a Durable Object call to its object; the answer comes back on this driver's channel.
    fn start_call(&mut self, op: u64, call: ObjectCall) {
        self.ops.insert(op);
        let deadline = Instant::now() + self.shared.timeout;
        super::objects::submit(&self.shared, call, Reply::Op(self.done_tx.clone(), op), deadline);
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
        let prefix = self.instance.as_ref().map_or("[instance]", |i| i.prefix.as_str());
        log::line(&format!("{prefix} discarded: {error:#}"));
        for (_, p) in self.pending.drain() {
            p.reply.send(Answer::Failed(status, line.clone()));
        }
        // A pool thread takes the next instance, an object's thread makes a new one.
        self.discard();
    }
}

struct Thread {
    driver: Driver,
    jobs: Receiver<Job>,
    ready: Receiver<std::result::Result<Made, String>>,
}

impl Thread {
    fn new(
        shared: Arc<Shared>,
        jobs: Receiver<Job>,
        ready: Receiver<std::result::Result<Made, String>>,
        retired: Sender<Retired>,
        backlog: usize,
    ) -> Thread {
        // `backlog`: most retired instances left waiting for the factory.
        Thread { driver: Driver::new(shared, Some((retired, backlog))), jobs, ready }
    }

    fn run(mut self) {
        let never = crossbeam_channel::never();
        loop {
            if self.driver.instance.is_none() {
                // A ready instance if the factory has one; else make it here, at this thread's own priority,
                // rather than wait on a factory the scheduler may be starving.
                let made = match self.ready.try_recv() {
                    Ok(made) => made,
                    Err(_) => make(&self.driver.shared).map_err(|e| format!("{e:#}")),
                };
                match made {
                    Ok(made) => self.adopt(made),
                    Err(e) => {
                        log::line(&format!("cannot restore an instance: {e}"));
                        // Answer one waiting job, so a broken snapshot shows up as 500s rather than hangs.
                        match self.jobs.recv_timeout(Duration::from_millis(200)) {
                            Ok(job) => job.reply.send(Answer::Failed(500, format!("cannot start the worker: {e}"))),
                            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                            Err(_) => {}
                        }
                    }
                }
                continue;
            }
            let accepting = self.accepting();
            let jobs = if accepting { &self.jobs } else { &never };
            let wait = self.driver.wait_time();
            let mut inbox = Vec::new();
            let mut done = None;
            crossbeam_channel::select! {
                recv(jobs) -> job => match job {
                    Ok(job) => inbox.push(self.driver.admit(job)),
                    Err(_) if self.driver.pending() == 0 => return,
                    Err(_) => {}
                },
                recv(self.driver.done()) -> d => done = d.ok(),
                default(wait) => {}
            }
            // Take whatever else is already there, so one step handles it all.
            self.driver.collect(done, &mut inbox);
            while self.accepting() && inbox.len() < 64 {
                match self.jobs.try_recv() {
                    Ok(job) => inbox.push(self.driver.admit(job)),
                    Err(_) => break,
                }
            }
            self.driver.expire(&mut inbox);
            if inbox.is_empty() && !self.driver.timer_due() {
                self.retire_if_done();
                continue;
            }
            self.driver.step(inbox);
            self.retire_if_done();
        }
    }

    /// Whether the instance may take another job now.
    fn accepting(&self) -> bool {
        let Some(instance) = &self.driver.instance else { return false };
        let pending = self.driver.pending();
        let exhausted = self.driver.shared.max_requests.is_some_and(|max| instance.served + pending as u64 >= max);
        !self.driver.stale() && !exhausted && self.driver.background == 0 && pending < MAX_CONCURRENT
    }

    /// Take a ready instance from the factory, unless its snapshot was replaced meanwhile.
    fn adopt(&mut self, made: Made) {
        let current = self.driver.shared.source.read().map(|s| s.generation).unwrap_or(0);
        if made.generation != current {
            return; // Dropped here: stale instances come once per --watch change.
        }
        self.driver.set_instance(Instance {
            entry: made.entry,
            restorer: made.restorer,
            generation: made.generation,
            served: 0,
            prefix: format!("[instance {}]", made.number),
        });
    }

    /// Throw the instance away when it has done its share (or its snapshot was replaced) and nothing is pending.
    fn retire_if_done(&mut self) {
        let Some(instance) = &self.driver.instance else { return };
        if self.driver.pending() > 0 || self.driver.background > 0 {
            return;
        }
        let exhausted = self.driver.shared.max_requests.is_some_and(|max| instance.served >= max);
        if self.driver.stale() || exhausted {
            self.driver.discard();
        }
    }
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
