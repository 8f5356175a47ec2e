//! Round trips and damaged files, on records built by hand (the lab tests in the binary's tests
//! take real censuses).

use std::net::SocketAddr;
use std::path::Path;

use sockdoc_core::doctor::KernelState;
use sockdoc_diag::{Socket, State, TcpInfo, Timer, TimerKind};
use sockdoc_proc::conntrack_table::TableCounts;
use sockdoc_proc::{Netns, ProcInfo, SocketOwners, WalkStats};

use super::*;
use crate::{EvidenceError, Known};

fn sockets() -> Vec<Socket> {
    let a: SocketAddr = "10.0.0.1:21".parse().unwrap();
    let b: SocketAddr = "[2001:db8::2]:40000".parse().unwrap();
    let mut s1 = Socket::tcp(State::Established, a, "10.0.0.2:5555".parse().unwrap());
    s1.inode = 77;
    s1.cookie = 0x1234_5678_9abc;
    s1.timer = Timer {
        kind: TimerKind::Keepalive,
        expires_ms: 12_345,
        count: 2,
    };
    s1.tcp = Some(TcpInfo {
        last_data_recv_ms: 900,
        bytes_acked: u64::MAX - 1,
        rtt_us: 321,
        ..TcpInfo::default()
    });
    s1.cgroup_id = 4242;
    let mut s2 = Socket::tcp(State::TimeWait, b, "[2001:db8::3]:80".parse().unwrap());
    s2.uid = 1000;
    s2.recv_q = 5;
    (0..3).flat_map(|_| [s1, s2]).collect()
}

/// A conntrack table of `n` sources, one entry each.
fn table(n: usize) -> TableCounts {
    let mut t = TableCounts::default();
    for i in 0..n {
        let line = format!("ipv4 2 tcp 6 300 ESTABLISHED src=10.1.{}.{} dst=10.0.0.1 sport=4000 dport=80 src=10.0.0.1 dst=10.1.0.1 sport=80 dport=4000 [ASSURED] use=1", i / 256, i % 256);
        assert!(sockdoc_proc::conntrack_table::add_line(&mut t, &line));
    }
    t
}

/// The recorder's first-seen times of [`sockets`] (0: not seen).
const FIRST_SEEN: [u64; 6] = [1_700_000_000_000, 0, 1_700_000_060_000, 0, 1, 0];

fn encoded(kernel: Option<&KernelState>) -> Vec<u8> {
    let ns = Netns::current().unwrap();
    let conntrack = table(CONNTRACK_TOP + 10);
    let socks = sockets();
    let owners = SocketOwners::from_entries(
        [(77, 10, 3), (77, 11, 4)],
        [(
            10,
            ProcInfo {
                name: "vsftpd".into(),
                cmdline: "vsftpd -x".into(),
                uid: 0,
            },
        )],
        WalkStats::default(),
    );
    let n = NsSnapshot {
        ns: &ns,
        sockets: &socks,
        owners: Some(&owners),
        services: None,
        kernel,
        notes: &[],
        known: Known {
            timers: true,
            tcp_info: true,
            owners: true,
            ..Known::default()
        },
        conntrack_table: kernel.is_some().then_some(&conntrack),
        first_seen: Some(&FIRST_SEEN),
    };
    let id = Identity {
        host: Some("h1".into()),
        taken: "2025-01-02T03:04:05Z".into(),
        ..Identity::default()
    };
    encode(&id, &[n]).unwrap().0
}

fn read_bytes(b: &[u8]) -> Result<crate::Evidence, EvidenceError> {
    read_from(Path::new("x.sdsnap"), b)
}

fn problem(b: &[u8]) -> Problem {
    match read_bytes(b) {
        Err(EvidenceError::Snapshot { problem, .. }) => problem,
        Err(e) => panic!("not a snapshot problem: {e}"),
        Ok(_) => panic!("read"),
    }
}

