//! Detector tests on hand-built sockets and kernel states: each finding fires on its pathology with the
//! right numbers and stays quiet on a healthy neighbour.

use std::net::IpAddr;

use sockdoc_diag::{Addr, Family, Proto, Socket, State, TcpInfo, Timer, TimerKind};

use super::kernel::{KernelState, Sysctls};
use super::*;
use crate::i18n::Lang;

/// Inodes 21xxx are the FTP proxy's (pid 21), the rest sshd's (pid inode / 1000).
pub(crate) struct Own;
impl Owners for Own {
    fn any(&self, inode: u32, f: &mut dyn FnMut(u32, &str) -> bool) -> bool {
        inode != 0
            && f(
                inode / 1000,
                if inode / 1000 == 21 {
                    "ftp-proxy"
                } else {
                    "sshd"
                },
            )
    }
}

fn ip(s: &str) -> Addr {
    Addr::from_ip(s.parse::<IpAddr>().expect("ip"))
}

fn sock(state: State, lport: u16, remote: &str, idle_ms: u32, inode: u32) -> Socket {
    Socket {
        local: ip("10.0.0.1"),
        remote: ip(remote),
        cookie: u64::from(inode),
        local_port: lport,
        remote_port: if state == State::Listen { 0 } else { 50000 },
        proto: Proto::Tcp,
        family: Family::V4,
        state,
        timer: Timer::default(),
        ifindex: 0,
        inode,
        uid: 0,
        recv_q: 0,
        send_q: 0,
        cgroup_id: 0,
        tcp: Some(TcpInfo {
            last_data_recv_ms: idle_ms,
            last_ack_recv_ms: idle_ms,
            last_data_sent_ms: idle_ms,
            ..TcpInfo::default()
        }),
    }
}

fn kernel() -> KernelState {
    KernelState {
        sysctls: Sysctls {
            keepalive_time: Some(300),
            keepalive_probes: Some(9),
            keepalive_intvl: Some(75),
            max_tw_buckets: Some(262_144),
            port_range: Some((32768, 60999)),
            retries2: Some(15),
            syncookies: Some(1),
            max_syn_backlog: Some(1024),
            somaxconn: Some(4096),
            ..Sysctls::default()
        },
        ..KernelState::default()
    }
}

fn run(sockets: &[Socket], k: &KernelState, idle: Option<u64>) -> Vec<Finding> {
    run_blind(sockets, k, idle, Blind::NONE)
}

/// [`run`] on evidence that could not tell what `blind` says.
fn run_blind(sockets: &[Socket], k: &KernelState, idle: Option<u64>, blind: Blind) -> Vec<Finding> {
    diagnose(&Input {
        sockets,
        owners: &Own,
        kernel: k,
        idle_threshold_ms: idle,
        lang: Lang::En,
        services: None,
        blind,
    })
}

fn find<'a>(f: &'a [Finding], id: &str) -> Option<&'a Finding> {
    f.iter().find(|x| x.id == id)
}

fn ev(f: &Finding, key: &str) -> i64 {
    f.numbers()
        .into_iter()
        .find(|(k, _)| *k == key)
        .map_or(-1, |(_, v)| v)
}

fn cell<'a>(r: &'a Row, key: &str) -> &'a Value {
    &r.0.iter().find(|(k, _)| *k == key).expect("key present").1
}

