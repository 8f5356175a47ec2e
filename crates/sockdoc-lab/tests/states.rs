//! Lab self-test: every scenario, IPv4 and IPv6, in a fresh namespace, checked against `ss`:
//! the expected sockets are there in their state with their timer kind, owned ones carry an inode
//! this process holds, TIME-WAIT / SYN-RECV ones have none, and nothing else exists.

use sockdoc_lab::{own_socket_inodes, ss, Family, Kind, Netns, SockState, SsSocket};

/// Builds `kind` for `family` in a new namespace and checks ss's view (without `-p`, which is
/// slow on busy hosts; ownership is checked against this process's own descriptors). Returns
/// the snapshot.
fn check(kind: Kind, family: Family) -> Vec<SsSocket> {
    let ns = Netns::new().expect("create namespace");
    let scenario = kind.build(&ns, family).expect("build scenario");
    let snap = ss::snapshot_quick(&ns).expect("run ss");
    let mine = own_socket_inodes().expect("read /proc/self/fd");

    for e in &scenario.expected {
        let s = snap
            .iter()
            .find(|s| e.matches(s))
            .unwrap_or_else(|| panic!("{kind} {family}: {e} not in ss output {snap:#?}"));
        assert_eq!(s.family(), family, "{}", s.line);
        assert!(s.cookie.is_some(), "no sk: cookie: {}", s.line);
        if e.owned {
            assert!(
                mine.contains(&s.ino),
                "not a socket this process holds: {}",
                s.line
            );
        } else {
            assert_eq!(s.ino, 0, "{}", s.line);
        }
        if s.state == SockState::SynRecv || s.state == SockState::TimeWait {
            assert!(!s.has_tcp_info(), "no TCP_INFO expected: {}", s.line);
        }
    }
    for tuple in &scenario.gone {
        assert!(
            !snap.iter().any(|s| &s.tuple() == tuple),
            "{kind}: {tuple:?} should be absent: {snap:#?}"
        );
    }
    assert_eq!(
        snap.len(),
        scenario.expected.len(),
        "{kind} {family}: unexpected extra sockets {snap:#?}"
    );
    let states = snap.iter().map(|s| s.state).collect();
    assert_eq!(kind.states(), states, "{kind} {family}");
    snap
}

fn timer_of(snap: &[SsSocket], state: SockState) -> sockdoc_lab::SsTimer {
    snap.iter()
        .find(|s| s.state == state)
        .and_then(|s| s.timer.clone())
        .unwrap_or_else(|| panic!("no {state} socket with a timer in {snap:#?}"))
}

macro_rules! state_tests {
    ($($name:ident: $kind:expr, $family:expr;)*) => {$(
        #[test]
        fn $name() {
            check($kind, $family);
        }
    )*};
}

state_tests! {
    listen_v4: Kind::Listen, Family::V4;
    listen_v6: Kind::Listen, Family::V6;
    established_v4: Kind::Established, Family::V4;
    established_v6: Kind::Established, Family::V6;
    syn_recv_v4: Kind::SynRecv, Family::V4;
    syn_recv_v6: Kind::SynRecv, Family::V6;
    fin_wait_1_v4: Kind::FinWait1, Family::V4;
    fin_wait_1_v6: Kind::FinWait1, Family::V6;
    half_closed_v4: Kind::HalfClosed, Family::V4;
    half_closed_v6: Kind::HalfClosed, Family::V6;
    last_ack_v4: Kind::LastAck, Family::V4;
    last_ack_v6: Kind::LastAck, Family::V6;
    zero_window_v4: Kind::ZeroWindow, Family::V4;
    zero_window_v6: Kind::ZeroWindow, Family::V6;
    udp_unconn_v4: Kind::UdpUnconn, Family::V4;
    udp_unconn_v6: Kind::UdpUnconn, Family::V6;
    udp_connected_v4: Kind::UdpConnected, Family::V4;
    udp_connected_v6: Kind::UdpConnected, Family::V6;
    udp_bound_to_device_v4: Kind::UdpBoundToDevice, Family::V4;
    udp_bound_to_device_v6: Kind::UdpBoundToDevice, Family::V6;
    tcp_bound_inactive_v4: Kind::TcpBoundInactive, Family::V4;
    tcp_bound_inactive_v6: Kind::TcpBoundInactive, Family::V6;
}

