//! Evidence as it arrives: the incident notes' own `ss -aoen` lines among their prose, bad input
//! (empty, binary, no known format, a broken line mid-file), and a sosreport directory and its
//! tarballs (made with the real `tar`) holding a lab namespace's real dumps.

mod common;

use std::process::Command;

use common::{ev_counts, ss_counts, Scratch};
use sockdoc_evidence::{read, EvidenceError, NotEvidence};
use sockdoc_lab::{Family, Kind, Netns};

#[test]
fn the_incident_notes_ss_lines_show_port_21_without_keepalive_and_sshds_with_it() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-notes.txt");
    let ev = read(&[path]).expect("notes");
    assert_eq!(ev.namespaces.len(), 1);
    let ns = &ev.namespaces[0];
    let on = |port: u16| ns.sockets.iter().filter(move |s| s.local_port == port);
    assert_eq!(on(21).count(), 2);
    assert!(on(21).all(|s| !s.has_keepalive_timer()));
    assert_eq!(on(333).count(), 4);
    assert!(on(333).all(|s| s.has_keepalive_timer()));
    assert!(ns.known.timers && ns.known.inodes && !ns.known.all_states);
    assert_eq!(on(21).next().map(|s| s.inode), Some(336879672));
    // The prose around the lines is counted, with its line numbers, never dropped.
    assert_eq!(ev.unread.count, 3);
    let lines: Vec<u64> = ev.unread.first.iter().map(|u| u.1).collect();
    assert_eq!(lines, vec![1, 5, 10]);
}

#[test]
fn bad_input_is_one_clear_error_or_unread_lines() {
    let dir = Scratch::new("bad");
    let empty = dir.write("empty", b"");
    assert!(matches!(read(&[empty]), Err(EvidenceError::Empty { .. })));
    let blank = dir.write("blank", b"\n  \n");
    assert!(matches!(read(&[blank]), Err(EvidenceError::Empty { .. })));
    let binary = dir.write("bin", &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0]);
    let e = read(&[binary]).err().expect("binary");
    assert!(matches!(e, EvidenceError::Binary { .. }));
    assert!(e.to_string().contains("give ss or netstat output"));
    let latin1 = dir.write("latin1", b"caf\xe9 \xe9t\xe9\n");
    assert!(matches!(read(&[latin1]), Err(EvidenceError::Binary { .. })));
    let prose = dir.write(
        "readme",
        "# Notes\nThe proxy never set keepalive.\n".as_bytes(),
    );
    let e = read(&[prose]).err().expect("prose");
    assert!(matches!(e, EvidenceError::Unknown { .. }), "{e}");
    assert!(!e.to_string().contains('\n'));
    let missing = dir.path().join("nope");
    assert!(matches!(read(&[missing]), Err(EvidenceError::Io { .. })));
    // A line cut mid-file (a paste gone wrong) is unread; the rest is read.
    let cut = "State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n\
               ESTAB  0      0      10.0.0.1:22        10.0.0.2:5000\n\
               ESTAB  0      0      10.0.0.1:22   10.0\n\
               LISTEN 0      128    0.0.0.0:22         0.0.0.0:*\n";
    let ev = read(&[dir.write("cut", cut.as_bytes())]).expect("cut");
    assert_eq!(ev.namespaces[0].sockets.len(), 2);
    assert_eq!(ev.unread.count, 1);
    assert_eq!(ev.unread.first[0].1, 3);
    // A directory of nothing readable says so.
    let junk = Scratch::new("junk");
    junk.write("a.txt", b"hello\n");
    assert!(matches!(
        read(&[junk.path().to_path_buf()]),
        Err(EvidenceError::Unknown { .. })
    ));
}

