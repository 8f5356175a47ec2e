//! One scan: the census (one sample of the session), the core's decisions, the per-rule gauges, the
//! spare and defer records; then the acts (`act`).

use serde_json::json;
use sockdoc_core::reap::{decide, decide::Input, Decisions, SpareReason};
use sockdoc_core::session::Sample;

use crate::daemon::Daemon;
use crate::error::ReapError;
use crate::metrics::{RuleLabels, SpareLabels};

/// Why a scan ended early.
pub(crate) enum ScanError {
    /// The census failed; the daemon logs it and tries again next interval.
    Census(String),
    /// Writing the log failed: stop (an action that cannot be recorded is not taken).
    Fatal(ReapError),
}

/// The lookup re-read cannot fail as a whole (a socket it cannot ask for counts as still there).
impl From<std::convert::Infallible> for ScanError {
    fn from(never: std::convert::Infallible) -> ScanError {
        match never {}
    }
}

impl From<ReapError> for ScanError {
    fn from(e: ReapError) -> ScanError {
        ScanError::Fatal(e)
    }
}

/// The namespace cannot be entered (to open the socket that destroys): tried again next interval.
impl From<sockdoc_proc::NetnsError> for ScanError {
    fn from(e: sockdoc_proc::NetnsError) -> ScanError {
        ScanError::Census(e.to_string())
    }
}

impl Daemon<'_> {
    /// Census, decide, record, act.
    pub(crate) fn scan(&mut self) -> Result<(), ScanError> {
        let mut sample = self
            .session
            .sample(&self.ns)
            .map_err(|e| ScanError::Census(e.to_string()))?;
        let since = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let now_ms = self.base_ms.saturating_add(since);
        // The owners decided with are those the census read (a rule's selector needs them), or none;
        // the services too (a rule by unit or container).
        let judge = sample.judge();
        let d = decide(
            &self.cfg,
            &mut self.tracker,
            &Input {
                sockets: &sample.sockets,
                owners: &judge,
                now_ms,
                own_ssh: self.own_ssh,
            },
        );
        self.count(&sample, &d);
        self.spares(&sample, &d)?;
        if d.deferred > 0 {
            self.metrics.deferred.inc_by(d.deferred as u64);
            self.out.write(json!({
                "action": "defer",
                "deferred": d.deferred,
                "max_kills_per_interval": self.cfg.max_kills_per_interval,
            }))?;
        }
        // Kills, idlest first, then keepalive retrofits: through the treat path, recorded ahead.
        self.kills(&mut sample, &d.kills)?;
        self.keepalives(&mut sample, &d.keepalive)
    }

    /// The scan's gauges: sockets seen and tracked, and what each rule selected.
    fn count(&self, sample: &Sample, d: &Decisions) {
        let m = &self.metrics;
        m.census_sockets.set(sample.sockets.len() as i64);
        m.tracked.set(self.tracker.len() as i64);
        m.forgotten.inc_by(d.forgotten as u64);
        for (i, r) in self.cfg.rules.iter().enumerate() {
            let l = RuleLabels {
                rule: r.name.clone(),
            };
            m.matched.get_or_create(&l).set(d.matched[i] as i64);
            m.connections.get_or_create(&l).set(d.connections[i] as i64);
        }
    }

    /// One record (and one count) per socket newly spared.
    fn spares(&mut self, sample: &Sample, d: &Decisions) -> Result<(), ReapError> {
        for sp in &d.spared {
            let s = &sample.sockets[sp.index];
            let rule = &self.cfg.rules[sp.rule];
            let (reason, entry) = match sp.reason {
                SpareReason::OwnSsh => ("own-ssh", None),
                SpareReason::NeverKill(n) => (
                    "never-kill",
                    self.cfg.never_kill.get(n).map(|(t, _)| t.as_str()),
                ),
            };
            self.metrics
                .spared
                .get_or_create(&SpareLabels {
                    rule: rule.name.clone(),
                    reason: reason.into(),
                })
                .inc();
            let record = json!({
                "action": "spare",
                "rule": rule.name,
                "reason": reason,
                "never_kill": entry,
                "would": sp.would.key(),
                "socket": (self.socket)(s, sample.owner_map()),
            });
            self.out.write(record)?;
        }
        Ok(())
    }
}
