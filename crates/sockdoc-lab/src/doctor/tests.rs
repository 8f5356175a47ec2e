//! Each doctor scenario produces the socket states it promises, checked with `ss` (and kernel
//! counters) in its namespaces. Needs root, `ip`, `nft`, `ss` and the daemons.

use std::time::Duration;

use super::*;
use crate::ss;
use crate::state::SockState;

#[test]
fn ghost_incident_leaves_a_keepalive_less_ghost_on_21() {
    let g = GhostIncident::build().expect("build the incident");
    let ghost = g
        .wait_idle(Duration::from_millis(1500))
        .expect("ghost idle");
    assert_eq!(ghost.state, SockState::Established, "{}", ghost.line);
    assert_eq!(ghost.local.port, FTP_PROXY_PORT, "{}", ghost.line);
    assert_eq!(ghost.peer.ip, g.laptop_link.client_ip, "{}", ghost.line);
    assert!(ghost.timer.is_none(), "no keepalive timer: {}", ghost.line);
    assert_eq!(ghost.send_q, 0, "{}", ghost.line);
    assert!(ghost.detail_u64("unacked").is_none(), "{}", ghost.line);
    assert!(received_ago_ms(&ghost) >= 1500, "{}", ghost.line);
    assert_eq!(g.ghost.users[0].name, "socat", "{}", g.ghost.line);
    assert_ne!(g.ghost_pid, g.proxy.pid, "a forked child holds it");

    let snap = ss::snapshot(&g.server).expect("ss");
    let lines = || {
        snap.iter()
            .map(|s| s.line.trim())
            .collect::<Vec<_>>()
            .join("\n")
    };
    // The laptop's socket in its own namespace is gone from the server's view only in the sense
    // that it never told the server: the server still has exactly one ESTAB to it.
    let to_laptop: Vec<_> = snap
        .iter()
        .filter(|s| s.peer.ip == g.laptop_link.client_ip)
        .collect();
    assert_eq!(to_laptop.len(), 1, "{}", lines());
    // Every other ESTAB in the server namespace is protected or busy.
    for s in snap.iter().filter(|s| s.state == SockState::Established) {
        let kind = s.timer.as_ref().map(|t| t.kind.as_str());
        if s.local.port == FTP_PROXY_PORT && s.peer.ip != g.laptop_link.client_ip {
            assert_eq!(s.peer.socket_addr(), g.busy, "{}", s.line);
            assert!(
                received_ago_ms(s) < 1000,
                "busy session receives: {}",
                s.line
            );
        } else if s.local.port != FTP_PROXY_PORT {
            assert_eq!(kind, Some("keepalive"), "{}", s.line);
        }
    }
    // sshd and vsftpd connections carry keepalive timers.
    let ssh = snap
        .iter()
        .find(|s| s.local.port == SSHD_PORT && s.state == SockState::Established)
        .unwrap_or_else(|| panic!("ssh connection: {}", lines()));
    assert_eq!(ssh.peer.socket_addr(), g.ssh_client, "{}", ssh.line);
    assert_eq!(ssh.users[0].name, "sshd", "{}", ssh.line);
    let ftpd: Vec<_> = snap
        .iter()
        .filter(|s| s.local.port == VSFTPD_PORT && s.state == SockState::Established)
        .collect();
    assert_eq!(ftpd.len(), 2, "{}", lines());
    assert!(
        ftpd.iter().all(|s| s.users[0].name == "vsftpd"),
        "{}",
        lines()
    );
}

#[test]
fn close_wait_leak_holds_close_wait_sockets() {
    let cw = CloseWaitLeak::build(110, 3).expect("build");
    let snap = ss::snapshot(&cw.server).expect("ss");
    let held_by = |port: u16| -> Vec<_> {
        snap.iter()
            .filter(|s| s.state == SockState::CloseWait && s.local.port == port)
            .collect()
    };
    let leaked = held_by(LEAKER_PORT);
    assert_eq!(leaked.len(), 110);
    assert!(leaked.iter().all(|s| s
        .users
        .iter()
        .any(|u| u.pid == cw.leaker.pid && u.name == "cw-leaker")));
    let young = held_by(YOUNG_PORT);
    assert_eq!(young.len(), 3);
    assert!(young.iter().all(|s| s.users[0].name == "cw-young"));
    assert!(held_by(CLOSER_PORT).is_empty());
    // All of them are fresh: received their FIN just now.
    assert!(leaked.iter().all(|s| received_ago_ms(s) < 10_000));
}

