//! sockdoc against ss on the same sockets.
//!
//! A [`Reading`] is the owners (`ss -p`, or this process's own descriptors), then a quick `ss`
//! (no `-p`), then `sockdoc`, then a quick `ss` again, all with the same filter. Owners do not
//! move; values that do (timers count down and get re-armed, `last*` times grow, retransmission
//! counters rise) must lie between the two quick ss readings, give or take [`TOLERANCE_MS`] and
//! ss's display precision; everything else must be equal. Sockets are matched by cookie (`sk:` in
//! ss). On a busy host the reads can be seconds apart, which is why bounds come from the two
//! readings rather than from a fixed slack.

use std::collections::{BTreeMap, BTreeSet};

use sockdoc_lab::{
    own_comm, own_sockets, ss, Family, Netns, Proto, SockState, SsSocket, SsTimer, SsUser,
};

use crate::sockdoc::{self, SdProcess, SdSocket, SdTimer};

/// Slack for times read at different instants, on top of the bracket.
pub const TOLERANCE_MS: u64 = 1500;

/// Owners, ss, sockdoc, ss.
#[derive(Debug)]
pub struct Reading {
    /// ss lines with `users` filled in (`ss -p`): the owners to compare with. May hold more
    /// sockets than the filtered reads.
    pub owners: Vec<SsSocket>,
    pub before: Vec<SsSocket>,
    pub sockdoc: Vec<SdSocket>,
    pub after: Vec<SsSocket>,
}

/// Reads `ns` with the same ss-syntax `filter` words.
pub fn read(ns: &Netns, filter: &[&str]) -> Reading {
    let owners = ss::query(ns, filter).expect("run ss -p");
    read_with_owners(ns, filter, owners)
}

/// Like [`read`] for a namespace whose sockets are all held by this test process (or by none):
/// the owners come from `/proc/self/fd`, which is what `ss -p` reports for them (the lab checks
/// that), without `ss -p`'s walk over every process on the host.
pub fn read_own(ns: &Netns) -> Reading {
    let mine = own_sockets().expect("read /proc/self/fd");
    let comm = own_comm().expect("read /proc/self/comm");
    let me = std::process::id();
    let mut owners = ss::snapshot_quick(ns).expect("run ss");
    for s in &mut owners {
        for fd in mine.get(&s.ino).into_iter().flatten() {
            s.users.push(SsUser {
                name: comm.clone(),
                pid: me,
                fd: *fd,
            });
        }
    }
    read_with_owners(ns, &[], owners)
}

/// Like [`read`], with owners from an earlier `ss -p` (any superset of the filtered sockets):
/// `ss -p` walks every process's descriptors, which is slow on a host with many open files.
pub fn read_with_owners(ns: &Netns, filter: &[&str], owners: Vec<SsSocket>) -> Reading {
    let before = ss::query_quick(ns, filter).expect("run ss (before)");
    let sockdoc = sockdoc::list(ns, filter);
    let after = ss::query_quick(ns, filter).expect("run ss (after)");
    Reading {
        owners,
        before,
        sockdoc,
        after,
    }
}

fn by_cookie(sockets: &[SsSocket]) -> BTreeMap<u64, &SsSocket> {
    sockets
        .iter()
        .map(|s| {
            let cookie = s
                .cookie
                .unwrap_or_else(|| panic!("ss printed no sk: cookie: {}", s.line));
            (cookie, s)
        })
        .collect()
}

