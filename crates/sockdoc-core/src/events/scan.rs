//! The scanner side of a watch: a census of the namespace every interval into the lifetime tracker,
//! which gives ends their last state, lifetime and owner, and tells which ends never came.

use std::time::{Duration, Instant};

use sockdoc_diag::{Socket, State, TimerKind, ALL_STATES_MASK};

use super::{Inner, Losses, Warning};
use crate::collect::{CensusError, CensusSpec};
use crate::filter::Filter;
use crate::lifetimes::Seen;
use crate::session::{Plan, Session};
use crate::NoOwners;

/// How long after a connection left the tables its end may still come.
const LATE_END_GRACE: Duration = Duration::from_secs(1);

/// What a scan dumps: what the filter could match in any state (the state that matters is the one a
/// socket ends from, which only the scans know), every socket kept (the filter only marks what is
/// watched), owners with each scan when asked.
pub(super) fn plan(filter: &Filter, owners: bool) -> Plan {
    let (tcp, udp) = filter.protocols();
    let (v4, v6) = filter.families();
    let spec = CensusSpec {
        tcp,
        udp,
        v4,
        v6,
        tcp_info: false,
        states: ALL_STATES_MASK,
        bytecode: filter.kernel_filter().and_then(|bc| bc.compile()),
    };
    Plan {
        filter: Filter::default(),
        spec,
        owners,
    }
}

/// Scan every `every` until stopped; a failed scan is warned about and retried at the next interval.
pub(super) fn scanner(inner: &Inner, session: &Session, every: Duration) {
    let mut next = Instant::now() + every;
    while !inner.stopped() {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(20).min(next - Instant::now()));
            continue;
        }
        next += every;
        if let Err(e) = scan_once(inner, session) {
            (inner.warn)(&Warning::ScanFailed(e));
        }
        // A scan slower than the interval: start the next one right away, not in a burst.
        next = next.max(Instant::now());
    }
}

/// One scan into the tracker; counts watched sockets that vanished without an end event.
pub(super) fn scan_once(inner: &Inner, session: &Session) -> Result<(), CensusError> {
    let begun = Instant::now();
    let counted = session.count(
        &inner.ns,
        |_| Vec::new(),
        |v: &mut Vec<Socket>, s| v.push(*s),
    )?;
    let census = &counted.census;
    let owners = counted.owners.as_ref().map(|f| &*f.map);
    let finished = Instant::now();
    let mut seen = Vec::with_capacity(census.dumps.iter().map(|d| d.acc.len()).sum());
    let mut pids = Vec::new();
    for s in census.dumps.iter().flat_map(|d| &d.acc) {
        let pid = owners
            .and_then(|o| o.owners(s.inode).next())
            .map_or(0, |o| o.pid);
        if pid != 0 {
            pids.push(pid);
        }
        // TIME-WAIT and request sockets end without a broadcast: never counted as lost.
        let quiet = matches!(s.state, State::TimeWait | State::SynRecv)
            || s.timer.kind == TimerKind::TimeWait;
        seen.push(Seen {
            cookie: s.cookie,
            state: s.state,
            pid,
            watched: !quiet && inner.filter.matches(s, &NoOwners),
            minisock: quiet,
        });
    }
    let mut shared = inner.shared();
    shared.tracker.merge(begun, finished, &seen);
    // Ends still missing once every listener has caught up with the kernel were lost. A socket can
    // leave the tables a moment before it is freed (and its end sent): a grace period covers that.
    if let Some(Some(t)) = shared.caught_up.iter().copied().min() {
        let lost = t
            .checked_sub(LATE_END_GRACE)
            .map_or(0, |t| shared.tracker.confirm_lost(t));
        Losses::add(&inner.losses.unreported, lost as u64);
    }
    if let Some(o) = owners {
        for pid in pids {
            if let Some(info) = o.process(pid) {
                shared.names.insert(pid, info.name.clone());
            }
        }
    }
    Ok(())
}
