//! `sockdoc reap --config reap.toml`: a daemon enforcing idle policies on services that never set their
//! own. Every `interval` it runs one census (tcp_info; owners only when a rule or keepalive needs
//! them), lets `sockdoc_core::reap` decide, acts through `sockdoc-act` (the kill ladder: SOCK_DESTROY,
//! then shutdown through the owner's fd, then a forged RST; keepalive retrofit), and writes one JSON
//! line per action. Counters are on `/metrics` (loopback by default).
//! SIGHUP reloads the configuration (a bad one is rejected and the old one kept); SIGINT/SIGTERM stop
//! it cleanly. Every run that logged its start logs its stop, also when a failure ends it; its stderr
//! lines never panic (a closed stderr loses them, nothing else). It decides nothing itself: the policy
//! is in the core crate.

use std::collections::HashMap;
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
use serde::Serialize;
use serde_json::{json, Value};
use sockdoc_act::audit::{run_id, AuditLog, Journal, WriteAhead};
use sockdoc_act::keepalive::Change;
use sockdoc_act::kill::{Method, RstOptions};
use sockdoc_act::treat::keepalive::KeepaliveRecord;
use sockdoc_act::treat::kill::{KillRecord, Ladder, Verdict};
use sockdoc_act::treat::{self, Context};
use sockdoc_core::reap::decide::{Keep, Kill};
use sockdoc_core::reap::track::flag;
use sockdoc_core::reap::{decide, decide::Input, Config, OwnSsh, SpareReason, Tracker};
use sockdoc_core::session::{
    Needs, OwnerSource, Plan, ProcFds, Protocols, Refresh, Scope, Session,
};
use sockdoc_core::{NoOwners, Owners};
use sockdoc_diag::{DiagSocket, Socket, State};
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

    // Kills, idlest first, then keepalive retrofits: through the treat path, recorded ahead.
    act_kills(
        ns,
        cfg,
        session,
        &d.kills,
        &sockets,
        diag,
        &mut owners,
        tracker,
        m,
        sink,
    )?;
    act_keepalive(cfg, &d.keepalive, &sockets, &mut owners, m, sink)
}

/// What a reap record says of a kill besides the socket: the rule, why it was chosen.
#[derive(Serialize)]
struct KillWhy<'a> {
    schema: u32,
    /// The socket as `--json` shows it (with its processes once they were walked).
    socket: Value,
    rule: &'a str,
    reason: &'static str,
    why: &'a str,
    idle_ms: Option<u64>,
    age_ms: u64,
    age_at_least: bool,
}

fn kill_why<'a>(
    cfg: &'a Config,
    k: &'a Kill,
    s: &Socket,
    owners: Option<&SocketOwners>,
) -> KillWhy<'a> {
    KillWhy {
        schema: SCHEMA,
        socket: serde_json::to_value(JSocket::new(s, owners)).unwrap_or(Value::Null),
        rule: &cfg.rules[k.rule].name,
        reason: k.reason.key(),
        why: &k.why,
        idle_ms: k.idle_ms,
        age_ms: k.age_ms,
        age_at_least: k.age_at_least,
    }
}

/// The ladder of every reap kill: SOCK_DESTROY, then shutdown through the owner's fd (the owners are
/// walked only then, once), then the forged RST.
const LADDER: [Method; 3] = [Method::Destroy, Method::Shutdown, Method::Rst];

/// The scan's kills through the treat path ([`treat::kill::kill`]): recorded ahead, the kernel read
/// again once, what is still there flagged in the tracker; dry-run ones only recorded.
#[allow(clippy::too_many_arguments)]
fn act_kills(
    ns: &Netns,
    cfg: &Config,
    session: &Session,
    kills: &[Kill],
    sockets: &[Socket],
    diag: &mut Option<DiagSocket>,
    owners: &mut LazyOwners,
    tracker: &mut Tracker,
    m: &Metrics,
    sink: &mut Sink,
) -> Result<(), ScanError> {
    let ctx = Context {
        via: "reap",
        filter: None,
        uid: uid(),
    };
    let ladder_names = treat::kill::names(&LADDER);
    let live: Vec<&Kill> = kills.iter().filter(|k| !k.dry_run).collect();
    if !live.is_empty() && diag.is_none() {
        match scope::diag_socket(ns) {
            Ok(s) => *diag = Some(s),
            Err(f) => return Err(ScanError::Census(f.message)),
        }
    }
    if let (Some(dg), false) = (diag.as_mut(), live.is_empty()) {
        let chosen: Vec<Socket> = live.iter().map(|k| sockets[k.index]).collect();
        let lazy = std::cell::RefCell::new(std::mem::replace(
            owners,
            LazyOwners {
                walked: None,
                tried: true,
            },
        ));
        let mut reread = |_: &[Socket]| -> Result<HashMap<u64, State>, ScanError> {
            let now = session
                .sample(ns)
                .map_err(|e| ScanError::Census(Failure::census(e).message))?;
            Ok(now.sockets.iter().map(|s| (s.cookie, s.state)).collect())
        };
        let how = Ladder {
            methods: &LADDER,
            rst: RstOptions::default(),
        };
        let mut wa = WriteAhead::new(sink, reap_run());
        let report = treat::kill::kill(
            dg,
            &chosen,
            &mut |i| {
                let s = &chosen[i];
                lazy.borrow_mut()
                    .get()
                    .and_then(|o| crate::cmd::treat::owner_of(Some(o), s))
            },
            // The owners are walked (mutably) only by the shutdown rung, never while a record is
            // built: the two borrows never meet.
            &|i| kill_why(cfg, live[i], &chosen[i], lazy.borrow().walked.as_ref()),
            &how,
            &ctx,
            &mut wa,
            &mut reread,
        )?;
        *owners = lazy.into_inner();
        for (k, done) in live.iter().zip(&report.done) {
            count_kill(cfg, k, done.verdict.name(), m);
            if done.verdict == Verdict::Failed {
                tracker.set_flag(done.socket.cookie, flag::KILL_FAILED);
            }
        }
        if let Some(st) = report.stopped {
            return Err(ScanError::Fatal(Failure::new(
                Exit::Io,
                format!(
                    "cannot write the action log {}: {}; stopped before the next kill (free space there or choose another --log)",
                    sink.name(),
                    st.error
                ),
            )));
        }
    }
    for k in kills.iter().filter(|k| k.dry_run) {
        count_kill(cfg, k, "would kill", m);
        let why = kill_why(cfg, k, &sockets[k.index], owners.walked.as_ref());
        let rec = KillRecord::would_kill(&ctx, &ladder_names, why);
        sink.write(serde_json::to_value(rec).unwrap_or(Value::Null))?;
    }
    Ok(())
}

