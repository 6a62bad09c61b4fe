//! Durable Objects' instances: a thread and a long-lived instance of its own for each live object, the registry
//! that routes calls to them, and their eviction. The design — one call at a time, re-entrant call chains, idle
//! eviction, storage — is written down in [`crate::serve::bindings::durable`].
//!
//! The registry maps an object's key to its thread's channel. Every send happens under the registry's lock and
//! marks the object busy; an object's thread marks itself idle only under that lock and with its channel empty.
//! So an object seen idle under the lock has nothing queued anywhere, and removing it from the map (evicting it:
//! its thread sees the channel close and exits) can never lose a call or let two instances of one object run.

use super::pool::{self, Answer, Driver, Instance, Job, Reply, Shared, Work};
use crate::entrypoint::{Event, ObjectCall};
use crate::serve::bindings::durable::storage::Storage;
use crate::serve::bindings::durable::ObjectRef;
use crate::serve::log;
use crossbeam_channel::{Receiver, Sender};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The live Durable Objects of one server.
pub struct Objects {
    live: Mutex<HashMap<String, Live>>,
    max_live: usize,
    idle: Duration,
    serial: std::sync::atomic::AtomicU64,
}

/// A live object, as the registry knows it.
struct Live {
    tx: Sender<Job>,
    /// Tells this thread apart from an earlier or later one of the same object.
    serial: u64,
    /// The thread has nothing to do (set only under the lock, with its channel empty; cleared by every send).
    idle: bool,
    /// Since when it is idle.
    since: Instant,
}

impl Objects {
    /// At most `max_live` objects live at once; each evicted after `idle` with nothing to do.
    pub fn new(max_live: usize, idle: Duration) -> Objects {
        Objects { live: Mutex::new(HashMap::new()), max_live: max_live.max(1), idle, serial: 0.into() }
    }