#[test]
fn a_sosreport_directory_and_its_tarballs_read_as_ss_shows_the_namespace() {
    let ns = Netns::new().expect("netns");
    let mut scene = Vec::new();
    for kind in [
        Kind::Listen,
        Kind::Established,
        Kind::Keepalive,
        Kind::TimeWait,
        Kind::UdpUnconn,
    ] {
        scene.push(kind.build(&ns, Family::V4).expect("scene"));
    }
    let other = Netns::new().expect("netns");
    let _l = Kind::Listen.build(&other, Family::V6).expect("listen");
    let work = Scratch::new("sos");
    let top = "sosreport-labhost-2026-12-07-abcdef";
    let put = |rel: &str, args: &[&str], on: &Netns| {
        let out = on.exec(args).expect("capture");
        work.write(&format!("{top}/{rel}"), out.as_bytes());
    };
    put(
        "sos_commands/networking/ss_-peaonmi",
        &["ss", "-peaonmi"],
        &ns,
    );
    put(
        "sos_commands/networking/netstat_-W_-neopa",
        &["netstat", "-W", "-neopa"],
        &ns,
    );
    put(
        "sos_commands/networking/netstat_-s",
        &["netstat", "-s"],
        &ns,
    );
    put(
        "sos_commands/networking/netstat_-W_-agn",
        &["netstat", "-W", "-agn"],
        &ns,
    );
    for f in ["tcp", "tcp6", "udp", "udp6", "netstat", "snmp", "sockstat"] {
        put(
            &format!("proc/net/{f}"),
            &["cat", &format!("/proc/net/{f}")],
            &ns,
        );
    }
    put("sos_commands/kernel/sysctl_-a", &["sysctl", "-a"], &ns);
    let o = other.name();
    put(
        &format!("sos_commands/networking/namespaces/{o}/ip_netns_exec_{o}_ss_-peaonmi"),
        &["ss", "-peaonmi"],
        &other,
    );
    work.write(&format!("{top}/hostname"), b"labhost\n");
    work.write(
        &format!("{top}/uname"),
        b"Linux labhost 6.18.0-lab #1 SMP x86_64 GNU/Linux\n",
    );
    let live = ss_counts(&ns);
    let live_other = ss_counts(&other);

    let tgz = work.path().join("sos.tar.gz");
    let txz = work.path().join("sos.tar.xz");
    for (flag, out) in [("czf", &tgz), ("cJf", &txz)] {
        let st = Command::new("tar")
            .arg(flag)
            .arg(out)
            .arg("-C")
            .arg(work.path())
            .arg(top)
            .status()
            .expect("tar");
        assert!(st.success());
    }
    for input in [work.path().join(top), tgz, txz] {
        let ev = read(std::slice::from_ref(&input))
            .unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        assert_eq!(ev.source.host.as_deref(), Some("labhost"), "{input:?}");
        assert_eq!(ev.source.kernel.as_deref(), Some("6.18.0-lab"));
        let host = ev
            .namespaces
            .iter()
            .find(|n| n.label == "current")
            .expect("host ns");
        // ss, netstat and /proc/net all describe the host: its sockets are counted once.
        assert_eq!(ev_counts(host), live, "{input:?}");
        assert!(host.known.owners && host.known.timers && host.known.inodes);
        let k = host.kernel.as_ref().expect("kernel state");
        assert!(k.sysctls.keepalive_time.is_some());
        assert!(k.counters_after.get("TcpExt", "ListenOverflows").is_some());
        let named = ev
            .namespaces
            .iter()
            .find(|n| n.label == o)
            .expect("named ns");
        assert_eq!(ev_counts(named), live_other);
        assert_eq!(ev.unread.count, 0, "{:?}", ev.unread.first);
    }
}

#[test]
fn a_file_is_judged_by_its_first_mib_and_read_whole_once_it_shows_what_it_is() {
    let dir = Scratch::new("sniff");
    let header = "State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n";
    let socket = "ESTAB  0      0      10.0.0.1:22        10.0.0.2:5000\n";
    let prose = "The proxy never set keepalive, said the notes.\n".repeat(25_000);
    assert!(prose.len() as u64 > sockdoc_evidence::SNIFF_BYTES);
    // A dump after more than a MiB of prose is never reached: refused after the head.
    let late = dir.write("late", format!("{prose}{header}{socket}").as_bytes());
    match read(&[late]) {
        Err(EvidenceError::Unknown {
            why: NotEvidence::Head(first),
            ..
        }) => assert!(first.starts_with("The proxy"), "{first}"),
        other => panic!("{:?}", other.map(|e| e.unread.count)),
    }
    // A dump that shows itself first is read to the end, prose and all.
    let early = dir.write(
        "early",
        format!("{header}{socket}{prose}{socket}").as_bytes(),
    );
    let ev = read(&[early]).expect("a dump with prose");
    assert_eq!(ev.namespaces[0].sockets.len(), 2);
    assert_eq!(ev.unread.count, 25_000);
}
