//! `sockdoc reap --config reap.toml`: a daemon enforcing idle policies on services that never set their
//! own. Every `interval` it runs one census (tcp_info; owners only when a rule or keepalive needs
//! them), lets `sockdoc_core::reap` decide, acts through `sockdoc-act` (the kill ladder: SOCK_DESTROY,
//! then shutdown through the owner's fd, then a forged RST; keepalive retrofit), and writes one JSON
//! line per action. Counters are on `/metrics` (loopback by default).
//! SIGHUP reloads the configuration (a bad one is rejected and the old one kept); SIGINT/SIGTERM stop
//! it cleanly. Every run that logged its start logs its stop, also when a failure ends it; its stderr
//! lines never panic (a closed stderr loses them, nothing else). It decides nothing itself: the policy
//! is in the core crate.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::{json, Value};
use sockdoc_act::audit::{run_id, AuditLog, Journal, WriteAhead};
use sockdoc_act::keepalive::{retrofit, Change};
use sockdoc_act::kill::{kill_many, Attempt, Method, RstOptions};
use sockdoc_core::reap::track::flag;
use sockdoc_core::reap::{decide, decide::Input, Config, OwnSsh, SpareReason, Tracker};
use sockdoc_core::session::{
    Needs, OwnerSource, Plan, ProcFds, Protocols, Refresh, Scope, Session,
};
use sockdoc_core::{NoOwners, Owners};
use sockdoc_diag::{DiagSocket, Socket};
use sockdoc_proc::{Netns, SocketOwners};

use crate::cli::{Global, ReapArgs};
use crate::cmd::treat::{now_rfc3339, uid};
use crate::error::{Exit, Failure};
use crate::json::{JSocket, SCHEMA};
use crate::log::log_line;
use crate::{scope, signals};

static HUP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_hup(_: libc::c_int) {
    HUP.store(true, Ordering::SeqCst);
}

fn install_hup() {
    let handler = on_hup as extern "C" fn(libc::c_int);
    // SAFETY: installing an async-signal-safe handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGHUP, handler as libc::sighandler_t);
    }
}

/// Keep the daemon's memory flat across scans (glibc): buffers of 256 KiB and more (the census) are
/// mmapped and given back to the kernel when freed, instead of growing the heap arenas of the dump
/// threads that filled them; at most two arenas.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before the daemon's threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Give freed heap pages back to the kernel after a scan (glibc).
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Read and validate the configuration file; the error is one line starting with the path. Only a
/// regular file of at most 1 MiB is read. Interface names (`dev eth0`) are resolved in `ns`.
fn load(path: &Path, force_dry_run: bool, ns: &Netns) -> Result<Config, Failure> {
    let text = crate::infile::read_text(path, "configuration", crate::infile::MAX_CONFIG_BYTES)?;
    let parse =
        || Config::parse(&text).map_err(|e| Failure::usage(format!("{} {e}", path.display())));
    let mut cfg = if ns.current {
        parse()?
    } else {
        scope::in_ns(ns, parse)?
    };
    if force_dry_run {
        cfg.dry_run = true;
        for r in &mut cfg.rules {
            r.dry_run = true;
        }
    }
    Ok(cfg)
}

