//! `sockdoc snapshot` on a real scene, read back with `sockdoc_evidence::snapshot::read` and
//! compared with a live census of the same namespace taken right after: the same sockets field by
//! field (timers' time left and tcp_info's idle times move between the two, and are left out),
//! the same owners and processes, the kernel state present. Also: the file appears whole or not
//! at all (no `.tmp` left; a read-only or full disk gives one line and no file), and damaged files
//! give one clear error. Needs root, `ip`, `nft`, `ss`, python3 and `mount`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sockdoc_core::session::{Needs, Plan, Refresh, Scope, Session};
use sockdoc_diag::{Socket, State};
use sockdoc_evidence::snapshot::{self, Problem};
use sockdoc_evidence::{EvidenceError, NsEvidence};
use sockdoc_lab::disk::Tmpfs;
use sockdoc_lab::doctor::CloseWaitLeak;
use sockdoc_lab::state::Family;
use sockdoc_lab::Kind;

fn sockdoc(args: &[&str]) -> sockdoc_lab::cli::Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockdoc"));
    cmd.args(args);
    let owned = args.iter().map(|s| s.to_string()).collect();
    sockdoc_lab::cli::run_command(cmd, owned, Duration::from_secs(60)).expect("run sockdoc")
}

/// A socket with what moves between two readings of an idle scene set to zero.
fn still(s: &Socket) -> Socket {
    let mut s = *s;
    s.timer.expires_ms = 0;
    if let Some(t) = s.tcp.as_mut() {
        t.last_data_sent_ms = 0;
        t.last_data_recv_ms = 0;
        t.last_ack_recv_ms = 0;
    }
    s
}

/// The live census of `name`, as `snapshot` takes it.
fn live(name: &str) -> sockdoc_core::session::Sample {
    let ns = sockdoc_proc::Netns::named(name).expect("netns");
    let mut s = Session::new(
        Scope::one(ns),
        Plan::everything(Needs::DOCTOR),
        Refresh::PerRun,
    )
    .expect("session");
    s.samples().expect("census").remove(0)
}

/// Owners of `inode` as `(pid, fd, process name)`, sorted.
fn owners_of(o: &sockdoc_proc::SocketOwners, inode: u32) -> Vec<(u32, u32, String)> {
    let mut v: Vec<_> = o
        .owners(inode)
        .map(|w| {
            let name = o.process(w.pid).map(|p| p.name.clone()).unwrap_or_default();
            (w.pid, w.fd, name)
        })
        .collect();
    v.sort();
    v
}

fn compare(snap: &NsEvidence, name: &str) {
    let now = live(name);
    let cookies = |v: &[Socket]| {
        let mut c: Vec<(u64, Socket)> = v.iter().map(|s| (s.cookie, still(s))).collect();
        c.sort_by_key(|(k, _)| *k);
        c
    };
    // A TIME-WAIT entry may expire between the two readings; nothing else in the scene moves.
    let mut live_socks = cookies(&now.sockets);
    let mut snap_socks = cookies(&snap.sockets);
    let snapped: std::collections::HashSet<u64> = snap_socks.iter().map(|(c, _)| *c).collect();
    live_socks.retain(|(c, s)| s.state != State::TimeWait || snapped.contains(c));
    let alive: std::collections::HashSet<u64> = live_socks.iter().map(|(c, _)| *c).collect();
    snap_socks.retain(|(c, s)| s.state != State::TimeWait || alive.contains(c));
    assert_eq!(snap_socks.len(), live_socks.len());
    for ((_, a), (_, b)) in snap_socks.iter().zip(&live_socks) {
        assert_eq!(a, b, "the snapshot's socket differs from the live one");
    }
    let (so, lo) = (
        snap.owners.as_ref().expect("owners"),
        now.owner_map().expect("live owners"),
    );
    for s in &now.sockets {
        assert_eq!(
            owners_of(so, s.inode),
            owners_of(lo, s.inode),
            "owners of {s:?}"
        );
        for w in lo.owners(s.inode) {
            assert_eq!(so.process(w.pid), lo.process(w.pid), "process {}", w.pid);
        }
    }
}

