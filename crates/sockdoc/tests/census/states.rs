//! Every reachable socket state, IPv4 and IPv6, each in a fresh namespace: `sockdoc list --json -p`
//! must show exactly ss's sockets with the same tuple, state, timer, inode, cookie, uid, queues,
//! TCP_INFO counters and owners.

use std::collections::BTreeSet;

use sockdoc_lab::{Family, Kind, Netns};

use crate::compare;

/// Builds `kind` for `family`, compares sockdoc with ss, then checks the scenario's own facts:
/// the states, the timer kinds and that this test process owns the sockets that have files.
/// Owners come from this process's descriptors (see [`compare::read_own`]);
/// [`all_states_together`] compares them with `ss -p` itself.
fn census_matches_ss(kind: Kind, family: Family) {
    let ns = Netns::new().expect("create namespace");
    let scenario = kind.build(&ns, family).expect("build scenario");
    let reading = compare::read_own(&ns);
    compare::assert_same(&reading);

    let states: BTreeSet<_> = reading.sockdoc.iter().map(|s| s.state).collect();
    assert_eq!(states, kind.states(), "{kind} {family}: states");
    let me = std::process::id();
    for e in &scenario.expected {
        let sd = reading
            .sockdoc
            .iter()
            .find(|s| s.proto == e.proto && s.local == e.local && s.remote == e.peer)
            .unwrap_or_else(|| panic!("{kind} {family}: sockdoc misses {e}"));
        assert_eq!(sd.state, e.state, "{}", sd.json);
        assert_eq!(sd.ss_state, e.state.ss_name(), "{}", sd.json);
        assert_eq!(sd.family, family, "{}", sd.json);
        assert_eq!(
            sd.timer.as_ref().map(|t| t.kind.as_str()),
            e.timer,
            "{}",
            sd.json
        );
        let owners = sd.processes.as_deref().unwrap_or_default();
        if e.owned {
            assert_ne!(sd.inode, 0, "{}", sd.json);
            assert!(
                owners.iter().any(|p| p.pid == me),
                "not owned by {me}: {}",
                sd.json
            );
        } else {
            assert_eq!(sd.inode, 0, "{}", sd.json);
            assert!(owners.is_empty(), "{}", sd.json);
        }
    }
}

macro_rules! state_tests {
    ($($name:ident: $kind:expr, $family:expr;)*) => {$(
        #[test]
        fn $name() {
            census_matches_ss($kind, $family);
        }
    )*};
}

state_tests! {
    listen_v4: Kind::Listen, Family::V4;
    listen_v6: Kind::Listen, Family::V6;
    established_v4: Kind::Established, Family::V4;
    established_v6: Kind::Established, Family::V6;
    syn_sent_v4: Kind::SynSent, Family::V4;
    syn_sent_v6: Kind::SynSent, Family::V6;
    syn_recv_v4: Kind::SynRecv, Family::V4;
    syn_recv_v6: Kind::SynRecv, Family::V6;
    fin_wait_1_v4: Kind::FinWait1, Family::V4;
    fin_wait_1_v6: Kind::FinWait1, Family::V6;
    fin_wait_2_and_close_wait_v4: Kind::HalfClosed, Family::V4;
    fin_wait_2_and_close_wait_v6: Kind::HalfClosed, Family::V6;
    last_ack_v4: Kind::LastAck, Family::V4;
    last_ack_v6: Kind::LastAck, Family::V6;
    time_wait_v4: Kind::TimeWait, Family::V4;
    time_wait_v6: Kind::TimeWait, Family::V6;
    keepalive_timer_v4: Kind::Keepalive, Family::V4;
    keepalive_timer_v6: Kind::Keepalive, Family::V6;
    persist_timer_v4: Kind::ZeroWindow, Family::V4;
    persist_timer_v6: Kind::ZeroWindow, Family::V6;
    udp_unconn_v4: Kind::UdpUnconn, Family::V4;
    udp_unconn_v6: Kind::UdpUnconn, Family::V6;
    udp_connected_v4: Kind::UdpConnected, Family::V4;
    udp_connected_v6: Kind::UdpConnected, Family::V6;
    udp_bound_to_device_v4: Kind::UdpBoundToDevice, Family::V4;
    udp_bound_to_device_v6: Kind::UdpBoundToDevice, Family::V6;
    tcp_bound_only_is_not_listed_v4: Kind::TcpBoundInactive, Family::V4;
    tcp_bound_only_is_not_listed_v6: Kind::TcpBoundInactive, Family::V6;
}

/// Every scenario of both families side by side in one namespace, in one sockdoc call, with the
/// owners as `ss -p` reports them.
#[test]
fn all_states_together() {
    let ns = Netns::new().expect("create namespace");
    let _built: Vec<_> = Family::ALL
        .into_iter()
        .flat_map(|f| Kind::ALL.into_iter().map(move |k| (k, f)))
        .map(|(k, f)| k.build(&ns, f).expect("build scenario"))
        .collect();
    compare::assert_same(&compare::read(&ns, &[]));
}