/// The census of a scan: every socket some rule selects (the rules' selectors as one tree).
fn make_plan(cfg: &Config) -> Result<Plan, Failure> {
    let needs = Needs {
        owners: cfg.needs_processes(),
        tcp_info: true,
    };
    Ok(Plan::for_filter(
        Protocols::default(),
        cfg.census_selector(),
        needs,
    ))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KillLabels {
    rule: String,
    reason: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    rule: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SpareLabels {
    rule: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    outcome: String,
}

type GaugeF = Gauge<f64, AtomicU64>;

/// The daemon's counters; clones share their values with the registry the HTTP thread renders.
#[derive(Clone, Default)]
struct Metrics {
    scans: Counter,
    scan_errors: Counter,
    scan_seconds: GaugeF,
    census_sockets: Gauge,
    tracked: Gauge,
    forgotten: Counter,
    matched: Family<RuleLabels, Gauge>,
    connections: Family<RuleLabels, Gauge>,
    kills: Family<KillLabels, Counter>,
    keepalive: Family<OutcomeLabels, Counter>,
    spared: Family<SpareLabels, Counter>,
    deferred: Counter,
    reloads: Family<ReloadLabels, Counter>,
    dry_run: Gauge,
    rss: Gauge,
}

impl Metrics {
    fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("sockdoc_reap");
        let m = self.clone();
        r.register("scans", "Scans run", m.scans);
        r.register(
            "scan_errors",
            "Scans that failed (census error)",
            m.scan_errors,
        );
        r.register(
            "scan_duration_seconds",
            "Time the last scan took (census, decisions, actions)",
            m.scan_seconds,
        );
        r.register(
            "census_sockets",
            "Sockets the last census returned (after the kernel filter)",
            m.census_sockets,
        );
        r.register(
            "tracked_sockets",
            "Sockets remembered by cookie (age, flags)",
            m.tracked,
        );
        r.register(
            "forgotten_sockets",
            "Cookies forgotten because they vanished",
            m.forgotten,
        );
        r.register(
            "rule_sockets",
            "Sockets each rule selected in the last scan",
            m.matched,
        );
        r.register(
            "rule_connections",
            "ESTABLISHED and CLOSE-WAIT connections of each rule in the last scan",
            m.connections,
        );
        r.register(
            "kills",
            "Kill decisions by rule, reason and outcome (killed, gone, failed, would-kill)",
            m.kills,
        );
        r.register(
            "keepalive",
            "Keepalive retrofits by rule and outcome (set, failed, would-set)",
            m.keepalive,
        );
        r.register(
            "spared",
            "Sockets a rule would close that were spared (never-kill, own-ssh), counted once each",
            m.spared,
        );
        r.register(
            "deferred",
            "Kills left for a later scan by max_kills_per_interval",
            m.deferred,
        );
        r.register(
            "config_reloads",
            "SIGHUP reloads by outcome (reloaded, rejected)",
            m.reloads,
        );
        r.register(
            "dry_run",
            "1 when the whole configuration is a dry run",
            m.dry_run,
        );
        r.register(
            "resident_memory_bytes",
            "The daemon's resident memory at the last scan",
            m.rss,
        );
        r
    }
}

/// The daemon's resident memory, from /proc/self/statm.
fn rss_bytes() -> i64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|t| t.split_whitespace().nth(1)?.parse::<i64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * i64::from(page.max(1) as i32)
}

/// Serve `/metrics` and `/healthz` on `listener` (a thread of its own) until the process exits.
fn serve_metrics(listener: TcpListener, registry: Registry) -> std::io::Result<()> {
    let render: crate::http::Render = Arc::new(move || {
        let mut text = String::new();
        encode(&mut text, &registry)
            .map(|()| text)
            .map_err(|e| format!("cannot encode metrics: {e}"))
    });
    crate::http::spawn(listener, render)
}

/// Where action lines go: standard output (journald under systemd) or an append-only file.
enum Sink<'a> {
    Out(&'a mut dyn Write),
    File(AuditLog),
}

impl Sink<'_> {
    fn write(&mut self, mut v: Value) -> Result<(), Failure> {
        if let Some(o) = v.as_object_mut() {
            o.insert("schema".into(), json!(SCHEMA));
            o.insert("time".into(), json!(now_rfc3339()));
        }
        let text = v.to_string();
        match self {
            Sink::Out(w) => writeln!(w, "{text}").map_err(Failure::output),
            Sink::File(log) => log
                .append(&text)
                .map_err(|e| Failure::io("write the action log", log.path(), e)),
        }
    }

    /// What to name in an error line.
    fn name(&self) -> String {
        match self {
            Sink::Out(_) => "standard output".to_string(),
            Sink::File(log) => log.path().display().to_string(),
        }
    }

    fn flush(&mut self) -> Result<(), Failure> {
        match self {
            Sink::Out(w) => w.flush().map_err(Failure::output),
            Sink::File(log) => log
                .sync()
                .map_err(|e| Failure::io("sync the action log", log.path(), e)),
        }
    }
}

