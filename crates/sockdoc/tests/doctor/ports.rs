//! Short connections in bulk: TIME-WAIT against `tcp_max_tw_buckets`, and ephemeral ports against
//! `ip_local_port_range` (both per namespace).

use sockdoc_lab::doctor::{EphemeralPorts, TimeWaitStorm, EPHEMERAL_TARGET_PORT, PORT_RANGE};

use std::time::Duration;

use crate::run::{doctor, doctor_during, g_str, g_u64};

#[test]
fn time_wait_pressure_against_a_small_bucket_limit() {
    let tw = TimeWaitStorm::build(200).expect("build");
    assert_eq!(tw.requests(150).expect("150 requests"), 150);
    let r = doctor(&tw.client, &[]);
    let f = r.finding("time-wait-pressure");
    assert_eq!(f.severity, "warning", "150 of 200: {:#}", f.json);
    assert_eq!(r.status, "warning", "{:#}", r.doc);
    assert_eq!(f.ev("time_wait"), 150, "{:#}", f.json);
    assert_eq!(f.ev("max_tw_buckets"), 200, "{:#}", f.json);
    assert_eq!(f.ev("overflow_delta"), 0, "{:#}", f.json);
    assert_eq!(r.state_count("time-wait"), 150);
    // nginx's side closed second: nothing there.
    doctor(&tw.server, &[]).assert_absent("time-wait-pressure");

    // 80 more: the table is full (200), 30 sockets skipped TIME-WAIT altogether.
    let before = tw.overflows().expect("counter");
    assert_eq!(tw.requests(80).expect("80 requests"), 200);
    assert_eq!(tw.overflows().expect("counter") - before, 30);
    let r = doctor(&tw.client, &[]);
    let f = r.finding("time-wait-pressure");
    assert_eq!(f.severity, "critical", "200 of 200: {:#}", f.json);
    assert_eq!(f.ev("time_wait"), 200, "{:#}", f.json);
    assert_eq!(f.ev("max_tw_buckets"), 200, "{:#}", f.json);
    assert_eq!(r.status, "critical");
}

/// The other critical trigger: TCPTimeWaitOverflow grew during the interval. sockdoc reads the
/// sockets at 100 of 200 (50 %, a warning by count); one second into its 2 s interval 150 more
/// connections end, 50 of them find the table full.
#[test]
fn time_wait_overflow_during_the_interval_is_critical() {
    let tw = TimeWaitStorm::build(200).expect("build");
    assert_eq!(tw.requests(100).expect("100 requests"), 100);
    let before = tw.overflows().expect("counter");
    let r = doctor_during(&tw.client, "2s", Duration::from_millis(1000), || {
        assert_eq!(tw.requests(150).expect("150 requests"), 200);
    });
    assert_eq!(tw.overflows().expect("counter") - before, 50);
    let f = r.finding("time-wait-pressure");
    assert_eq!(
        f.ev("time_wait"),
        100,
        "read before the burst (timing): {:#}",
        f.json
    );
    assert_eq!(f.ev("overflow_delta"), 50, "{:#}", f.json);
    assert_eq!(f.severity, "critical", "{:#}", f.json);
}

#[test]
fn ephemeral_ports_run_out_towards_one_service() {
    let mut e = EphemeralPorts::build(80).expect("build");
    let range = u64::from(PORT_RANGE.1 - PORT_RANGE.0 + 1);
    let check = |e: &EphemeralPorts, used: u64, severity: &str| {
        let r = doctor(&e.client, &[]);
        let f = r.finding("ephemeral-port-exhaustion");
        assert_eq!(f.severity, severity, "{used} of {range}: {:#}", f.json);
        assert_eq!(r.status, severity, "{:#}", r.doc);
        assert_eq!(f.groups.len(), 1, "{:#}", f.json);
        let g = &f.groups[0];
        assert_eq!(g_str(g, "local_ip"), e.link.client_ip.to_string(), "{g}");
        assert_eq!(g_str(g, "remote_ip"), e.link.server_ip.to_string(), "{g}");
        assert_eq!(
            g_u64(g, "remote_port"),
            u64::from(EPHEMERAL_TARGET_PORT),
            "{g}"
        );
        assert_eq!(g_u64(g, "used"), used, "{g}");
        assert_eq!(g_u64(g, "range_size"), range, "{g}");
        assert_eq!(g_u64(g, "percent"), used * 100 / range, "{g}");
    };
    check(&e, 80, "warning");
    e.connect(10).expect("10 more");
    check(&e, 90, "critical");
    // The server's side uses its listening port, not ephemeral ones.
    doctor(&e.server, &[]).assert_absent("ephemeral-port-exhaustion");
}