#[test]
fn the_incident_ghosts_and_coverage() {
    let mut s = vec![
        sock(State::Listen, 21, "0.0.0.0", 0, 21_000),
        sock(State::Listen, 22, "0.0.0.0", 0, 22_000),
    ];
    // Port 21: three silent connections without keepalive (the proxy), one busy.
    for i in 0..3 {
        s.push(sock(
            State::Established,
            21,
            "192.168.70.16",
            7 * 86_400_000,
            21_001 + i,
        ));
    }
    s.push(sock(State::Established, 21, "192.168.70.17", 50, 21_010));
    // Port 22: idle but with keepalive (sshd).
    let mut ssh = sock(
        State::Established,
        22,
        "192.168.53.207",
        7 * 86_400_000,
        22_001,
    );
    ssh.timer = Timer {
        kind: TimerKind::Keepalive,
        expires_ms: 59_000,
        count: 0,
    };
    s.push(ssh);
    let k = kernel();
    let f = run(&s, &k, None);
    let g = find(&f, "ghost-suspects").expect("ghosts found");
    assert_eq!(g.severity, Severity::Warning);
    assert_eq!(ev(g, "suspects"), 3);
    assert_eq!(ev(g, "threshold_ms"), (300 + 9 * 75) * 1000);
    assert_eq!(g.groups().len(), 1);
    assert_eq!(cell(&g.groups()[0], "local_port"), &Value::Int(21));
    assert_eq!(
        cell(&g.groups()[0], "process"),
        &Value::Text("ftp-proxy".into())
    );
    assert_eq!(
        cell(&g.groups()[0], "peers"),
        &Value::List(vec!["192.168.70.16".into()])
    );
    let c = find(&f, "keepalive-coverage").expect("coverage");
    assert_eq!(c.severity, Severity::Info);
    assert_eq!(cell(&c.groups()[0], "local_port"), &Value::Int(21));
    assert_eq!(cell(&c.groups()[0], "percent"), &Value::Int(0));
    assert_eq!(cell(&c.groups()[1], "percent"), &Value::Int(100));
    assert!(c.title.contains("21"));
    assert_eq!(status(&f), Some(Severity::Warning));
}

#[test]
fn in_flight_or_retransmitting_is_not_a_ghost_but_an_unreachable_peer() {
    let mut a = sock(State::Established, 21, "10.9.9.9", 600_000, 21_001);
    a.tcp = a.tcp.map(|t| TcpInfo { unacked: 3, ..t });
    a.timer = Timer {
        kind: TimerKind::On,
        expires_ms: 8000,
        count: 6,
    };
    let f = run(&[a], &kernel(), Some(1000));
    assert!(find(&f, "ghost-suspects").is_none());
    let u = find(&f, "unreachable-peers").expect("unreachable");
    assert_eq!(ev(u, "connections"), 1);
    assert_eq!(cell(&u.groups()[0], "max_retrans"), &Value::Int(6));
}

#[test]
fn close_wait_leak_and_quiet_neighbour() {
    let mut s: Vec<Socket> = (0..5)
        .map(|i| sock(State::CloseWait, 8080, "10.1.1.1", 60_000, 21_100 + i))
        .collect();
    s.push(sock(State::CloseWait, 9090, "10.1.1.2", 200, 22_100));
    let f = run(&s, &kernel(), None);
    let c = find(&f, "close-wait-leak").expect("leak");
    assert_eq!(ev(c, "close_wait"), 6);
    assert_eq!(
        c.groups().len(),
        1,
        "the fresh CLOSE-WAIT of port 9090 is not a leak"
    );
    assert_eq!(cell(&c.groups()[0], "count"), &Value::Int(5));
}

#[test]
fn listen_queue_full_is_critical() {
    let mut l = sock(State::Listen, 8080, "0.0.0.0", 0, 21_000);
    l.recv_q = 5;
    l.send_q = 4;
    let mut ok = sock(State::Listen, 8081, "0.0.0.0", 0, 22_000);
    ok.send_q = 128;
    let f = run(&[l, ok], &kernel(), None);
    let o = find(&f, "listen-overflow").expect("overflow");
    assert_eq!(o.severity, Severity::Critical);
    assert_eq!(o.groups().len(), 1);
    assert_eq!(cell(&o.groups()[0], "accept_queue"), &Value::Int(5));
}

