//! Reaper policy tests on hand-built sockets: configuration errors name the line and key; each policy
//! closes exactly what it should (idle timeout, idle-first eviction, CLOSE-WAIT age), never a listener,
//! the never-kill list or the caller's SSH session; the rate limit defers the least idle; dry runs and
//! spares are reported once; vanished cookies are forgotten.

use std::net::IpAddr;
use std::time::Duration;

use sockdoc_diag::{Addr, Proto, Socket, State, TcpInfo, Timer, TimerKind};

use super::decide::Input;
use super::track::flag;
use super::*;
use crate::Owners;

struct Own;
impl Owners for Own {
    fn any(&self, inode: u32, f: &mut dyn FnMut(u32, &str) -> bool) -> bool {
        // inode / 1000 is the pid; pid 22 is sshd, the rest socat.
        inode != 0
            && f(
                inode / 1000,
                if inode / 1000 == 22 { "sshd" } else { "socat" },
            )
    }
}

fn ip(s: &str) -> Addr {
    Addr::from_ip(s.parse::<IpAddr>().expect("ip"))
}

fn sock(cookie: u64, state: State, lport: u16, remote: &str, idle_ms: u32) -> Socket {
    Socket {
        local: ip("10.0.0.1"),
        remote: ip(remote),
        cookie,
        local_port: lport,
        remote_port: if state == State::Listen {
            0
        } else {
            40000u16.wrapping_add(cookie as u16)
        },
        inode: (u32::from(lport) * 1000).wrapping_add(cookie as u32),
        tcp: Some(TcpInfo {
            last_data_recv_ms: idle_ms,
            last_ack_recv_ms: idle_ms,
            last_data_sent_ms: idle_ms,
            ..TcpInfo::default()
        }),
        // TCP over IPv4 in `state`; no timer, queues, uid or cgroup.
        ..Socket::tcp(state, ([0, 0, 0, 0], 0).into(), ([0, 0, 0, 0], 0).into())
    }
}

fn cfg(text: &str) -> Config {
    Config::parse(text).unwrap_or_else(|e| panic!("config should parse: {e}\n{text}"))
}

fn err(text: &str) -> ConfigError {
    match Config::parse(text) {
        Ok(_) => panic!("config should be refused:\n{text}"),
        Err(e) => e,
    }
}

fn run(c: &Config, t: &mut Tracker, socks: &[Socket], now_ms: u64) -> Decisions {
    decide(
        c,
        t,
        &Input {
            sockets: socks,
            owners: &Own,
            now_ms,
            own_ssh: None,
        },
    )
}

fn killed(d: &Decisions, socks: &[Socket]) -> Vec<u64> {
    d.kills.iter().map(|k| socks[k.index].cookie).collect()
}

const FTP: &str = r#"
interval = "1s"
never_kill = ["sport = :22"]

[[rule]]
name = "ftp"
local_port = 21
idle_timeout = "30s"
"#;

#[test]
fn example_config_parses_with_defaults() {
    let c = cfg(FTP);
    assert_eq!(c.interval, Duration::from_secs(1));
    assert!(!c.dry_run);
    assert_eq!(c.max_kills_per_interval, config::DEFAULT_MAX_KILLS);
    assert_eq!(c.metrics.as_deref(), Some(config::DEFAULT_METRICS));
    assert_eq!(c.rules.len(), 1);
    let r = &c.rules[0];
    assert_eq!(r.name, "ftp");
    assert_eq!(r.selector_text, "sport = :21");
    assert_eq!(r.idle_timeout, Some(Duration::from_secs(30)));
    assert_eq!(c.never_kill[0].0, "sport = :22");
    assert!(!c.needs_processes());
}

