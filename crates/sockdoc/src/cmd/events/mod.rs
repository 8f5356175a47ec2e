//! `sockdoc events`: a live stream of connection ends, from the kernel's sock_diag destroy broadcasts
//! (TCP and UDP, IPv4 and IPv6): who, peer, the state it ended from, lifetime, bytes and
//! retransmissions; text or JSON lines; filterable like `list`. Needs root (CAP_NET_ADMIN) to subscribe.
//!
//! The broadcast carries no start time and always says CLOSE, so a scanner thread dumps the namespace
//! every `--scan` interval (no tcp_info; owners only with `-p`) into a [`Tracker`]: an end is then
//! reported with the state last seen and a lifetime known to within one scan interval.
//!
//! Nothing is lost silently and memory stays bounded: listener threads read the broadcasts as fast
//! as they come into a queue of `--buffer` ends for the writer; a full queue (a blocked output)
//! drops and counts, ENOBUFS (the kernel's buffer overflowed) is counted, and connections the scans
//! saw that vanish without an end event are counted too. Each loss becomes a `lost` record in the
//! stream, at least once a second while losing, and a total on stderr at exit.
//!
//! The namespace is pinned (see `scope::NsWatch`): a recreated name stops it with exit 69, or, with
//! `--follow-netns`, it subscribes again in the new namespace.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sockdoc_core::collect::CensusSpec;
use sockdoc_core::filter::Filter;
use sockdoc_core::lifetimes::{Ended, Seen, Tracker};
use sockdoc_core::session::{Plan, Refresh, Scope, Session};
use sockdoc_core::NoOwners;
use sockdoc_diag::{DiagSocket, Proto, Socket, State, TimerKind, ALL_STATES_MASK};
use sockdoc_proc::Netns;

use crate::cli::{EventsArgs, Global};
use crate::cmd::doctor::parse_duration;
use crate::error::{Exit, Failure};
use crate::{scope, signals};

mod losses;
mod output;
mod queue;

use losses::{report_losses, Losses, Reported};
use output::{write_event, Format};
use queue::{Queue, Received};

/// What the scanner and listener threads share with the event loop.
struct Shared {
    tracker: Tracker,
    /// Names of the processes the scans saw owning sockets.
    names: HashMap<u32, String>,
    /// Per listener: the last time it had taken in every broadcast queued for it.
    caught_up: Vec<Option<Instant>>,
}

/// How a watch of one namespace ended.
enum Next {
    Done,
    /// Following a recreated name to this namespace.
    Follow(Netns),
}

/// How long after a connection left the tables its end may still come.
const LATE_END_GRACE: Duration = Duration::from_secs(1);
/// Lost records are written at most this often per kind while losing (and once more at the end).
const LOST_EVERY: Duration = Duration::from_secs(1);

/// Everything one watch needs that does not change when following a recreated name.
struct Setup<'a> {
    g: &'a Global,
    a: &'a EventsArgs,
    filter: Filter,
    scan: Duration,
    limit: Option<Duration>,
    started: Instant,
    watch: scope::NsWatch,
}

pub fn run(g: &Global, a: &EventsArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let filter = Filter::parse(&a.filter).map_err(|e| Failure::usage(e.to_string()))?;
    if filter.needs_processes() {
        return Err(Failure::usage(
            "events cannot filter by process: a socket's owner is gone by the time it ends (use -p to show the owner the scans saw)",
        ));
    }
    if filter.protocols() == (false, false) {
        return Err(Failure::usage(
            "this filter matches neither TCP nor UDP sockets: no connection end could pass it",
        ));
    }
    let limit = a
        .r#for
        .as_deref()
        .map(|t| parse_duration("--for", t))
        .transpose()?;
    let scan = parse_duration("--scan", &a.scan)?;
    if a.processes && scan.is_zero() {
        return Err(Failure::usage(
            "-p needs the scans that see owners: drop --scan 0",
        ));
    }
    if a.buffer == 0 || a.buffer > 16 << 20 {
        return Err(Failure::usage(
            "--buffer is a number of connection ends from 1 to 16777216 (default 65536)",
        ));
    }
    if a.kernel_buffer == 0 || a.kernel_buffer > 1024 {
        return Err(Failure::usage(
            "--kernel-buffer is a size in MiB from 1 to 1024 (default 32)",
        ));
    }
    let mut namespaces = scope::namespaces(g)?;
    if namespaces.len() != 1 {
        return Err(Failure::usage(
            "events watches one namespace: use --netns NAME or --netns-pid PID",
        ));
    }
    let mut ns = namespaces.remove(0);
    if !scope::is_root() {
        return Err(Failure::new(Exit::NoPerm, "events subscribes to the kernel's destroy broadcasts, which needs root (CAP_NET_ADMIN): run with sudo"));
    }
    signals::install();
    let setup = Setup {
        g,
        a,
        filter,
        scan,
        limit,
        started: Instant::now(),
        watch: scope::watch(g, &ns, "events", scope::OnLost::Stop),
    };
    let losses = Losses::default();
    let mut reported = Reported::default();
    let mut seen = 0u64;
    let result = loop {
        match watch_one(&setup, &ns, &losses, &mut reported, &mut seen, out) {
            Ok(Next::Done) => break Ok(()),
            Ok(Next::Follow(new)) => ns = new,
            Err(f) => break Err(f),
        }
    };
    setup.watch.finish();
    // What the stream has not said yet, then the totals on stderr.
    let flushed = result.and_then(|()| {
        report_losses(out, g.json, &losses, &mut reported).map_err(Failure::output)?;
        out.flush().map_err(Failure::output)
    });
    let total = reported.slow + reported.unreported;
    if total > 0 || reported.overflows > 0 {
        crate::log::log_line!(
            "sockdoc events: lost {total} connection ends ({} output too slow, {} gone without an end event); the kernel's buffer overflowed {} times (ends of connections no scan saw are not counted)",
            reported.slow, reported.unreported, reported.overflows
        );
    }
    flushed?;
    match scope::lost(&setup.watch) {
        Some(f) => Err(f),
        None => Ok(Exit::Ok),
    }
}

