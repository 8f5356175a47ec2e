//! Real dumps read back: a lab namespace holds sockets in LISTEN, ESTAB (with and without
//! keepalive), CLOSE-WAIT/FIN-WAIT-2, TIME-WAIT and UDP, IPv4 and IPv6; the real `ss`, `netstat`
//! and `/proc/net` output of it is captured in several forms, read, and checked against what
//! `ss` shows of the same namespace: counts per state, keepalive timers, owners.

mod common;

use std::path::PathBuf;

use common::{ev_counts, ev_keepalive_ports, ss_counts, ss_keepalive_ports, Scratch};
use sockdoc_diag::State;
use sockdoc_evidence::{read, Evidence};
use sockdoc_lab::{Family, Kind, Netns, Scenario};

/// The scene: every kind that stays still, in both families (UDP and CLOSE-WAIT in IPv4).
fn scene() -> (Netns, Vec<Scenario>) {
    let ns = Netns::new().expect("netns");
    let mut built = Vec::new();
    for kind in [
        Kind::Listen,
        Kind::Established,
        Kind::Keepalive,
        Kind::HalfClosed,
        Kind::TimeWait,
        Kind::UdpUnconn,
        Kind::UdpConnected,
    ] {
        built.push(kind.build(&ns, Family::V4).expect("scene v4"));
    }
    for kind in [Kind::Listen, Kind::Established, Kind::Keepalive] {
        built.push(kind.build(&ns, Family::V6).expect("scene v6"));
    }
    (ns, built)
}