/// Panics, listing every difference, unless sockdoc saw exactly ss's sockets with the same values.
pub fn assert_same(r: &Reading) {
    let owners = by_cookie(&r.owners);
    let before = by_cookie(&r.before);
    let after = by_cookie(&r.after);
    let stable =
        before.keys().eq(after.keys()) && before.keys().all(|cookie| owners.contains_key(cookie));
    assert!(
        stable,
        "the lab changed between ss reads:\nbefore {:#?}\nafter {:#?}\nwith -p {:#?}",
        r.before, r.after, r.owners
    );
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for sd in &r.sockdoc {
        if !seen.insert(sd.cookie) {
            problems.push(format!(
                "sockdoc lists cookie {} twice: {}",
                sd.cookie, sd.json
            ));
            continue;
        }
        match (
            before.get(&sd.cookie),
            after.get(&sd.cookie),
            owners.get(&sd.cookie),
        ) {
            (Some(b), Some(a), Some(o)) => compare_socket(sd, [b, a], o, &mut problems),
            _ => problems.push(format!("sockdoc lists a socket ss does not: {}", sd.json)),
        }
    }
    for (cookie, s) in &before {
        if !seen.contains(cookie) {
            problems.push(format!(
                "sockdoc misses a socket ss shows: {}",
                s.line.trim()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "sockdoc differs from ss in {} way(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Whether `value` lies between two readings (in either order), widened by `slack`.
fn between(value: u64, b: u64, a: u64, slack: u64) -> bool {
    value + slack >= b.min(a) && value <= b.max(a) + slack
}

/// Whether sockdoc's timer fits the two ss readings: same kind, count between theirs; when the
/// timer just counted down (same count, not re-armed) the time left lies between theirs too.
/// A re-armed timer (retransmission) only has kind and count checked. A `persist` timer only has
/// its kind checked: it is re-armed after every zero-window probe without a visible trace, and
/// its count (probes out) goes 0 -> 1 -> 0 while a probe waits for its ACK.
fn timer_fits(sd: Option<&SdTimer>, b: Option<&SsTimer>, a: Option<&SsTimer>) -> bool {
    let Some(t) = sd else {
        return b.is_none() || a.is_none();
    };
    let readings: Vec<&SsTimer> = [b, a].into_iter().flatten().collect();
    let kind_ok = readings.iter().any(|r| r.kind == t.kind);
    if t.kind == "persist" {
        return kind_ok;
    }
    let counts = readings.iter().map(|r| u64::from(r.count));
    let count_ok = counts
        .clone()
        .min()
        .zip(counts.max())
        .is_some_and(|(lo, hi)| (lo..=hi).contains(&t.count));
    let time_ok = match (b, a) {
        (Some(b), Some(a))
            if b.kind == a.kind
                && b.count == a.count
                && a.remaining_ms <= b.remaining_ms + b.resolution_ms =>
        {
            t.expires_ms + TOLERANCE_MS >= a.remaining_ms
                && t.expires_ms <= b.remaining_ms + b.resolution_ms + TOLERANCE_MS
        }
        _ => true,
    };
    kind_ok && count_ok && time_ok
}

fn users(s: &SsSocket) -> BTreeSet<SdProcess> {
    s.users
        .iter()
        .map(|u| SdProcess {
            pid: u.pid,
            fd: u.fd,
            name: u.name.clone(),
        })
        .collect()
}

/// Whether process `pid` still has socket `inode` open as descriptor `fd`.
///
/// A child the test process is spawning holds copies of all the test's sockets between fork and
/// exec (close-on-exec closes them only at exec). A /proc walk that runs at that instant sees an
/// extra owner; the other walk usually does not. Both sides are therefore reduced to owners that
/// still hold the socket when the results are compared.
fn still_holds(p: &SdProcess, inode: u64) -> bool {
    std::fs::read_link(format!("/proc/{}/fd/{}", p.pid, p.fd))
        .is_ok_and(|link| link.to_string_lossy() == format!("socket:[{inode}]"))
}

/// Owners that still hold the socket (see [`still_holds`]).
fn lasting(owners: impl IntoIterator<Item = SdProcess>, inode: u64) -> BTreeSet<SdProcess> {
    owners
        .into_iter()
        .filter(|p| still_holds(p, inode))
        .collect()
}

/// Whether sockdoc must print `tcp_info: null` for this socket.
pub fn tcp_info_is_null(proto: Proto, state: SockState) -> bool {
    proto == Proto::Udp || matches!(state, SockState::TimeWait | SockState::SynRecv)
}

fn compare_socket(sd: &SdSocket, [b, a]: [&SsSocket; 2], o: &SsSocket, problems: &mut Vec<String>) {
    let mut bad = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            bad.push(what);
        }
    };
    check(
        sd.proto == b.proto,
        format!("proto {} vs {}", sd.proto, b.proto),
    );
    check(
        sd.family == Family::of(b.local.ip),
        format!("family {} vs {}", sd.family, b.family()),
    );
    check(
        sd.state == b.state && sd.state == a.state,
        format!("state {:?} vs {:?}", sd.state, b.state),
    );
    check(
        sd.ss_state == b.state.ss_name(),
        format!("ss_state {:?} vs {:?}", sd.ss_state, b.state.ss_name()),
    );
    check(
        sd.local == b.local.socket_addr(),
        format!("local {} vs {}", sd.local, b.local),
    );
    check(
        sd.remote == b.peer.socket_addr(),
        format!("remote {} vs {}", sd.remote, b.peer),
    );
    let ifindex_ok = match b.local.iface.as_deref() {
        None => sd.ifindex == 0,
        Some("lo") => sd.ifindex == 1,
        Some(_) => sd.ifindex != 0,
    };
    check(
        ifindex_ok,
        format!("ifindex {} vs %{:?}", sd.ifindex, b.local.iface),
    );
    check(
        sd.inode == b.ino,
        format!("inode {} vs {}", sd.inode, b.ino),
    );
    check(
        sd.uid == u64::from(b.uid),
        format!("uid {} vs {}", sd.uid, b.uid),
    );
    check(
        between(sd.recv_q, b.recv_q, a.recv_q, 0),
        format!("recv_q {} vs {}..{}", sd.recv_q, b.recv_q, a.recv_q),
    );
    check(
        between(sd.send_q, b.send_q, a.send_q, 0),
        format!("send_q {} vs {}..{}", sd.send_q, b.send_q, a.send_q),
    );
    check(
        timer_fits(sd.timer.as_ref(), b.timer.as_ref(), a.timer.as_ref()),
        format!("timer {:?} vs {:?} / {:?}", sd.timer, b.timer, a.timer),
    );
    compare_tcp_info(sd, [b, a], &mut check);
    match &sd.processes {
        None => check(false, "no `processes` key although -p was given".into()),
        Some(p) => {
            let got = lasting(p.iter().cloned(), sd.inode);
            let want = lasting(users(o), sd.inode);
            check(
                got == want,
                format!("processes {got:?} vs users {want:?} (still holding)"),
            );
        }
    }
    if !bad.is_empty() {
        problems.push(format!(
            "{}\n    ss:      {}\n    sockdoc: {}",
            bad.join("; "),
            o.line.trim(),
            sd.json
        ));
    }
}

/// Reads one TCP_INFO value from an ss line.
type FromSs = fn(&SsSocket) -> u64;

/// ss prints these TCP_INFO counters only when non-zero.
const COUNTERS: [(&str, FromSs); 6] = [
    ("bytes_acked", |s| s.detail_u64("bytes_acked").unwrap_or(0)),
    ("bytes_received", |s| {
        s.detail_u64("bytes_received").unwrap_or(0)
    }),
    ("unacked", |s| s.detail_u64("unacked").unwrap_or(0)),
    ("backoff", |s| s.detail_u64("backoff").unwrap_or(0)),
    // `retrans:A/B`: B is tcpi_total_retrans (A is tcpi_retrans, segments out now).
    ("total_retrans", |s| {
        s.retrans().map_or(0, |r| u64::from(r.1))
    }),
    ("rtt_us", |s| s.rtt_us().unwrap_or(0)),
];

/// Milliseconds since an event; they grow while we read.
const AGES: [(&str, &str); 3] = [
    ("last_data_sent_ms", "lastsnd"),
    ("last_data_recv_ms", "lastrcv"),
    ("last_ack_recv_ms", "lastack"),
];

fn compare_tcp_info(sd: &SdSocket, [b, a]: [&SsSocket; 2], check: &mut impl FnMut(bool, String)) {
    if tcp_info_is_null(sd.proto, sd.state) {
        check(
            sd.tcp_info.is_none(),
            format!("tcp_info should be null for {} {:?}", sd.proto, sd.state),
        );
        return;
    }
    if sd.tcp_info.is_none() {
        check(false, "tcp_info is null".into());
        return;
    }
    check(
        b.has_tcp_info(),
        "ss printed no TCP_INFO (-i) for it".into(),
    );
    if sd.state == SockState::Listen {
        check(
            sd.tcp_info.as_ref().is_some_and(|t| t["idle_ms"].is_null()),
            "tcp_info.idle_ms should be null for a listener".into(),
        );
    }
    let mut compare = |key: &str, vb: u64, va: u64, slack: u64| match sd.info(key) {
        Some(v) => check(
            between(v, vb, va, slack),
            format!("tcp_info.{key} {v} vs {vb}..{va}"),
        ),
        None => check(false, format!("tcp_info.{key} missing")),
    };
    for (key, from_ss) in COUNTERS {
        compare(key, from_ss(b), from_ss(a), 0);
    }
    for (key, ss_key) in AGES {
        let age = |s: &SsSocket| s.detail_u64(ss_key).unwrap_or(0);
        compare(key, age(b), age(a), TOLERANCE_MS);
    }
    // idle_ms: the youngest of the three ages (null for listeners, checked above).
    if sd.state != SockState::Listen {
        let idle = |s: &SsSocket| {
            AGES.iter()
                .map(|(_, k)| s.detail_u64(k).unwrap_or(0))
                .min()
                .unwrap_or(0)
        };
        compare("idle_ms", idle(b), idle(a), TOLERANCE_MS);
    }
    // tcpi_retransmits is the retransmission timer's count (ss shows it in `timer:(on,..,N)`).
    let on_counts: Vec<u64> = [b, a]
        .iter()
        .filter_map(|s| s.timer.as_ref())
        .filter(|t| t.kind == "on")
        .map(|t| u64::from(t.count))
        .collect();
    if let (Some(first), Some(last)) = (on_counts.first(), on_counts.last()) {
        compare("retransmits", *first, *last, 0);
    }
}