/// What a stop record after a failure needs: filled by [`daemon`] once its start record is written.
#[derive(Default)]
struct Started {
    /// The action log (`None`: standard output); `Some` only once the start record is written.
    log: Option<Option<PathBuf>>,
    /// The scans counter.
    scans: Counter,
}

/// Write-ahead records of kills: synced to disk in the file, flushed on standard output.
impl Journal for Sink<'_> {
    fn commit(&mut self, records: &[String]) -> std::io::Result<()> {
        match self {
            Sink::Out(w) => {
                for r in records {
                    writeln!(w, "{r}")?;
                }
                w.flush()
            }
            Sink::File(log) => log.append_durable(records),
        }
    }
}

pub fn run(g: &Global, a: &ReapArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let mut started = Started::default();
    let r = daemon(g, a, out, &mut started);
    if let (Err(f), Some(log)) = (&r, started.log) {
        // A daemon that started leaves a stop record however it ends; when the failure was the log
        // itself this one may fail too, and the failure already says why.
        let mut sink = match log {
            None => Some(Sink::Out(out)),
            Some(p) => AuditLog::open(&p).ok().map(Sink::File),
        };
        if let Some(sink) = sink.as_mut() {
            let _ = sink.write(json!({
                "action": "stop",
                "scans": started.scans.get(),
                "reason": "error",
                "error": f.message,
            }));
            let _ = sink.flush();
        }
    }
    r
}