/// Watch one namespace: subscribe, scan, stream, until stopped or following a recreated name.
fn watch_one(
    st: &Setup,
    ns: &Netns,
    losses: &Losses,
    reported: &mut Reported,
    seen: &mut u64,
    out: &mut dyn Write,
) -> Result<Next, Failure> {
    let (g, a, filter) = (st.g, st.a, &st.filter);
    let (tcp, udp) = filter.protocols();
    let mut subs = Vec::new();
    for (proto, on) in [(Proto::Tcp, tcp), (Proto::Udp, udp)] {
        if on {
            let mut sock = scope::diag_socket(ns)?;
            sock.subscribe_destroy(proto).map_err(|e| {
                Failure::new(
                    Exit::NoPerm,
                    format!("cannot subscribe to {} destroy events: {e}", proto.name()),
                )
            })?;
            sock.set_recv_buffer(a.kernel_buffer << 20);
            subs.push((proto, sock));
        }
    }
    // The scanner dumps what the filter could match in any state: the state that matters is the one a
    // socket ends from, which only the scans know.
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
    // Every scan keeps every socket (the filter only marks what is watched); owners with each scan.
    let plan = Plan {
        filter: Filter::default(),
        spec,
        owners: a.processes,
    };
    let session =
        crate::census::session(Scope::one(ns.clone()), plan, Refresh::Every(Duration::ZERO))?;
    let shared = Mutex::new(Shared {
        tracker: Tracker::new(Instant::now()),
        names: HashMap::new(),
        caught_up: vec![None; subs.len()],
    });
    let stop = AtomicBool::new(false);
    // Bounded: a blocked output holds at most --buffer ends; the rest are counted as lost.
    let queue = Queue::new(a.buffer, subs.len());
    let next = std::thread::scope(|scope| -> Result<Next, Failure> {
        let (stop, shared) = (&stop, &shared);
        let queue = &queue;
        for (i, (proto, mut sock)) in subs.into_iter().enumerate() {
            scope.spawn(move || {
                listen(i, proto, &mut sock, queue, shared, filter, losses, stop);
                queue.sender_done();
            });
        }
        if !st.scan.is_zero() {
            let session = &session;
            if let Err(e) = scan_once(session, ns, filter, shared, losses) {
                stop.store(true, Ordering::SeqCst);
                return Err(e);
            }
            let every = st.scan;
            scope.spawn(move || scanner(session, ns, filter, every, shared, losses, stop));
        }
        // On stderr, so JSON lines stay clean; it also tells scripts the subscription is in place.
        crate::log::log_line!("watching connection ends in {}; Ctrl-C to stop", ns.label());
        let mut last_lost = Instant::now();
        let format = Format::of(g);
        let r = (|| loop {
            if signals::stopped()
                || st.limit.is_some_and(|l| st.started.elapsed() >= l)
                || a.count.is_some_and(|c| *seen >= c)
            {
                return Ok(Next::Done);
            }
            if let Some(new) = st.watch.take_switch() {
                return Ok(Next::Follow(new));
            }
            if last_lost.elapsed() >= LOST_EVERY {
                last_lost = Instant::now();
                if report_losses(out, g.json, losses, reported).map_err(Failure::output)? {
                    out.flush().map_err(Failure::output)?;
                }
            }
            let (s, ended) = match queue.recv_timeout(Duration::from_millis(100)) {
                Received::Item(e) => e,
                Received::Timeout => continue,
                // Every listener stopped on an error (each said which on stderr).
                Received::Closed => {
                    return Err(Failure::new(
                        Exit::Io,
                        "events stopped: the kernel's broadcasts can no longer be read (see the line above)",
                    ))
                }
            };
            *seen += 1;
            let name = ended.pid.and_then(|p| {
                shared
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .names
                    .get(&p)
                    .cloned()
            });
            write_event(out, format, &s, &ended, name.as_deref()).map_err(Failure::output)?;
            out.flush().map_err(Failure::output)?;
        })();
        stop.store(true, Ordering::SeqCst);
        r
    })?;
    // Ends still queued when it stops (a signal, --for, a switch) never reach the output: counted as
    // lost. Stopping at --count leaves the rest unasked for.
    if a.count.is_none_or(|c| *seen < c) {
        let left = queue.len() as u64;
        losses.slow.fetch_add(left, Ordering::SeqCst);
    }
    Ok(next)
}

