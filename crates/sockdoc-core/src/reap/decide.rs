//! One scan's decisions. Each socket belongs to the first rule whose selector matches it; then, per
//! rule: ESTABLISHED connections idle past `idle_timeout` are closed; CLOSE-WAIT sockets older than
//! `close_wait_max_age` are closed; if the rule still has more than `max_connections` connections, the
//! idlest are closed first (only those idle at least `evict_idle_min`); connections and listeners
//! without a keepalive timer get keepalive. Listeners, the caller's own SSH session and the never-kill
//! list are never closed. All closes of a scan are ordered idlest first and cut at
//! `max_kills_per_interval`; the rest wait for the next scan.
//!
//! Idle is tcp_info's time since anything was sent, received or acknowledged
//! ([`Socket::idle_ms`]), as `sockdoc list` shows it. A CLOSE-WAIT socket's age is the larger of two
//! lower bounds: the time since a scan first saw it in CLOSE-WAIT, and the time since it last received
//! anything (the peer's FIN came no later than that).

use rustc_hash::FxHashSet;
use sockdoc_diag::{Proto, Socket, State, TimerKind};

use super::config::Config;
use super::track::{flag, Entry, Tracker};
use crate::units::duration_ms;
use crate::Owners;

/// Why a socket is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    IdleTimeout,
    MaxConnections,
    CloseWaitAge,
}

impl Reason {
    /// Stable key (logs, metrics).
    pub fn key(self) -> &'static str {
        match self {
            Reason::IdleTimeout => "idle-timeout",
            Reason::MaxConnections => "max-connections",
            Reason::CloseWaitAge => "close-wait-age",
        }
    }
}

/// A socket to close this scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kill {
    /// Index into the scan's sockets.
    pub index: usize,
    /// Index of the rule.
    pub rule: usize,
    pub reason: Reason,
    pub idle_ms: Option<u64>,
    /// Time since a scan first saw the socket.
    pub age_ms: u64,
    /// The socket was there when the daemon started: its age is at least `age_ms`.
    pub age_at_least: bool,
    /// Only report ("would kill").
    pub dry_run: bool,
    /// The rule's numbers, in words (`idle 5s >= idle_timeout 3s`).
    pub why: String,
}

/// Why a socket a rule would close is left alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpareReason {
    /// Matches `never_kill` entry N.
    NeverKill(usize),
    /// The caller's own SSH connection (`$SSH_CONNECTION`).
    OwnSsh,
}

/// A socket spared this scan (reported once per socket).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spare {
    pub index: usize,
    pub rule: usize,
    pub reason: SpareReason,
    /// What the rule would have done.
    pub would: Reason,
}

/// A socket (connection or listener) to give keepalive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keep {
    pub index: usize,
    pub rule: usize,
    pub dry_run: bool,
}

/// Everything one scan decided.
#[derive(Clone, Debug, Default)]
pub struct Decisions {
    /// Idlest first, at most `max_kills_per_interval`.
    pub kills: Vec<Kill>,
    /// Kills left for the next scan by the rate limit.
    pub deferred: usize,
    /// Newly spared sockets.
    pub spared: Vec<Spare>,
    pub keepalive: Vec<Keep>,
    /// Sockets each rule selected.
    pub matched: Vec<usize>,
    /// ESTABLISHED and CLOSE-WAIT connections each rule selected (what `max_connections` counts).
    pub connections: Vec<usize>,
    /// Sockets forgotten because this scan no longer saw them.
    pub forgotten: usize,
}

pub use crate::own_ssh::OwnSsh;

/// What a scan sees.
pub struct Input<'a> {
    pub sockets: &'a [Socket],
    pub owners: &'a dyn Owners,
    /// The daemon's clock, milliseconds (monotonic).
    pub now_ms: u64,
    pub own_ssh: Option<OwnSsh>,
}

/// Time since the peer last sent anything (data or ACK).
fn idle_recv_ms(s: &Socket) -> Option<u64> {
    s.tcp
        .map(|t| u64::from(t.last_data_recv_ms.min(t.last_ack_recv_ms)))
}

/// Decide one scan; see the module comment. Updates `tracker` (ages, flags, forgotten cookies).
pub fn decide(cfg: &Config, tracker: &mut Tracker, input: &Input) -> Decisions {
    let rules = cfg.rules.len();
    let mut scan = Scan {
        cfg,
        input,
        tracker,
        d: Decisions {
            matched: vec![0; rules],
            connections: vec![0; rules],
            ..Decisions::default()
        },
        conns: vec![Vec::new(); rules],
        cands: Vec::new(),
        chosen: FxHashSet::default(),
    };
    scan.tracker.begin();
    for (i, s) in input.sockets.iter().enumerate() {
        scan.take_in(i, s);
    }
    for r in 0..rules {
        scan.evict_over_cap(r);
    }
    scan.rate_limit()
}