/// The daemon from its configuration to its stop record; see the module comment.
fn daemon(
    g: &Global,
    a: &ReapArgs,
    out: &mut dyn Write,
    started: &mut Started,
) -> Result<Exit, Failure> {
    tune_allocator();
    let mut namespaces = scope::namespaces(g)?;
    if namespaces.len() != 1 {
        return Err(Failure::usage(
            "reap works in one namespace: use --netns NAME or --netns-pid PID, not --all-netns",
        ));
    }
    let mut ns = namespaces.remove(0);
    let mut cfg = load(&a.config, a.dry_run, &ns)?;
    let plan = make_plan(&cfg)?;
    if a.check {
        writeln!(
            out,
            "{}: ok, {} rule(s), every {:?}{}",
            a.config.display(),
            cfg.rules.len(),
            cfg.interval,
            if cfg.dry_run { ", dry run" } else { "" }
        )
        .map_err(Failure::output)?;
        for r in &cfg.rules {
            writeln!(
                out,
                "  {}: {}{}",
                r.name,
                r.selector_text,
                if r.dry_run { " (dry run)" } else { "" }
            )
            .map_err(Failure::output)?;
        }
        return Ok(Exit::Ok);
    }
    if !scope::is_root() && cfg.rules.iter().any(|r| !r.dry_run) {
        return Err(Failure::new(
            Exit::NoPerm,
            "reap needs root to act (CAP_NET_ADMIN for SOCK_DESTROY, ptrace access for pidfd_getfd): run with sudo, or try it with --dry-run",
        ));
    }
    let log_path: Option<PathBuf> = a.log.clone().or_else(|| cfg.log.clone().map(PathBuf::from));
    let mut sink = match &log_path {
        None => Sink::Out(out),
        Some(p) => Sink::File(AuditLog::open(p).map_err(|e| {
            let mut f = Failure::io("open the action log", p, e);
            f.message.push_str(" (choose another with --log)");
            f
        })?),
    };
    let metrics_addr = match a.metrics.as_deref() {
        Some("off") | Some("") => None,
        Some(m) => Some(m.to_string()),
        None => cfg.metrics.clone(),
    };
    let metrics = Metrics::default();
    let bound = match &metrics_addr {
        None => None,
        Some(addr) => {
            let l = TcpListener::bind(addr).map_err(|e| {
                Failure::new(
                    Exit::Io,
                    format!("cannot listen on {addr} for /metrics: {e} (choose another with --metrics or `metrics` in the config)"),
                )
            })?;
            let local = l
                .local_addr()
                .map_err(|e| Failure::new(Exit::Io, e.to_string()))?;
            serve_metrics(l, metrics.registry()).map_err(|e| {
                Failure::new(
                    Exit::Io,
                    format!("cannot start the HTTP server for /metrics: {e}"),
                )
            })?;
            Some(local)
        }
    };
    signals::install();
    install_hup();
    let own_ssh = OwnSsh::from_env();
    sink.write(json!({
        "action": "start",
        "pid": std::process::id(),
        "uid": uid(),
        "config": a.config.display().to_string(),
        "netns": ns.label(),
        "rules": cfg.rules.iter().map(|r| json!({"name": r.name, "selector": r.selector_text, "dry_run": r.dry_run})).collect::<Vec<_>>(),
        "interval_ms": cfg.interval.as_millis() as u64,
        "dry_run": cfg.dry_run,
        "max_kills_per_interval": cfg.max_kills_per_interval,
        "never_kill": cfg.never_kill.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        "metrics": bound.map(|b| b.to_string()),
        "own_ssh": std::env::var("SSH_CONNECTION").ok().filter(|_| own_ssh.is_some()),
    }))?;
    started.log = Some(log_path.clone());
    started.scans = metrics.scans.clone();
    sink.flush()?;
    log_line!(
        "sockdoc reap: {} rule(s) every {:?} in {}{}; log: {}; SIGHUP reloads {}, SIGTERM stops",
        cfg.rules.len(),
        cfg.interval,
        ns.label(),
        bound.map_or(String::new(), |b| format!(
            "; metrics on http://{b}/metrics"
        )),
        log_path
            .as_ref()
            .map_or("standard output".to_string(), |p| p.display().to_string()),
        a.config.display()
    );
    if let Some(w) = bound.and_then(crate::http::exposure_warning) {
        log_line!("{w}");
    }

    let mut diag: Option<DiagSocket> = None;
    let mut tracker = Tracker::new();
    // Owners are read with a scan only when a rule's selector needs them, else lazily, at most once
    // per scan, when a decision does.
    let mut session = crate::census::session(Scope::one(ns.clone()), plan, Refresh::Lazy)?;
    let epoch = Instant::now();
    // Pinned to the namespace of the start line: a recreated name stops the daemon (exit 69) or,
    // with --follow-netns, is followed deliberately, with its own log line.
    let watch = scope::watch(g, &ns, "reap", scope::OnLost::Stop);
    loop {
        let started = Instant::now();
        if let Some(new) = watch.take_switch() {
            sink.write(json!({
                "action": "netns",
                "outcome": "followed",
                "from": ns.label(),
                "to": new.label(),
            }))?;
            sink.flush()?;
            ns = new.clone();
            session.switch(new);
            // The old namespace's sock_diag socket must not act in the new one.
            diag = None;
        }
        metrics.dry_run.set(i64::from(cfg.dry_run));
        match scan(
            &ns,
            &cfg,
            &session,
            &mut tracker,
            &mut diag,
            own_ssh,
            epoch,
            &metrics,
            &mut sink,
        ) {
            Ok(()) => {}
            Err(ScanError::Fatal(f)) => return Err(f),
            Err(ScanError::Census(msg)) => {
                metrics.scan_errors.inc();
                log_line!("sockdoc: scan failed: {msg}");
                sink.write(json!({"action": "error", "error": msg}))?;
            }
        }
        trim_heap();
        metrics.scans.inc();
        metrics.scan_seconds.set(started.elapsed().as_secs_f64());
        metrics.rss.set(rss_bytes());
        sink.flush()?;
        // Wait for the next scan, answering signals within 50 ms.
        let next = started + cfg.interval;
        while Instant::now() < next && !signals::stopped() && !HUP.load(Ordering::SeqCst) {
            std::thread::sleep(
                Duration::from_millis(50).min(next.saturating_duration_since(Instant::now())),
            );
        }
        if signals::stopped() || watch.lost().is_some() {
            break;
        }
        if HUP.swap(false, Ordering::SeqCst) {
            let reloaded =
                load(&a.config, a.dry_run, &ns).and_then(|c| make_plan(&c).map(|p| (c, p)));
            match reloaded {
                Ok((c, p)) => {
                    let restart_needed = c.metrics != cfg.metrics || c.log != cfg.log;
                    cfg = c;
                    session.plan = p;
                    metrics
                        .reloads
                        .get_or_create(&ReloadLabels {
                            outcome: "reloaded".into(),
                        })
                        .inc();
                    sink.write(json!({
                        "action": "config",
                        "outcome": "reloaded",
                        "config": a.config.display().to_string(),
                        "rules": cfg.rules.iter().map(|r| json!({"name": r.name, "selector": r.selector_text, "dry_run": r.dry_run})).collect::<Vec<_>>(),
                        "interval_ms": cfg.interval.as_millis() as u64,
                        "note": restart_needed.then_some("metrics and log changes take effect at the next start"),
                    }))?;
                    log_line!("sockdoc reap: reloaded {}", a.config.display());
                }
                Err(f) => {
                    metrics
                        .reloads
                        .get_or_create(&ReloadLabels {
                            outcome: "rejected".into(),
                        })
                        .inc();
                    sink.write(json!({
                        "action": "config",
                        "outcome": "rejected",
                        "config": a.config.display().to_string(),
                        "error": f.message,
                        "kept": "the previous configuration",
                    }))?;
                    log_line!(
                        "sockdoc reap: new configuration rejected, keeping the previous one: {}",
                        f.message
                    );
                }
            }
            sink.flush()?;
        }
    }
    watch.finish();
    let lost = scope::lost(&watch);
    sink.write(json!({
        "action": "stop",
        "scans": tracker.scans(),
        "reason": lost.as_ref().map_or("SIGINT or SIGTERM", |f| f.message.as_str()),
    }))?;
    sink.flush()?;
    match lost {
        Some(f) => Err(f),
        None => Ok(Exit::Ok),
    }
}