#[test]
fn syn_flood_and_time_wait_and_ports() {
    let mut s = vec![{
        let mut l = sock(State::Listen, 80, "0.0.0.0", 0, 21_000);
        l.send_q = 100;
        l
    }];
    for i in 0..120 {
        let mut r = sock(State::SynRecv, 80, "10.5.0.1", 0, 0);
        r.remote_port = 1000 + i;
        r.tcp = None;
        s.push(r);
    }
    for i in 0..80u16 {
        let mut t = sock(State::TimeWait, 40000 + i, "10.6.0.1", 0, 0);
        t.remote_port = 443;
        t.tcp = None;
        s.push(t);
    }
    let mut k = kernel();
    k.sysctls.max_tw_buckets = Some(100);
    k.sysctls.port_range = Some((40000, 40099));
    let f = run(&s, &k, None);
    let sf = find(&f, "syn-flood").expect("flood");
    assert_eq!(sf.severity, Severity::Critical, "120 >= backlog 100");
    assert_eq!(ev(sf, "syn_recv"), 120);
    let tw = find(&f, "time-wait-pressure").expect("tw");
    assert_eq!(tw.severity, Severity::Warning);
    assert_eq!(ev(tw, "time_wait"), 80);
    let p = find(&f, "ephemeral-port-exhaustion").expect("ports");
    assert_eq!(cell(&p.groups()[0], "used"), &Value::Int(80));
    assert_eq!(cell(&p.groups()[0], "percent"), &Value::Int(80));
    assert!(find(&f, "sysctl-risky").is_some_and(|r| r.detail.contains("tcp_max_tw_buckets")));
}

#[test]
fn healthy_is_quiet_and_chinese_is_complete() {
    let mut s = vec![sock(State::Listen, 22, "0.0.0.0", 0, 22_000)];
    let mut ka = sock(State::Established, 22, "10.0.0.9", 9_000_000, 22_001);
    ka.timer = Timer {
        kind: TimerKind::Keepalive,
        expires_ms: 1000,
        count: 0,
    };
    s.push(ka);
    s.push(sock(State::Established, 22, "10.0.0.8", 10, 22_002));
    let f = run(&s, &kernel(), None);
    assert_eq!(status(&f), None, "{f:?}");
    // Every detector's text exists in Chinese: run the pathologies in zh and look for CJK.
    let mut l = sock(State::Listen, 8080, "0.0.0.0", 0, 21_000);
    l.recv_q = 9;
    l.send_q = 4;
    let g = sock(State::Established, 8080, "10.0.0.7", 9_000_000, 21_001);
    let zh = diagnose(&Input {
        sockets: &[l, g],
        owners: &Own,
        kernel: &kernel(),
        idle_threshold_ms: None,
        lang: Lang::Zh,
        services: None,
        blind: Blind::NONE,
    });
    assert!(!zh.is_empty());
    for f in &zh {
        for text in [&f.title, &f.why] {
            assert!(
                text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{}: {text}",
                f.id
            );
        }
    }
}

#[test]
fn syn_sent_fanout_tells_scanning_from_a_dead_upstream() {
    let mut one = Vec::new();
    for i in 0..20u16 {
        let mut s = sock(
            State::SynSent,
            40000 + i,
            "10.7.0.1",
            0,
            21_500 + u32::from(i),
        );
        s.remote_port = 5432;
        one.push(s);
    }
    let f = run(&one, &kernel(), None);
    let g = find(&f, "syn-sent-fanout").expect("fan-out");
    assert_eq!(
        (ev(g, "syn_sent"), ev(g, "hosts"), ev(g, "scanning")),
        (20, 1, 0)
    );
    assert_eq!(
        cell(&g.groups()[0], "top_destination"),
        &Value::Text("10.7.0.1:5432".into())
    );
    let scan: Vec<Socket> = (0..20u8)
        .map(|i| {
            sock(
                State::SynSent,
                40000 + u16::from(i),
                &format!("10.8.0.{}", i + 1),
                0,
                21_600 + u32::from(i),
            )
        })
        .collect();
    let f = run(&scan, &kernel(), None);
    let g = find(&f, "syn-sent-fanout").expect("scan");
    assert_eq!(ev(g, "scanning"), 1);
    assert!(g.title.contains("scanning"));
    assert!(find(&run(&scan[..10], &kernel(), None), "syn-sent-fanout").is_none());
}

