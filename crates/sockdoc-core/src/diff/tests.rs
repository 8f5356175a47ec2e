//! The comparison on hand-built censuses (the command is tested on real scenes in the CLI crate):
//! matching by addresses and by cookie, the tables' moves, keepalive gained, findings' fates.

use std::net::IpAddr;

use sockdoc_diag::{Addr, Family, Proto, Socket, State, TcpInfo, Timer, TimerKind};

use super::*;
use crate::doctor::tests::Own;
use crate::doctor::{self, Input, KernelState};
use crate::i18n::Lang;

fn sock(state: State, lport: u16, peer: &str, rport: u16, cookie: u64) -> Socket {
    Socket {
        local: Addr::from_ip("10.0.0.1".parse::<IpAddr>().expect("ip")),
        remote: Addr::from_ip(peer.parse::<IpAddr>().expect("ip")),
        cookie,
        local_port: lport,
        remote_port: rport,
        proto: Proto::Tcp,
        family: Family::V4,
        state,
        timer: Timer::default(),
        ifindex: 0,
        inode: if state == State::TimeWait {
            0
        } else {
            u32::from(lport) * 1000 + (cookie % 1000) as u32
        },
        uid: 0,
        recv_q: 0,
        send_q: 0,
        cgroup_id: 0,
        tcp: Some(TcpInfo::default()),
    }
}

fn keepalive(mut s: Socket) -> Socket {
    s.timer = Timer {
        kind: TimerKind::Keepalive,
        expires_ms: 60_000,
        count: 0,
    };
    s
}

fn side<'a>(sockets: &'a [Socket], findings: &'a [Finding]) -> Side<'a> {
    Side {
        sockets,
        owners: &Own,
        findings,
        unjudged: &[],
        timers: true,
    }
}

fn row<'a>(d: &'a Diff, t: Table, key: &str) -> &'a Row {
    d.table(t)
        .iter()
        .find(|r| r.key == key)
        .unwrap_or_else(|| panic!("no {key} in {:?}", d.table(t)))
}

/// The incident's host: a listener on 21 and 22, three idle FTP connections, one SSH one.
fn incident() -> Vec<Socket> {
    vec![
        sock(State::Listen, 21, "0.0.0.0", 0, 1),
        sock(State::Listen, 22, "0.0.0.0", 0, 2),
        sock(State::Established, 21, "192.0.2.7", 40001, 11),
        sock(State::Established, 21, "192.0.2.7", 40002, 12),
        sock(State::Established, 21, "192.0.2.8", 40003, 13),
        keepalive(sock(State::Established, 22, "192.0.2.9", 50000, 14)),
    ]
}

#[test]
fn a_kill_and_a_close_are_told_apart_from_what_stayed() {
    let before = incident();
    let mut after = before.clone();
    // One FTP connection killed; another closed by its peer, now CLOSE-WAIT; a new SSH login.
    after.remove(2);
    after[2].state = State::CloseWait;
    after.push(keepalive(sock(
        State::Established,
        22,
        "192.0.2.10",
        50001,
        15,
    )));
    let d = compare(&side(&before, &[]), &side(&after, &[]));
    assert_eq!((d.before, d.after), (6, 6));
    assert_eq!((d.new, d.gone, d.persisting), (1, 1, 5));
    assert!(d.by_cookie);
    assert_eq!(
        d.state_changes.get(&(State::Established, State::CloseWait)),
        Some(&1)
    );
    let est = row(&d, Table::State, "tcp ESTAB");
    assert_eq!((est.before, est.after, est.new, est.gone), (4, 3, 1, 1));
    assert_eq!((est.moved_out, est.moved_in, est.persisting()), (1, 0, 2));
    let cw = row(&d, Table::State, "tcp CLOSE-WAIT");
    assert_eq!(
        (cw.before, cw.after, cw.moved_in, cw.persisting()),
        (0, 1, 1, 0)
    );
    let ftp = row(&d, Table::Port, "tcp 21");
    assert_eq!((ftp.before, ftp.after, ftp.gone, ftp.new), (4, 3, 1, 0));
    let proxy = row(&d, Table::Process, "ftp-proxy");
    assert_eq!((proxy.before, proxy.after, proxy.gone), (4, 3, 1));
    let peer = row(&d, Table::Peer, "192.0.2.7");
    assert_eq!((peer.before, peer.after, peer.gone), (2, 1, 1));
    // Listeners have no peer.
    assert!(d.table(Table::Peer).iter().all(|r| r.key != "0.0.0.0"));
    // The busiest change first; unchanged keys kept but last.
    assert!(d.table(Table::State)[0].changed());
    assert_eq!(d.keepalive, Some((0, 0)));
    assert!(d.changed());
}