enum ScanError {
    /// The census failed; the daemon logs it and tries again next interval.
    Census(String),
    /// Writing the log failed: stop (an action that cannot be recorded is not taken).
    Fatal(Failure),
}

impl From<Failure> for ScanError {
    fn from(f: Failure) -> ScanError {
        ScanError::Fatal(f)
    }
}

/// The owners, walked at most once per scan and only when needed.
struct LazyOwners {
    walked: Option<SocketOwners>,
    tried: bool,
}

impl LazyOwners {
    fn get(&mut self) -> Option<&SocketOwners> {
        if self.walked.is_none() && !self.tried {
            self.tried = true;
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
            match ProcFds.read(threads) {
                Ok(o) => self.walked = Some(o),
                Err(e) => log_line!("sockdoc: cannot walk /proc for socket owners: {e}"),
            }
        }
        self.walked.as_ref()
    }
}

#[allow(clippy::too_many_arguments)]
fn scan(
    ns: &Netns,
    cfg: &Config,
    session: &Session,
    tracker: &mut Tracker,
    diag: &mut Option<DiagSocket>,
    own_ssh: Option<OwnSsh>,
    epoch: Instant,
    m: &Metrics,
    sink: &mut Sink,
) -> Result<(), ScanError> {
    let sample = session
        .sample(ns)
        .map_err(|e| ScanError::Census(Failure::census(e).message))?;
    let sockets = sample.sockets;
    let mut owners = LazyOwners {
        walked: sample
            .owners
            .and_then(|f| std::sync::Arc::try_unwrap(f.map).ok()),
        tried: false,
    };
    let now_ms = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
    let d = {
        let o: &dyn Owners = owners
            .walked
            .as_ref()
            .map_or(&NoOwners, |o| o as &dyn Owners);
        decide(
            cfg,
            tracker,
            &Input {
                sockets: &sockets,
                owners: o,
                now_ms,
                own_ssh,
            },
        )
    };
    m.census_sockets.set(sockets.len() as i64);
    m.tracked.set(tracker.len() as i64);
    m.forgotten.inc_by(d.forgotten as u64);
    for (i, r) in cfg.rules.iter().enumerate() {
        let l = RuleLabels {
            rule: r.name.clone(),
        };
        m.matched.get_or_create(&l).set(d.matched[i] as i64);
        m.connections.get_or_create(&l).set(d.connections[i] as i64);
    }

    for sp in &d.spared {
        let s = &sockets[sp.index];
        let rule = &cfg.rules[sp.rule];
        let (reason, entry) = match sp.reason {
            SpareReason::OwnSsh => ("own-ssh", None),
            SpareReason::NeverKill(n) => {
                ("never-kill", cfg.never_kill.get(n).map(|(t, _)| t.as_str()))
            }
        };
        m.spared
            .get_or_create(&SpareLabels {
                rule: rule.name.clone(),
                reason: reason.into(),
            })
            .inc();
        sink.write(json!({
            "action": "spare",
            "rule": rule.name,
            "reason": reason,
            "never_kill": entry,
            "would": sp.would.key(),
            "socket": JSocket::new(s, owners.walked.as_ref()),
        }))?;
    }

    if d.deferred > 0 {
        m.deferred.inc_by(d.deferred as u64);
        sink.write(json!({
            "action": "defer",
            "deferred": d.deferred,
            "max_kills_per_interval": cfg.max_kills_per_interval,
        }))?;
    }

    // Kills, idlest first.
    if d.kills.iter().any(|k| !k.dry_run) && diag.is_none() {
        match scope::diag_socket(ns) {
            Ok(s) => *diag = Some(s),
            Err(f) => return Err(ScanError::Census(f.message)),
        }
    }
    let live: Vec<usize> = (0..d.kills.len())
        .filter(|&i| !d.kills[i].dry_run)
        .collect();
    let mut tries: Vec<Vec<Attempt>> = vec![Vec::new(); d.kills.len()];
    if let Some(dg) = diag.as_mut() {
        // Recorded ahead: each batch's intents are in the log before it is acted on.
        let lazy = std::cell::RefCell::new(owners);
        let record = |i: usize, phase_fields: Value| {
            let k = &d.kills[i];
            let socket = json!(JSocket::new(
                &sockets[k.index],
                lazy.borrow().walked.as_ref()
            ));
            let mut v = kill_record(cfg, k, socket, phase_fields);
            v["schema"] = json!(SCHEMA);
            v["time"] = json!(now_rfc3339());
            v["dry_run"] = json!(false);
            v
        };
        let acted = WriteAhead::new(sink, reap_run()).act(
            &live,
            |&i| record(i, json!({})),
            |batch| {
                let items: Vec<Socket> = batch.iter().map(|&i| sockets[d.kills[i].index]).collect();
                kill_ladder(dg, &items, &mut lazy.borrow_mut())
            },
            |&i, attempts| {
                record(i, json!({
                    "outcome": kill_outcome(attempts),
                    "method": attempts.iter().find(|t| t.error.is_none()).map(|t| t.method.name()),
                    "attempts": attempts.iter().map(|t| json!({"method": t.method.name(), "error": t.error, "note": t.note})).collect::<Vec<_>>(),
                }))
            },
        );
        owners = lazy.into_inner();
        let (done, stopped) = match acted {
            Ok(done) => (done, None),
            Err(st) => (st.done, Some(st.error)),
        };
        for (&i, t) in live.iter().zip(done) {
            tries[i] = t;
        }
        if let Some(e) = stopped {
            count_kills(cfg, &d.kills, &tries, &sockets, tracker, m, false);
            return Err(ScanError::Fatal(Failure::new(
                Exit::Io,
                format!(
                    "cannot write the action log {}: {e}; stopped before the next kill (free space there or choose another --log)",
                    sink.name()
                ),
            )));
        }
    }
    count_kills(cfg, &d.kills, &tries, &sockets, tracker, m, true);
    for k in d.kills.iter().filter(|k| k.dry_run) {
        let socket = json!(JSocket::new(&sockets[k.index], owners.walked.as_ref()));
        sink.write(kill_record(
            cfg,
            k,
            socket,
            json!({
                "outcome": "would kill",
                "dry_run": true,
                "method": Value::Null,
                "attempts": [],
            }),
        ))?;
    }

    // Keepalive retrofits: live ones recorded ahead like kills, dry-run ones only recorded.
    let ka_record = |job: &sockdoc_core::reap::decide::Keep, socket: Value, more: Value| {
        let rule = &cfg.rules[job.rule];
        let mut v = json!({
            "action": "keepalive",
            "dry_run": job.dry_run,
            "rule": rule.name,
            "settings": rule.keepalive.map(|k| json!({"idle": k.idle, "intvl": k.intvl, "count": k.count})),
            "socket": socket,
        });
        if let (Some(v), Value::Object(more)) = (v.as_object_mut(), more) {
            v.extend(more);
        }
        v
    };
    let count_ka = |job: &sockdoc_core::reap::decide::Keep, outcome: &str| {
        m.keepalive
            .get_or_create(&OutcomeLabels {
                rule: cfg.rules[job.rule].name.clone(),
                outcome: outcome.replace(' ', "-"),
            })
            .inc();
    };
    let jobs: Vec<&sockdoc_core::reap::decide::Keep> = d
        .keepalive
        .iter()
        .filter(|j| cfg.rules[j.rule].keepalive.is_some())
        .collect();
    for job in jobs.iter().filter(|j| j.dry_run) {
        count_ka(job, "would set");
        let socket = json!(JSocket::new(&sockets[job.index], owners.walked.as_ref()));
        sink.write(ka_record(job, socket, json!({"outcome": "would set", "before": Value::Null, "error": Value::Null, "pid": Value::Null, "fd": Value::Null})))?;
    }
    let live: Vec<&sockdoc_core::reap::decide::Keep> =
        jobs.iter().copied().filter(|j| !j.dry_run).collect();
    if !live.is_empty() {
        // The owners are looked up once, before the intents, so intent and act name the same fd.
        let held: Vec<Option<(u32, u32)>> = live
            .iter()
            .map(|j| {
                owners
                    .get()
                    .and_then(|o| o.owners(sockets[j.index].inode).next())
                    .map(|o| (o.pid, o.fd))
            })
            .collect();
        let walked = owners.walked.as_ref();
        let items: Vec<usize> = (0..live.len()).collect();
        let socket_of = |i: usize| json!(JSocket::new(&sockets[live[i].index], walked));
        let acted = WriteAhead::new(sink, reap_run()).act(
            &items,
            |&i| {
                ka_record(
                    live[i],
                    socket_of(i),
                    json!({"pid": held[i].map(|h| h.0), "fd": held[i].map(|h| h.1)}),
                )
            },
            |batch| {
                batch
                    .iter()
                    .map(|&i| {
                        let job = live[i];
                        let Some(spec) = cfg.rules[job.rule].keepalive else {
                            return ("failed", None, Some("no keepalive settings".to_string()));
                        };
                        // Only keepalive and its timings: the application's TCP_USER_TIMEOUT stays.
                        let want = Change::keepalive(spec.idle, spec.intvl, spec.count);
                        match held[i] {
                            None => (
                                "failed",
                                None,
                                Some("no process holds it (it closed, or its owner exited)".to_string()),
                            ),
                            Some((pid, fd)) => match retrofit(pid, fd, sockets[job.index].inode, &want) {
                                Ok(done) => ("set", Some(done.before), None),
                                Err(f) => ("failed", f.before, Some(f.to_string())),
                            },
                        }
                    })
                    .collect()
            },
            |&i, (outcome, before, error): &(&str, Option<sockdoc_act::keepalive::Keepalive>, Option<String>)| {
                ka_record(
                    live[i],
                    socket_of(i),
                    json!({
                        "outcome": outcome,
                        "before": before.map(|b| json!({"keepalive": b.enabled, "idle": b.idle, "intvl": b.intvl, "count": b.cnt, "user_timeout_ms": b.user_timeout_ms})),
                        "error": error,
                        "pid": held[i].map(|h| h.0),
                        "fd": held[i].map(|h| h.1),
                    }),
                )
            },
        );
        let (done, stopped) = match acted {
            Ok(done) => (done, None),
            Err(st) => (st.done, Some(st.error)),
        };
        for (i, (outcome, _, _)) in done.iter().enumerate() {
            count_ka(live[i], outcome);
        }
        if let Some(e) = stopped {
            return Err(ScanError::Fatal(Failure::new(
                Exit::Io,
                format!(
                    "cannot write the action log {}: {e}; stopped before the next keepalive change (free space there or choose another --log)",
                    sink.name()
                ),
            )));
        }
    }
    Ok(())
}