#[test]
fn listen_overflow_fills_the_accept_queue() {
    let lo = ListenOverflow::build(20).expect("build");
    let l = &lo.stuck_listener;
    assert_eq!(l.send_q, u64::from(STUCK_BACKLOG), "{}", l.line);
    assert_eq!(l.recv_q, u64::from(STUCK_BACKLOG) + 1, "{}", l.line);
    lo.start_spam(20).expect("spam");
    let before = counter(&lo.server, "TcpExt", "ListenOverflows").expect("counter");
    std::thread::sleep(Duration::from_millis(300));
    let after = counter(&lo.server, "TcpExt", "ListenOverflows").expect("counter");
    assert!(after > before, "ListenOverflows {before} -> {after}");
    let snap = ss::snapshot_quick(&lo.server).expect("ss");
    let ok = snap
        .iter()
        .find(|s| s.state == SockState::Listen && s.local.port == ACCEPTING_PORT)
        .expect("accepting listener");
    assert_eq!(ok.recv_q, 0, "{}", ok.line);
}

#[test]
fn syn_flood_piles_up_syn_recv() {
    let f = SynFlood::build(100, 1024).expect("build");
    assert_eq!(f.syn_recv, 100);
    let l = f.listener().expect("listener");
    assert_eq!(l.send_q, 1024, "{}", l.line);
}

#[test]
fn syn_flood_beyond_the_backlog_stops_at_the_backlog() {
    let f = SynFlood::build(100, 64).expect("build");
    assert!(
        (64..=65).contains(&f.syn_recv),
        "{} SYN-RECV for backlog 64",
        f.syn_recv
    );
}

#[test]
fn time_wait_storm_fills_the_buckets() {
    let tw = TimeWaitStorm::build(200).expect("build");
    assert_eq!(
        sysctl(&tw.client, "net.ipv4.tcp_max_tw_buckets").expect("sysctl"),
        "200"
    );
    assert_eq!(tw.requests(150).expect("requests"), 150);
    let before = tw.overflows().expect("counter");
    assert_eq!(tw.requests(80).expect("requests"), 200);
    let after = tw.overflows().expect("counter");
    assert_eq!(after - before, 30, "TCPTimeWaitOverflow");
    assert_eq!(
        ss::snapshot_quick(&tw.server)
            .expect("ss")
            .iter()
            .filter(|s| s.state == SockState::TimeWait)
            .count(),
        0,
        "the server closed second"
    );
}

#[test]
fn ephemeral_ports_run_low() {
    let mut e = EphemeralPorts::build(80).expect("build");
    assert_eq!(
        sysctl(&e.client, "net.ipv4.ip_local_port_range").expect("sysctl"),
        "40000\t40099"
    );
    e.connect(10).expect("more");
    assert_eq!(e.connections, 90);
}

#[test]
fn fd_hogs_sit_near_their_limit() {
    let f = FdLimit::build(&[("fd-warn", 128, 110), ("fd-calm", 1024, 20)]).expect("build");
    assert_eq!(f.hog("fd-warn").open, 110);
    assert_eq!(f.hog("fd-calm").soft, 1024);
    let snap = ss::snapshot(&f.ns).expect("ss");
    for h in &f.hogs {
        assert!(
            snap.iter()
                .any(|s| s.state == SockState::Listen && s.users.iter().any(|u| u.pid == h.pid)),
            "{} holds a listener",
            h.process
        );
    }
}

#[test]
fn unreachable_peer_retransmits() {
    let u = UnreachablePeer::build(3, 2).expect("build");
    let socks = u.wait_retrans(2).expect("retrans");
    assert_eq!(socks.len(), 3);
    for s in &socks {
        assert!(s.detail_u64("unacked").unwrap_or(0) > 0, "{}", s.line);
    }
    let snap = ss::snapshot_quick(&u.server).expect("ss");
    let healthy = snap
        .iter()
        .find(|s| s.state == SockState::Established && s.local.port == HEALTHY_SENDER_PORT)
        .expect("healthy connection");
    assert!(
        healthy.timer.as_ref().map_or(0, |t| t.count) == 0,
        "{}",
        healthy.line
    );
}

#[test]
fn healthy_namespace_is_quiet() {
    let h = Healthy::build().expect("build");
    h.wait_idle(Duration::from_millis(500)).expect("idle");
    let snap = ss::snapshot_quick(&h.server).expect("ss");
    let states: Vec<_> = snap.iter().map(|s| s.state).collect();
    assert_eq!(
        states.iter().filter(|s| **s == SockState::TimeWait).count(),
        HEALTHY_TIME_WAIT
    );
    let busy = find_estab(&snap, h.busy, HEALTHY_PORT).expect("busy");
    assert!(received_ago_ms(busy) < 1000, "{}", busy.line);
}