/// One scan in progress: what it has decided so far.
struct Scan<'a> {
    cfg: &'a Config,
    input: &'a Input<'a>,
    tracker: &'a mut Tracker,
    d: Decisions,
    /// Per rule: the ESTABLISHED and CLOSE-WAIT connections it selected (indices).
    conns: Vec<Vec<usize>>,
    /// Kills before the dry-run filter, the order and the rate limit.
    cands: Vec<Kill>,
    /// Indices already among `cands`.
    chosen: FxHashSet<usize>,
}

impl Scan<'_> {
    /// Why a socket a rule would close must be left alone: the caller's own SSH session, or a
    /// never-kill entry.
    fn protection(&self, s: &Socket) -> Option<SpareReason> {
        if self.input.own_ssh.is_some_and(|o| o.is(s)) {
            return Some(SpareReason::OwnSsh);
        }
        self.cfg
            .never_kill
            .iter()
            .position(|(_, f)| f.matches(s, self.input.owners))
            .map(SpareReason::NeverKill)
    }

    /// Report a spared socket, once per socket.
    fn spare(&mut self, index: usize, rule: usize, reason: SpareReason, would: Reason) {
        let cookie = self.input.sockets[index].cookie;
        if self
            .tracker
            .get(cookie)
            .is_some_and(|e| !e.has(flag::SPARE_LOGGED))
        {
            self.tracker.set_flag(cookie, flag::SPARE_LOGGED);
            self.d.spared.push(Spare {
                index,
                rule,
                reason,
                would,
            });
        }
    }

    /// A kill the rules want: a candidate, unless the socket is protected (then spared).
    fn nominate(&mut self, k: Kill) {
        match self.protection(&self.input.sockets[k.index]) {
            Some(why) => self.spare(k.index, k.rule, why, k.reason),
            None => {
                self.chosen.insert(k.index);
                self.cands.push(k);
            }
        }
    }

    /// One socket: the rule it belongs to, its keepalive, and whether its idle time or CLOSE-WAIT age
    /// closes it.
    fn take_in(&mut self, i: usize, s: &Socket) {
        if s.proto != Proto::Tcp {
            return;
        }
        let Some(r) = self
            .cfg
            .rules
            .iter()
            .position(|rule| rule.selector.matches(s, self.input.owners))
        else {
            return;
        };
        self.d.matched[r] += 1;
        let e = *self.tracker.observe(s.cookie, s.state, self.input.now_ms);
        self.keepalive_if_due(i, r, s, &e);
        if s.state == State::Listen {
            return;
        }
        if matches!(s.state, State::Established | State::CloseWait) {
            self.conns[r].push(i);
        }
        if e.has(flag::KILL_FAILED) {
            return;
        }
        if let Some(k) = self.timeout_kill(i, r, s, &e) {
            self.nominate(k);
        }
    }

    /// Keepalive for an open connection or listener of a keepalive rule that has no keepalive timer,
    /// once per socket.
    fn keepalive_if_due(&mut self, i: usize, r: usize, s: &Socket, e: &Entry) {
        let rule = &self.cfg.rules[r];
        if rule.keepalive.is_none() {
            return;
        }
        let open = matches!(s.state, State::Established | State::Listen);
        if open
            && s.inode != 0
            && s.timer.kind != TimerKind::Keepalive
            && !e.has(flag::KEEPALIVE_DONE)
        {
            self.tracker.set_flag(s.cookie, flag::KEEPALIVE_DONE);
            self.d.keepalive.push(Keep {
                index: i,
                rule: r,
                dry_run: rule.dry_run,
            });
        }
    }

    /// The kill a rule's timeouts call for: ESTABLISHED idle past `idle_timeout`, CLOSE-WAIT older
    /// than `close_wait_max_age`.
    fn timeout_kill(&self, i: usize, r: usize, s: &Socket, e: &Entry) -> Option<Kill> {
        let rule = &self.cfg.rules[r];
        let now = self.input.now_ms;
        let idle = s.idle_ms().map(u64::from);
        let cand = |reason: Reason, why: String| Kill {
            index: i,
            rule: r,
            reason,
            idle_ms: idle,
            age_ms: now.saturating_sub(e.first_seen_ms),
            age_at_least: e.has(flag::BEFORE_START),
            dry_run: rule.dry_run,
            why,
        };
        match (s.state, rule.idle_timeout, rule.close_wait_max_age) {
            (State::Established, Some(t), _) if idle.is_some_and(|i| i >= ms(t)) => Some(cand(
                Reason::IdleTimeout,
                format!(
                    "idle {} >= idle_timeout {}",
                    duration_ms(idle.unwrap_or(0)),
                    duration_ms(ms(t))
                ),
            )),
            (State::CloseWait, _, Some(max)) => {
                let tracked = now.saturating_sub(e.state_since_ms);
                let cw_age = tracked.max(idle_recv_ms(s).unwrap_or(0));
                (cw_age >= ms(max)).then(|| {
                    cand(
                        Reason::CloseWaitAge,
                        format!(
                            "CLOSE-WAIT for at least {} >= close_wait_max_age {}",
                            duration_ms(cw_age),
                            duration_ms(ms(max))
                        ),
                    )
                })
            }
            _ => None,
        }
    }

    /// The cap: rule `r`'s connections left over `max_connections` after the timeouts, closed idlest
    /// first (only those idle at least `evict_idle_min`).
    fn evict_over_cap(&mut self, r: usize) {
        let rule = &self.cfg.rules[r];
        let conns = std::mem::take(&mut self.conns[r]);
        self.d.connections[r] = conns.len();
        let Some(cap) = rule.max_connections else {
            return;
        };
        let already = conns.iter().filter(|i| self.chosen.contains(i)).count();
        let left = conns.len() - already;
        if left <= cap {
            return;
        }
        let mut need = left - cap;
        for (idle, i) in self.eviction_order(&conns, ms(rule.evict_idle_min)) {
            if need == 0 {
                break;
            }
            let s = &self.input.sockets[i];
            if let Some(why) = self.protection(s) {
                self.spare(i, r, why, Reason::MaxConnections);
                continue;
            }
            let e = self.tracker.get(s.cookie).copied();
            let now = self.input.now_ms;
            self.chosen.insert(i);
            self.cands.push(Kill {
                index: i,
                rule: r,
                reason: Reason::MaxConnections,
                idle_ms: s.idle_ms().map(u64::from),
                age_ms: e.map_or(0, |e| now.saturating_sub(e.first_seen_ms)),
                age_at_least: e.is_some_and(|e| e.has(flag::BEFORE_START)),
                dry_run: rule.dry_run,
                why: format!(
                    "{left} connections > max_connections {cap}: idlest first, idle {}",
                    duration_ms(idle)
                ),
            });
            need -= 1;
        }
    }

    /// Connections the cap may close, idlest first (equal idle: the older socket, lower cookie,
    /// first): not already chosen, no failed kill, idle at least `min_idle`.
    fn eviction_order(&self, conns: &[usize], min_idle: u64) -> Vec<(u64, usize)> {
        let sockets = self.input.sockets;
        let mut order: Vec<(u64, usize)> = conns
            .iter()
            .filter(|i| !self.chosen.contains(i))
            .filter(|i| {
                self.tracker
                    .get(sockets[**i].cookie)
                    .is_some_and(|e| !e.has(flag::KILL_FAILED))
            })
            .filter_map(|&i| {
                let idle = sockets[i].idle_ms().map_or(0, u64::from);
                (idle >= min_idle).then_some((idle, i))
            })
            .collect();
        order.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(sockets[a.1].cookie.cmp(&sockets[b.1].cookie))
        });
        order
    }

    /// The scan's kills, idlest first and cut at `max_kills_per_interval` (the rest deferred); a dry
    /// run reports each socket once. Ends the tracker's scan.
    fn rate_limit(mut self) -> Decisions {
        let sockets = self.input.sockets;
        let tracker = &mut *self.tracker;
        let mut cands = std::mem::take(&mut self.cands);
        // A dry run reports each socket once; it stays, so later scans would pick it again.
        cands.retain(|k| {
            !(k.dry_run
                && tracker
                    .get(sockets[k.index].cookie)
                    .is_some_and(|e| e.has(flag::WOULD_KILL_LOGGED)))
        });
        cands.sort_by(|a, b| {
            b.idle_ms
                .unwrap_or(0)
                .cmp(&a.idle_ms.unwrap_or(0))
                .then(sockets[a.index].cookie.cmp(&sockets[b.index].cookie))
        });
        let max = self.cfg.max_kills_per_interval;
        if cands.len() > max {
            self.d.deferred = cands.len() - max;
            cands.truncate(max);
        }
        for k in cands.iter().filter(|k| k.dry_run) {
            tracker.set_flag(sockets[k.index].cookie, flag::WOULD_KILL_LOGGED);
        }
        self.d.kills = cands;
        self.d.forgotten = tracker.end();
        self.d
    }
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