#[test]
fn structured_selector_fields_join_with_and() {
    let c = cfg(r#"
[[rule]]
local_port = [21, 2121]
process = "socat"
peer = ["192.168.0.0/16", "10.0.0.0/8"]
state = ["established", "close-wait"]
filter = "!keepalive"
max_connections = 10
evict_idle_min = 120
[rule.keepalive]
idle = "5m"
intvl = 30
count = 5
"#);
    let r = &c.rules[0];
    assert_eq!(r.name, "rule-1");
    assert_eq!(
        r.selector_text,
        "( sport = :21 or sport = :2121 ) and proc socat and ( dst 192.168.0.0/16 or dst 10.0.0.0/8 ) and state established state close-wait and not keepalive"
    );
    assert_eq!(r.evict_idle_min, Duration::from_secs(120));
    assert_eq!(
        r.keepalive,
        Some(KeepaliveSpec {
            idle: 300,
            intvl: 30,
            count: 5
        })
    );
    assert!(c.needs_processes());
    let own = sock(1, State::Established, 2121, "10.1.1.1", 0);
    let other_port = sock(2, State::Established, 22, "10.1.1.1", 0);
    let other_peer = sock(3, State::Established, 21, "172.16.0.1", 0);
    let listener = sock(4, State::Listen, 21, "0.0.0.0", 0);
    assert!(r.selector.matches(&own, &Own));
    assert!(!r.selector.matches(&other_port, &Own));
    assert!(!r.selector.matches(&other_peer, &Own));
    assert!(!r.selector.matches(&listener, &Own));
}

#[test]
fn census_filter_covers_every_rule() {
    let c = cfg(r#"
[[rule]]
local_port = 21
idle_timeout = 10
[[rule]]
filter = "dport = :5432"
close_wait_max_age = "1m"
"#);
    let f = c.census_selector();
    let text = f.to_string();
    assert!(f.matches(&sock(1, State::Established, 21, "10.1.1.1", 0), &Own));
    let mut client = sock(2, State::CloseWait, 40000, "10.1.1.1", 0);
    client.remote_port = 5432;
    assert!(f.matches(&client, &Own), "{text}");
    assert!(!f.matches(&sock(3, State::Established, 80, "10.1.1.1", 0), &Own));
}

#[test]
fn errors_name_the_line_and_the_key() {
    let e = err("interval = \"1s\"\n[[rule]]\nlocal_port = 21\nidel_timeout = \"3s\"\n");
    assert_eq!(e.line, Some(4), "{e}");
    assert!(e.to_string().contains("idel_timeout"), "{e}");

    let e = err("[[rule]]\nname = \"ftp\"\nlocal_port = 21\nidle_timeout = \"5 minuets\"\n");
    assert_eq!(e.line, Some(4), "{e}");
    assert!(
        e.message.contains("rule \"ftp\": idle_timeout") && e.message.contains("bad duration"),
        "{e}"
    );

    let e = err(
        "[[rule]]\nname = \"ftp\"\nlocal_port = 21\npeer = \"10.0.0.0/33\"\nidle_timeout = 3\n",
    );
    assert_eq!(e.line, Some(4), "{e}");
    assert!(e.message.contains("peer"), "{e}");

    let e = err("[[rule]]\nlocal_port = 70000\nidle_timeout = 3\n");
    assert_eq!(e.line, Some(2), "{e}");

    let e = err("[[rule]]\nname = \"x\"\nlocal_port = 21\n");
    assert!(e.message.contains("has no policy"), "{e}");

    let e = err("[[rule]]\nname = \"all\"\nidle_timeout = 3\n");
    assert!(e.message.contains("selects every socket"), "{e}");

    let e = err("[[rule]]\nname = \"a\"\nlocal_port = 1\nidle_timeout = 3\n[[rule]]\nname = \"a\"\nlocal_port = 2\nidle_timeout = 3\n");
    assert!(e.message.contains("unique"), "{e}");

    let e = err("interval = \"1s\"\n[[rule]\nlocal_port = 21\n");
    assert_eq!(e.line, Some(2), "{e}");

    let e = err("never_kill = [\"sport = :\"]\n[[rule]]\nlocal_port = 21\nidle_timeout = 3\n");
    assert_eq!(e.line, Some(1), "{e}");
    assert!(e.message.contains("never_kill"), "{e}");

    let e = err("max_kills_per_interval = 0\n[[rule]]\nlocal_port = 21\nidle_timeout = 3\n");
    assert!(e.message.contains("dry_run"), "{e}");

    let e =
        err("[[rule]]\nlocal_port = 21\n[rule.keepalive]\nidle = 300\nintvl = 30\ncount = 500\n");
    assert_eq!(e.line, Some(6), "{e}");
    assert!(e.message.contains("keepalive.count"), "{e}");

    let e = err("[[rule]]\nlocal_port = 21\nevict_idle_min = 5\nidle_timeout = 3\n");
    assert!(e.message.contains("max_connections"), "{e}");

    let e = err("interval = \"1s\"\n");
    assert!(e.message.contains("no [[rule]]"), "{e}");
    // One line each: the daemon logs it as one JSON string and prints it as one line.
    for text in [
        "[[rule]\n",
        "x = 1\n[[rule]]\nlocal_port = 1\nidle_timeout = 1\n",
    ] {
        assert!(!err(text).to_string().contains('\n'));
    }
}

#[test]
fn idle_timeout_closes_only_idle_established_of_the_rule() {
    let c = cfg(FTP);
    let socks = [
        sock(1, State::Listen, 21, "0.0.0.0", 999_999),
        sock(2, State::Established, 21, "10.1.1.1", 31_000), // idle
        sock(3, State::Established, 21, "10.1.1.2", 100),    // busy
        sock(4, State::Established, 22, "10.1.1.3", 999_000), // another service
        sock(5, State::FinWait2, 21, "10.1.1.4", 999_000),   // not ESTABLISHED
    ];
    let mut t = Tracker::new();
    let d = run(&c, &mut t, &socks, 0);
    assert_eq!(killed(&d, &socks), vec![2]);
    let k = &d.kills[0];
    assert_eq!(k.reason, Reason::IdleTimeout);
    assert_eq!(k.idle_ms, Some(31_000));
    assert!(k.age_at_least, "present at the first scan");
    assert!(k.why.contains("idle_timeout 30s"), "{}", k.why);
    assert_eq!(d.matched, vec![4]);
    assert_eq!(d.connections, vec![2]);
}

#[test]
fn never_kill_and_own_ssh_are_spared_and_reported_once() {
    let c = cfg(r#"
never_kill = ["dst 10.9.0.0/16"]
[[rule]]
local_port = [21, 22]
idle_timeout = 1
"#);
    let socks = [
        sock(1, State::Established, 21, "10.9.1.1", 5_000),
        sock(2, State::Established, 22, "10.1.1.1", 5_000),
        sock(3, State::Established, 21, "10.1.1.2", 5_000),
    ];
    let own = OwnSsh::parse(&format!("10.1.1.1 {} 10.0.0.1 22", socks[1].remote_port));
    assert!(own.is_some());
    let mut t = Tracker::new();
    let input = Input {
        sockets: &socks,
        owners: &Own,
        now_ms: 0,
        own_ssh: own,
    };
    let d = decide(&c, &mut t, &input);
    assert_eq!(killed(&d, &socks), vec![3]);
    let spared: Vec<(u64, SpareReason)> = d
        .spared
        .iter()
        .map(|s| (socks[s.index].cookie, s.reason))
        .collect();
    assert_eq!(
        spared,
        vec![(1, SpareReason::NeverKill(0)), (2, SpareReason::OwnSsh)]
    );
    let input = Input {
        now_ms: 1000,
        ..input
    };
    let d = decide(&c, &mut t, &input);
    assert!(d.spared.is_empty(), "reported once: {:?}", d.spared);
    assert_eq!(killed(&d, &socks), vec![3], "still protected, 3 still idle");
}

#[test]
fn cap_evicts_idlest_first_above_the_minimum_idle() {
    let c = cfg(r#"
[[rule]]
name = "capped"
local_port = 8080
max_connections = 3
evict_idle_min = "2s"
"#);
    let socks = [
        sock(1, State::Listen, 8080, "0.0.0.0", 0),
        sock(2, State::Established, 8080, "10.1.1.1", 5_000),
        sock(3, State::Established, 8080, "10.1.1.2", 9_000),
        sock(4, State::Established, 8080, "10.1.1.3", 1_000), // under evict_idle_min
        sock(5, State::CloseWait, 8080, "10.1.1.4", 3_000),
        sock(6, State::Established, 8080, "10.1.1.5", 500),
        sock(7, State::TimeWait, 8080, "10.1.1.6", 0), // not a connection
    ];
    let mut t = Tracker::new();
    let d = run(&c, &mut t, &socks, 0);
    // 5 connections, cap 3: the two idlest go.
    assert_eq!(killed(&d, &socks), vec![3, 2]);
    assert!(d.kills.iter().all(|k| k.reason == Reason::MaxConnections));
    assert!(
        d.kills[0].why.contains("5 connections > max_connections 3"),
        "{}",
        d.kills[0].why
    );

    // With only connections under evict_idle_min left, nothing goes even over the cap.
    let busy = [
        sock(8, State::Established, 8080, "10.1.1.1", 100),
        sock(9, State::Established, 8080, "10.1.1.2", 100),
        sock(10, State::Established, 8080, "10.1.1.3", 100),
        sock(11, State::Established, 8080, "10.1.1.4", 100),
    ];
    let d = run(&c, &mut t, &busy, 1000);
    assert!(d.kills.is_empty());
}

#[test]
fn cap_counts_idle_kills_and_skips_protected() {
    let c = cfg(r#"
never_kill = ["dst 10.9.9.9"]
[[rule]]
local_port = 8080
idle_timeout = "10s"
max_connections = 2
"#);
    let socks = [
        sock(1, State::Established, 8080, "10.1.1.1", 60_000), // idle timeout
        sock(2, State::Established, 8080, "10.9.9.9", 8_000),  // protected idlest for the cap
        sock(3, State::Established, 8080, "10.1.1.3", 5_000),
        sock(4, State::Established, 8080, "10.1.1.4", 100),
    ];
    let mut t = Tracker::new();
    let d = run(&c, &mut t, &socks, 0);
    // 4 connections, 1 closed for idleness: 3 left, cap 2 -> one more, not the protected one.
    assert_eq!(killed(&d, &socks), vec![1, 3]);
    assert_eq!(d.kills[0].reason, Reason::IdleTimeout);
    assert_eq!(d.kills[1].reason, Reason::MaxConnections);
    assert_eq!(d.spared.len(), 1);
    assert_eq!(d.spared[0].would, Reason::MaxConnections);
}

#[test]
fn close_wait_age_from_tracking_and_from_silence() {
    let c = cfg(r#"
[[rule]]
local_port = 8080
close_wait_max_age = "60s"
"#);
    let mut t = Tracker::new();
    // Silent for 70 s: its FIN came at least 70 s ago.
    let old = sock(1, State::CloseWait, 8080, "10.1.1.1", 70_000);
    // Silent for 1 s only (the peer keeps ACKing what the process sends), first seen now.
    let young = sock(2, State::CloseWait, 8080, "10.1.1.2", 1_000);
    let d = run(&c, &mut t, &[old, young], 0);
    assert_eq!(killed(&d, &[old, young]), vec![1]);
    assert_eq!(d.kills[0].reason, Reason::CloseWaitAge);
    // 61 s later the tracker knows the second one has been CLOSE-WAIT that long.
    let d = run(&c, &mut t, &[young], 61_000);
    assert_eq!(killed(&d, &[young]), vec![2]);
    assert!(d.kills[0].why.contains("1m01s"), "{}", d.kills[0].why);
}

#[test]
fn state_change_restarts_the_close_wait_clock() {
    let c = cfg("[[rule]]\nlocal_port = 8080\nclose_wait_max_age = 60\n");
    let mut t = Tracker::new();
    let est = sock(1, State::Established, 8080, "10.1.1.1", 1_000);
    run(&c, &mut t, &[est], 0);
    let mut cw = est;
    cw.state = State::CloseWait;
    assert!(run(&c, &mut t, &[cw], 50_000).kills.is_empty());
    assert!(
        run(&c, &mut t, &[cw], 100_000).kills.is_empty(),
        "CLOSE-WAIT for 50 s only"
    );
    assert_eq!(run(&c, &mut t, &[cw], 110_000).kills.len(), 1);
}

#[test]
fn rate_limit_keeps_the_idlest_and_defers_the_rest() {
    let c = cfg("max_kills_per_interval = 2\n[[rule]]\nlocal_port = 21\nidle_timeout = 1\n");
    let socks: Vec<Socket> = (1..=5)
        .map(|i| {
            sock(
                i,
                State::Established,
                21,
                "10.1.1.1",
                1_000 * i as u32 + 1_000,
            )
        })
        .collect();
    let mut t = Tracker::new();
    let d = run(&c, &mut t, &socks, 0);
    assert_eq!(killed(&d, &socks), vec![5, 4]);
    assert_eq!(d.deferred, 3);
    // Next scan: 5 and 4 are gone; the next two idlest.
    let d = run(&c, &mut t, &socks[..3], 1000);
    assert_eq!(killed(&d, &socks), vec![3, 2]);
    assert_eq!(d.deferred, 1);
}

#[test]
fn dry_run_reports_each_socket_once() {
    let c = cfg("dry_run = true\n[[rule]]\nlocal_port = 21\nidle_timeout = 1\n");
    assert!(c.rules[0].dry_run);
    let socks = [sock(1, State::Established, 21, "10.1.1.1", 5_000)];
    let mut t = Tracker::new();
    let d = run(&c, &mut t, &socks, 0);
    assert_eq!(d.kills.len(), 1);
    assert!(d.kills[0].dry_run);
    let d = run(&c, &mut t, &socks, 1000);
    assert!(d.kills.is_empty(), "reported already");
    // A rule can be a dry run on its own.
    let c = cfg("[[rule]]\nlocal_port = 21\nidle_timeout = 1\ndry_run = true\n[[rule]]\nlocal_port = 22\nidle_timeout = 1\n");
    assert!(c.rules[0].dry_run && !c.rules[1].dry_run);
}

#[test]
fn keepalive_once_for_connections_and_listeners_without_it() {
    let c = cfg("[[rule]]\nlocal_port = 21\n[rule.keepalive]\nidle = 60\nintvl = 10\ncount = 3\n");
    let mut with = sock(3, State::Established, 21, "10.1.1.2", 0);
    with.timer = Timer {
        kind: TimerKind::Keepalive,
        expires_ms: 1000,
        count: 0,
    };
    let mut orphan = sock(4, State::Established, 21, "10.1.1.3", 0);
    orphan.inode = 0;
    let socks = [
        sock(1, State::Listen, 21, "0.0.0.0", 0),
        sock(2, State::Established, 21, "10.1.1.1", 0),
        with,
        orphan,
        sock(5, State::CloseWait, 21, "10.1.1.4", 0),
    ];
    let mut t = Tracker::new();
    let d = run(&c, &mut t, &socks, 0);
    let got: Vec<u64> = d.keepalive.iter().map(|k| socks[k.index].cookie).collect();
    assert_eq!(got, vec![1, 2]);
    assert!(d.kills.is_empty());
    assert!(run(&c, &mut t, &socks, 1000).keepalive.is_empty());
}

#[test]
fn failed_kills_are_not_retried() {
    let c = cfg("[[rule]]\nlocal_port = 21\nidle_timeout = 1\n");
    let socks = [sock(1, State::Established, 21, "10.1.1.1", 5_000)];
    let mut t = Tracker::new();
    assert_eq!(run(&c, &mut t, &socks, 0).kills.len(), 1);
    t.set_flag(1, flag::KILL_FAILED);
    assert!(run(&c, &mut t, &socks, 1000).kills.is_empty());
}

#[test]
fn ages_by_cookie_and_vanished_cookies_are_forgotten() {
    let c = cfg("[[rule]]\nlocal_port = 21\nidle_timeout = 1\n");
    let mut t = Tracker::new();
    let a = sock(1, State::Established, 21, "10.1.1.1", 5_000);
    let b = sock(2, State::Established, 21, "10.1.1.2", 5_000);
    run(&c, &mut t, &[a], 0);
    let d = run(&c, &mut t, &[a, b], 4_000);
    let age = |cookie| {
        d.kills
            .iter()
            .find(|k| socks_cookie(&[a, b], k.index) == cookie)
            .map(|k| (k.age_ms, k.age_at_least))
    };
    assert_eq!(age(1), Some((4_000, true)));
    assert_eq!(age(2), Some((0, false)));
    let d = run(&c, &mut t, &[b], 5_000);
    assert_eq!(d.forgotten, 1);
    assert_eq!(t.len(), 1);
    assert!(t.get(1).is_none());
}

fn socks_cookie(s: &[Socket], i: usize) -> u64 {
    s[i].cookie
}

#[test]
fn churn_keeps_the_tracker_flat() {
    let c = cfg("[[rule]]\nlocal_port = 21\nidle_timeout = \"1h\"\n");
    let mut t = Tracker::new();
    let mut peak_cap = 0;
    // 5,000 live connections, a fifth replaced by new cookies every scan, for 300 scans (300,000
    // cookies in all): the table stays a small multiple of what is live.
    for scan in 0..300u64 {
        let base = scan * 1000;
        let socks: Vec<Socket> = (0..5000u64)
            .map(|i| sock(base + i + 1, State::Established, 21, "10.1.1.1", 0))
            .collect();
        let d = run(&c, &mut t, &socks, scan * 1000);
        assert_eq!(t.len(), 5000);
        if scan > 0 {
            assert_eq!(d.forgotten, 1000);
        }
        peak_cap = peak_cap.max(t.capacity());
    }
    assert_eq!(t.forgotten(), 299 * 1000);
    assert!(
        peak_cap <= 4 * 5000,
        "the table grew to {peak_cap} slots for 5000 live sockets"
    );
}

#[test]
fn udp_is_never_acted_on() {
    let c = cfg("[[rule]]\nlocal_port = 53\nidle_timeout = 1\nmax_connections = 0\n");
    let mut u = sock(1, State::Established, 53, "10.1.1.1", 5_000);
    u.proto = Proto::Udp;
    let d = run(&c, &mut Tracker::new(), &[u], 0);
    assert!(d.kills.is_empty());
}

#[test]
fn the_shipped_example_config_is_valid() {
    let c = cfg(include_str!("../../../../deploy/reap.toml.example"));
    assert_eq!(c.rules.len(), 2);
    assert_eq!(c.rules[0].keepalive.map(|k| k.count), Some(5));
    assert!(c.needs_processes(), "the example selects by process");
}

/// A field is a value, never filter words: `peer` cannot add an `or` that escapes the rule, and the
/// rule's `filter` cannot close the parentheses it is put in.
#[test]
fn rule_fields_cannot_escape_their_rule() {
    let e =
        err("[[rule]]\nlocal_port = 21\npeer = \"127.0.0.1 or sport = :5000\"\nidle_timeout = 3\n");
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("peer"), "{e}");
    let e = err(
        "[[rule]]\nlocal_port = 21\nstate = \"established or sport = :5000\"\nidle_timeout = 3\n",
    );
    assert!(e.message.contains("state"), "{e}");
    let e = err("[[rule]]\nfilter = \"sport = :1 ) or ( state all\"\nidle_timeout = 3\n");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(
        e.message.contains("filter") && e.message.contains(')'),
        "{e}"
    );
    assert!(!e.to_string().contains('\n'));
    // Balanced but alone: an `or` inside the filter stays inside the rule's `and`.
    let c = cfg(
        "[[rule]]\nlocal_port = 21\nfilter = \"dport = :1 or sport = :5000\"\nidle_timeout = 3\n",
    );
    let r = &c.rules[0];
    assert!(!r
        .selector
        .matches(&sock(1, State::Established, 5000, "10.1.1.1", 0), &Own));
    assert!(!c
        .census_selector()
        .matches(&sock(1, State::Established, 5000, "10.1.1.1", 0), &Own));
    assert_eq!(
        r.selector_text,
        "sport = :21 and ( dport = :1 or sport = :5000 )"
    );
}

/// An empty or blank filter selects nothing explicitly: refused like no selector at all.
#[test]
fn empty_or_blank_rule_filter_is_an_error() {
    for f in ["", " ", "\\t "] {
        let e = err(&format!("[[rule]]\nfilter = \"{f}\"\nidle_timeout = 3\n"));
        assert_eq!(e.line, Some(2), "{f:?}: {e}");
        assert!(e.message.contains("selects every socket"), "{f:?}: {e}");
    }
    // Empty quotes inside the filter are refused by the filter language itself.
    for f in ["''", "\\\"  \\\""] {
        let e = err(&format!("[[rule]]\nfilter = \"{f}\"\nidle_timeout = 3\n"));
        assert_eq!(e.line, Some(2), "{f:?}: {e}");
        assert!(e.message.contains("filter"), "{f:?}: {e}");
    }
    // Also next to another field: a blank filter is a mistake, not "no filter".
    let e = err("[[rule]]\nlocal_port = 21\nfilter = \"  \"\nidle_timeout = 3\n");
    assert!(e.message.contains("filter"), "{e}");
}

#[test]
fn a_first_seen_time_learnt_before_the_first_scan_is_the_age() {
    let c = cfg("[[rule]]\nlocal_port = 8080\nidle_timeout = \"10s\"\n");
    let mut t = Tracker::new();
    // The recorder saw cookie 1 an hour before this scan; cookie 2 it never saw.
    t.know(1, 7_200_000 - 3_600_000);
    let socks = [
        sock(1, State::Established, 8080, "10.1.1.1", 20_000),
        sock(2, State::Established, 8080, "10.1.1.2", 20_000),
    ];
    let d = run(&c, &mut t, &socks, 7_200_000);
    let of = |i: usize| d.kills.iter().find(|k| k.index == i).expect("a kill");
    assert_eq!((of(0).age_ms, of(0).age_at_least), (3_600_000, false));
    assert_eq!((of(1).age_ms, of(1).age_at_least), (0, true));
}
