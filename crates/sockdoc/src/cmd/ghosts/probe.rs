//! `sockdoc ghosts --probe [--reap]`: verdicts for ghost suspects. Probing through the owner's fd changes
//! socket options for a few seconds and puts them back; suspects no reachable process holds get raw
//! probes (forged keepalive segments, nothing changed on the socket). Every step, and any reaping, goes
//! to the audit log.

use std::collections::HashMap;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use sockdoc_act::audit::{run_id, AuditLog, WriteAhead};
use sockdoc_act::challenge::Challenger;
use sockdoc_act::kill::{Method, RstOptions};
use sockdoc_act::probe::{self, raw_probe, Probing, RawProbeOptions, RawVerdict};
use sockdoc_act::treat::kill::{Ladder, Says};
use sockdoc_act::treat::{self, Context};
use sockdoc_core::i18n::treat::{text as tr, TreatMsg, RECORDED};
use sockdoc_core::i18n::Lang;
use sockdoc_diag::{Socket, TimerKind};
use sockdoc_proc::{Netns, SocketOwners};

use crate::error::{Exit, Failure};
use crate::json::{write_pretty, JNetns, JSocket, SCHEMA};
use crate::report::Report;
use crate::scope;
use crate::treat::{confirm, ends, now_rfc3339, open_audit, owner_of, uid};
use sockdoc_core::session::Session;

pub struct ProbeRun<'a> {
    pub ns: &'a Netns,
    /// The census that selected the suspects, for the re-reads.
    pub session: &'a Session,
    pub suspects: &'a [Socket],
    pub owners: Option<&'a SocketOwners>,
    pub threshold_ms: u64,
    pub probe_time: Duration,
    pub reap: bool,
    pub yes: bool,
    pub audit_log: Option<&'a std::path::PathBuf>,
    /// The report as JSON (else as text in `lang`).
    pub json: bool,
    pub lang: Lang,
    pub filter_text: String,
}

/// How one suspect is probed.
enum How {
    Keepalive(Probing),
    /// Index into the raw-probe list.
    Raw(usize),
}

/// A verdict on a suspect.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Alive,
    Dead,
    Unknown,
}

impl Verdict {
    /// As the JSON and the audit log say it.
    pub fn key(self) -> &'static str {
        match self {
            Verdict::Alive => "alive",
            Verdict::Dead => "dead",
            Verdict::Unknown => "unknown",
        }
    }

    /// As a person reads it (`ALIVE`), in `lang`.
    pub fn word(self, lang: Lang) -> String {
        let m = match self {
            Verdict::Alive => TreatMsg::PrAlive,
            Verdict::Dead => TreatMsg::PrDead,
            Verdict::Unknown => TreatMsg::PrUnknown,
        };
        tr(lang, m, &[])
    }
}

/// Why a verdict is what it is. Worded by the catalog; the JSON and the audit log keep the English.
enum Why {
    /// The socket was gone after the keepalive probes.
    Gone,
    /// The peer acknowledged a probe this many ms ago.
    Acked(u64),
    /// This many keepalive probes went unanswered.
    Unanswered(u8),
    TooFew,
    RawAnswered(u64),
    RawReset,
    RawSilent(u32, Duration),
    RawTooFew(u32),
    /// No raw probes could be sent, and why.
    NoRaw(String),
    /// As the prober said it.
    Said(String),
}

/// A verdict's reason: why, and, when probing through the owner failed, why raw probes were used.
pub struct Reason {
    why: Why,
    /// (pid, fd, error) of the owner that could not be borrowed.
    fallback: Option<(u32, u32, String)>,
}

impl Reason {
    pub fn words(&self, lang: Lang) -> String {
        let t = |m, args: &[&str]| tr(lang, m, args);
        let mut w = match &self.why {
            Why::Gone => t(TreatMsg::PrGone, &[]),
            Why::Acked(ms) => t(TreatMsg::PrAcked, &[&ms.to_string()]),
            Why::Unanswered(n) => t(TreatMsg::PrUnanswered, &[&n.to_string()]),
            Why::TooFew => t(TreatMsg::PrTooFew, &[]),
            Why::RawAnswered(ms) => t(TreatMsg::PrRawAnswered, &[&ms.to_string()]),
            Why::RawReset => t(TreatMsg::PrRawReset, &[]),
            Why::RawSilent(n, d) => t(TreatMsg::PrRawSilent, &[&n.to_string(), &format!("{d:?}")]),
            Why::RawTooFew(n) => t(TreatMsg::PrRawTooFew, &[&n.to_string()]),
            Why::NoRaw(why) => t(TreatMsg::PrNoRaw, &[why]),
            Why::Said(why) => why.clone(),
        };
        if let Some((pid, fd, e)) = &self.fallback {
            let cannot = t(
                TreatMsg::PrCannotProbe,
                &[&pid.to_string(), &fd.to_string(), e],
            );
            w.push_str(&t(TreatMsg::PrFallback, &[&cannot]));
        }
        w
    }
}

