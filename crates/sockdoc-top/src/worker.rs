//! The census worker of `top`: a thread inside the namespace looked at that runs the census every
//! interval, reads conntrack, runs the doctor every `--doctor-every`, digests it all into a
//! [`Snap`] and sends it to the screen. It asks only for what the screen shows: tcp_info (idle
//! times) when a socket table is on screen or the doctor is due (the ghost count in the tab bar
//! refreshes with the findings); the group table on screen and no other; the units and containers
//! of the sockets' cgroups (the session's service cache: no /proc walk) only while the Service
//! table is on screen. Socket owners come
//! from a second thread that walks /proc on its own, slower cadence (the walk is the expensive part
//! at scale), so a census never waits for it. The screen never waits for either: it reads the
//! channel without blocking. A new filter or table is applied to the last census at once.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rustc_hash::FxHashSet;
use sockdoc_core::aggregate::{StateCounts, Tally};
use sockdoc_core::collect::{Census, CensusSpec, DumpResult};
use sockdoc_core::doctor::ghosts::is_suspect;
use sockdoc_core::doctor::{self, Input, KernelState};
use sockdoc_core::filter::Filter;
use sockdoc_core::i18n::Lang;
use sockdoc_core::session::{scope, Needs, Plan, Refresh, Scope, Session};
use sockdoc_diag::{Family, Proto, Socket, State};
use sockdoc_proc::sockstat::SockStat;
use sockdoc_proc::Netns;
use sockdoc_runtime::watch::NsWatch;

use crate::model::{digest, Capture, Lens, Shown, Snap, Tab};

/// While no owners are on screen (or only listeners', on the port table), they are read again only
/// when older than this many times `--owners-every` (the /proc walk is a quarter of top's CPU at
/// 300k sockets).
pub const HIDDEN_OWNERS: u32 = 8;

/// What the screen tells the worker.
pub enum Cmd {
    /// A new filter (already checked), with its text.
    Filter(Filter, String),
    Interval(Duration),
    Pause(bool),
    /// Census now (after an action).
    Now,
    /// The screen now shows this.
    Show(Shown),
}

/// What the worker sends.
pub enum Update {
    Snap(Box<Snap>),
    /// The census failed (one line); the worker tries again next interval.
    Failed(String),
}

