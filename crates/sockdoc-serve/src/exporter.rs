//! `sockdoc serve`: a Prometheus/OpenMetrics endpoint (`/metrics`, `/healthz`) on loopback by default.
//! Bounded label sets only: per state, per listening port and per process (top K), never a label per
//! connection. Kernel counters are exported raw as counters: Prometheus computes their rates.
//!
//! What keeps a scrape cheap at 300k sockets is what it does not ask the kernel for:
//! * every scrape: TCP dumps that leave ESTABLISHED sockets in the kernel (state mask; the kernel
//!   skips them before building a message, which is most of a dump's cost), the UDP dumps, counted as
//!   they stream in. ESTABLISHED counts come from the kernel's own count of hashed sockets
//!   (`/proc/net/sockstat` inuse) minus the other hashed states the dump saw. Plus kernel counters,
//!   conntrack and a few sysctls;
//! * every `--doctor-every`: the full census with tcp_info, which the doctor's detectors need. It
//!   also gives what needs every connection (ESTABLISHED per listening port, sockets per process,
//!   ephemeral ports per destination), cached until the next run, and that scrape's exact counts;
//! * every `--owners-every`: the /proc walk (socket inode -> process). In between, sockets are
//!   attributed through the last walk, so a socket opened since counts under process `-`.
//!
//! Work happens only when scraped: an exporter nobody scrapes costs nothing.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family as MetricFamily;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rustc_hash::FxHashMap;
use sockdoc_core::collect::CensusSpec;
use sockdoc_core::doctor::kernel::Sysctls;
use sockdoc_core::doctor::{self, Finding, Input, KernelState, Value};
use sockdoc_core::i18n::Lang;
use sockdoc_core::session::{Needs, Plan, Refresh, Scope, Session};
use sockdoc_core::{NoOwners, Owners};
use sockdoc_diag::{Addr, Family, Proto, Socket, State, TimerKind, ALL_STATES_MASK};
use sockdoc_proc::conntrack::{self, Conntrack};
use sockdoc_proc::counters::Counters;
use sockdoc_proc::sockstat::SockStat;
use sockdoc_proc::{Netns, SocketOwners};