#[test]
fn a_keepalive_retrofit_is_persisting_connections_that_gained_the_timer() {
    let before = incident();
    let after: Vec<Socket> = before
        .iter()
        .map(|s| match (s.state, s.local_port) {
            (State::Established, 21) => keepalive(*s),
            _ => *s,
        })
        .collect();
    let d = compare(&side(&before, &[]), &side(&after, &[]));
    assert_eq!((d.new, d.gone, d.persisting), (0, 0, 6));
    assert_eq!(d.keepalive, Some((3, 0)));
    assert!(d.state_changes.is_empty());
    assert!(d.table(Table::State).iter().all(|r| !r.changed()));
    assert!(d.changed());
    // A side without timers cannot say.
    let mut blind = side(&after, &[]);
    blind.timers = false;
    assert_eq!(compare(&side(&before, &[]), &blind).keepalive, None);
}

#[test]
fn cookies_tell_a_reused_address_from_the_same_connection() {
    let before = incident();
    let mut after = before.clone();
    // The FTP server restarted: a new listener (new cookie) on the same address.
    after[0].cookie = 101;
    // A connection that closed into TIME-WAIT: the kernel's TIME-WAIT socket has its own cookie,
    // and is still that connection.
    after[2].state = State::TimeWait;
    after[2].cookie = 102;
    let d = compare(&side(&before, &[]), &side(&after, &[]));
    assert_eq!((d.new, d.gone, d.persisting), (1, 1, 5));
    let l = row(&d, Table::State, "tcp LISTEN");
    assert_eq!((l.new, l.gone), (1, 1));
    assert_eq!(
        d.state_changes.get(&(State::Established, State::TimeWait)),
        Some(&1)
    );
    // Dumps without cookies (ss -tan) match by addresses alone.
    let strip =
        |v: &[Socket]| -> Vec<Socket> { v.iter().map(|s| Socket { cookie: 0, ..*s }).collect() };
    let (b, a) = (strip(&before), strip(&after));
    let d = compare(&side(&b, &[]), &side(&a, &[]));
    assert!(!d.by_cookie);
    assert_eq!((d.new, d.gone, d.persisting), (0, 0, 6));
}

#[test]
fn a_port_reached_is_told_from_a_port_served() {
    let before = vec![sock(State::Listen, 80, "0.0.0.0", 0, 1)];
    let after = vec![
        sock(State::Listen, 80, "0.0.0.0", 0, 1),
        sock(State::Established, 80, "192.0.2.1", 41000, 2),
        sock(State::Established, 41001, "192.0.2.2", 5432, 3),
    ];
    let d = compare(&side(&before, &[]), &side(&after, &[]));
    assert_eq!(row(&d, Table::Port, "tcp 80").new, 1);
    assert_eq!(row(&d, Table::Port, "tcp →5432").new, 1);
}

fn diagnose(sockets: &[Socket]) -> Vec<Finding> {
    let kernel = KernelState::default();
    doctor::diagnose(&Input {
        sockets,
        owners: &Own,
        kernel: &kernel,
        idle_threshold_ms: Some(1000),
        lang: Lang::En,
        services: None,
        blind: doctor::Blind::NONE,
    })
}

#[test]
fn findings_appear_clear_or_cannot_be_compared() {
    // Before: idle FTP connections without keepalive (ghost suspects); after: all with it.
    let idle = |mut s: Socket| {
        s.tcp = Some(TcpInfo {
            last_data_recv_ms: 3_600_000,
            last_ack_recv_ms: 3_600_000,
            last_data_sent_ms: 3_600_000,
            ..TcpInfo::default()
        });
        s
    };
    let before: Vec<Socket> = incident().into_iter().map(idle).collect();
    let after: Vec<Socket> = before
        .iter()
        .map(|s| match s.state {
            State::Established => keepalive(*s),
            _ => *s,
        })
        .collect();
    let (fb, fa) = (diagnose(&before), diagnose(&after));
    assert!(fb.iter().any(|f| f.id == "ghost-suspects"), "{fb:?}");
    let d = compare(&side(&before, &fb), &side(&after, &fa));
    let cleared: Vec<&str> = d
        .findings
        .iter()
        .filter(|c| c.kind() == "cleared")
        .map(FindingChange::id)
        .collect();
    assert!(cleared.contains(&"ghost-suspects"), "{:?}", d.findings);
    // The other way round it appears, unless the "before" evidence had no timers to judge it by.
    let d = compare(&side(&after, &fa), &side(&before, &fb));
    assert!(d
        .findings
        .iter()
        .any(|c| c.kind() == "appeared" && c.id() == "ghost-suspects"));
    let mut blind = side(&after, &[]);
    blind.unjudged = &crate::session::recorded::NEEDS_TIMERS;
    let d = compare(&blind, &side(&before, &fb));
    let ghost = d.findings.iter().find(|c| c.id() == "ghost-suspects");
    assert_eq!(ghost.map(FindingChange::kind), Some("not-compared"));
}