/// One suspect's verdict and what was done about it.
pub struct Judged {
    /// `keepalive` (through the owner's fd) or `raw` (forged probes).
    pub method: &'static str,
    pub verdict: Verdict,
    pub reason: Reason,
    pub restored: bool,
    pub reaped: bool,
}

/// The probes started: how each suspect is probed, the suspects that get raw probes, and why
/// probing through the owner failed where it did.
struct Started {
    hows: Vec<How>,
    raw: Vec<Socket>,
    fallback: HashMap<usize, (u32, u32, String)>,
}

pub fn run(p: &ProbeRun, out: &mut dyn Write) -> Result<Exit, Failure> {
    let (judged, stopped) = probe_all(p)?;
    let dead = judged.iter().filter(|j| j.verdict == Verdict::Dead).count();
    let report = ProbeReport { p, judged };
    crate::report::write_as(p.json, p.lang, &report, out).map_err(Failure::output)?;
    if let Some(f) = stopped {
        return Err(f);
    }
    Ok(if dead > 0 && !p.reap {
        Exit::Warning
    } else {
        Exit::Ok
    })
}

/// Probe `p.suspects` and judge each one (in their order), reaping the dead with `p.reap`; the
/// typed result for the report and for `top`. The second value is the audit log's failure, when
/// the run stopped on it (what was judged stands).
pub fn probe_all(p: &ProbeRun) -> Result<(Vec<Judged>, Option<Failure>), Failure> {
    if !scope::is_root() {
        return Err(Failure::new(
            Exit::NoPerm,
            tr(p.lang, TreatMsg::PrNeedsRoot, &[]),
        ));
    }
    if p.reap {
        confirm(p.lang, TreatMsg::ActReapDead, p.suspects.len(), p.yes)?;
    }
    let mut audit = open_audit(p.lang, p.audit_log)?;
    let run = run_id();
    let st = start(p, &mut audit, &run)?;
    let started = Instant::now();
    let keepalive_n = st.hows.len() - st.raw.len();
    if !p.json && !st.hows.is_empty() {
        let n = [st.hows.len(), keepalive_n, st.raw.len()].map(|n| n.to_string());
        let time = format!("{:?}", p.probe_time);
        let line = tr(p.lang, TreatMsg::PrProbing, &[&n[0], &time, &n[1], &n[2]]);
        crate::log::log_line!("{line}");
    }
    let raw_verdicts = raw_probes(p, &st.raw);
    if keepalive_n > 0 {
        if let Some(rest) = p.probe_time.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    let after = crate::census::sample(p.session, p.ns, p.owners)?.sockets;
    let now: HashMap<u64, Socket> = after.iter().map(|s| (s.cookie, *s)).collect();
    let mut judged = judge(p, st, &raw_verdicts, &now);
    let stopped = reap(p, &mut judged, &now, &mut audit, &run)?;
    if stopped.is_none() {
        for (s, j) in p.suspects.iter().zip(&judged) {
            let record = serde_json::json!({
                "time": now_rfc3339(), "action": "probe-end", "method": j.method,
                "verdict": j.verdict.key(), "reason": j.reason.words(RECORDED),
                "restored": j.restored, "socket": JSocket::new(s, p.owners), "uid": uid(),
            });
            audit.append(&record.to_string()).map_err(|e| {
                Failure::new(
                    Exit::Io,
                    tr(p.lang, TreatMsg::PrAuditWrite, &[&e.to_string()]),
                )
            })?;
        }
    }
    Ok((judged, stopped))
}

/// Start the keepalive probes through the owners' fds. They change the suspects' options until the
/// verdicts: recorded ahead like every act (an intent on disk before a batch starts; what it had
/// before in the outcome record). The others get raw probes, which change nothing on the socket.
fn start(p: &ProbeRun, audit: &mut AuditLog, run: &str) -> Result<Started, Failure> {
    let reachable: Vec<(usize, u32, u32)> = p
        .suspects
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            p.owners
                .and_then(|o| o.owners(s.inode).next())
                .map(|o| (i, o.pid, o.fd))
        })
        .collect();
    let record = |i: usize, more: serde_json::Value| {
        let mut r = json!({
            "time": now_rfc3339(), "action": "probe-start", "method": "keepalive",
            "socket": JSocket::new(&p.suspects[i], p.owners), "filter": p.filter_text, "uid": uid(),
        });
        if let (Some(r), serde_json::Value::Object(more)) = (r.as_object_mut(), more) {
            r.extend(more);
        }
        r
    };
    // Every probe holds its borrowed fd until it is restored.
    sockdoc_act::pidfd::make_room(reachable.len() + 64);
    let started_probes = WriteAhead::new(audit, run).act(
        &reachable,
        |&(i, pid, fd)| record(i, json!({"pid": pid, "fd": fd})),
        |batch| {
            batch
                .iter()
                .map(|&(i, pid, fd)| probe::start(pid, fd, p.suspects[i].inode))
                .collect::<Vec<_>>()
        },
        |&(i, pid, fd), started| {
            record(
                i,
                match started {
                    Ok(pr) => json!({
                        "pid": pid, "fd": fd, "outcome": "started",
                        "before": {"keepalive": pr.original.enabled, "idle": pr.original.idle, "intvl": pr.original.intvl, "cnt": pr.original.cnt},
                    }),
                    Err(e) => json!({"pid": pid, "fd": fd, "outcome": "failed", "error": e.to_string()}),
                },
            )
        },
    );
    let started_probes = match started_probes {
        Ok(done) => done,
        Err(st) => {
            // Nothing more is started; what was started gets its options back before stopping.
            for pr in st.done.into_iter().flatten() {
                let _ = pr.restore();
            }
            let none = tr(p.lang, TreatMsg::PrNoneProbed, &[]);
            return Err(audit_stopped(p.lang, audit.path(), &st.error, &none));
        }
    };
    let mut by_suspect: HashMap<usize, (u32, u32, std::io::Result<Probing>)> = reachable
        .iter()
        .zip(started_probes)
        .map(|(&(i, pid, fd), r)| (i, (pid, fd, r)))
        .collect();
    let mut st = Started {
        hows: Vec::new(),
        raw: Vec::new(),
        fallback: HashMap::new(),
    };
    for (i, s) in p.suspects.iter().enumerate() {
        let how = match by_suspect.remove(&i) {
            Some((_, _, Ok(pr))) => How::Keepalive(pr),
            Some((pid, fd, Err(e))) => {
                st.fallback.insert(i, (pid, fd, e.to_string()));
                How::Raw(st.raw.len())
            }
            None => How::Raw(st.raw.len()),
        };
        if let How::Raw(_) = how {
            st.raw.push(*s);
        }
        st.hows.push(how);
    }
    Ok(st)
}