use crate::cli::{Global, ServeArgs};
use crate::cmd::doctor::parse_duration;
use crate::error::{Exit, Failure};
use crate::log::log_line;
use crate::{http, scope, signals};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    proto: String,
    family: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PortLabels {
    port: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProcLabels {
    process: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    id: String,
    severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NetnsLabels {
    inode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CounterLabels {
    name: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The kernel counters exported (group, name).
const COUNTERS: [(&str, &str); 9] = [
    ("TcpExt", "ListenOverflows"),
    ("TcpExt", "ListenDrops"),
    ("TcpExt", "TCPTimeWaitOverflow"),
    ("TcpExt", "TCPReqQFullDrop"),
    ("TcpExt", "SyncookiesSent"),
    ("TcpExt", "TCPAbortOnTimeout"),
    ("TcpExt", "TCPAbortOnClose"),
    ("Udp", "RcvbufErrors"),
    ("Udp", "InErrors"),
];

/// How often the expensive parts run, and how much is shown.
struct Options {
    top_k: usize,
    owners_every: Duration,
    doctor_every: Duration,
    idle_ms: Option<u64>,
}

pub fn run(g: &Global, a: &ServeArgs, _out: &mut dyn Write) -> Result<Exit, Failure> {
    let opts = Options {
        top_k: a.top_k,
        owners_every: parse_duration("--owners-every", &a.owners_every)?,
        doctor_every: parse_duration("--doctor-every", &a.doctor_every)?,
        idle_ms: a
            .idle
            .as_deref()
            .map(|t| parse_duration("--idle", t))
            .transpose()?
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    };
    let mut namespaces = scope::namespaces(g)?;
    if namespaces.len() != 1 {
        return Err(Failure::usage(
            "serve watches one namespace: use --netns NAME or --netns-pid PID",
        ));
    }
    let ns = namespaces.remove(0);
    // Pinned: a recreated name stops the exporter (exit 69) unless --follow-netns.
    let watch = scope::NsWatch::start(g, &ns, "serve", scope::OnLost::Stop);
    let listener = TcpListener::bind(&a.listen).map_err(|e| {
        Failure::new(
            Exit::Io,
            format!(
                "cannot listen on {}: {e} (choose another with --listen)",
                a.listen
            ),
        )
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::new(Exit::Io, e.to_string()))?;
    signals::install();
    // Every scrape runs its dumps and walks on fresh threads; with one malloc arena they reuse the
    // memory the previous scrape freed instead of each keeping an arena of its own.
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only tunes the allocator; called before any scrape thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    // The doctor's census: tcp_info, no walk of its own (it uses the cached owners, read on their
    // own cadence before a scrape's dumps, which attribute sockets as they arrive).
    let doctor_plan = Plan::everything(Needs {
        owners: false,
        tcp_info: true,
    });
    let session = crate::census::session(
        Scope::one(ns.clone()),
        doctor_plan,
        Refresh::Every(opts.owners_every),
    )?;
    let label = ns.label();
    // The HTTP thread runs one scrape at a time; the lock only guards against a scrape that outlived
    // its client overlapping the next.
    let exporter = Mutex::new(Exporter {
        ns,
        watch: watch.clone(),
        opts,
        session,
        slow_kernel: KernelState::default(),
        doctor: None,
        noted: BTreeSet::new(),
        scrapes: 0,
    });
    let render: http::Render = Arc::new(move || {
        let mut e = exporter.lock().unwrap_or_else(|p| p.into_inner());
        e.scrape_and_trim().map_err(|f| f.to_string())
    });
    http::spawn(listener, render)
        .map_err(|e| Failure::new(Exit::Io, format!("cannot start the HTTP server: {e}")))?;
    log_line!("serving http://{addr}/metrics for {label}; Ctrl-C to stop");
    if let Some(w) = http::exposure_warning(addr) {
        log_line!("{w}");
    }
    while !signals::stopped() {
        std::thread::sleep(Duration::from_millis(50));
    }
    watch.finish();
    match watch.lost() {
        Some(f) => Err(f),
        None => Ok(Exit::Ok),
    }
}

/// The last doctor run.
struct DoctorRun {
    at: Instant,
    /// Counters of that run: the next run's deltas (overflows, drops) are taken against them.
    counters: Counters,
    conntrack: Option<Conntrack>,
    findings: Vec<Finding>,
    /// The counts of that run's full census (every connection).
    tally: Tally,
}

struct Exporter {
    ns: Netns,
    /// Hands over the new namespace when following a recreated name.
    watch: scope::NsWatch,
    opts: Options,
    /// The census: the doctor's plan, owners every `--owners-every`.
    session: Session,
    /// Kernel state read with the owner walk (fd pressure, sysctl files).
    slow_kernel: KernelState,
    doctor: Option<DoctorRun>,
    /// Census notes (a family the kernel lacks...) already printed.
    noted: BTreeSet<String>,
    /// Scrapes run (a request that waited for a running scrape shares its result and adds none).
    scrapes: u64,
}

/// Print each census note once, on stderr (the service log): the same ones come with every scrape.
fn note_once(noted: &mut BTreeSet<String>, notes: Vec<String>) {
    for n in notes {
        if noted.insert(n.clone()) {
            log_line!("sockdoc: note: {n}");
        }
    }
}

/// What one scrape reads besides sockets.
struct Kernel {
    sysctls: Sysctls,
    counters: Counters,
    conntrack: Option<Conntrack>,
    sockstat: SockStat,
}

fn due(last: Option<Instant>, every: Duration) -> bool {
    last.is_none_or(|t| t.elapsed() >= every)
}

impl Exporter {
    /// A scrape, then the memory it freed handed back to the system: scrapes allocate from a new
    /// thread's malloc arena each time, and what glibc keeps of them would otherwise add up between
    /// scrapes of a long-running exporter.
    fn scrape_and_trim(&mut self) -> Result<String, Failure> {
        let r = self.scrape();
        #[cfg(target_env = "gnu")]
        // SAFETY: malloc_trim only releases free heap memory; it has no preconditions.
        unsafe {
            libc::malloc_trim(0);
        }
        r
    }

    fn scrape(&mut self) -> Result<String, Failure> {
        let started = Instant::now();
        self.scrapes += 1;
        if let Some(new) = self.watch.take_switch() {
            // Following a recreated name (logged by the watch): nothing cached from the old one.
            self.ns = new.clone();
            self.doctor = None;
            self.session.switch(new);
        }
        let cache = self.session.owner_cache();
        if cache.due(true) {
            cache.read_now().map_err(|e| {
                Failure::new(
                    Exit::Io,
                    format!("cannot walk /proc for socket owners: {e}"),
                )
            })?;
            // The doctor's other /proc walk (processes near their fd limit) and the sysctl config
            // files go on the same cadence.
            self.slow_kernel =
                scope::in_ns(&self.ns, || Ok(KernelState::start().finish(Duration::ZERO)))?;
        }
        let latest = self.session.owner_cache().latest();
        let owners = latest.as_ref().map(|f| &*f.map);
        let kernel = scope::in_ns(&self.ns, || {
            Ok(Kernel {
                sysctls: Sysctls::read(),
                counters: Counters::read().unwrap_or_default(),
                conntrack: conntrack::read().ok().flatten(),
                sockstat: SockStat::read(),
            })
        })?;
        let range = kernel.sysctls.port_range.and_then(|(lo, hi)| {
            Some((u16::try_from(lo).ok()?, u16::try_from(hi).ok()?)).filter(|(l, h)| l <= h)
        });
        let fresh = if due(self.doctor.as_ref().map(|d| d.at), self.opts.doctor_every) {
            // The doctor's census also gives this scrape its counts: one dump, not two.
            let sample = self.session.sample(&self.ns).map_err(Failure::census)?;
            let sockets = sample.sockets;
            note_once(&mut self.noted, sample.notes);
            let mut t = Tally::new(true, range);
            for s in &sockets {
                t.add(s, owners);
            }
            let run = self.diagnose(&sockets, &kernel, t);
            self.doctor = Some(run);
            None
        } else {
            // TCP without ESTABLISHED (counted by the kernel), UDP whole (connected UDP sockets are
            // ESTABLISHED too, and UDP dumps are cheap).
            let tcp = CensusSpec {
                udp: false,
                states: ALL_STATES_MASK & !State::Established.mask_bit(),
                ..CensusSpec::default()
            };
            let udp = CensusSpec {
                tcp: false,
                ..CensusSpec::default()
            };
            let mut t = Tally::new(false, range);
            for spec in [tcp, udp] {
                let census = self
                    .session
                    .count_spec(
                        &self.ns,
                        &spec,
                        |_| Tally::new(false, range),
                        |t, s| t.add(s, owners),
                    )
                    .map_err(Failure::census)?;
                note_once(&mut self.noted, census.notes);
                for d in census.dumps {
                    t.merge(d.acc);
                }
            }
            t.derive_established(&kernel.sockstat);
            Some(t)
        };
        self.render(fresh.as_ref(), &kernel, started)
    }

    /// Run the detectors on a census: this scrape's kernel readings, counter deltas since the previous
    /// run, and the slow parts (fd pressure, sysctl files) from the last owner walk.
    fn diagnose(&self, sockets: &[Socket], now: &Kernel, tally: Tally) -> DoctorRun {
        let mut kernel = self.slow_kernel.clone();
        kernel.counters_after = now.counters.clone();
        kernel.sysctls = now.sysctls.clone();
        kernel.conntrack_after = now.conntrack;
        kernel.sockstat = now.sockstat;
        kernel.file_nr = sockdoc_proc::limits::file_nr().ok();
        match &self.doctor {
            Some(prev) => {
                kernel.counters_before = prev.counters.clone();
                kernel.conntrack_before = prev.conntrack;
                kernel.interval = prev.at.elapsed();
            }
            None => {
                kernel.counters_before = now.counters.clone();
                kernel.conntrack_before = now.conntrack;
                kernel.interval = Duration::ZERO;
            }
        }
        let latest = self.session.owner_cache().latest();
        let o: &dyn Owners = latest
            .as_ref()
            .map_or(&NoOwners, |f| &*f.map as &dyn Owners);
        let findings = doctor::diagnose(&Input {
            sockets,
            owners: o,
            kernel: &kernel,
            idle_threshold_ms: self.opts.idle_ms,
            lang: Lang::En,
        });
        DoctorRun {
            at: Instant::now(),
            counters: kernel.counters_after,
            conntrack: kernel.conntrack_after,
            findings,
            tally,
        }
    }

    /// Metrics from this scrape's counts (`fresh`; `None` when the doctor's census just ran) and the
    /// last full census.
    fn render(
        &self,
        fresh: Option<&Tally>,
        kernel: &Kernel,
        started: Instant,
    ) -> Result<String, Failure> {
        let top_k = self.opts.top_k;
        let empty = Tally::new(false, None);
        let detail = self.doctor.as_ref().map_or(&empty, |d| &d.tally);
        let t = fresh.unwrap_or(detail);
        let mut reg = Registry::with_prefix("sockdoc");

        let by_state = MetricFamily::<StateLabels, Gauge>::default();
        for (i, counts) in t.states.iter().enumerate() {
            let (proto, family) = SLOTS[i];
            for st in State::ALL {
                let n = counts[st as usize];
                if n > 0 {
                    by_state
                        .get_or_create(&StateLabels {
                            proto: proto.name().into(),
                            family: family.name().into(),
                            state: st.key().into(),
                        })
                        .set(num(n));
                }
            }
        }
        reg.register("sockets", "Sockets by protocol, family and state", by_state);

        // Per listening port (top K by load): ESTABLISHED (last full census), SYN-RECV, accept queue
        // and its limit (this scrape).
        let mut ports: Vec<u16> = t.listeners.keys().copied().collect();
        let load = |p: u16| u64::from(detail.port(p).0) + u64::from(t.port(p).1);
        ports.sort_by(|a, b| load(*b).cmp(&load(*a)).then(a.cmp(b)));
        ports.truncate(top_k);
        let coverage = self.keepalive_coverage();
        let conns = MetricFamily::<PortLabels, Gauge>::default();
        let cov = MetricFamily::<PortLabels, FloatGauge>::default();
        let syn_recv = MetricFamily::<PortLabels, Gauge>::default();
        let queue = MetricFamily::<PortLabels, Gauge>::default();
        let backlog = MetricFamily::<PortLabels, Gauge>::default();
        for p in ports {
            let l = PortLabels {
                port: p.to_string(),
            };
            conns.get_or_create(&l).set(i64::from(detail.port(p).0));
            syn_recv.get_or_create(&l).set(i64::from(t.port(p).1));
            if let Some(ratio) = coverage.get(&p) {
                cov.get_or_create(&l).set(*ratio);
            }
            if let Some((q, b)) = t.listeners.get(&p) {
                queue.get_or_create(&l).set(i64::from(*q));
                backlog.get_or_create(&l).set(i64::from(*b));
            }
        }
        reg.register(
            "listen_port_established",
            "ESTABLISHED connections per listening port (top K; last full census, --doctor-every)",
            conns,
        );
        reg.register(
            "keepalive_coverage_ratio",
            "Share of a listening port's ESTABLISHED connections with a keepalive timer (last doctor run)",
            cov,
        );
        reg.register(
            "listen_port_syn_recv",
            "SYN-RECV request sockets per listening port",
            syn_recv,
        );
        reg.register(
            "accept_queue",
            "Accept queue length per listening port",
            queue,
        );
        reg.register(
            "accept_backlog",
            "Accept queue limit per listening port",
            backlog,
        );

        // Per process name: sockets (top K, last full census) and CLOSE-WAIT (this scrape; those
        // processes and the top K by CLOSE-WAIT), owners from the last /proc walk.
        let latest = self.session.owner_cache().latest();
        let owners = latest.as_ref().map(|f| &*f.map);
        let by_name = |procs: &PidCounts, pick: fn(&(u64, u64)) -> u64| {
            let mut m: HashMap<&str, u64> = HashMap::new();
            for (pid, c) in procs {
                let name = match (*pid, owners) {
                    (0, _) | (_, None) => "-",
                    (p, Some(o)) => o.process(p).map_or("-", |i| i.name.as_str()),
                };
                *m.entry(name).or_default() += pick(c);
            }
            m
        };
        let sockets_by_name = by_name(&detail.procs, |c| c.0);
        let cw_by_name = by_name(&t.procs, |c| c.1);
        fn top<'a>(m: &HashMap<&'a str, u64>, k: usize) -> Vec<(&'a str, u64)> {
            let mut v: Vec<(&str, u64)> = m.iter().map(|(k, v)| (*k, *v)).collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            v.truncate(k);
            v
        }
        let proc_sockets = MetricFamily::<ProcLabels, Gauge>::default();
        let proc_cw = MetricFamily::<ProcLabels, Gauge>::default();
        let label = |name: &str| ProcLabels {
            process: name.to_string(),
        };
        for (name, n) in top(&sockets_by_name, top_k) {
            proc_sockets.get_or_create(&label(name)).set(num(n));
            let cw = cw_by_name.get(name).copied().unwrap_or(0);
            proc_cw.get_or_create(&label(name)).set(num(cw));
        }
        for (name, cw) in top(&cw_by_name, top_k) {
            if cw > 0 {
                proc_cw.get_or_create(&label(name)).set(num(cw));
            }
        }
        reg.register(
            "process_sockets",
            "Sockets per process name (top K; last full census, owners from the last /proc walk)",
            proc_sockets,
        );
        reg.register(
            "process_close_wait",
            "CLOSE-WAIT sockets per process name (top K; owners from the last /proc walk)",
            proc_cw,
        );

        let findings = self.doctor.as_ref().map_or(&[][..], |d| &d.findings[..]);
        let ghosts = findings
            .iter()
            .find(|f| f.id == "ghost-suspects")
            .and_then(|f| f.evidence.iter().find(|(k, _)| *k == "suspects"))
            .map_or(0, |(_, v)| *v);
        let g = Gauge::<i64>::default();
        g.set(ghosts);
        reg.register(
            "ghost_suspects",
            "ESTABLISHED connections silent past the keepalive window without keepalive (last doctor run)",
            g,
        );
        let tw = Gauge::<i64>::default();
        tw.set(num(
            t.states[0][State::TimeWait as usize] + t.states[1][State::TimeWait as usize]
        ));
        reg.register("time_wait", "TIME-WAIT sockets", tw);
        if let Some(max) = kernel.sysctls.max_tw_buckets {
            let m = Gauge::<i64>::default();
            m.set(num(max));
            reg.register("time_wait_max", "net.ipv4.tcp_max_tw_buckets", m);
        }
        if let Some((lo, hi)) = detail.range {
            let used = Gauge::<i64>::default();
            used.set(i64::from(detail.dests.values().copied().max().unwrap_or(0)));
            reg.register(
                "ephemeral_ports_used",
                "Local ports of ip_local_port_range in use towards the busiest destination (per source address, destination address and port; last full census)",
                used,
            );
            let size = Gauge::<i64>::default();
            size.set(i64::from(hi) - i64::from(lo) + 1);
            reg.register(
                "ephemeral_ports_range",
                "Size of net.ipv4.ip_local_port_range",
                size,
            );
        }
        if let Some(ct) = &kernel.conntrack {
            let c = Gauge::<i64>::default();
            c.set(num(ct.count));
            reg.register("conntrack_entries", "Connection-tracking entries", c);
            let m = Gauge::<i64>::default();
            m.set(num(ct.max));
            reg.register("conntrack_max", "nf_conntrack_max", m);
        }
        let counters = MetricFamily::<CounterLabels, Counter>::default();
        for (group, name) in COUNTERS {
            if let Some(v) = kernel.counters.get(group, name) {
                counters
                    .get_or_create(&CounterLabels {
                        name: format!("{group}.{name}"),
                    })
                    .inc_by(u64::try_from(v).unwrap_or(0));
            }
        }
        reg.register(
            "kernel",
            "Kernel SNMP counters (/proc/net/netstat, snmp)",
            counters,
        );
        let found = MetricFamily::<FindingLabels, Gauge>::default();
        for f in findings {
            found
                .get_or_create(&FindingLabels {
                    id: f.id.into(),
                    severity: f.severity.name().into(),
                })
                .set(1);
        }
        reg.register(
            "finding",
            "Doctor findings present at the last doctor run (1)",
            found,
        );
        let age = |at: Option<Instant>| {
            let g = FloatGauge::default();
            g.set(at.map_or(0.0, |t| t.elapsed().as_secs_f64()));
            g
        };
        reg.register(
            "owners_age_seconds",
            "Age of the /proc walk that attributes sockets to processes (--owners-every)",
            age(self.session.owner_cache().latest().map(|f| f.at)),
        );
        reg.register(
            "doctor_age_seconds",
            "Age of the doctor run and full census (--doctor-every)",
            age(self.doctor.as_ref().map(|d| d.at)),
        );
        let scrapes = Counter::<u64>::default();
        scrapes.inc_by(self.scrapes);
        reg.register(
            "scrapes",
            "Scrapes run (requests that waited for a running scrape share its result)",
            scrapes,
        );
        // The namespace scraped, by inode, and how often a recreated name was followed.
        let pinned = MetricFamily::<NetnsLabels, Gauge>::default();
        pinned
            .get_or_create(&NetnsLabels {
                inode: self.ns.inode.to_string(),
            })
            .set(1);
        reg.register(
            "netns_info",
            "The network namespace scraped (its inode); pinned from the start unless --follow-netns follows a recreated name",
            pinned,
        );
        let changes = Counter::<u64>::default();
        changes.inc_by(self.watch.changes());
        reg.register(
            "netns_changes",
            "Times the namespace's name came to mean another namespace and it was followed (--follow-netns)",
            changes,
        );
        let took = FloatGauge::default();
        took.set(started.elapsed().as_secs_f64());
        reg.register("scrape_duration_seconds", "Time this scrape took", took);

        let mut text = String::new();
        encode(&mut text, &reg)
            .map_err(|e| Failure::new(Exit::Io, format!("cannot encode metrics: {e}")))?;
        Ok(text)
    }

    /// Keepalive coverage per listening port, as the doctor's keepalive-coverage detector computed it.
    fn keepalive_coverage(&self) -> HashMap<u16, f64> {
        let mut out = HashMap::new();
        let Some(f) = self
            .doctor
            .as_ref()
            .and_then(|d| d.findings.iter().find(|f| f.id == "keepalive-coverage"))
        else {
            return out;
        };
        for row in &f.groups {
            let int = |key: &str| {
                row.0.iter().find_map(|(k, v)| match v {
                    Value::Int(n) if *k == key => Some(*n),
                    _ => None,
                })
            };
            if let (Some(port), Some(n), Some(k)) =
                (int("local_port"), int("connections"), int("with_keepalive"))
            {
                if let (Ok(port), true) = (u16::try_from(port), n > 0) {
                    out.insert(port, k as f64 / n as f64);
                }
            }
        }
        out
    }
}

/// (protocol, family) of each row of [`Tally::states`].
const SLOTS: [(Proto, Family); 4] = [
    (Proto::Tcp, Family::V4),
    (Proto::Tcp, Family::V6),
    (Proto::Udp, Family::V4),
    (Proto::Udp, Family::V6),
];

fn slot(s: &Socket) -> usize {
    match (s.proto, s.family) {
        (Proto::Tcp, Family::V4) => 0,
        (Proto::Tcp, Family::V6) => 1,
        (Proto::Udp, Family::V4) => 2,
        (Proto::Udp, Family::V6) => 3,
    }
}

/// Per owning pid (0: none known): (sockets, CLOSE-WAIT).
type PidCounts = FxHashMap<u32, (u64, u64)>;

/// A scrape's counts, filled as sockets stream in (one per dump thread, then merged). Nothing per
/// socket is kept: per-port counts live in a flat table indexed by port, per-destination and
/// per-process counts in maps whose size is the number of destinations and processes.
struct Tally {
    /// Counting a full census: per-process sockets and per-destination ports too.
    full: bool,
    /// Per (protocol, family) slot, per kernel state number.
    states: [[u64; 12]; 4],
    /// TCP sockets of the kind `/proc/net/sockstat` counts as in use, but not ESTABLISHED: full
    /// sockets in the hash tables (not request or TIME-WAIT sockets), per family.
    hashed: [u64; 2],
    /// TCP listeners by port: (accept queue, backlog).
    listeners: FxHashMap<u16, (u32, u32)>,
    /// TCP sockets by local port: (ESTABLISHED, SYN-RECV); 65536 entries, made on first use.
    ports: Vec<(u32, u32)>,
    /// ip_local_port_range, when known.
    range: Option<(u16, u16)>,
    /// Ephemeral ports in use per (family, source, destination, destination port); full census only.
    dests: FxHashMap<(Family, Addr, Addr, u16), u32>,
    /// Per owning pid; sockets only in a full census.
    procs: PidCounts,
}

impl Tally {
    fn new(full: bool, range: Option<(u16, u16)>) -> Tally {
        Tally {
            full,
            states: [[0; 12]; 4],
            hashed: [0; 2],
            listeners: FxHashMap::default(),
            ports: Vec::new(),
            range,
            dests: FxHashMap::default(),
            procs: FxHashMap::default(),
        }
    }

    fn add(&mut self, s: &Socket, owners: Option<&SocketOwners>) {
        let slot = slot(s);
        self.states[slot][s.state as usize] += 1;
        if self.full || s.state == State::CloseWait {
            let pid = match owners {
                Some(o) if s.inode != 0 => o.owners(s.inode).next().map_or(0, |o| o.pid),
                _ => 0,
            };
            let p = self.procs.entry(pid).or_default();
            p.0 += 1;
            if s.state == State::CloseWait {
                p.1 += 1;
            }
        }
        if s.proto != Proto::Tcp {
            return;
        }
        match s.state {
            State::Listen => {
                self.listeners.insert(s.local_port, (s.recv_q, s.send_q));
            }
            State::Established | State::SynRecv => {
                if self.ports.is_empty() {
                    self.ports = vec![(0, 0); 65536];
                }
                let e = &mut self.ports[usize::from(s.local_port)];
                if s.state == State::Established {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
            _ => {}
        }
        // TIME-WAIT sockets, and FIN-WAIT-2 ones the kernel turned into TIME-WAIT structures (their
        // timer says so), left the hash of full sockets; request sockets never entered it.
        if !matches!(
            s.state,
            State::Established | State::SynRecv | State::TimeWait
        ) && s.timer.kind != TimerKind::TimeWait
        {
            self.hashed[slot] += 1;
        }
        if let (true, Some((lo, hi))) = (self.full, self.range) {
            if s.state != State::Listen && s.remote_port != 0 && (lo..=hi).contains(&s.local_port) {
                *self
                    .dests
                    .entry((s.family, s.local, s.remote, s.remote_port))
                    .or_default() += 1;
            }
        }
    }

    /// ESTABLISHED TCP sockets per family, for a census that left them in the kernel: the kernel's
    /// count of full sockets in use minus those of other states the dump saw.
    fn derive_established(&mut self, st: &SockStat) {
        for (slot, inuse) in [(0, st.tcp_inuse), (1, st.tcp6_inuse)] {
            self.states[slot][State::Established as usize] =
                inuse.saturating_sub(self.hashed[slot]);
        }
    }

    /// (ESTABLISHED, SYN-RECV) at a local port.
    fn port(&self, p: u16) -> (u32, u32) {
        self.ports.get(usize::from(p)).copied().unwrap_or_default()
    }

    /// Fold another dump's counts into these.
    fn merge(&mut self, o: Tally) {
        for (mine, theirs) in self.states.iter_mut().zip(o.states.iter()) {
            for (a, b) in mine.iter_mut().zip(theirs.iter()) {
                *a += b;
            }
        }
        self.hashed[0] += o.hashed[0];
        self.hashed[1] += o.hashed[1];
        self.listeners.extend(o.listeners);
        if self.ports.is_empty() {
            self.ports = o.ports;
        } else if !o.ports.is_empty() {
            for (a, b) in self.ports.iter_mut().zip(o.ports.iter()) {
                a.0 += b.0;
                a.1 += b.1;
            }
        }
        for (k, v) in o.dests {
            *self.dests.entry(k).or_default() += v;
        }
        for (k, v) in o.procs {
            let e = self.procs.entry(k).or_default();
            e.0 += v.0;
            e.1 += v.1;
        }
    }
}

/// A count as a gauge value (saturating).
fn num<T: TryInto<i64>>(v: T) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}
