//! The scanner side of a watch: a census of the namespace every interval into the lifetime tracker,
//! which gives ends their last state, lifetime and owner, and tells which ends never came.

use std::time::{Duration, Instant};

use sockdoc_diag::{Socket, State, TimerKind, ALL_STATES_MASK};

use super::{Inner, Losses, Shared, Warning};
use crate::collect::{CensusError, CensusSpec};
use crate::filter::Filter;
use crate::lifetimes::Seen;
use crate::session::{Plan, Session};
use crate::NoOwners;

/// How long after a connection left the tables its end may still come.
const LATE_END_GRACE: Duration = Duration::from_secs(1);

/// What a scan dumps: what the filter could match in any state (the state that matters is the one a
/// socket ends from, which only the scans know), every socket kept (the filter only marks what is
/// watched). Owners are read at their own pace (see [`owner_walker`]).
pub(super) fn plan(filter: &Filter) -> Plan {
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
        owners: false,
        cgroups: false,
    }
}

/// Scan every `every` until stopped; a failed scan is warned about and retried at the next interval.
pub(super) fn scanner(inner: &Inner, session: &Session, every: Duration) {
    periodically(inner, every, || {
        if let Err(e) = scan_once(inner, session) {
            (inner.warn)(&Warning::ScanFailed(e));
        }
    });
}

/// Read owners every `every` (or back to back when a walk is slower) until stopped, each read
/// attached to the sockets of the latest scan. On a thread of its own: a walk of /proc is far slower
/// than a dump, and a scan that waited for it would miss short states (a CLOSE-WAIT of a second).
pub(super) fn owner_walker(inner: &Inner, session: &Session, every: Duration) {
    periodically(inner, every, || {
        if let Err(e) = walk_owners(inner, session) {
            (inner.warn)(&Warning::ScanFailed(e));
        }
    });
}

/// Run `step` every `every` until the watch stops; a step slower than the interval is followed by
/// the next one right away, not by a burst.
fn periodically(inner: &Inner, every: Duration, mut step: impl FnMut()) {
    let mut next = Instant::now() + every;
    while !inner.stopped() {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(20).min(next - Instant::now()));
            continue;
        }
        next += every;
        step();
        next = next.max(Instant::now());
    }
}

/// One scan into the tracker, timed by the dump alone; counts watched sockets that vanished without
/// an end event, and keeps the scan's sockets for the next owner walk.
pub(super) fn scan_once(inner: &Inner, session: &Session) -> Result<(), CensusError> {
    let begun = Instant::now();
    let counted = session.count(
        &inner.ns,
        |_| Vec::new(),
        |v: &mut Vec<Socket>, s| v.push(*s),
    )?;
    let finished = Instant::now();
    let sockets = || counted.census.dumps.iter().flat_map(|d| &d.acc);
    let seen: Vec<Seen> = sockets()
        .map(|s| {
            // TIME-WAIT and request sockets end without a broadcast: never counted as lost.
            let quiet = matches!(s.state, State::TimeWait | State::SynRecv)
                || s.timer.kind == TimerKind::TimeWait;
            Seen {
                cookie: s.cookie,
                state: s.state,
                pid: 0,
                watched: !quiet && inner.filter.matches(s, &NoOwners),
                minisock: quiet,
            }
        })
        .collect();
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
    if inner.owners {
        shared.last_scan.clear();
        shared.last_scan.extend(
            sockets()
                .filter(|s| s.inode != 0)
                .map(|s| (s.cookie, s.inode)),
        );
    }
    Ok(())
}

/// One owner walk, attached to the sockets of the latest scan (an owner seen once sticks), with the
/// names of their processes. The map is dropped once attached.
pub(super) fn walk_owners(inner: &Inner, session: &Session) -> Result<(), CensusError> {
    let owners = session
        .owner_cache()
        .read_now()
        .map_err(CensusError::Proc)?;
    let owners = &*owners.map;
    let mut shared = inner.shared();
    let Shared {
        tracker,
        names,
        last_scan,
        ..
    } = &mut *shared;
    for &(cookie, inode) in last_scan.iter() {
        let pid = owners.owners(inode).next().map_or(0, |o| o.pid);
        if pid == 0 {
            continue;
        }
        tracker.set_owner(cookie, pid);
        if let Some(info) = owners.process(pid) {
            names.insert(pid, info.name.clone());
        }
    }
    Ok(())
}
