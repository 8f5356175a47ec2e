//! A peer that vanished while we were sending: retransmissions with nothing acknowledged.

use sockdoc_lab::doctor::{sysctl, UnreachablePeer};

use crate::run::{doctor, g_str, g_u64};

#[test]
fn unreachable_peer_shows_retransmitting_connections() {
    let u = UnreachablePeer::build(3, 2).expect("build");
    let seen = u.wait_retrans(2).expect("retransmitting");
    let min_retrans = seen
        .iter()
        .filter_map(|s| s.timer.as_ref().map(|t| u64::from(t.count)))
        .max()
        .expect("timers");
    let r = doctor(&u.server, &[]);
    let f = r.finding("unreachable-peers");
    assert_eq!(f.severity, "warning", "{:#}", f.json);
    assert_eq!(f.ev("connections"), 3, "{:#}", f.json);
    let retries2: u64 = sysctl(&u.server, "net.ipv4.tcp_retries2")
        .expect("sysctl")
        .parse()
        .expect("number");
    assert_eq!(f.ev("tcp_retries2"), retries2, "{:#}", f.json);
    assert_eq!(f.groups.len(), 1, "not the healthy sender: {:#}", f.json);
    let g = f.group("remote_ip", u.gone_link.client_ip.to_string());
    assert_eq!(g_u64(g, "pid"), u64::from(u.sender.pid), "{g}");
    assert_eq!(g_str(g, "process"), "ur-sender", "{g}");
    assert_eq!(g_u64(g, "count"), 3, "{g}");
    let max = g_u64(g, "max_retrans");
    assert!(
        max >= min_retrans && max <= retries2,
        "ss saw {min_retrans} before: {g}"
    );
    // Data in flight: not ghosts.
    r.assert_absent("ghost-suspects");
}
