//! Listeners under pressure: an accept queue that overflows, a SYN queue flooded with half-open
//! requests.

use sockdoc_lab::doctor::{
    sysctl, ListenOverflow, SynFlood, ACCEPTING_PORT, FLOODED_PORT, STUCK_BACKLOG, STUCK_PORT,
};

use std::time::Duration;

use crate::run::{doctor, doctor_during, g_str, g_u64};

#[test]
fn listen_overflow_is_critical_for_the_listener_that_never_accepts() {
    let lo = ListenOverflow::build(20).expect("build");
    let queue = lo.stuck_listener.recv_q;
    let r = doctor(&lo.server, &[]);
    let f = r.finding("listen-overflow");
    assert_eq!(f.severity, "critical", "queue full: {:#}", f.json);
    assert_eq!(r.status, "critical");
    assert_eq!(
        f.groups.len(),
        1,
        "not the accepting neighbour: {:#}",
        f.json
    );
    let g = f.group("local_port", STUCK_PORT);
    assert_eq!(g_u64(g, "pid"), u64::from(lo.stuck.pid), "{g}");
    assert_eq!(g_str(g, "process"), "lq-stuck", "{g}");
    assert_eq!(g_u64(g, "accept_queue"), queue, "ss Recv-Q: {g}");
    assert_eq!(g_u64(g, "backlog"), u64::from(STUCK_BACKLOG), "{g}");
    assert!(f.groups_where("local_port", ACCEPTING_PORT).is_empty());
    f.ev("listen_overflows_delta");
    f.ev("listen_drops_delta");

    // With a client connecting every 20 ms, the counters grow during the interval.
    lo.start_spam(20).expect("spam");
    let r = doctor(&lo.server, &[]);
    let f = r.finding("listen-overflow");
    assert_eq!(f.severity, "critical", "{:#}", f.json);
    assert!(f.ev("listen_overflows_delta") >= 2, "{:#}", f.json);
    assert!(f.ev("listen_drops_delta") >= 2, "{:#}", f.json);
    assert_eq!(
        g_u64(f.group("local_port", STUCK_PORT), "accept_queue"),
        queue,
        "{:#}",
        f.json
    );
}

fn sysctl_u64(ns: &sockdoc_lab::Netns, key: &str) -> u64 {
    sysctl(ns, key).expect("sysctl").parse().expect("number")
}

#[test]
fn syn_flood_counts_half_open_requests() {
    let f = SynFlood::build(100, 1024).expect("build");
    assert_eq!(f.syn_recv, 100);
    let r = doctor(&f.server, &[]);
    let x = r.finding("syn-flood");
    assert_eq!(
        x.severity, "warning",
        "100 >= 64, < backlog 1024: {:#}",
        x.json
    );
    assert_eq!(r.status, "warning", "{:#}", r.doc);
    assert_eq!(x.ev("syn_recv"), 100, "{:#}", x.json);
    assert_eq!(
        x.ev("syncookies"),
        sysctl_u64(&f.server, "net.ipv4.tcp_syncookies")
    );
    assert_eq!(
        x.ev("tcp_max_syn_backlog"),
        sysctl_u64(&f.server, "net.ipv4.tcp_max_syn_backlog")
    );
    assert_eq!(x.groups.len(), 1, "{:#}", x.json);
    let g = x.group("local_port", FLOODED_PORT);
    assert_eq!(g_u64(g, "syn_recv"), 100, "{g}");
    assert_eq!(g_u64(g, "backlog"), 1024, "{g}");
    r.assert_absent("listen-overflow");
}

#[test]
fn fewer_than_64_syn_recv_is_no_flood() {
    let f = SynFlood::build(40, 1024).expect("build");
    assert_eq!(f.syn_recv, 40);
    let r = doctor(&f.server, &[]);
    r.assert_absent("syn-flood");
    assert_eq!(r.state_count("syn-recv"), 40, "{:#}", r.ns["summary"]);
}

#[test]
fn syn_flood_filling_the_backlog_is_critical() {
    let f = SynFlood::build(100, 64).expect("build");
    let r = doctor(&f.server, &[]);
    let x = r.finding("syn-flood");
    assert_eq!(x.severity, "critical", "SYN-RECV >= backlog: {:#}", x.json);
    let g = x.group("local_port", FLOODED_PORT);
    assert_eq!(g_u64(g, "syn_recv"), f.syn_recv as u64, "ss count: {g}");
    assert_eq!(g_u64(g, "backlog"), 64, "{g}");
    assert_eq!(x.ev("syn_recv"), f.syn_recv as u64, "{:#}", x.json);
}

/// The contract's other critical trigger: ListenOverflows grew during the interval, even though
/// no listener's queue was full when the sockets were read. The stuck listener is empty when
/// sockdoc starts (`--interval 2s`); one second later 12 clients connect: 5 fill its queue, the
/// other SYNs overflow, all inside the interval.
#[test]
fn listen_overflows_during_the_interval_are_critical() {
    let lo = ListenOverflow::build(0).expect("build");
    assert_eq!(lo.stuck_listener.recv_q, 0);
    let r = doctor_during(&lo.server, "2s", Duration::from_millis(1000), || {
        lo.add_clients(12).expect("clients")
    });
    let f = r.finding("listen-overflow");
    assert!(f.ev("listen_overflows_delta") >= 1, "{:#}", f.json);
    assert!(
        f.groups_where("local_port", STUCK_PORT)
            .iter()
            .all(|g| g_u64(g, "accept_queue") == 0),
        "the queue was empty when sockets were read (timing): {:#}",
        f.json
    );
    assert_eq!(
        f.severity, "critical",
        "ListenOverflows grew during the interval: {:#}",
        f.json
    );
}

#[test]
fn half_full_accept_queue_is_a_warning() {
    let lo = ListenOverflow::build(0).expect("build");
    lo.add_clients(2).expect("clients");
    let l = lo.wait_queue(2).expect("queue of 2");
    assert_eq!(l.send_q, u64::from(STUCK_BACKLOG));
    let r = doctor(&lo.server, &[]);
    let f = r.finding("listen-overflow");
    assert_eq!(f.severity, "warning", "2 of 4: {:#}", f.json);
    assert_eq!(f.ev("listen_overflows_delta"), 0, "{:#}", f.json);
    let g = f.group("local_port", STUCK_PORT);
    assert_eq!(g_u64(g, "accept_queue"), 2, "{g}");
    assert_eq!(g_u64(g, "backlog"), u64::from(STUCK_BACKLOG), "{g}");
    assert_eq!(g_str(g, "process"), "lq-stuck", "{g}");
    assert_eq!(g_u64(g, "pid"), u64::from(lo.stuck.pid), "{g}");
}