#[test]
fn sockets_owners_and_identity_come_back() {
    let mut k = KernelState::default();
    k.counters_after.set("TcpExt", "ListenOverflows", 9);
    k.sysctls.somaxconn = Some(4096);
    k.sysctls.port_range = Some((1024, 65000));
    k.sysctls
        .values
        .insert("net.core.somaxconn".into(), "4096".into());
    let e = read_bytes(&encoded(Some(&k))).unwrap();
    assert_eq!(e.source.host.as_deref(), Some("h1"));
    assert_eq!(e.source.taken.as_deref(), Some("2025-01-02T03:04:05Z"));
    let ns = &e.namespaces[0];
    assert_eq!(ns.sockets, sockets());
    assert_eq!(ns.first_seen.as_deref(), Some(&FIRST_SEEN[..]));
    let o = ns.owners.as_ref().unwrap();
    assert_eq!(o.owners(77).count(), 2);
    assert_eq!(o.process(10).unwrap().cmdline, "vsftpd -x");
    let k2 = ns.kernel.as_ref().unwrap();
    assert_eq!(k2.counters_after.get("TcpExt", "ListenOverflows"), Some(9));
    assert_eq!(k2.sysctls, k.sysctls);
    assert!(ns.known.timers && ns.known.owners && !ns.known.cgroups);
    // The conntrack table: every entry counted, the breakdowns cut to their largest keys.
    let t = ns.conntrack_table.as_ref().unwrap();
    assert_eq!(t.entries, CONNTRACK_TOP as u64 + 10);
    assert_eq!(t.by_source.len(), CONNTRACK_TOP);
    assert_eq!(t.by_destination["10.0.0.1:80"], CONNTRACK_TOP as u64 + 10);
}

#[test]
fn bad_files_are_one_clear_error() {
    let good = encoded(None);
    assert!(matches!(read_bytes(&[]), Err(EvidenceError::Empty { .. })));
    assert_eq!(problem(b"State Recv-Q Send-Q\n"), Problem::NotSnapshot);
    assert_eq!(problem(&good[..10]), Problem::Truncated);
    assert_eq!(problem(&good[..good.len() / 2]), Problem::Truncated);
    assert_eq!(problem(&good[..good.len() - 1]), Problem::Truncated);
    let mut newer = good.clone();
    newer[8] = 2;
    assert_eq!(problem(&newer), Problem::Newer(2));
    let msg = read_bytes(&newer).err().unwrap().to_string();
    assert!(msg.contains("newer sockdoc"), "{msg}");
    // Every byte of the compressed stream flipped in turn: an error or, where zstd cannot tell,
    // the same sockets; never a panic.
    for i in 12..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x55;
        if let Ok(e) = read_bytes(&bad) {
            assert_eq!(e.namespaces[0].sockets, sockets(), "byte {i}");
        }
    }
}

/// A file of `header` and the records `cols` after it.
fn file_with(header: serde_json::Value, cols: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(&header).unwrap();
    let mut raw = (json.len() as u32).to_le_bytes().to_vec();
    raw.extend(json);
    raw.extend(cols);
    let mut file = MAGIC.to_vec();
    file.extend(VERSION.to_le_bytes());
    file.extend(zstd::encode_all(&raw[..], 1).unwrap());
    file
}

/// A file of `socks` whose socket records are `width` bytes (their columns `cols`).
fn file_of(socks: &[Socket], cols: &[u8], width: usize) -> Vec<u8> {
    let header = serde_json::json!({
        "format": FORMAT, "version": 1,
        "socket_record": width, "owner_record": record::OWNER_RECORD,
        "namespaces": [{"label": "a", "sockets": socks.len(), "known": ["timers"]}]
    });
    file_with(header, cols)
}

#[test]
fn records_written_before_first_seen_times_are_read() {
    // The records as version 1 first wrote them: no first-seen column.
    let socks = sockets();
    let cols = record::encode_sockets(&socks);
    let old = &cols[..socks.len() * record::SOCKET_BASE];
    let e = read_bytes(&file_of(&socks, old, record::SOCKET_BASE)).unwrap();
    assert_eq!(e.namespaces[0].sockets, socks);
    assert_eq!(e.namespaces[0].first_seen, None);
    // Written now without a recorder: every time 0, none known.
    let e = read_bytes(&file_of(&socks, &cols, record::SOCKET_RECORD)).unwrap();
    assert_eq!(e.namespaces[0].first_seen, None);
}

#[test]
fn later_additions_are_skipped() {
    // A header with a field this version does not know, and records longer than it knows.
    let socks = sockets();
    let cols = record::encode_sockets(&socks);
    let n = socks.len();
    let mut longer = cols.clone();
    longer.extend(std::iter::repeat_n(0xEE, n * 4));
    let header = serde_json::json!({
        "format": FORMAT, "version": 1, "future_field": {"x": 1},
        "socket_record": record::SOCKET_RECORD + 4, "owner_record": record::OWNER_RECORD,
        "namespaces": [{"label": "a", "sockets": n, "known": ["timers", "telepathy"]}]
    });
    let e = read_bytes(&file_with(header, &longer)).unwrap();
    assert_eq!(e.namespaces[0].sockets, socks);
    assert!(e.namespaces[0].known.timers);
}