#[test]
fn syn_sent_timer_counts_retransmissions() {
    for family in Family::ALL {
        let snap = check(Kind::SynSent, family);
        let t = timer_of(&snap, SockState::SynSent);
        // Initial RTO 1 s: before the first retransmission the count is 0 and <= 1 s remains.
        assert_eq!(t.kind, "on");
        assert!(t.count <= 1 && t.remaining_ms <= 2000, "{t:?}");
        assert_eq!(t.resolution_ms, 1, "{t:?}");
        let s = snap
            .iter()
            .find(|s| s.state == SockState::SynSent)
            .expect("syn-sent");
        assert_eq!(
            s.send_q, 1,
            "the SYN counts as one unacked byte: {}",
            s.line
        );
    }
}

#[test]
fn time_wait_timer_is_about_a_minute() {
    for family in Family::ALL {
        let snap = check(Kind::TimeWait, family);
        let t = timer_of(&snap, SockState::TimeWait);
        assert_eq!((t.kind.as_str(), t.count), ("timewait", 0));
        assert!((50_000..=60_000).contains(&t.remaining_ms), "{t:?}");
        assert_eq!(t.resolution_ms, 1000, "{t:?}");
    }
}

#[test]
fn keepalive_timers_in_seconds_and_minutes() {
    for family in Family::ALL {
        let snap = check(Kind::Keepalive, family);
        let mut timers: Vec<_> = snap.iter().filter_map(|s| s.timer.clone()).collect();
        timers.sort_by_key(|t| t.remaining_ms);
        assert_eq!(timers.len(), 2, "{snap:#?}");
        // 600 s idle: `9min5Xsec`; 3000 s idle: `49min` (ss drops seconds above 10 min).
        assert_eq!(timers[0].kind, "keepalive");
        assert!(
            (590_000..600_000).contains(&timers[0].remaining_ms),
            "{timers:?}"
        );
        assert_eq!(timers[0].resolution_ms, 1000);
        assert_eq!(timers[1].remaining_ms, 49 * 60_000, "{timers:?}");
        assert_eq!(timers[1].resolution_ms, 60_000);
    }
}

#[test]
fn fin_wait_1_and_last_ack_retransmit_their_fin() {
    for (kind, state) in [
        (Kind::FinWait1, SockState::FinWait1),
        (Kind::LastAck, SockState::LastAck),
    ] {
        let snap = check(kind, Family::V4);
        let t = timer_of(&snap, state);
        assert_eq!(t.kind, "on", "{t:?}");
        let s = snap.iter().find(|s| s.state == state).expect("socket");
        assert_eq!(
            s.detail_u64("unacked"),
            Some(1),
            "the FIN is unacked: {}",
            s.line
        );
    }
}

#[test]
fn shutdown_markers() {
    let snap = check(Kind::HalfClosed, Family::V4);
    let marker = |st| {
        snap.iter()
            .find(|s| s.state == st)
            .and_then(|s| s.shutdown.clone())
    };
    assert_eq!(marker(SockState::FinWait2).as_deref(), Some("<--"));
    assert_eq!(marker(SockState::CloseWait).as_deref(), Some("-->"));
}

#[test]
fn all_scenarios_share_one_namespace() {
    let ns = Netns::new().expect("create namespace");
    let mut built = Vec::new();
    for family in Family::ALL {
        for kind in Kind::ALL {
            built.push(kind.build(&ns, family).expect("build"));
        }
    }
    let snap = ss::snapshot(&ns).expect("ss");
    let expected: usize = built.iter().map(|s| s.expected.len()).sum();
    assert_eq!(snap.len(), expected, "{snap:#?}");
}

#[test]
fn ss_names_this_process_as_owner() {
    let ns = Netns::new().expect("create namespace");
    let scenario = Kind::SynRecv.build(&ns, Family::V4).expect("build");
    let snap = ss::snapshot(&ns).expect("ss -p");
    let me = std::process::id();
    for e in &scenario.expected {
        let s = snap.iter().find(|s| e.matches(s)).expect("expected socket");
        if e.owned {
            assert!(s.users.iter().any(|u| u.pid == me), "{}", s.line);
        } else {
            assert!(s.users.is_empty(), "{}", s.line);
        }
    }
}
