//! The `ss` line reader on the forms ss prints (lines copied from real `ss` 6.1 output).

use sockdoc_diag::{Family, Proto, State, TimerKind};

use super::*;
use crate::collect::{Batch, Rank};

fn one(l: &str, hints: SsHints) -> Batch {
    let mut b = Batch::new(Rank::Ss);
    assert_eq!(
        line(l.as_bytes(), &hints, &mut b),
        Some(Line::Socket),
        "{l}"
    );
    b
}

#[test]
fn seed_lines_with_and_without_keepalive() {
    let b = one(
        "tcp ESTAB 0 0 192.168.12.32:21 192.168.20.63:63677 ino:336879672 sk:65bb <->",
        SsHints::default(),
    );
    let s = b.sockets[0];
    assert_eq!(
        (s.proto, s.state, s.local_port),
        (Proto::Tcp, State::Established, 21)
    );
    assert_eq!((s.inode, s.cookie), (336879672, 0x65bb));
    assert_eq!(s.timer.kind, TimerKind::Off);
    let b = one(
        "tcp ESTAB 0 0 192.168.12.32:333 192.168.55.185:64892 timer:(keepalive,3min59sec,0) ino:336461969 sk:62d1 <->",
        SsHints::default(),
    );
    assert_eq!(b.sockets[0].timer.kind, TimerKind::Keepalive);
    assert_eq!(b.sockets[0].timer.expires_ms, 239_000);
    assert!(b.known.timers && b.known.inodes);
}

#[test]
fn columns_owners_and_details() {
    let b = one(
        "tcp   LISTEN 0      128    [::]:22   [::]:*    users:((\"sshd\",pid=812,fd=4),(\"my proc\",pid=9,fd=7)) uid:33 ino:1167 sk:95a00e cgroup:/system.slice/ssh.service v6only:1 <->",
        SsHints::default(),
    );
    let s = b.sockets[0];
    assert_eq!(
        (s.family, s.state, s.send_q, s.uid),
        (Family::V6, State::Listen, 128, 33)
    );
    assert_eq!(b.owners, vec![(0, 812, 4), (0, 9, 7)]);
    assert_eq!(b.names[&9], "my proc");
    assert_eq!(
        b.cgroups,
        vec![(0, "/system.slice/ssh.service".to_string())]
    );
}

#[test]
fn no_state_column_takes_the_filter_state_or_says_unknown() {
    let h = SsHints {
        state: Some(State::CloseWait),
        udp_only: false,
    };
    let b = one("1      0      10.0.0.1:7001   10.0.0.2:40000", h);
    assert_eq!(
        (b.sockets[0].state, b.sockets[0].recv_q),
        (State::CloseWait, 1)
    );
    assert!(b.known.states);
    let b = one("0 0 10.0.0.1:7001 10.0.0.2:40000", SsHints::default());
    assert!(!b.known.states);
}

#[test]
fn udp_scopes_and_star() {
    let b = one("UNCONN 0 0 127.0.0.1%lo:53 0.0.0.0:*", SsHints::default());
    assert_eq!(
        (b.sockets[0].proto, b.sockets[0].state),
        (Proto::Udp, State::Close)
    );
    let b = one("tcp LISTEN 0 4096 *:80 *:*", SsHints::default());
    assert_eq!(b.sockets[0].family, Family::V6);
    let b = one(
        "udp ESTAB 0 0 [fe80::1]%eth0:546 [fe80::2]%eth0:547",
        SsHints::default(),
    );
    assert_eq!(b.sockets[0].remote_port, 547);
}

#[test]
fn tcp_info_on_a_continuation_line() {
    let mut b = one(
        "ESTAB 0 0 10.0.0.1:22 10.0.0.2:5000 timer:(keepalive,119min,0)",
        SsHints::default(),
    );
    continuation(
        b"\t skmem:(r0,rb131072,t0,tb87040,f0,w0,o0,bl0,d0) ts sack cubic wscale:7,7 rto:204 rtt:0.031/0.015 ato:40 mss:32768 cwnd:10 bytes_acked:1234 bytes_received:5678 segs_out:10 lastsnd:4000 lastrcv:5000 lastack:3000 retrans:0/3 unacked:2",
        &mut b,
    );
    let t = b.sockets[0].tcp.expect("tcp_info");
    assert_eq!({ t.rtt_us }, 31);
    assert_eq!({ t.bytes_acked }, 1234);
    assert_eq!({ t.bytes_received }, 5678);
    assert_eq!(
        (t.last_data_sent_ms, t.last_data_recv_ms, t.last_ack_recv_ms),
        (4000, 5000, 3000)
    );
    assert_eq!((t.total_retrans, t.unacked), (3, 2));
    assert_eq!(b.sockets[0].idle_ms(), Some(3000));
    assert!(b.known.tcp_info);
}

#[test]
fn other_families_and_broken_lines() {
    let mut b = Batch::new(Rank::Ss);
    let h = SsHints::default();
    assert_eq!(
        line(b"u_str ESTAB 0 0 * 12345 * 12346", &h, &mut b),
        Some(Line::Other)
    );
    assert_eq!(line(b"tcp ESTAB 0 0 10.0.0.1:22", &h, &mut b), None);
    assert_eq!(
        line(b"tcp ESTAB x 0 10.0.0.1:22 10.0.0.2:1", &h, &mut b),
        None
    );
    assert_eq!(line("常用的三个状态是".as_bytes(), &h, &mut b), None);
    assert!(b.sockets.is_empty());
}