fn read_one(path: PathBuf) -> Evidence {
    read(std::slice::from_ref(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Keep only one protocol of the live counts.
fn only(
    m: std::collections::BTreeMap<(String, String), usize>,
    proto: &str,
) -> std::collections::BTreeMap<(String, String), usize> {
    m.into_iter().filter(|((p, _), _)| p == proto).collect()
}

#[test]
fn ss_forms_read_as_ss_shows_the_namespace() {
    let (ns, _scene) = scene();
    let dir = Scratch::new("ss-forms");
    let forms: &[(&[&str], bool)] = &[
        (&["ss", "-tanoi"], false),
        (&["ss", "-aoen"], true),
        (&["ss", "-tupna"], true),
        (&["ss", "-peaonmi"], true),
        (&["ss", "-H", "-tuan"], true),
        (&["ss", "-tan"], false),
    ];
    for (i, (args, with_udp)) in forms.iter().enumerate() {
        let live = ss_counts(&ns);
        let out = ns.exec(args).expect("ss");
        let ev = read_one(dir.write(&format!("ss{i}.txt"), out.as_bytes()));
        assert_eq!(ev.namespaces.len(), 1, "{args:?}");
        let got = &ev.namespaces[0];
        let want = if *with_udp { live } else { only(live, "tcp") };
        assert_eq!(ev_counts(got), want, "{args:?}");
        assert_eq!(ev.unread.count, 0, "{args:?}: {:?}", ev.unread.first);
        let opts = args.last().expect("args");
        if opts.contains('o') {
            assert!(got.known.timers, "{args:?}");
            assert_eq!(ev_keepalive_ports(got), ss_keepalive_ports(&ns), "{args:?}");
            assert!(!ev_keepalive_ports(got).is_empty());
        }
        if opts.contains('i') {
            assert!(got.known.tcp_info);
            let with_info = got.sockets.iter().filter(|s| s.tcp.is_some()).count();
            assert!(with_info > 0, "{args:?}: no tcp_info read");
        }
        if opts.contains('e') {
            assert!(got.known.inodes);
            let own = sockdoc_lab::own_socket_inodes().expect("own inodes");
            let seen = got
                .sockets
                .iter()
                .filter(|s| own.contains(&u64::from(s.inode)))
                .count();
            assert!(seen > 0, "{args:?}: none of this process's inodes read");
        }
        if opts.contains('p') {
            let owners = got.owners.as_ref().expect("owners");
            let me = std::process::id();
            let owned = got
                .sockets
                .iter()
                .filter(|s| owners.owners(s.inode).any(|o| o.pid == me))
                .count();
            let live_owned = sockdoc_lab::ss::snapshot(&ns)
                .expect("ss -p")
                .iter()
                .filter(|s| s.users.iter().any(|u| u.pid == me))
                .count();
            assert_eq!(owned, live_owned, "{args:?}");
            assert!(owned > 0);
        }
        assert_eq!(got.known.all_states, opts.contains('a'), "{args:?}");
    }
}

#[test]
fn a_state_filter_gives_the_state_from_its_command_line_or_says_it_is_unknown() {
    let (ns, _scene) = scene();
    let dir = Scratch::new("ss-state");
    let out = ns
        .exec(&["ss", "-tan", "state", "established"])
        .expect("ss");
    assert!(
        out.starts_with("Recv-Q"),
        "ss printed a State column: {out}"
    );
    let live = ss_counts(&ns)[&("tcp".to_string(), "established".to_string())];
    let with_cmd = format!("$ ss -tan state established\n{out}");
    let ev = read_one(dir.write("with.txt", with_cmd.as_bytes()));
    let got = &ev.namespaces[0];
    assert_eq!(got.sockets.len(), live);
    assert!(got.sockets.iter().all(|s| s.state == State::Established));
    assert!(got.known.states && !got.known.all_states);
    let ev = read_one(dir.write("without.txt", out.as_bytes()));
    assert_eq!(ev.namespaces[0].sockets.len(), live);
    assert!(!ev.namespaces[0].known.states);
}

#[test]
fn netstat_forms_read_as_ss_shows_the_namespace() {
    let (ns, _scene) = scene();
    let dir = Scratch::new("netstat");
    for (i, args) in [
        &["netstat", "-antp"][..],
        &["netstat", "-neopa"],
        &["netstat", "-W", "-tuan"],
    ]
    .iter()
    .enumerate()
    {
        let live = ss_counts(&ns);
        let out = ns.exec(args).expect("netstat");
        let ev = read_one(dir.write(&format!("n{i}.txt"), out.as_bytes()));
        let got = &ev.namespaces[0];
        let want = if args.contains(&"-antp") {
            only(live, "tcp")
        } else {
            live
        };
        assert_eq!(ev_counts(got), want, "{args:?}");
        assert_eq!(ev.unread.count, 0, "{args:?}: {:?}", ev.unread.first);
        if args.contains(&"-neopa") {
            assert!(got.known.timers && got.known.inodes && got.known.owners);
            assert_eq!(ev_keepalive_ports(got), ss_keepalive_ports(&ns));
            let me = std::process::id();
            let owners = got.owners.as_ref().expect("owners");
            assert!(got
                .sockets
                .iter()
                .any(|s| owners.owners(s.inode).any(|o| o.pid == me)));
        }
    }
}

#[test]
fn proc_net_files_read_as_ss_shows_the_namespace() {
    let (ns, _scene) = scene();
    let dir = Scratch::new("procnet");
    let mut files = Vec::new();
    for f in ["tcp", "tcp6", "udp", "udp6"] {
        let out = ns.exec(&["cat", &format!("/proc/net/{f}")]).expect("cat");
        files.push(dir.write(f, out.as_bytes()));
    }
    for f in ["netstat", "snmp", "sockstat"] {
        let out = ns.exec(&["cat", &format!("/proc/net/{f}")]).expect("cat");
        files.push(dir.write(f, out.as_bytes()));
    }
    let ev = read(&files).expect("read");
    assert_eq!(ev.namespaces.len(), 1);
    let got = &ev.namespaces[0];
    assert_eq!(ev_counts(got), ss_counts(&ns));
    assert_eq!(ev_keepalive_ports(got), ss_keepalive_ports(&ns));
    assert!(got.known.timers && got.known.inodes && got.known.all_states);
    let k = got.kernel.as_ref().expect("kernel state");
    assert!(k.counters_after.get("TcpExt", "ListenOverflows").is_some());
    assert!(k.sockstat.read_v4 && k.sockstat.tcp_tw > 0);
    assert_eq!(ev.unread.count, 0, "{:?}", ev.unread.first);
}

#[test]
fn several_namespaces_in_one_file() {
    let (a, _sa) = scene();
    let b = Netns::new().expect("netns");
    let _sb = Kind::Listen.build(&b, Family::V4).expect("listen");
    let dir = Scratch::new("multi");
    let text = format!(
        "netns: {}\n{}\n== {} ==\n{}\n# ip netns exec {} netstat -s\n{}",
        a.name(),
        a.exec(&["ss", "-tuan"]).expect("ss"),
        b.name(),
        b.exec(&["ss", "-tuan"]).expect("ss"),
        b.name(),
        b.exec(&["netstat", "-s"]).expect("netstat -s"),
    );
    let ev = read_one(dir.write("all.txt", text.as_bytes()));
    let labels: Vec<&str> = ev.namespaces.iter().map(|n| n.label.as_str()).collect();
    assert_eq!(labels, vec![a.name(), b.name()]);
    assert_eq!(ev_counts(&ev.namespaces[0]), ss_counts(&a));
    assert_eq!(ev_counts(&ev.namespaces[1]), ss_counts(&b));
    let k = ev.namespaces[1]
        .kernel
        .as_ref()
        .expect("netstat -s counters");
    assert!(k.counters_after.get("Tcp", "ActiveOpens").is_some());
    assert_eq!(ev.unread.count, 0, "{:?}", ev.unread.first);
}