#[test]
fn a_snapshot_reads_back_as_the_live_census() {
    let cw = CloseWaitLeak::build(20, 2).expect("close-wait scene");
    let ns = &cw.server;
    let mut scenes = Vec::new();
    for kind in [
        Kind::Established,
        Kind::Keepalive,
        Kind::TimeWait,
        Kind::Listen,
        Kind::HalfClosed,
        Kind::UdpConnected,
    ] {
        scenes.push(kind.build(ns, Family::V4).expect("scene"));
    }
    scenes.push(Kind::Established.build(ns, Family::V6).expect("v6"));
    let dir = tempdir();
    let file = dir.join("scene.sdsnap");
    let file_s = file.to_str().expect("utf-8 path");
    let run = sockdoc(&["--netns", ns.name(), "snapshot", "-o", file_s]).expect_ok();
    assert!(run.stdout.contains("scene.sdsnap"), "{}", run.stdout);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        leftovers,
        [std::ffi::OsString::from("scene.sdsnap")],
        "no .tmp left"
    );
    let e = snapshot::read(&file).expect("read back");
    assert_eq!(e.namespaces.len(), 1);
    let snap = &e.namespaces[0];
    let states = |s: State| snap.sockets.iter().filter(|x| x.state == s).count();
    assert!(states(State::CloseWait) >= 22, "the leaker's CLOSE-WAIT");
    for s in [
        State::Established,
        State::TimeWait,
        State::Listen,
        State::FinWait2,
    ] {
        assert!(states(s) > 0, "{s:?} in the snapshot");
    }
    assert!(snap.sockets.iter().any(|s| s.has_keepalive_timer()));
    let leaker = snap.owners.as_ref().and_then(|o| o.process(cw.leaker.pid));
    assert_eq!(leaker.map(|p| p.name.as_str()), Some("cw-leaker"));
    compare(snap, ns.name());
    let k = snap.kernel.as_ref().expect("kernel state");
    assert!(!k.counters_before.is_empty() && !k.counters_after.is_empty());
    assert!(k.sysctls.keepalive_time.is_some() && k.sysctls.somaxconn.is_some());
    assert!(snap.known.owners && snap.known.tcp_info && snap.known.timers && snap.known.sysctls);
    assert!(e.source.host.is_some() && e.source.kernel.is_some() && e.source.taken.is_some());
    // `-o -`: the same kind of file on standard output.
    let out = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(["--netns", ns.name(), "snapshot", "-o", "-"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let e = snapshot::read_from(Path::new("stdout"), &out.stdout[..]).expect("stdout snapshot");
    assert!(e.namespaces[0].owners.is_some());
    // Damaged copies: one clear error each.
    let bytes = std::fs::read(&file).expect("read");
    let cut = dir.join("cut.sdsnap");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("write");
    let err = snapshot::read(&cut).err().expect("truncated");
    assert!(
        matches!(
            err,
            EvidenceError::Snapshot {
                problem: Problem::Truncated,
                ..
            }
        ),
        "{err}"
    );
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    std::fs::write(&cut, &bad).expect("write");
    let err = snapshot::read(&cut).err().expect("corrupt");
    assert!(matches!(err, EvidenceError::Snapshot { .. }), "{err}");
    assert_eq!(err.to_string().lines().count(), 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory under the system's temp dir.
fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("sdsnap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn a_read_only_or_full_disk_gives_one_line_and_no_file() {
    let ro = Tmpfs::mount(1 << 20).expect("tmpfs");
    let remount = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(ro.path())
        .status()
        .expect("mount");
    assert!(remount.success());
    let full = Tmpfs::full().expect("full tmpfs");
    for disk in [&ro, &full] {
        let file = disk.join("x.sdsnap");
        let run = sockdoc(&["snapshot", "-o", file.to_str().expect("utf-8")]);
        assert_eq!(run.code(), Some(74), "{}", run.stderr);
        let lines = run.stderr_lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("x.sdsnap"), "{lines:?}");
        assert!(!file.exists() && !disk.join("x.sdsnap.tmp").exists());
    }
}
