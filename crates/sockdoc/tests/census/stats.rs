//! `sockdoc stats --json`: per-protocol, per-state counts equal ss's, and `--by` groups rank
//! correctly.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};

use serde_json::Value;
use sockdoc_lab::{in_netns, ss, Family, Kind, Netns, Proto, SsSocket};

use crate::sockdoc;

/// `{state: count}` for one protocol, sockdoc's state names, zero counts left out.
fn ss_states(snap: &[SsSocket], proto: Proto) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for s in snap.iter().filter(|s| s.proto == proto) {
        *counts
            .entry(s.state.sockdoc_name().to_string())
            .or_insert(0) += 1;
    }
    counts
}

/// A `states` object as a map, zero counts dropped.
fn states_of(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .unwrap_or_else(|| panic!("`states` is not an object: {v}"))
        .iter()
        .map(|(k, n)| {
            (
                k.clone(),
                n.as_u64().unwrap_or_else(|| panic!("count: {v}")),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[test]
fn counts_per_state_match_ss() {
    let ns = Netns::new().expect("create namespace");
    let _built: Vec<_> = Family::ALL
        .into_iter()
        .flat_map(|f| Kind::ALL.into_iter().map(move |k| (k, f)))
        .map(|(k, f)| k.build(&ns, f).expect("build scenario"))
        .collect();
    let snap = ss::snapshot(&ns).expect("ss");
    let entry = sockdoc::stats(&ns, &[]);

    let (tcp, udp) = (ss_states(&snap, Proto::Tcp), ss_states(&snap, Proto::Udp));
    assert_eq!(
        states_of(&entry["tcp"]["states"]),
        tcp,
        "tcp states: {entry}"
    );
    assert_eq!(
        states_of(&entry["udp"]["states"]),
        udp,
        "udp states: {entry}"
    );
    let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
    assert_eq!(entry["tcp"]["total"], total(&tcp), "tcp total: {entry}");
    assert_eq!(entry["udp"]["total"], total(&udp), "udp total: {entry}");
    assert_eq!(entry["total"], snap.len() as u64, "total: {entry}");
    assert_eq!(
        entry["groups"],
        Value::Array(vec![]),
        "no --by, no groups: {entry}"
    );
}

/// One server port with `n` clients (both ends kept), plus the listener.
struct FanIn {
    port: u16,
    _listener: TcpListener,
    _conns: Vec<(TcpStream, TcpStream)>,
}

fn fan_in(ns: &Netns, n: usize) -> FanIn {
    let listener = in_netns(ns, || TcpListener::bind("127.0.0.1:0")).expect("listen");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let conns = (0..n)
        .map(|_| {
            let c = in_netns(ns, move || TcpStream::connect(addr)).expect("connect");
            let (s, _) = listener.accept().expect("accept");
            (c, s)
        })
        .collect();
    FanIn {
        port: addr.port(),
        _listener: listener,
        _conns: conns,
    }
}

/// A group's key as text: ports are numbers, addresses strings.
fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The `--by BY` group of a stats entry.
fn group<'a>(entry: &'a Value, by: &str) -> &'a Value {
    entry["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["by"] == by))
        .unwrap_or_else(|| panic!("no group by {by}: {entry}"))
}

#[test]
fn by_remote_port_top_row() {
    let ns = Netns::new().expect("create namespace");
    let fan = fan_in(&ns, 5);
    let snap = ss::snapshot(&ns).expect("ss");
    assert_eq!(snap.len(), 11, "listener + 5 pairs: {snap:#?}");
    let entry = sockdoc::stats(&ns, &["--by", "remote-port", "--top", "1"]);
    let g = group(&entry, "remote-port");
    let rows = g["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "--top 1: {g}");
    assert_eq!(
        key_text(&rows[0]["key"]),
        fan.port.to_string(),
        "top key: {g}"
    );
    assert_eq!(rows[0]["count"], 5, "top count: {g}");
    assert_eq!(g["other"], 6, "the 5 server ends and the listener: {g}");
}

#[test]
fn by_remote_ip_and_state() {
    let ns = Netns::new().expect("create namespace");
    let _fan = fan_in(&ns, 3);
    let _tw = Kind::TimeWait.build(&ns, Family::V4).expect("time-wait");
    let snap = ss::snapshot(&ns).expect("ss");
    let entry = sockdoc::stats(&ns, &["--by", "remote-ip", "--by", "state", "--top", "20"]);

    let remote = group(&entry, "remote-ip");
    let top = &remote["rows"][0];
    let loopback = snap
        .iter()
        .filter(|s| s.peer.ip.to_string() == "127.0.0.1")
        .count();
    assert_eq!(key_text(&top["key"]), "127.0.0.1", "{remote}");
    assert_eq!(top["count"], loopback as u64, "{remote}");

    let by_state = group(&entry, "state");
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for s in &snap {
        *want.entry(s.state.ss_name().to_string()).or_insert(0) += 1;
    }
    let got: BTreeMap<String, u64> = by_state["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (key_text(&r["key"]), r["count"].as_u64().expect("count")))
        .collect();
    assert_eq!(got, want, "{by_state}");
    assert_eq!(by_state["other"], 0, "{by_state}");
}
