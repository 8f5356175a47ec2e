//! A scan's acts through the treat path (`sockdoc_act::treat`): kills (the ladder, recorded ahead,
//! each batch read again as soon as it is acted on, what is still there flagged in the tracker) and keepalive retrofits
//! (recorded ahead with the options before); dry-run ones only recorded. The owners are read only
//! when an act needs them, at most once per scan ([`Session::owners_of`]).

use std::sync::OnceLock;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use serde_json::Value;
use sockdoc_act::audit::{run_id, uid, WriteAhead};
use sockdoc_act::keepalive::Change;
use sockdoc_act::kill::{Method, RstOptions};
use sockdoc_act::treat::keepalive::KeepaliveRecord;
use sockdoc_act::treat::kill::{KillRecord, Ladder, Says, Verdict};
use sockdoc_act::treat::{self, AuditStop, Context};
use sockdoc_core::reap::decide::{Keep, Kill};
use sockdoc_core::reap::track::flag;
use sockdoc_core::reap::Config;
use sockdoc_core::session::{scope, Sample};
use sockdoc_diag::{DiagSocket, Socket};
use sockdoc_proc::SocketOwners;

use crate::daemon::Daemon;
use crate::error::ReapError;
use crate::metrics::{KillLabels, OutcomeLabels};
use crate::scan::ScanError;
use crate::ShowSocket;

/// What a reap kill's intent (and dry-run) record says besides the act: the socket, and why.
#[derive(Serialize)]
struct KillAbout<'a> {
    schema: u32,
    /// The socket as `--json` shows it (with its processes once they were read).
    socket: Value,
    #[serde(flatten)]
    why: KillWhy<'a>,
}

/// Why a rule chose a socket: in the intent, and again in the outcome beside the socket named.
#[derive(Serialize)]
struct KillWhy<'a> {
    rule: &'a str,
    reason: &'static str,
    why: &'a str,
    idle_ms: Option<u64>,
    age_ms: u64,
    age_at_least: bool,
}

/// A reap kill's outcome fields besides the socket named: the schema, and why.
#[derive(Serialize)]
struct KillSaid<'a> {
    schema: u32,
    #[serde(flatten)]
    why: KillWhy<'a>,
}

/// What a reap record says of a keepalive change besides the socket: the rule.
#[derive(Serialize)]
struct RuleAbout<'a> {
    schema: u32,
    socket: Value,
    rule: &'a str,
}

/// The ladder of every reap kill: SOCK_DESTROY, then shutdown through the owner's fd (the owners are
/// read only then, once), then the forged RST.
const LADDER: [Method; 3] = [Method::Destroy, Method::Shutdown, Method::Rst];

const CONTEXT: fn() -> Context<'static> = || Context {
    via: "reap",
    filter: None,
    uid: uid(),
};

/// The id of this daemon's run in its write-ahead records.
fn reap_run() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(run_id)
}

/// The first (pid, fd) holding `s`, when the owners were read.
fn holder(owners: Option<&SocketOwners>, s: &Socket) -> Option<(u32, u32)> {
    owners
        .and_then(|o| o.owners(s.inode).next())
        .map(|o| (o.pid, o.fd))
}

/// What the records say besides the act: the socket as the caller shows it, the rule, why.
struct Why<'a> {
    cfg: &'a Config,
    schema: u32,
    socket: ShowSocket,
}