/// The id of this daemon's run in its write-ahead records.
fn reap_run() -> &'static str {
    static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    RUN.get_or_init(run_id)
}

/// A kill's action record: its rule, why it was chosen and the socket (as a dry run and the live
/// intent and outcome records all say them), with `more` (outcome, phase, ...) added.
fn kill_record(
    cfg: &Config,
    k: &sockdoc_core::reap::decide::Kill,
    socket: Value,
    more: Value,
) -> Value {
    let mut v = json!({
        "action": "kill",
        "rule": cfg.rules[k.rule].name,
        "reason": k.reason.key(),
        "why": k.why,
        "idle_ms": k.idle_ms,
        "age_ms": k.age_ms,
        "age_at_least": k.age_at_least,
        "socket": socket,
    });
    if let (Some(o), Value::Object(more)) = (v.as_object_mut(), more) {
        o.extend(more);
    }
    v
}

/// A kill's outcome from its attempts: `killed`, `gone` (it closed by itself first) or `failed`.
fn kill_outcome(attempts: &[Attempt]) -> &'static str {
    if attempts.iter().any(|t| t.error.is_none()) {
        "killed"
    } else if !attempts.is_empty() && attempts.iter().all(already_gone) {
        "gone"
    } else {
        "failed"
    }
}

/// Count the kills acted on (and the dry-run ones when `dry_too`) in the metrics, and flag the failed
/// ones in the tracker. A kill not reached (a run stopped by the log) has no attempts and is left out.
fn count_kills(
    cfg: &Config,
    kills: &[sockdoc_core::reap::decide::Kill],
    tries: &[Vec<Attempt>],
    sockets: &[Socket],
    tracker: &mut Tracker,
    m: &Metrics,
    dry_too: bool,
) {
    for (k, attempts) in kills.iter().zip(tries) {
        let outcome = if k.dry_run {
            if !dry_too {
                continue;
            }
            "would kill"
        } else if attempts.is_empty() {
            continue;
        } else {
            kill_outcome(attempts)
        };
        if outcome == "failed" {
            tracker.set_flag(sockets[k.index].cookie, flag::KILL_FAILED);
        }
        m.kills
            .get_or_create(&KillLabels {
                rule: cfg.rules[k.rule].name.clone(),
                reason: k.reason.key().into(),
                outcome: outcome.replace(' ', "-"),
            })
            .inc();
    }
}

