//! The census worker of `top`: a thread inside the namespace looked at that runs the census (sockets
//! with tcp_info) every interval, reads conntrack, runs the doctor every `--doctor-every`, digests it
//! all into a [`Snap`] and sends it to the screen. Socket owners come from a second thread that walks
//! /proc on its own, slower cadence (the walk is the expensive part at scale), so a census never waits
//! for it. The screen never waits for either: it reads the channel without blocking. A new filter is
//! applied to the last census at once, without a new one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use sockdoc_core::aggregate::Tally;
use sockdoc_core::doctor::{self, Input, KernelState};
use sockdoc_core::filter::Filter;
use sockdoc_core::i18n::Lang;
use sockdoc_proc::{Netns, SocketOwners};

use super::model::{digest, Census, Snap};
use crate::census::Plan;
use crate::cli::Select;

/// What the screen tells the worker.
pub enum Cmd {
    /// A new filter (already checked), with its text.
    Filter(Filter, String),
    Interval(Duration),
    Pause(bool),
    /// Census now (after an action).
    Now,
}

/// What the worker sends.
pub enum Update {
    Snap(Box<Snap>),
    /// The census failed (one line); the worker tries again next interval.
    Failed(String),
}

/// How the worker runs.
pub struct Config {
    pub ns: Netns,
    /// Hands over the new namespace when following a recreated name (`--follow-netns`).
    pub watch: crate::scope::NsWatch,
    pub interval: Duration,
    pub owners_every: Duration,
    pub doctor_every: Duration,
    /// Ghost threshold; `None` = the kernel's keepalive window.
    pub idle_ms: Option<u64>,
    pub prefix4: u8,
    pub prefix6: u8,
    pub lang: Lang,
    pub filter: Filter,
    pub filter_text: String,
}

/// The worker's two channel ends. Dropping `cmds` stops it (after the census under way, if any).
pub struct Worker {
    pub cmds: Sender<Cmd>,
    pub updates: Receiver<Update>,
}