/// Raw probes to `raw` (the suspects no owner's fd could probe), from the suspects' namespace.
fn raw_probes(p: &ProbeRun, raw: &[Socket]) -> Vec<Result<RawVerdict, String>> {
    if raw.is_empty() {
        return Vec::new();
    }
    match scope::in_ns(p.ns, || {
        Challenger::open().map_err(|e| Failure::new(Exit::Unavailable, e.to_string()))
    }) {
        Ok(mut session) => {
            let opts = RawProbeOptions {
                time: p.probe_time,
                ..RawProbeOptions::default()
            };
            raw_probe(&mut session, raw, &opts)
                .into_iter()
                .map(Ok)
                .collect()
        }
        Err(f) => raw.iter().map(|_| Err(f.message.clone())).collect(),
    }
}

/// The verdicts, from the kernel read again after probing (and the original options back on
/// every keepalive-probed suspect still there).
fn judge(
    p: &ProbeRun,
    mut st: Started,
    raw: &[Result<RawVerdict, String>],
    now: &HashMap<u64, Socket>,
) -> Vec<Judged> {
    let probe_ms = p.probe_time.as_millis() as u64;
    let mut judged = Vec::with_capacity(st.hows.len());
    for (i, how) in st.hows.into_iter().enumerate() {
        let s = &p.suspects[i];
        let (method, (verdict, why)) = match &how {
            How::Raw(k) => ("raw", raw_verdict(&raw[*k], p.probe_time)),
            How::Keepalive(_) => ("keepalive", keepalive_verdict(now.get(&s.cookie), probe_ms)),
        };
        let restored = match how {
            How::Keepalive(pr) if now.contains_key(&s.cookie) => pr.restore().is_ok(),
            _ => false,
        };
        let fallback = st.fallback.remove(&i);
        judged.push(Judged {
            method,
            verdict,
            reason: Reason { why, fallback },
            restored,
            reaped: false,
        });
    }
    judged
}