/// How the worker runs.
pub struct WorkerSetup {
    pub ns: Netns,
    /// Hands over the new namespace when following a recreated name (`--follow-netns`).
    pub watch: NsWatch,
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

pub fn spawn(cfg: WorkerSetup) -> std::io::Result<Worker> {
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The census thread's state.
struct Job {
    cfg: WorkerSetup,
    seq: u64,
    /// The census session: the namespace, the plan, owners read in the background.
    session: Session,
    /// The first half of the next kernel reading (counters compared across one doctor interval).
    reading: Option<doctor::kernel::Reading>,
    doctor_at: Option<Instant>,
    findings: Vec<doctor::Finding>,
    threshold_ms: Option<u64>,
    /// What the screen shows.
    shown: Shown,
    /// Ghost suspects (cookies) of the last census with tcp_info.
    suspects: FxHashSet<u64>,
    last: Option<Last>,
    /// The census before `last`, its buffer to be reused.
    spare: Option<Arc<Capture>>,
    /// The screen is paused.
    paused: bool,
    /// The latest census, for the owners thread: a walk again reads only the processes whose
    /// sockets may have changed since.
    published: Arc<Mutex<Option<Arc<Capture>>>>,
}
/// The last census, kept to apply a new filter without a new census.
struct Last {
    census: Arc<Capture>,
    taken: Instant,
    took: Duration,
    owners_age: Option<Duration>,
    tcp: StateCounts,
    udp: StateCounts,
    conntrack: Option<(u64, u64)>,
    threshold_ms: u64,
    notes: Vec<String>,
}

fn run(cfg: WorkerSetup, cmds: Receiver<Cmd>, out: Sender<Update>) {
    // Kernel counters, sysctls and conntrack are read by this thread: it lives in the namespace.
    if let Err(e) = scope::enter(&cfg.ns) {
        let _ = out.send(Update::Failed(e.to_string()));
        return;
    }
    // Owners on a thread of their own, at their own cadence; the census never waits for them.
    let plan = Plan::everything(Needs {
        owners: true,
        tcp_info: false,
        cgroups: false,
    });
    let session = match Session::new(
        Scope::one(cfg.ns.clone()),
        plan,
        Refresh::Background(cfg.owners_every),
    ) {
        Ok(s) => s,
        Err(e) => {
            let _ = out.send(Update::Failed(format!(
                "cannot start the /proc walk thread: {e}"
            )));
            return;
        }
    };
    let mut job = Job {
        cfg,
        seq: 0,
        session,
        reading: Some(KernelState::start()),
        doctor_at: None,
        findings: Vec::new(),
        threshold_ms: None,
        shown: Shown {
            tab: Tab::Remote,
            drilled: false,
        },
        suspects: FxHashSet::default(),
        last: None,
        spare: None,
        paused: false,
        published: Arc::new(Mutex::new(None)),
    };
    let published = job.published.clone();
    job.session.owner_cache().census_inodes(Box::new(move || {
        let latest = lock(&published).clone();
        latest.map_or_else(Vec::new, |c| {
            c.sockets
                .iter()
                .map(|s| s.inode)
                .filter(|&i| i != 0)
                .collect()
        })
    }));
    // The first screen shows owners: wait for the first walk (bounded).
    let _ = job
        .session
        .owner_cache()
        .wait_first(Duration::from_secs(60));
    let mut clock = Clock {
        paused: false,
        next: Instant::now(),
    };
    loop {
        if !clock.paused && Instant::now() >= clock.next {
            let started = Instant::now();
            let update = match job.census() {
                Ok(snap) => Update::Snap(Box::new(snap)),
                Err(e) => Update::Failed(e),
            };
            if out.send(update).is_err() {
                return;
            }
            // The next census starts one interval after this one started, or right away when the
            // census takes longer than the interval.
            clock.next = started + job.cfg.interval;
        }
        let wait = if clock.paused {
            Duration::from_secs(3600)
        } else {
            clock.next.saturating_duration_since(Instant::now())
        };
        let cmd = match cmds.recv_timeout(wait) {
            Ok(c) => c,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if let Some(snap) = job.on_cmd(cmd, &mut clock) {
            if out.send(Update::Snap(Box::new(snap))).is_err() {
                return;
            }
        }
    }
}

/// When the next census is due.
struct Clock {
    paused: bool,
    next: Instant,
}

impl Job {
    /// Carry out a command of the screen; returns a snapshot to send when it changes what is shown.
    fn on_cmd(&mut self, cmd: Cmd, clock: &mut Clock) -> Option<Snap> {
        match cmd {
            Cmd::Filter(f, text) => {
                self.cfg.filter = f;
                self.cfg.filter_text = text;
                self.sync_owners();
                // A filter on services: name the last census's cgroups now.
                if self.names_services() {
                    if let Some(l) = &self.last {
                        if l.census.services.get().is_none() {
                            self.name_services(&l.census);
                        }
                    }
                }
                // A filter on idle times needs them in the census.
                if self.cfg.filter.needs_tcp_info() && !self.last_has_info() {
                    clock.next = Instant::now();
                    return None;
                }
                self.redigest()
            }
            Cmd::Interval(d) => {
                let last_start = clock
                    .next
                    .checked_sub(self.cfg.interval)
                    .unwrap_or(clock.next);
                self.cfg.interval = d;
                clock.next = last_start + d;
                None
            }
            Cmd::Pause(p) => {
                clock.paused = p;
                self.paused = p;
                self.sync_owners();
                if !p {
                    clock.next = Instant::now();
                }
                None
            }
            Cmd::Now => {
                clock.next = Instant::now();
                None
            }
            Cmd::Show(shown) => {
                if shown == self.shown {
                    return None;
                }
                self.shown = shown;
                self.sync_owners();
                // Services appear on screen: name the last census's cgroups now (paused or not:
                // no census needed, the ids came with its sockets).
                if self.names_services() {
                    if let Some(l) = &self.last {
                        if l.census.services.get().is_none() {
                            self.name_services(&l.census);
                            return self.redigest();
                        }
                    }
                }
                // Idle times appear on screen: a census with them now (unless paused: the last
                // census stays as it is, with what it has). A group table not built yet the
                // screen builds itself from the last census.
                if shown.needs_tcp_info() && !self.last_has_info() && !clock.paused {
                    clock.next = Instant::now();
                }
                None
            }
        }
    }

    /// Owners are read while the screen shows them (services, processes, a socket table's
    /// process column) or the filter names processes; otherwise only when the last read is older
    /// than [`HIDDEN_OWNERS`] times `--owners-every` (the findings name processes too). Paused
    /// with the screen.
    fn sync_owners(&self) {
        let wanted = self.shown.shows_owners() || self.cfg.filter.needs_processes();
        let cache = self.session.owner_cache();
        let stale = cache
            .latest()
            .is_none_or(|f| f.at.elapsed() >= self.cfg.owners_every * HIDDEN_OWNERS);
        cache.pause(self.paused || !(wanted || stale));
    }

    fn last_has_info(&self) -> bool {
        self.last.as_ref().is_some_and(|l| l.census.tcp_info)
    }

    fn census(&mut self) -> Result<Snap, String> {
        let started = Instant::now();
        // Following a recreated name: this thread moves too (it reads the namespace's counters).
        if let Some(new) = self.cfg.watch.take_switch() {
            scope::enter(&new).map_err(|e| e.to_string())?;
            self.session.switch(new.clone());
            self.cfg.ns = new;
            self.reading = Some(KernelState::start());
            self.doctor_at = None;
        }
        let doctor_due = self
            .doctor_at
            .is_none_or(|t| t.elapsed() >= self.cfg.doctor_every);
        let tcp_info =
            doctor_due || self.shown.needs_tcp_info() || self.cfg.filter.needs_tcp_info();
        // The buffer of the census before last, when the screen is done with it: its pages are
        // mapped already (faulting in and zeroing 300k records anew is a twentieth of a census).
        let reuse = self
            .spare
            .take()
            .and_then(|c| Arc::try_unwrap(c).ok())
            .map(|c| c.sockets);
        let (sockets, notes) = capture(&self.session, &self.cfg.ns, tcp_info, reuse)?;
        // Owners come from the owners thread's latest walk.
        let fresh = self.session.owner_cache().latest();
        let owners_at = fresh.as_ref().map(|f| f.at);
        let owners = fresh.map(|f| f.map);
        let census = Arc::new(Capture {
            sockets,
            owners,
            tcp_info,
            services: OnceLock::new(),
        });
        if self.names_services() {
            self.name_services(&census);
        }
        *lock(&self.published) = Some(census.clone());
        if doctor_due {
            self.doctor(&census);
        }
        let threshold_ms = self.threshold_ms.unwrap_or(u64::MAX);
        if tcp_info {
            self.suspects = census
                .sockets
                .iter()
                .filter(|s| is_suspect(s, threshold_ms))
                .map(|s| s.cookie)
                .collect();
        }
        let mut totals = Tally::new(&[]);
        for s in &census.sockets {
            totals.add_deferred(s);
        }
        self.sync_owners();
        self.seq += 1;
        self.spare = self.last.take().map(|l| l.census);
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
            threshold_ms,
            notes,
        });
        self.redigest()
            .ok_or_else(|| "no census to show".to_string())
    }

    /// Whether censuses name their cgroups: the Service table is on screen, or the filter names
    /// services (`unit`, `container`, `pod`).
    fn names_services(&self) -> bool {
        self.shown.needs_services() || self.cfg.filter.needs_services()
    }

    /// Name the cgroups of a census's sockets (the session's cache walks the cgroup2 tree again
    /// only for an id it has not seen).
    fn name_services(&self, census: &Capture) {
        let services = self
            .session
            .services(census.sockets.iter().map(|s| s.cgroup_id));
        let _ = census.services.set(services);
    }

    /// The doctor (kernel counters over its interval, fd limits, sysctls), on its own cadence.
    fn doctor(&mut self, census: &Capture) {
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
            services: None,
            blind: doctor::Blind::NONE,
        });
        self.threshold_ms = Some(threshold);
        self.doctor_at = Some(Instant::now());
    }

    /// The last census with the current filter, for the table on screen.
    fn redigest(&self) -> Option<Snap> {
        let l = self.last.as_ref()?;
        let d = digest(
            &l.census,
            &Lens {
                filter: &self.cfg.filter,
                prefix4: self.cfg.prefix4,
                prefix6: self.cfg.prefix6,
                threshold_ms: l.threshold_ms,
                tabs: &[self.shown.tab],
                known_suspects: &self.suspects,
            },
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
            prefixes: (self.cfg.prefix4, self.cfg.prefix6),
            ghosts: d.ghosts,
            threshold_ms: l.threshold_ms,
            findings: self.findings.clone(),
            notes: l.notes.clone(),
        })
    }
}

