//! Evaluation tests on hand-built sockets.

use sockdoc_diag::{Socket, State, TcpInfo, TimerKind};

use super::{parse, sock, FakeOwners};
use crate::NoOwners;

fn yes(filter: &str, s: &Socket) {
    assert!(
        parse(filter).matches(s, &NoOwners),
        "{filter:?} should match {s:?}"
    );
}

fn no(filter: &str, s: &Socket) {
    assert!(
        !parse(filter).matches(s, &NoOwners),
        "{filter:?} should not match {s:?}"
    );
}

#[test]
fn empty_matches_everything() {
    let s = sock("10.0.0.1:22", "10.0.0.2:40000").build();
    assert!(crate::filter::Filter::default().matches(&s, &NoOwners));
    assert!(crate::filter::Filter::parse(&[])
        .unwrap()
        .matches(&s, &NoOwners));
}

#[test]
fn states() {
    let est = sock("10.0.0.1:22", "10.0.0.2:40000").build();
    let listen = sock("0.0.0.0:22", "0.0.0.0:0").state(State::Listen).build();
    let tw = sock("10.0.0.1:22", "10.0.0.2:40000")
        .state(State::TimeWait)
        .build();
    let unconn = sock("0.0.0.0:53", "0.0.0.0:0")
        .udp()
        .state(State::Close)
        .build();
    yes("state established", &est);
    no("state established", &listen);
    yes("state established state listening", &listen);
    yes("state ESTAB state LISTEN", &est);
    no("exclude listening", &listen);
    yes("exclude listening", &tw);
    yes("listening", &listen);
    yes("state connected", &tw);
    no("state connected", &listen);
    no("state connected", &unconn);
    yes("state bucket", &tw);
    no("state big", &tw);
    yes("state closed", &unconn);
    yes("state unconn", &unconn);
    yes("state UNCONN", &unconn);
    yes("not state listening", &est);
    no("not state listening", &listen);
    yes("state established or state close-wait", &est);
    no("state established and state listening", &est);
    no("exclude all", &est);
    yes("state all", &tw);
}

#[test]
fn ports() {
    let s = sock("10.0.0.1:21", "10.0.0.2:40000").build();
    yes("sport = :21", &s);
    yes("sport :ftp", &s);
    no("sport = :22", &s);
    yes("sport != :22", &s);
    yes("dport > 1024", &s);
    yes("dport >= 40000", &s);
    no("dport > 40000", &s);
    yes("dport <= 40000", &s);
    no("dport < 40000", &s);
    no("sport < 0", &s);
    no("sport > 65535", &s);
    yes("state established '( sport = :21 )'", &s);
    no("state listening '( sport = :21 )'", &s);
}

#[test]
fn addresses() {
    let v4 = sock("10.1.2.3:80", "192.168.7.9:5555").build();
    let mapped = sock("[::ffff:10.1.2.3]:80", "[::ffff:192.168.7.9]:5555").build();
    let v6 = sock("[2001:db8::5]:443", "[::1]:6000").build();
    for s in [&v4, &mapped] {
        yes("src 10.0.0.0/8", s);
        yes("src 10.1.2.3", s);
        yes("src 10.1.2.3:80", s);
        yes("src 10.1.0.0/16:http", s);
        no("src 10.1.2.3:81", s);
        no("src 10.1.2.4", s);
        yes("dst 192.168.0.0/16", s);
        yes("dst 192.168.0.0/16 and not sport = :22", s);
        no("dst 192.168.0.0/16 and not sport = :80", s);
        yes("dst :5555", s);
        yes("dst *:5555", s);
        yes("dst *", s);
        yes("src 0.0.0.0/0", s);
        no("src 2001:db8::/32", s);
    }
    // A v6 prefix never matches an IPv4 socket; ::ffff: prefixes only match IPv6 sockets.
    no("src ::/0", &v4);
    yes("src ::/0", &mapped);
    no("src ::ffff:10.1.2.3", &v4);
    yes("src ::ffff:10.1.2.3", &mapped);
    yes("src ::ffff:0:0/96", &mapped);
    yes("src 2001:db8::/32", &v6);
    yes("src [2001:db8::/32]:443", &v6);
    no("src [2001:db8::/32]:80", &v6);
    yes("dst ::1", &v6);
    yes("dst [::1]:6000", &v6);
    no("dst 10.0.0.0/8", &v6);
    no("src 0.0.0.0/0", &v6);
    yes("src ::/0", &v6);
    yes("ipv6", &v6);
    no("ipv4", &v6);
    yes("ipv6", &mapped);
}

#[test]
fn protocols_and_ids() {
    let s = sock("10.0.0.1:53", "0.0.0.0:0")
        .udp()
        .state(State::Close)
        .uid(1000)
        .inode(777)
        .dev(3)
        .build();
    yes("udp", &s);
    yes("proto udp", &s);
    no("tcp", &s);
    no("proto != udp", &s);
    yes("ipv4", &s);
    yes("uid 1000", &s);
    no("uid 0", &s);
    yes("inode 777", &s);
    yes("dev 3", &s);
    no("dev 4", &s);
    yes("dev != 4", &s);
}