/// One scan into the tracker; counts watched sockets that vanished without an end event.
fn scan_once(
    session: &Session,
    ns: &Netns,
    filter: &Filter,
    shared: &Mutex<Shared>,
    losses: &Losses,
) -> Result<(), Failure> {
    let begun = Instant::now();
    let counted = session
        .count(ns, |_| Vec::new(), |v: &mut Vec<Socket>, s| v.push(*s))
        .map_err(Failure::census)?;
    let census = &counted.census;
    let owners = counted.owners.as_ref().map(|f| &*f.map);
    let finished = Instant::now();
    let mut seen = Vec::with_capacity(census.dumps.iter().map(|d| d.acc.len()).sum());
    let mut names = Vec::new();
    for d in &census.dumps {
        for s in &d.acc {
            let pid = owners
                .and_then(|o| o.owners(s.inode).next())
                .map_or(0, |o| o.pid);
            if pid != 0 {
                names.push(pid);
            }
            // TIME-WAIT and request sockets end without a broadcast: never counted as lost.
            let quiet = matches!(s.state, State::TimeWait | State::SynRecv)
                || s.timer.kind == TimerKind::TimeWait;
            seen.push(Seen {
                cookie: s.cookie,
                state: s.state,
                pid,
                watched: !quiet && filter.matches(s, &NoOwners),
                minisock: quiet,
            });
        }
    }
    let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
    shared.tracker.merge(begun, finished, &seen);
    // Ends still missing once every listener has caught up with the kernel were lost. A socket can
    // leave the tables a moment before it is freed (and its end sent): a grace period covers that.
    if let Some(Some(t)) = shared.caught_up.iter().copied().min() {
        let lost = t
            .checked_sub(LATE_END_GRACE)
            .map_or(0, |t| shared.tracker.confirm_lost(t));
        losses.unreported.fetch_add(lost as u64, Ordering::SeqCst);
    }
    if let Some(o) = owners {
        for pid in names {
            if let Some(info) = o.process(pid) {
                shared.names.insert(pid, info.name.clone());
            }
        }
    }
    Ok(())
}

/// Scan every `every` until stopped; a failed scan is reported and retried at the next interval.
#[allow(clippy::too_many_arguments)]
fn scanner(
    session: &Session,
    ns: &Netns,
    filter: &Filter,
    every: Duration,
    shared: &Mutex<Shared>,
    losses: &Losses,
    stop: &AtomicBool,
) {
    let mut next = Instant::now() + every;
    while !stop.load(Ordering::SeqCst) {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(20).min(next - Instant::now()));
            continue;
        }
        next += every;
        if let Err(e) = scan_once(session, ns, filter, shared, losses) {
            crate::log::log_line!(
                "sockdoc: events scan failed (lifetimes may be less precise): {e}"
            );
        }
        // A scan slower than the interval: start the next one right away, not in a burst.
        next = next.max(Instant::now());
    }
}

/// Read broadcasts as fast as they come: each end is resolved against the scans at once (its
/// lifetime is measured at arrival), filtered, and queued for the output; a full queue drops and
/// counts it, an overflowing kernel buffer (ENOBUFS) is counted.
#[allow(clippy::too_many_arguments)]
fn listen(
    index: usize,
    proto: Proto,
    sock: &mut DiagSocket,
    queue: &Queue<(Socket, Ended)>,
    shared: &Mutex<Shared>,
    filter: &Filter,
    losses: &Losses,
    stop: &AtomicBool,
) {
    let mut batch = Vec::new();
    let mut ready = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        batch.clear();
        let asked = Instant::now();
        let r = sock.next_broadcast(proto, Duration::from_millis(100), &mut |s| batch.push(*s));
        if !batch.is_empty() || sock.drained() {
            let at = Instant::now();
            let mut sh = shared.lock().unwrap_or_else(|p| p.into_inner());
            if sock.drained() {
                // Everything the kernel had queued before this call is now taken in.
                sh.caught_up[index] = Some(asked);
            }
            for s in batch.iter_mut() {
                let ended = sh.tracker.end(s.cookie, at);
                // Filters on state mean the state it ended from.
                if let Some(st) = ended.last_state {
                    s.state = st;
                }
                if filter.matches(s, &NoOwners) {
                    ready.push((*s, ended));
                }
            }
        }
        for e in ready.drain(..) {
            if !queue.try_push(e) {
                losses.slow.fetch_add(1, Ordering::SeqCst);
            }
        }
        match r {
            Ok(_) => {}
            // The kernel dropped broadcasts (the buffer was full): at least one end is lost.
            Err(sockdoc_diag::DiagError::Overrun) => {
                losses.overflows.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => {
                crate::log::log_line!("sockdoc: {} events stopped: {e}", proto.name());
                return;
            }
        }
    }
}