#[test]
fn closing_piles_and_orphans() {
    let s: Vec<Socket> = (0..120)
        .map(|i| sock(State::FinWait2, 80, "10.3.3.3", 0, 21_700 + i))
        .collect();
    let f = run(&s, &kernel(), None);
    let c = find(&f, "closing-piles").expect("pile");
    assert_eq!(c.severity, Severity::Warning);
    assert_eq!(ev(c, "fin_wait_2"), 120);
    assert!(find(&run(&s[..20], &kernel(), None), "closing-piles").is_none());
    let mut k = kernel();
    k.sysctls.max_orphans = Some(100);
    k.sockstat.tcp_orphan = 95;
    let f = run(&s[..20], &k, None);
    assert_eq!(
        find(&f, "closing-piles").expect("orphans").severity,
        Severity::Critical
    );
}

#[test]
fn udp_hoarding_and_drops() {
    let mut s = Vec::new();
    for i in 0..1200u32 {
        let mut u = sock(
            State::Close,
            20000 + (i % 7) as u16,
            "0.0.0.0",
            0,
            21_000 + i % 900,
        );
        u.proto = Proto::Udp;
        u.tcp = None;
        s.push(u);
    }
    let f = run(&s, &kernel(), None);
    let u = find(&f, "udp-trouble").expect("hoarding");
    assert_eq!(cell(&u.groups()[0], "sockets"), &Value::Int(1200));
    assert_eq!(cell(&u.groups()[0], "ports"), &Value::Int(7));
    let mut k = kernel();
    k.counters_before = sockdoc_proc::counters::Counters::parse(
        "Udp: InDatagrams RcvbufErrors InErrors\nUdp: 10 5 5\n",
        "",
    );
    k.counters_after = sockdoc_proc::counters::Counters::parse(
        "Udp: InDatagrams RcvbufErrors InErrors\nUdp: 90 45 45\n",
        "",
    );
    let f = run(&s[..10], &k, None);
    let u = find(&f, "udp-trouble").expect("drops");
    assert_eq!(ev(u, "rcvbuf_errors_delta"), 40);
    assert!(find(&run(&s[..100], &kernel(), None), "udp-trouble").is_none());
}

/// The incident notes' `ss -aoen | grep ESTAB`: no tcp_info, no listener. Port 21 without
/// keepalive, sshd's port with it.
#[test]
fn evidence_without_idle_times_or_listeners_is_judged_by_timers_and_lower_ports() {
    let bare = |port: u16, inode: u32, keepalive: bool| {
        let mut s = sock(State::Established, port, "192.168.20.63", 0, inode);
        s.tcp = None;
        if keepalive {
            s.timer.kind = TimerKind::Keepalive;
        }
        s
    };
    let sockets = [
        bare(21, 21_001, false),
        bare(21, 21_002, false),
        bare(333, 22_001, true),
    ];
    let blind = Blind {
        idle: true,
        listeners: true,
        backlogs: false,
    };
    let judge = |blind: Blind| run_blind(&sockets, &kernel(), None, blind);
    let f = judge(blind);
    let ghosts = find(&f, "ghost-suspects").expect("ghost suspects");
    assert_eq!(ev(ghosts, "suspects"), 2);
    let rows = ghosts.groups();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(cell(&rows[0], "local_port"), &Value::Int(21));
    assert_eq!(cell(&rows[0], "max_idle_ms"), &Value::None);
    assert!(
        ghosts.title.contains("idle time unknown"),
        "{}",
        ghosts.title
    );
    let cov = find(&f, "keepalive-coverage").expect("coverage");
    assert_eq!(cov.groups().len(), 2, "{:?}", cov.groups());
    assert_eq!(cell(&cov.groups()[0], "local_port"), &Value::Int(21));
    assert_eq!(cell(&cov.groups()[0], "percent"), &Value::Int(0));
    assert_eq!(cell(&cov.groups()[1], "local_port"), &Value::Int(333));
    assert_eq!(cell(&cov.groups()[1], "percent"), &Value::Int(100));
    // The live kernel always tells: nothing without tcp_info is a suspect, no port is inferred.
    let live = judge(Blind::NONE);
    assert!(find(&live, "ghost-suspects").is_none(), "{live:?}");
    assert!(find(&live, "keepalive-coverage").is_none(), "{live:?}");
}