/// One census of the namespace through the session (two narrow dumps, [`Session::count_spec`]):
/// every socket in kernel order (TCP v4, v6, UDP v4, v6), with tcp_info when asked, and the notes
/// of what degraded.
///
/// TCP v4 and v6 sockets share the kernel's table, which a dump walks whole (every namespace's
/// sockets) whichever family it asks for: at 300k sockets the walk is most of a census. So the v6
/// dump runs only when the namespace may hold TCP v6 sockets: sockstat6 counts some in use, or
/// sockstat counts more TIME-WAIT sockets than the v4 dump returned (the rest may be v6): finer than
/// the census's own skip of a dump the counts prove empty (`sockdoc_core::collect`), which cannot
/// know how many TIME-WAIT sockets are v4.
fn capture(
    session: &Session,
    ns: &Netns,
    tcp_info: bool,
    reuse: Option<Vec<Socket>>,
) -> Result<(Vec<Socket>, Vec<String>), String> {
    let before = Tcp6Hint::read();
    let v4 = run_dumps(session, ns, tcp_info, true, false, reuse)?;
    let tw4 = v4
        .dumps
        .iter()
        .filter(|d| d.proto == Proto::Tcp)
        .flat_map(|d| &d.acc)
        .filter(|s| s.state == State::TimeWait)
        .count() as u64;
    let tcp6 = before.may_have_tcp6(tw4) || Tcp6Hint::read().may_have_tcp6(tw4);
    let v6 = run_dumps(session, ns, tcp_info, tcp6, true, None)?;
    let mut dumps: Vec<DumpResult<Vec<Socket>>> = v4.dumps.into_iter().chain(v6.dumps).collect();
    dumps.sort_by_key(|d| (d.proto == Proto::Udp, d.family == Family::V6));
    let mut notes = v4.notes;
    notes.extend(v6.notes);
    // Joined into the first (largest) dump's buffer: it is not copied again.
    let total: usize = dumps.iter().map(|d| d.acc.len()).sum();
    let mut dumps = dumps.into_iter();
    let mut all = dumps.next().map(|d| d.acc).unwrap_or_default();
    all.reserve_exact(total - all.len());
    for mut d in dumps {
        all.append(&mut d.acc);
    }
    Ok((all, notes))
}