impl<'a> Why<'a> {
    fn kill<'b>(&self, k: &'b Kill, s: &Socket, owners: Option<&SocketOwners>) -> KillAbout<'b>
    where
        'a: 'b,
    {
        KillAbout {
            schema: self.schema,
            socket: (self.socket)(s, owners),
            why: self.why(k),
        }
    }

    /// Why `k` was chosen, for its outcome record.
    fn said<'b>(&self, k: &'b Kill) -> KillSaid<'b>
    where
        'a: 'b,
    {
        KillSaid {
            schema: self.schema,
            why: self.why(k),
        }
    }

    fn why<'b>(&self, k: &'b Kill) -> KillWhy<'b>
    where
        'a: 'b,
    {
        KillWhy {
            rule: &self.cfg.rules[k.rule].name,
            reason: k.reason.key(),
            why: &k.why,
            idle_ms: k.idle_ms,
            age_ms: k.age_ms,
            age_at_least: k.age_at_least,
        }
    }

    fn keep(&self, job: &Keep, s: &Socket, owners: Option<&SocketOwners>) -> RuleAbout<'a> {
        RuleAbout {
            schema: self.schema,
            socket: (self.socket)(s, owners),
            rule: &self.cfg.rules[job.rule].name,
        }
    }
}

impl Daemon<'_> {
    fn why(&self) -> Why<'_> {
        Why {
            cfg: &self.cfg,
            schema: self.out.schema,
            socket: self.socket,
        }
    }

    /// Count one kill in the metrics.
    fn count_kill(&self, k: &Kill, outcome: &str) {
        self.metrics
            .kills
            .get_or_create(&KillLabels {
                rule: self.cfg.rules[k.rule].name.clone(),
                reason: k.reason.key().into(),
                outcome: outcome.replace(' ', "-"),
            })
            .inc();
    }

    /// A write-ahead record could not be written: the daemon stops before the next act.
    fn stopped(&self, st: AuditStop, kill: bool) -> ScanError {
        ScanError::Fatal(ReapError::Stopped {
            log: self.out.path().map(ToOwned::to_owned),
            kill,
            error: st.error.to_string(),
        })
    }

    /// The scan's kills through [`treat::kill::kill`]; dry-run ones only recorded.
    pub(crate) fn kills(&mut self, sample: &mut Sample, kills: &[Kill]) -> Result<(), ScanError> {
        let live: Vec<&Kill> = kills.iter().filter(|k| !k.dry_run).collect();
        if !live.is_empty() {
            self.kill_live(sample, &live)?;
        }
        let ladder = treat::kill::names(&LADDER);
        for k in kills.iter().filter(|k| k.dry_run) {
            self.count_kill(k, "would kill");
            let why = self
                .why()
                .kill(k, &sample.sockets[k.index], sample.owner_map());
            let rec = KillRecord::would_kill(&CONTEXT(), &ladder, why);
            self.out
                .write(serde_json::to_value(rec).unwrap_or(Value::Null))?;
        }
        Ok(())
    }

    /// The live kills: recorded ahead, each batch read again once acted on, what is still there flagged.
    fn kill_live(&mut self, sample: &mut Sample, live: &[&Kill]) -> Result<(), ScanError> {
        if self.diag.is_none() {
            let opened = scope::within(&self.ns, || {
                DiagSocket::open().map_err(|e| ScanError::Census(e.to_string()))
            })?;
            self.diag = Some(opened);
        }
        let chosen: Vec<Socket> = live.iter().map(|k| sample.sockets[k.index]).collect();
        let why = Why {
            cfg: &self.cfg,
            schema: self.out.schema,
            socket: self.socket,
        };
        let session = &self.session;
        let Some(dg) = self.diag.as_mut() else {
            return Ok(());
        };
        // The owners are read (mutably, once, lazily) by the shutdown rung, and shared by the records,
        // which are built on several threads: a lock between them.
        let owned = Mutex::new(sample);
        let owned_now = || owned.lock().unwrap_or_else(PoisonError::into_inner);
        let how = Ladder {
            methods: &LADDER,
            rst: RstOptions::default(),
        };
        let mut wa = WriteAhead::new(&mut self.out, reap_run());
        let report = treat::kill::kill(
            dg,
            &chosen,
            &mut |i| holder(session.owners_of(&mut owned_now()), &chosen[i]),
            &Says {
                intent: &|i| why.kill(live[i], &chosen[i], owned_now().owner_map()),
                why: &|i| why.said(live[i]),
            },
            &how,
            &CONTEXT(),
            &mut wa,
            &mut treat::Lookup,
        );
        self.owner_error(&mut owned_now());
        for (k, done) in live.iter().zip(&report.done) {
            self.count_kill(k, done.verdict.name());
            if done.verdict == Verdict::Failed {
                self.tracker.set_flag(done.socket.cookie, flag::KILL_FAILED);
            }
        }
        match report.stopped {
            Some(st) => Err(self.stopped(st, true)),
            None => Ok(()),
        }
    }

    /// Say once on stderr that the owners could not be read for this scan (acts that need an owner's
    /// fd then fail with their own reason).
    fn owner_error(&self, sample: &mut Sample) {
        if let Some(e) = sample.owner_error.take() {
            sockdoc_runtime::log_line!("sockdoc reap: {e}");
        }
    }

    /// Count one keepalive change in the metrics.
    fn count_keep(&self, job: &Keep, outcome: &str) {
        self.metrics
            .keepalive
            .get_or_create(&OutcomeLabels {
                rule: self.cfg.rules[job.rule].name.clone(),
                outcome: outcome.replace(' ', "-"),
            })
            .inc();
    }

    /// The scan's keepalive retrofits through [`treat::keepalive::keepalive`]: live ones recorded
    /// ahead (intents with the options before), one run per rule; dry-run ones only recorded.
    pub(crate) fn keepalives(
        &mut self,
        sample: &mut Sample,
        jobs: &[Keep],
    ) -> Result<(), ScanError> {
        let jobs: Vec<(&Keep, Change)> = jobs
            .iter()
            .filter_map(|j| {
                let spec = self.cfg.rules[j.rule].keepalive?;
                // Only keepalive and its timings: the application's TCP_USER_TIMEOUT stays.
                Some((j, Change::keepalive(spec.idle, spec.intvl, spec.count)))
            })
            .collect();
        for (job, change) in jobs.iter().filter(|(j, _)| j.dry_run) {
            self.count_keep(job, "would set");
            let about = self
                .why()
                .keep(job, &sample.sockets[job.index], sample.owner_map());
            let rec = KeepaliveRecord::new(&CONTEXT(), change, None, about, true);
            self.out
                .write(serde_json::to_value(rec).unwrap_or(Value::Null))?;
        }
        if jobs.iter().any(|(j, _)| !j.dry_run) {
            // The owners are read once, before the intents, so intent and act name the same fd.
            self.session.owners_of(sample);
            self.owner_error(sample);
        }
        for r in 0..self.cfg.rules.len() {
            let live: Vec<&(&Keep, Change)> = jobs
                .iter()
                .filter(|(j, _)| !j.dry_run && j.rule == r)
                .collect();
            if let Some((_, change)) = live.first() {
                self.keep_rule(sample, &live, change)?;
            }
        }
        Ok(())
    }

    /// One rule's live keepalive changes (one change per rule), through the treat path together.
    fn keep_rule(
        &mut self,
        sample: &Sample,
        live: &[&(&Keep, Change)],
        change: &Change,
    ) -> Result<(), ScanError> {
        let owners = sample.owner_map();
        let chosen: Vec<Socket> = live.iter().map(|(j, _)| sample.sockets[j.index]).collect();
        let held: Vec<Option<(u32, u32)>> = chosen.iter().map(|s| holder(owners, s)).collect();
        let why = Why {
            cfg: &self.cfg,
            schema: self.out.schema,
            socket: self.socket,
        };
        let mut wa = WriteAhead::new(&mut self.out, reap_run());
        let report = treat::keepalive::keepalive(
            &chosen,
            &|i| held[i],
            &|i| why.keep(live[i].0, &chosen[i], owners),
            change,
            &CONTEXT(),
            &mut wa,
        );
        for (i, d) in report.done.iter().enumerate() {
            self.count_keep(live[i].0, d.outcome());
        }
        match report.stopped {
            Some(st) => Err(self.stopped(st, false)),
            None => Ok(()),
        }
    }
}