/// netstat and /proc/net show a listener's Send-Q as 0: its queue cannot be told full.
#[test]
fn a_listener_without_its_backlog_is_not_judged_full() {
    let mut l = sock(State::Listen, 8080, "0.0.0.0", 0, 21_000);
    l.recv_q = 1;
    let run_with = |blind: Blind| run_blind(&[l], &kernel(), None, blind);
    assert!(find(&run_with(Blind::NONE), "listen-overflow").is_some());
    let blind = Blind {
        backlogs: true,
        ..Blind::NONE
    };
    assert!(find(&run_with(blind), "listen-overflow").is_none());
}

/// A mixed table of `n` sockets, the same for a seed: every state, timers, idle times, owners,
/// ports in and out of the ephemeral range, and one destination taking most of the range.
fn mixed(n: usize, seed: u64, established_share: u64) -> Vec<Socket> {
    let mut x = seed | 1;
    let mut next = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let states = [
        State::Listen,
        State::SynSent,
        State::SynRecv,
        State::FinWait1,
        State::FinWait2,
        State::TimeWait,
        State::CloseWait,
        State::LastAck,
        State::Closing,
        State::Close,
    ];
    let kinds = [
        TimerKind::Off,
        TimerKind::On,
        TimerKind::Keepalive,
        TimerKind::TimeWait,
        TimerKind::Persist,
    ];
    let mut out = Vec::with_capacity(n + 15_000);
    for i in 0..n {
        let state = if next(100) < established_share {
            State::Established
        } else {
            states[next(states.len() as u64) as usize]
        };
        let remote = format!("192.0.2.{}", next(6));
        let idle = [0, 1_000, 9_000_000][next(3) as usize];
        let mut s = sock(state, [21, 22, 80][next(3) as usize], &remote, idle, 0);
        if next(3) == 0 {
            // A client side: an ephemeral local port to a service.
            s.local_port = 32768 + next(20_000) as u16;
            s.remote_port = [5432, 6379][next(2) as usize];
        }
        s.inode = if next(4) == 0 {
            0
        } else {
            21_000 + next(3_000) as u32
        };
        s.timer = Timer {
            kind: kinds[next(kinds.len() as u64) as usize],
            expires_ms: 0,
            count: next(3) as u8,
        };
        if let Some(t) = &mut s.tcp {
            t.unacked = u32::from(next(4) == 0);
        }
        if next(10) == 0 {
            s.tcp = None;
        }
        if next(20) == 0 {
            s.proto = Proto::Udp;
        }
        s.cookie = i as u64;
        out.push(s);
    }
    // One destination taking over half of the range from one address.
    for p in 0..15_000u16 {
        let mut s = sock(State::Established, 32768 + p, "192.0.2.200", 0, 0);
        s.remote_port = 443;
        out.push(s);
    }
    out
}

#[test]
fn one_survey_finds_what_each_detector_finds_over_every_socket() {
    let k = kernel();
    let blinds = [
        Blind::NONE,
        Blind {
            idle: true,
            ..Blind::NONE
        },
        Blind {
            listeners: true,
            ..Blind::NONE
        },
    ];
    for (seed, share) in [(1, 90), (2, 50), (3, 10), (4, 99)] {
        let sockets = mixed(20_000, seed, share);
        for blind in blinds {
            for idle in [None, Some(500)] {
                let input = Input {
                    sockets: &sockets,
                    owners: &Own,
                    kernel: &k,
                    idle_threshold_ms: idle,
                    lang: Lang::En,
                    services: None,
                    blind,
                };
                let one = diagnose(&input);
                assert_eq!(
                    one,
                    diagnose_each(&input),
                    "seed {seed}, {blind:?}, {idle:?}"
                );
                let ids: Vec<&str> = one.iter().map(|f| f.id).collect();
                for id in [
                    "ghost-suspects",
                    "keepalive-coverage",
                    "unreachable-peers",
                    "ephemeral-port-exhaustion",
                    "close-wait-leak",
                ] {
                    assert!(ids.contains(&id), "{id} in {ids:?}");
                }
            }
        }
    }
}