    /// Instance slots the engine needs for the objects: every live one, plus evicted ones still being freed.
    pub fn slots(&self) -> u32 {
        self.max_live as u32 + 2
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Give `job` to `object`, starting the object if it is not live.
    fn send(&self, shared: &Arc<Shared>, object: ObjectRef, mut job: Job) {
        let mut live = self.lock();
        if let Some(l) = live.get_mut(&object.key) {
            match l.tx.send(job) {
                Ok(()) => {
                    l.idle = false;
                    return;
                }
                // Its thread is gone (it panicked): start it again.
                Err(crossbeam_channel::SendError(j)) => {
                    live.remove(&object.key);
                    job = j;
                }
            }
        }
        if live.len() >= self.max_live && !evict_one(&mut live) {
            drop(live);
            job.reply.send(Answer::Failed(
                429,
                format!("too many Durable Objects are busy at once (--max-durable-objects {})", self.max_live),
            ));
            return;
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let _ = tx.send(job);
        let serial = self.serial.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = object.key.clone();
        let name = format!("do-{}-{}", object.config.class_name, &object.id[..8]);
        let thread = ObjectThread {
            driver: Driver::new(shared.clone(), None),
            object,
            storage: None,
            rx: rx.clone(),
            queue: VecDeque::new(),
            serial,
            idle_since: None,
        };
        match std::thread::Builder::new().name(name).spawn(move || thread.run()) {
            Ok(_) => {
                live.insert(key, Live { tx, serial, idle: false, since: Instant::now() });
            }
            Err(e) => {
                drop(live);
                for job in rx.try_iter() {
                    job.reply.send(Answer::Failed(500, format!("cannot start a Durable Object's thread: {e}")));
                }
            }
        }
    }
}

/// Make room: evict the object idle longest. False when every live object is busy.
fn evict_one(live: &mut HashMap<String, Live>) -> bool {
    let victim = live.iter().filter(|(_, l)| l.idle && l.tx.is_empty()).min_by_key(|(_, l)| l.since).map(|(k, _)| k.clone());
    // Dropping its sender closes the thread's channel: it exits.
    victim.is_some_and(|k| live.remove(&k).is_some())
}

/// Route a call a worker made on a stub to its object; the answer goes to `reply`.
pub fn submit(shared: &Arc<Shared>, call: ObjectCall, reply: Reply, deadline: Instant) {
    let Some(durable) = shared.bindings.durable.as_ref() else {
        return reply.send(Answer::Failed(500, "no Durable Object namespace is bound".into()));
    };
    let object = match durable.resolve(&call.binding, call.id.as_deref(), call.name.as_deref()) {
        Ok(o) => o,
        Err(e) => return reply.send(Answer::Failed(400, format!("{e:#}"))),
    };
    shared.objects.send(shared, object, Job { work: Work::Call(call.target), deadline, reply, chain: call.chain });
}

/// The thread of one live object: its calls, one at a time (re-entrant ones excepted), on its own instance.
struct ObjectThread {
    driver: Driver,
    object: ObjectRef,
    /// Opened with the first instance, kept while the thread lives (a replaced instance reuses it).
    storage: Option<Arc<Storage>>,
    rx: Receiver<Job>,
    /// Calls received, not yet delivered.
    queue: VecDeque<Job>,
    serial: u64,
    /// Since when it has had nothing to do, and told the registry so.
    idle_since: Option<Instant>,
}

impl ObjectThread {
    fn run(mut self) {
        let objects = &self.driver.shared.clone().objects;
        let never = crossbeam_channel::never();
        let mut closed = false;
        loop {
            let mut wait = self.driver.wait_time();
            if let Some(first) = self.queue.iter().map(|j| j.deadline).min() {
                wait = wait.min(first.saturating_duration_since(Instant::now()));
            }
            if let Some(since) = self.idle_since {
                wait = wait.min((since + objects.idle).saturating_duration_since(Instant::now()));
            }
            let mut done = None;
            let rx = if closed { &never } else { &self.rx };
            crossbeam_channel::select! {
                recv(rx) -> job => match job {
                    Ok(job) => self.queue.push_back(job),
                    Err(_) => closed = true,
                },
                recv(self.driver.done()) -> d => done = d.ok(),
                default(wait) => {}
            }
            self.queue.extend(self.rx.try_iter());
            let mut inbox = Vec::new();
            self.driver.collect(done, &mut inbox);
            self.expire_queued();
            self.driver.expire(&mut inbox);
            // Step until nothing more can run: a call that answers at once frees the object for the next.
            loop {
                self.admit(&mut inbox);
                if inbox.is_empty() && !self.driver.timer_due() {
                    break;
                }
                self.idle_since = None;
                self.driver.step(std::mem::take(&mut inbox));
            }
            let busy = self.driver.pending() > 0 || !self.queue.is_empty() || self.driver.background > 0;
            if busy {
                continue;
            }
            if closed {
                return; // Evicted to make room for another object.
            }
            if self.driver.stale() {
                self.driver.discard(); // --watch: the next call gets an instance of the new worker.
            }
            match self.idle_since {
                None => {
                    let mut live = objects.lock();
                    if let Some(l) = live.get_mut(&self.object.key).filter(|l| l.serial == self.serial) {
                        if self.rx.is_empty() {
                            l.idle = true;
                            l.since = Instant::now();
                            self.idle_since = Some(l.since);
                        }
                    }
                }
                Some(since) if since.elapsed() >= objects.idle => {
                    let mut live = objects.lock();
                    let mine = live.get(&self.object.key).is_some_and(|l| l.serial == self.serial && l.idle);
                    if mine && self.rx.is_empty() {
                        live.remove(&self.object.key);
                        return; // Evicted: in-memory state goes with the instance, storage stays.
                    }
                    if !mine {
                        self.idle_since = None;
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// Deliver what may run now: the next call when none is running, and any re-entrant call (one whose chain
    /// holds this object, so the running call waits for it).
    fn admit(&mut self, inbox: &mut Vec<Event>) {
        loop {
            let next = if self.driver.pending() == 0 {
                (!self.queue.is_empty()).then_some(0)
            } else {
                self.queue.iter().position(|j| j.chain.contains(&self.object.key))
            };
            let Some(job) = next.and_then(|i| self.queue.remove(i)) else { return };
            if let Err(e) = self.ensure_instance() {
                log::line(&format!("Durable Object {}: cannot start its instance: {e:#}", self.object.key));
                job.reply.send(Answer::Failed(500, format!("cannot start the Durable Object: {e:#}")));
                continue;
            }
            inbox.push(self.driver.admit(job));
        }
    }

    /// Answer the calls that waited in the queue past their deadline.
    fn expire_queued(&mut self) {
        let now = Instant::now();
        if !self.queue.iter().any(|j| j.deadline <= now) {
            return;
        }
        let (late, keep): (VecDeque<Job>, VecDeque<Job>) = self.queue.drain(..).partition(|j| j.deadline <= now);
        self.queue = keep;
        for job in late {
            job.reply.send(Answer::Failed(503, "the Durable Object was busy until the call's deadline".into()));
        }
    }

    fn ensure_instance(&mut self) -> anyhow::Result<()> {
        if self.driver.instance.is_some() {
            return Ok(());
        }
        let storage = match &self.storage {
            Some(s) => s.clone(),
            None => {
                let durable = self.driver.shared.bindings.durable.as_ref().ok_or_else(|| anyhow::anyhow!("no namespaces"))?;
                let s = durable.storage(&self.object)?;
                self.storage = Some(s.clone());
                s
            }
        };
        let prefix = format!("[{} {}]", self.object.config.class_name, &self.object.id[..8]);
        let (entry, restorer, generation) =
            pool::make_as(&self.driver.shared, &prefix, Some((self.object.descriptor(), storage)))?;
        self.driver.set_instance(Instance { entry, restorer, generation, served: 0, prefix });
        Ok(())
    }
}