/// The dumps of one family (`v6`): UDP, and TCP when `tcp`; unfiltered dumps sized from the
/// kernel's own count, the TCP one in `reuse` when given.
fn run_dumps(
    session: &Session,
    ns: &Netns,
    tcp_info: bool,
    tcp: bool,
    v6: bool,
    reuse: Option<Vec<Socket>>,
) -> Result<Census<Vec<Socket>>, String> {
    let reuse = Mutex::new(reuse);
    let spec = CensusSpec {
        tcp_info,
        tcp,
        v4: !v6,
        v6,
        ..CensusSpec::default()
    };
    session
        .count_spec(
            ns,
            &spec,
            |h| {
                let reused = (h.proto == Proto::Tcp)
                    .then(|| lock(&reuse).take())
                    .flatten();
                match reused {
                    Some(mut v) => {
                        v.clear();
                        v.reserve(h.estimate);
                        v
                    }
                    None => Vec::with_capacity(h.estimate),
                }
            },
            |v: &mut Vec<Socket>, s| v.push(*s),
        )
        .map_err(|e| e.to_string())
}

/// What sockstat says about TCP v6 sockets of the census thread's namespace.
struct Tcp6Hint {
    /// Both sockstat files could be read.
    known: bool,
    stat: SockStat,
}

impl Tcp6Hint {
    fn read() -> Tcp6Hint {
        let stat = SockStat::read();
        Tcp6Hint {
            known: stat.read_v4 && stat.read_v6,
            stat,
        }
    }

    /// False only when no TCP v6 socket is in use and the v4 dump returned every TIME-WAIT one.
    fn may_have_tcp6(&self, v4_time_wait: u64) -> bool {
        !self.known || self.stat.tcp6_inuse > 0 || self.stat.tcp_tw > v4_time_wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v6_dump_is_skipped_only_when_sockstat_accounts_for_every_tcp_socket() {
        let hint = |known, tcp6_inuse, tcp_tw| Tcp6Hint {
            known,
            stat: SockStat {
                tcp6_inuse,
                tcp_tw,
                ..SockStat::default()
            },
        };
        assert!(!hint(true, 0, 6000).may_have_tcp6(6000));
        assert!(hint(true, 1, 0).may_have_tcp6(0), "a v6 socket in use");
        assert!(
            hint(true, 0, 6001).may_have_tcp6(6000),
            "a TIME-WAIT the v4 dump lacks"
        );
        assert!(hint(false, 0, 0).may_have_tcp6(0), "sockstat unreadable");
    }
}