/// Reap the dead still there (with `--reap`), recorded ahead; marks those the re-read shows gone.
/// The failure when the audit log stopped the run.
fn reap(
    p: &ProbeRun,
    judged: &mut [Judged],
    now: &HashMap<u64, Socket>,
    audit: &mut AuditLog,
    run: &str,
) -> Result<Option<Failure>, Failure> {
    let doomed: Vec<usize> = (0..judged.len())
        .filter(|&i| {
            p.reap && judged[i].verdict == Verdict::Dead && now.contains_key(&p.suspects[i].cookie)
        })
        .collect();
    if doomed.is_empty() {
        return Ok(None);
    }
    let sockets: Vec<Socket> = doomed.iter().map(|&i| p.suspects[i]).collect();
    let reasons: Vec<String> = doomed
        .iter()
        .map(|&i| judged[i].reason.words(RECORDED))
        .collect();
    let (r, stopped) = reap_dead(p, &sockets, &|k| reasons[k].clone(), audit, run)?;
    for (k, done) in r.into_iter().enumerate() {
        judged[doomed[k]].reaped = done;
    }
    Ok(stopped)
}

#[derive(Serialize)]
struct JVerdict<'a> {
    socket: JSocket<'a>,
    /// `keepalive` (through the owner's fd) or `raw` (forged probes).
    method: &'static str,
    verdict: &'static str,
    reason: String,
    restored: bool,
    reaped: bool,
}

#[derive(Serialize)]
struct JDoc<'a> {
    schema: u32,
    command: &'static str,
    netns: JNetns<'a>,
    threshold_ms: u64,
    probe_ms: u64,
    alive: usize,
    dead: usize,
    unknown: usize,
    results: Vec<JVerdict<'a>>,
}

/// What `ghosts --probe` shows: each suspect's verdict, then the counts.
struct ProbeReport<'a> {
    p: &'a ProbeRun<'a>,
    judged: Vec<Judged>,
}

impl ProbeReport<'_> {
    fn count(&self, v: Verdict) -> usize {
        self.judged.iter().filter(|j| j.verdict == v).count()
    }
}

impl Report for ProbeReport<'_> {
    fn text(&self, out: &mut dyn Write, lang: Lang) -> io::Result<()> {
        for (s, j) in self.p.suspects.iter().zip(&self.judged) {
            let (l, r) = ends(&JSocket::new(s, self.p.owners));
            let reaped = if j.reaped {
                tr(lang, TreatMsg::PrReaped, &[])
            } else {
                String::new()
            };
            let (verdict, why) = (j.verdict.word(lang), j.reason.words(lang));
            writeln!(
                out,
                "{verdict:<8} {:<9} {l} -> {r}  {why}{reaped}",
                j.method
            )?;
        }
        let n =
            [Verdict::Dead, Verdict::Alive, Verdict::Unknown].map(|v| self.count(v).to_string());
        writeln!(
            out,
            "{}",
            tr(lang, TreatMsg::PrSummary, &[&n[0], &n[1], &n[2]])
        )
    }

    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        let p = self.p;
        let results = p
            .suspects
            .iter()
            .zip(&self.judged)
            .map(|(s, j)| JVerdict {
                socket: JSocket::new(s, p.owners),
                method: j.method,
                verdict: j.verdict.key(),
                reason: j.reason.words(RECORDED),
                restored: j.restored,
                reaped: j.reaped,
            })
            .collect();
        let doc = JDoc {
            schema: SCHEMA,
            command: "ghosts-probe",
            netns: JNetns::new(p.ns),
            threshold_ms: p.threshold_ms,
            probe_ms: p.probe_time.as_millis() as u64,
            alive: self.count(Verdict::Alive),
            dead: self.count(Verdict::Dead),
            unknown: self.count(Verdict::Unknown),
            results,
        };
        write_pretty(out, &doc)
    }
}

