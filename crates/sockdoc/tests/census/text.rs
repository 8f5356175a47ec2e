//! `sockdoc list` text mode: one line per socket whose first columns read like ss's
//! (`Netid State Recv-Q Send-Q Local Peer`); `== namespace ... ==` banner lines are allowed.

use std::collections::BTreeMap;

use sockdoc_lab::ss::parse_endpoint;
use sockdoc_lab::{ss, Family, Kind, Netns};

use crate::sockdoc;

/// `(netid, state, local, peer)` → how many sockets.
type Census = BTreeMap<(String, String, String, String), usize>;

fn add(census: &mut Census, key: (String, String, String, String)) {
    *census.entry(key).or_insert(0) += 1;
}

#[test]
fn one_ss_like_line_per_socket() {
    let ns = Netns::new().expect("create namespace");
    let _built: Vec<_> = [
        (Kind::Listen, Family::V4),
        (Kind::Established, Family::V6),
        (Kind::TimeWait, Family::V4),
        (Kind::SynSent, Family::V6),
        (Kind::UdpConnected, Family::V4),
        (Kind::UdpBoundToDevice, Family::V6),
    ]
    .into_iter()
    .map(|(k, f)| k.build(&ns, f).expect("build scenario"))
    .collect();
    let snap = ss::snapshot(&ns).expect("ss");
    let run = sockdoc::run(&["list", "--netns", ns.name(), "-H"]).expect_ok();

    let mut want = Census::new();
    for s in &snap {
        let (local, peer) = (s.local.socket_addr(), s.peer.socket_addr());
        let key = (
            s.proto.to_string(),
            s.state.ss_name().to_string(),
            local.to_string(),
            peer.to_string(),
        );
        add(&mut want, key);
    }
    let mut got = Census::new();
    // `-H` is rows only, as `ss -H` is: one line per socket, no banner (`| wc -l` counts sockets).
    assert_eq!(run.stdout.lines().count(), snap.len(), "{}", run.stdout);
    let sockets = run.stdout.lines();
    for line in sockets {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert!(cols.len() >= 6, "short line: {line:?}");
        let endpoint = |col: &str| {
            parse_endpoint(col)
                .unwrap_or_else(|| panic!("not an ss-style address {col:?} in {line:?}"))
                .socket_addr()
                .to_string()
        };
        assert!(cols[2].parse::<u64>().is_ok(), "Recv-Q column: {line:?}");
        assert!(cols[3].parse::<u64>().is_ok(), "Send-Q column: {line:?}");
        add(
            &mut got,
            (
                cols[0].to_string(),
                cols[1].to_string(),
                endpoint(cols[4]),
                endpoint(cols[5]),
            ),
        );
    }
    assert_eq!(got, want, "text output:\n{}", run.stdout);
}