pub fn spawn(cfg: Config) -> std::io::Result<Worker> {
    let (cmd_tx, cmd_rx) = mpsc::channel();
    let (up_tx, up_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("top-census".into())
        .spawn(move || run(cfg, cmd_rx, up_tx))?;
    Ok(Worker {
        cmds: cmd_tx,
        updates: up_rx,
    })
}

/// The latest /proc walk, shared by the owners thread (writer) and the census thread (reader).
#[derive(Default)]
struct Owners {
    latest: Mutex<Option<Arc<SocketOwners>>>,
    /// When the latest walk finished.
    at: Mutex<Option<Instant>>,
    ready: Condvar,
    paused: AtomicBool,
}

/// Walk /proc for socket owners at most every `every`, and never more than a tenth of the time (a
/// walk of 1 s, at ~300k sockets, runs at most every 10 s): the census never waits for it, except
/// for the first walk. Ends when `stop` is dropped by the census thread.
fn walk_owners(shared: Arc<Owners>, every: Duration, stop: Receiver<()>) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut first = true;
    loop {
        if !shared.paused.load(Ordering::Relaxed) {
            let t = Instant::now();
            // The first walk may use every core (the first screen waits for it); later ones one.
            let walked = SocketOwners::walk("/proc", if first { threads } else { 1 });
            let cost = t.elapsed();
            first = false;
            if let Ok(o) = walked {
                *lock(&shared.latest) = Some(Arc::new(o));
            }
            *lock(&shared.at) = Some(Instant::now());
            shared.ready.notify_all();
            match stop.recv_timeout(every.max(cost * 10)) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
        } else {
            match stop.recv_timeout(Duration::from_millis(200)) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct State {
    cfg: Config,
    seq: u64,
    owners: Arc<Owners>,
    /// Dropped to stop the owners thread.
    _stop_owners: Sender<()>,
    /// The first half of the next kernel reading (counters compared across one doctor interval).
    reading: Option<doctor::kernel::Reading>,
    doctor_at: Option<Instant>,
    findings: Vec<doctor::Finding>,
    threshold_ms: Option<u64>,
    last: Option<Last>,
}

/// The last census, kept to apply a new filter without a new census.
struct Last {
    census: Arc<Census>,
    taken: Instant,
    took: Duration,
    owners_age: Option<Duration>,
    tcp: sockdoc_core::aggregate::StateCounts,
    udp: sockdoc_core::aggregate::StateCounts,
    conntrack: Option<(u64, u64)>,
    threshold_ms: u64,
    notes: Vec<String>,
}

fn run(cfg: Config, cmds: Receiver<Cmd>, out: Sender<Update>) {
    // Kernel counters, sysctls and conntrack are read by this thread: it lives in the namespace.
    if !cfg.ns.current {
        if let Err(e) = cfg.ns.enter() {
            let _ = out.send(Update::Failed(e.to_string()));
            return;
        }
    }
    let owners = Arc::new(Owners::default());
    let (stop_tx, stop_rx) = mpsc::channel();
    let shared = owners.clone();
    let every = cfg.owners_every;
    if let Err(e) = std::thread::Builder::new()
        .name("top-owners".into())
        .spawn(move || walk_owners(shared, every, stop_rx))
    {
        let _ = out.send(Update::Failed(format!(
            "cannot start the /proc walk thread: {e}"
        )));
        return;
    }
    let mut st = State {
        cfg,
        seq: 0,
        owners,
        _stop_owners: stop_tx,
        reading: Some(KernelState::start()),
        doctor_at: None,
        findings: Vec::new(),
        threshold_ms: None,
        last: None,
    };
    // The first screen shows owners: wait for the first walk (bounded).
    {
        let at = lock(&st.owners.at);
        let _ = st
            .owners
            .ready
            .wait_timeout_while(at, Duration::from_secs(60), |a| a.is_none());
    }
    let mut paused = false;
    let mut next = Instant::now();
    loop {
        if !paused && Instant::now() >= next {
            let started = Instant::now();
            let update = match st.census() {
                Ok(snap) => Update::Snap(Box::new(snap)),
                Err(e) => Update::Failed(e),
            };
            if out.send(update).is_err() {
                return;
            }
            // The next census starts one interval after this one started, or right away when the
            // census takes longer than the interval.
            next = started + st.cfg.interval;
        }
        let wait = if paused {
            Duration::from_secs(3600)
        } else {
            next.saturating_duration_since(Instant::now())
        };
        match cmds.recv_timeout(wait) {
            Ok(Cmd::Filter(f, text)) => {
                st.cfg.filter = f;
                st.cfg.filter_text = text;
                if let Some(snap) = st.redigest() {
                    if out.send(Update::Snap(Box::new(snap))).is_err() {
                        return;
                    }
                }
            }
            Ok(Cmd::Interval(d)) => {
                let last_start = next.checked_sub(st.cfg.interval).unwrap_or(next);
                st.cfg.interval = d;
                next = last_start + d;
            }
            Ok(Cmd::Pause(p)) => {
                paused = p;
                st.owners.paused.store(p, Ordering::Relaxed);
                if !p {
                    next = Instant::now();
                }
            }
            Ok(Cmd::Now) => next = Instant::now(),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

impl State {
    fn census(&mut self) -> Result<Snap, String> {
        let started = Instant::now();
        // Following a recreated name: this thread moves too (it reads the namespace's counters).
        if let Some(new) = self.cfg.watch.take_switch() {
            if !new.current {
                new.enter().map_err(|e| e.to_string())?;
            }
            self.cfg.ns = new;
            self.reading = Some(KernelState::start());
            self.doctor_at = None;
        }
        // Sockets with tcp_info; owners come from the owners thread's latest walk.
        let plan = Plan::new(&Select::default(), &[], false, true).map_err(|f| f.message)?;
        let (sockets, census) = plan
            .sockets(&self.cfg.ns, None)
            .map_err(|e| crate::error::Failure::census(e).message)?;
        let notes = census.notes;
        let owners = lock(&self.owners.latest).clone();
        let owners_at = *lock(&self.owners.at);
        let census = Arc::new(Census { sockets, owners });
        // The doctor (kernel counters over its interval, fd limits, sysctls) on its own cadence.
        if self
            .doctor_at
            .is_none_or(|t| t.elapsed() >= self.cfg.doctor_every)
        {
            let reading = self.reading.take().unwrap_or_else(KernelState::start);
            let kernel = reading.finish(Duration::ZERO);
            self.reading = Some(KernelState::start());
            let threshold = self
                .cfg
                .idle_ms
                .unwrap_or_else(|| kernel.sysctls.keepalive_window_ms());
            self.findings = doctor::diagnose(&Input {
                sockets: &census.sockets,
                owners: census.owners(),
                kernel: &kernel,
                idle_threshold_ms: Some(threshold),
                lang: self.cfg.lang,
            });
            self.threshold_ms = Some(threshold);
            self.doctor_at = Some(Instant::now());
        }
        let mut totals = Tally::new(&[]);
        for s in &census.sockets {
            totals.add_deferred(s);
        }
        self.seq += 1;
        self.last = Some(Last {
            census,
            taken: Instant::now(),
            took: started.elapsed(),
            owners_age: owners_at.map(|t| t.elapsed()),
            tcp: totals.tcp,
            udp: totals.udp,
            conntrack: sockdoc_proc::conntrack::read()
                .ok()
                .flatten()
                .map(|c| (c.count, c.max)),
            threshold_ms: self.threshold_ms.unwrap_or(u64::MAX),
            notes,
        });
        self.redigest()
            .ok_or_else(|| "no census to show".to_string())
    }

    /// The last census with the current filter.
    fn redigest(&self) -> Option<Snap> {
        let l = self.last.as_ref()?;
        let d = digest(
            &l.census,
            &self.cfg.filter,
            self.cfg.prefix4,
            self.cfg.prefix6,
            l.threshold_ms,
        );
        Some(Snap {
            seq: self.seq,
            taken: l.taken,
            census: l.census.clone(),
            took: l.took,
            owners_age: l.owners_age,
            tcp: l.tcp,
            udp: l.udp,
            conntrack: l.conntrack,
            filter_text: self.cfg.filter_text.clone(),
            selected: d.selected,
            groups: d.groups,
            ghosts: d.ghosts,
            threshold_ms: l.threshold_ms,
            findings: self.findings.clone(),
            notes: l.notes.clone(),
        })
    }
}