/// What a `ghosts --probe --reap` kill record says besides the socket: why it was chosen.
#[derive(Serialize)]
struct DeadAbout<'a> {
    socket: JSocket<'a>,
    #[serde(flatten)]
    dead: Dead,
}

/// Why a suspect is reaped, in its kill records.
#[derive(Serialize)]
struct Dead {
    /// `dead: ` and the probe's verdict.
    reason: String,
}

/// Reap the dead `sockets` through the treat path ([`treat::kill::kill`]): the ladder recorded ahead,
/// each batch read again as soon as it is acted on; reaped only when the re-read no longer shows the socket (or, after a
/// shutdown, shows it in another state). `why(k)` is the verdict of `sockets[k]`. Returns per socket
/// whether it was reaped, and the failure when the audit log stopped the run.
fn reap_dead(
    p: &ProbeRun,
    sockets: &[Socket],
    why: &(dyn Fn(usize) -> String + Sync),
    audit: &mut AuditLog,
    run: &str,
) -> Result<(Vec<bool>, Option<Failure>), Failure> {
    let mut diag = scope::diag_socket(p.ns)?;
    let methods = [Method::Destroy, Method::Shutdown, Method::Rst];
    let how = Ladder {
        methods: &methods,
        rst: RstOptions::default(),
    };
    let ctx = Context {
        via: "ghosts --probe --reap",
        filter: Some(&p.filter_text),
        uid: uid(),
    };
    let path = audit.path().to_path_buf();
    let mut wa = WriteAhead::new(audit, run);
    let report = treat::kill::kill(
        &mut diag,
        sockets,
        &mut |k| owner_of(p.owners, &sockets[k]),
        &Says {
            intent: &|k| DeadAbout {
                socket: JSocket::new(&sockets[k], p.owners),
                dead: Dead {
                    reason: format!("dead: {}", why(k)),
                },
            },
            why: &|k| Dead {
                reason: format!("dead: {}", why(k)),
            },
        },
        &how,
        &ctx,
        &mut wa,
        &mut treat::Lookup,
    );
    let stopped = report.stopped.map(|st| {
        let left = (sockets.len() - report.done.len()).to_string();
        let what = tr(p.lang, TreatMsg::PrNotReaped, &[&left]);
        audit_stopped(p.lang, &path, &st.error, &what)
    });
    let mut reaped: Vec<bool> = report.done.iter().map(|k| k.killed()).collect();
    reaped.resize(sockets.len(), false);
    Ok((reaped, stopped))
}

/// Verdict of a keepalive probe from the socket as the kernel shows it afterwards.
fn keepalive_verdict(now: Option<&Socket>, probe_ms: u64) -> (Verdict, Why) {
    let Some(n) = now else {
        return (Verdict::Dead, Why::Gone);
    };
    let ack = n.tcp.map_or(u64::MAX, |t| u64::from(t.last_ack_recv_ms));
    if ack.saturating_add(500) < probe_ms {
        (Verdict::Alive, Why::Acked(ack))
    } else if n.timer.kind == TimerKind::Keepalive && n.timer.count >= 2 {
        (Verdict::Dead, Why::Unanswered(n.timer.count))
    } else {
        (Verdict::Unknown, Why::TooFew)
    }
}

/// Verdict of raw probes (or why none could be sent).
fn raw_verdict(v: &Result<RawVerdict, String>, probe_time: Duration) -> (Verdict, Why) {
    match v {
        Ok(RawVerdict::Alive { after_ms }) => (Verdict::Alive, Why::RawAnswered(*after_ms)),
        Ok(RawVerdict::Reset) => (Verdict::Dead, Why::RawReset),
        Ok(RawVerdict::Silent { probes }) if *probes >= 2 => {
            (Verdict::Dead, Why::RawSilent(*probes, probe_time))
        }
        Ok(RawVerdict::Silent { probes }) => (Verdict::Unknown, Why::RawTooFew(*probes)),
        Ok(RawVerdict::Unknown(why)) => (Verdict::Unknown, Why::Said(why.clone())),
        Err(why) => (Verdict::Unknown, Why::NoRaw(why.clone())),
    }
}

/// The probe run stopped on its audit log at `path`: one line saying `what` was (not) done.
fn audit_stopped(lang: Lang, path: &std::path::Path, e: &std::io::Error, what: &str) -> Failure {
    let args = [path.display().to_string(), e.to_string()];
    Failure::new(
        Exit::Io,
        tr(lang, TreatMsg::PrAuditStopped, &[&args[0], &args[1], what]),
    )
}