#[test]
fn processes() {
    let owners = FakeOwners::default()
        .with(100, 42, "vsftpd")
        .with(200, 7, "nginx")
        .with(200, 8, "nginx: worker");
    let ftp = sock("10.0.0.1:21", "10.0.0.2:40000").inode(100).build();
    let web = sock("10.0.0.1:80", "10.0.0.2:40001").inode(200).build();
    let orphan = sock("10.0.0.1:80", "10.0.0.2:40002").inode(0).build();
    let f = parse("proc vsftpd or pid 42");
    assert!(f.matches(&ftp, &owners));
    assert!(!f.matches(&web, &owners));
    assert!(parse("pid 8").matches(&web, &owners));
    assert!(parse("proc 'nginx*'").matches(&web, &owners));
    assert!(parse("proc '*worker'").matches(&web, &owners));
    assert!(!parse("proc ngin").matches(&web, &owners));
    assert!(!parse("proc nginx").matches(&orphan, &owners));
    assert!(parse("not proc nginx").matches(&orphan, &owners));
    assert!(!parse("pid 0").matches(&orphan, &owners));
    // No process table: nothing is owned.
    assert!(!parse("proc vsftpd").matches(&ftp, &NoOwners));
}

#[test]
fn idle() {
    let idle = sock("10.0.0.1:22", "10.0.0.2:40000")
        .idle(10 * 60_000)
        .build();
    let busy = sock("10.0.0.1:22", "10.0.0.2:40000").idle(200).build();
    let unknown = sock("10.0.0.1:22", "10.0.0.2:40000").build();
    let listener = sock("0.0.0.0:22", "0.0.0.0:0")
        .state(State::Listen)
        .idle(10 * 60_000)
        .build();
    yes("idle > 5m and state established", &idle);
    no("idle > 5m", &busy);
    yes("idle < 500ms", &busy);
    yes("idle >= 600s", &idle);
    yes("idle = 10m", &idle);
    no("idle > 5m", &unknown);
    no("idle < 5m", &unknown);
    yes("not idle > 5m", &unknown);
    // idle_ms() is only defined for connected sockets.
    no("idle > 5m", &listener);
    // The most recent of the three activity clocks counts.
    let mixed = sock("10.0.0.1:22", "10.0.0.2:40000")
        .tcp_info(TcpInfo {
            last_data_sent_ms: 900_000,
            last_data_recv_ms: 900_000,
            last_ack_recv_ms: 1_000,
            ..TcpInfo::default()
        })
        .build();
    no("idle > 5m", &mixed);
}

#[test]
fn timers_and_retransmissions() {
    let ka = sock("10.0.0.1:22", "10.0.0.2:40000")
        .timer(TimerKind::Keepalive, 2)
        .build();
    let retrans = sock("10.0.0.1:22", "10.0.0.2:40000")
        .timer(TimerKind::On, 5)
        .build();
    let probe = sock("10.0.0.1:22", "10.0.0.2:40000")
        .timer(TimerKind::Persist, 3)
        .tcp_info(TcpInfo {
            retransmits: 4,
            ..TcpInfo::default()
        })
        .build();
    let plain = sock("10.0.0.1:22", "10.0.0.2:40000").build();
    yes("keepalive", &ka);
    no("!keepalive", &ka);
    yes("!keepalive", &plain);
    yes("timer keepalive", &ka);
    yes("timer on", &retrans);
    yes("timer off", &plain);
    yes("timer != off", &ka);
    yes("timer persist", &probe);
    // Keepalive probes are not retransmissions.
    yes("retrans = 0", &ka);
    yes("retrans = 5", &retrans);
    yes("retrans > 3", &retrans);
    // The larger of the timer count and tcp_info's retransmits.
    yes("retrans = 4", &probe);
    yes("retrans = 0", &plain);
}

#[test]
fn queues_and_unacked() {
    let s = sock("10.0.0.1:22", "10.0.0.2:40000")
        .queues(10, 2000)
        .tcp_info(TcpInfo {
            unacked: 3,
            ..TcpInfo::default()
        })
        .build();
    yes("recvq > 0", &s);
    yes("recvq = 10", &s);
    no("recvq > 10", &s);
    yes("sendq >= 2000", &s);
    no("sendq < 2000", &s);
    yes("unacked = 3", &s);
    yes("unacked > 0", &s);
    let no_info = sock("10.0.0.1:22", "10.0.0.2:40000").build();
    no("unacked = 0", &no_info);
    no("unacked >= 0", &no_info);
}

#[test]
fn boolean_structure() {
    let s = sock("10.0.0.1:22", "10.0.0.2:40000").build();
    yes("tcp or udp and ipv6", &s);
    no("( tcp or udp ) and ipv6", &s);
    yes("not udp and tcp", &s);
    no("not ( udp or tcp )", &s);
    yes("tcp ipv4 sport = :22", &s);
    no("tcp ipv4 sport = :23", &s);
}

#[test]
fn needs() {
    assert!(parse("proc x").needs_processes());
    assert!(parse("tcp or not pid 4").needs_processes());
    assert!(!parse("uid 4 inode 5").needs_processes());
    assert!(parse("idle > 5m").needs_tcp_info());
    assert!(parse("retrans > 0").needs_tcp_info());
    assert!(parse("not unacked > 0").needs_tcp_info());
    assert!(!parse("keepalive timer on recvq > 0").needs_tcp_info());
    let empty = crate::filter::Filter::default();
    assert!(!empty.needs_processes() && !empty.needs_tcp_info());
}