/// The scan's keepalive retrofits through the treat path ([`treat::keepalive::keepalive`]): live ones
/// recorded ahead (intents with the options before), dry-run ones only recorded.
fn act_keepalive(
    cfg: &Config,
    jobs: &[Keep],
    sockets: &[Socket],
    owners: &mut LazyOwners,
    m: &Metrics,
    sink: &mut Sink,
) -> Result<(), ScanError> {
    let count_ka = |job: &Keep, outcome: &str| {
        m.keepalive
            .get_or_create(&OutcomeLabels {
                rule: cfg.rules[job.rule].name.clone(),
                outcome: outcome.replace(' ', "-"),
            })
            .inc();
    };
    let ctx = Context {
        via: "reap",
        filter: None,
        uid: uid(),
    };
    let jobs: Vec<(&Keep, Change)> = jobs
        .iter()
        .filter_map(|j| {
            let spec = cfg.rules[j.rule].keepalive?;
            // Only keepalive and its timings: the application's TCP_USER_TIMEOUT stays.
            Some((j, Change::keepalive(spec.idle, spec.intvl, spec.count)))
        })
        .collect();
    fn about<'a>(
        cfg: &'a Config,
        s: &Socket,
        job: &Keep,
        owners: Option<&'a SocketOwners>,
    ) -> RuleAbout<'a> {
        RuleAbout {
            schema: SCHEMA,
            socket: JSocket::new(s, owners),
            rule: &cfg.rules[job.rule].name,
        }
    }
    for (job, change) in jobs.iter().filter(|(j, _)| j.dry_run) {
        count_ka(job, "would set");
        let rec = KeepaliveRecord::new(
            &ctx,
            change,
            None,
            about(cfg, &sockets[job.index], job, owners.walked.as_ref()),
            true,
        );
        sink.write(serde_json::to_value(rec).unwrap_or(Value::Null))?;
    }
    // One change per rule: the jobs of each rule go through the treat path together.
    for (r, _) in cfg.rules.iter().enumerate() {
        let live: Vec<&(&Keep, Change)> = jobs
            .iter()
            .filter(|(j, _)| !j.dry_run && j.rule == r)
            .collect();
        let Some((_, change)) = live.first() else {
            continue;
        };
        // The owners are looked up once, before the intents, so intent and act name the same fd.
        let chosen: Vec<Socket> = live.iter().map(|(j, _)| sockets[j.index]).collect();
        let walked = owners.get();
        let held: Vec<Option<(u32, u32)>> = chosen
            .iter()
            .map(|s| crate::cmd::treat::owner_of(walked, s))
            .collect();
        let mut wa = WriteAhead::new(sink, reap_run());
        let report = treat::keepalive::keepalive(
            &chosen,
            &|i| held[i],
            &|i| about(cfg, &chosen[i], live[i].0, walked),
            change,
            &ctx,
            &mut wa,
        );
        for (i, d) in report.done.iter().enumerate() {
            count_ka(live[i].0, d.outcome());
        }
        if let Some(st) = report.stopped {
            return Err(ScanError::Fatal(Failure::new(
                Exit::Io,
                format!(
                    "cannot write the action log {}: {}; stopped before the next keepalive change (free space there or choose another --log)",
                    sink.name(),
                    st.error
                ),
            )));
        }
    }
    Ok(())
}

/// What a reap record says of a keepalive change besides the socket: the rule.
#[derive(Serialize)]
struct RuleAbout<'a> {
    schema: u32,
    socket: JSocket<'a>,
    rule: &'a str,
}

/// The id of this daemon's run in its write-ahead records.
fn reap_run() -> &'static str {
    static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    RUN.get_or_init(run_id)
}

/// Count one kill in the metrics.
fn count_kill(cfg: &Config, k: &Kill, outcome: &str, m: &Metrics) {
    m.kills
        .get_or_create(&KillLabels {
            rule: cfg.rules[k.rule].name.clone(),
            reason: k.reason.key().into(),
            outcome: outcome.replace(' ', "-"),
        })
        .inc();
}