/// SOCK_DESTROY's answer when the socket closed by itself between the census and the kill.
fn already_gone(a: &Attempt) -> bool {
    a.method == Method::Destroy && a.error.as_deref() == Some("the socket is already gone")
}

/// The kill ladder on a scan's sockets: SOCK_DESTROY for all; for those it could not close (and that
/// did not close by themselves), shutdown through the owner's fd, then the forged RST (the owners are
/// walked only then, once).
fn kill_ladder(
    diag: &mut DiagSocket,
    items: &[Socket],
    owners: &mut LazyOwners,
) -> Vec<Vec<Attempt>> {
    let none: Vec<(Socket, Option<(u32, u32)>)> = items.iter().map(|s| (*s, None)).collect();
    let mut tries = kill_many(diag, &none, &[Method::Destroy], &RstOptions::default());
    let retry: Vec<usize> = (0..items.len())
        .filter(|&i| {
            tries[i]
                .iter()
                .all(|t| t.error.is_some() && !already_gone(t))
        })
        .collect();
    if retry.is_empty() {
        return tries;
    }
    let o = owners.get();
    let rest: Vec<(Socket, Option<(u32, u32)>)> = retry
        .iter()
        .map(|&i| {
            let s = items[i];
            let owner = o
                .and_then(|o| o.owners(s.inode).next())
                .filter(|_| s.inode != 0)
                .map(|w| (w.pid, w.fd));
            (s, owner)
        })
        .collect();
    let more = kill_many(
        diag,
        &rest,
        &[Method::Shutdown, Method::Rst],
        &RstOptions::default(),
    );
    for (&i, m) in retry.iter().zip(more) {
        tries[i].extend(m);
    }
    tries
}
