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
use super::track::{flag, Tracker};
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
    let rules = &cfg.rules;
    let now = input.now_ms;
    let mut d = Decisions {
        matched: vec![0; rules.len()],
        connections: vec![0; rules.len()],
        ..Decisions::default()
    };
    tracker.begin();
    let mut conns: Vec<Vec<usize>> = vec![Vec::new(); rules.len()];
    let mut cands: Vec<Kill> = Vec::new();
    let mut chosen: FxHashSet<usize> = FxHashSet::default();
    let protect = |s: &Socket| -> Option<SpareReason> {
        if input.own_ssh.is_some_and(|o| o.is(s)) {
            return Some(SpareReason::OwnSsh);
        }
        cfg.never_kill
            .iter()
            .position(|(_, f)| f.matches(s, input.owners))
            .map(SpareReason::NeverKill)
    };
    let spare = |tracker: &mut Tracker, d: &mut Decisions, i: usize, r, why, would| {
        let cookie = input.sockets[i].cookie;
        if tracker
            .get(cookie)
            .is_some_and(|e| !e.has(flag::SPARE_LOGGED))
        {
            tracker.set_flag(cookie, flag::SPARE_LOGGED);
            d.spared.push(Spare {
                index: i,
                rule: r,
                reason: why,
                would,
            });
        }
    };

    for (i, s) in input.sockets.iter().enumerate() {
        if s.proto != Proto::Tcp {
            continue;
        }
        let Some(r) = rules
            .iter()
            .position(|rule| rule.selector.matches(s, input.owners))
        else {
            continue;
        };
        let rule = &rules[r];
        d.matched[r] += 1;
        let e = *tracker.observe(s.cookie, s.state, now);
        if let Some(_k) = rule.keepalive {
            let open = matches!(s.state, State::Established | State::Listen);
            if open
                && s.inode != 0
                && s.timer.kind != TimerKind::Keepalive
                && !e.has(flag::KEEPALIVE_DONE)
            {
                tracker.set_flag(s.cookie, flag::KEEPALIVE_DONE);
                d.keepalive.push(Keep {
                    index: i,
                    rule: r,
                    dry_run: rule.dry_run,
                });
            }
        }
        if s.state == State::Listen {
            continue;
        }
        if matches!(s.state, State::Established | State::CloseWait) {
            conns[r].push(i);
        }
        if e.has(flag::KILL_FAILED) {
            continue;
        }
        let idle = s.idle_ms().map(u64::from);
        let age_ms = now.saturating_sub(e.first_seen_ms);
        let at_least = e.has(flag::BEFORE_START);
        let cand = |reason: Reason, why: String| Kill {
            index: i,
            rule: r,
            reason,
            idle_ms: idle,
            age_ms,
            age_at_least: at_least,
            dry_run: rule.dry_run,
            why,
        };
        let k = match (s.state, rule.idle_timeout, rule.close_wait_max_age) {
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
        };
        if let Some(k) = k {
            match protect(s) {
                Some(why) => spare(tracker, &mut d, i, r, why, k.reason),
                None => {
                    chosen.insert(i);
                    cands.push(k);
                }
            }
        }
    }

    // The cap: idle-first eviction of what is left over max_connections.
    for (r, rule) in rules.iter().enumerate() {
        d.connections[r] = conns[r].len();
        let Some(cap) = rule.max_connections else {
            continue;
        };
        let already = conns[r].iter().filter(|i| chosen.contains(i)).count();
        let left = conns[r].len() - already;
        if left <= cap {
            continue;
        }
        let mut need = left - cap;
        let min_idle = ms(rule.evict_idle_min);
        let mut order: Vec<(u64, usize)> = conns[r]
            .iter()
            .filter(|i| !chosen.contains(i))
            .filter(|i| {
                tracker
                    .get(input.sockets[**i].cookie)
                    .is_some_and(|e| !e.has(flag::KILL_FAILED))
            })
            .filter_map(|&i| {
                let idle = input.sockets[i].idle_ms().map_or(0, u64::from);
                (idle >= min_idle).then_some((idle, i))
            })
            .collect();
        // Idlest first; equal idle: the older socket (lower cookie) first.
        order.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(input.sockets[a.1].cookie.cmp(&input.sockets[b.1].cookie))
        });
        for (idle, i) in order {
            if need == 0 {
                break;
            }
            let s = &input.sockets[i];
            if let Some(why) = protect(s) {
                spare(tracker, &mut d, i, r, why, Reason::MaxConnections);
                continue;
            }
            let e = tracker.get(s.cookie).copied();
            chosen.insert(i);
            cands.push(Kill {
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

    // A dry run reports each socket once; it stays, so later scans would pick it again.
    cands.retain(|k| {
        !(k.dry_run
            && tracker
                .get(input.sockets[k.index].cookie)
                .is_some_and(|e| e.has(flag::WOULD_KILL_LOGGED)))
    });
    cands.sort_by(|a, b| {
        b.idle_ms.unwrap_or(0).cmp(&a.idle_ms.unwrap_or(0)).then(
            input.sockets[a.index]
                .cookie
                .cmp(&input.sockets[b.index].cookie),
        )
    });
    if cands.len() > cfg.max_kills_per_interval {
        d.deferred = cands.len() - cfg.max_kills_per_interval;
        cands.truncate(cfg.max_kills_per_interval);
    }
    for k in cands.iter().filter(|k| k.dry_run) {
        tracker.set_flag(input.sockets[k.index].cookie, flag::WOULD_KILL_LOGGED);
    }
    d.kills = cands;
    d.forgotten = tracker.end();
    d
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
