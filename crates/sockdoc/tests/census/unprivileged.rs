//! sockdoc run as an unprivileged user (`setpriv` to nobody) inside a namespace: it still lists
//! every socket and exits 0; it names the owner of nobody's own socket but not root's, and says on
//! one stderr line that the rest needs root. In the host's namespace it names root's services by
//! systemd unit all the same (the cgroup tree is world-readable).

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sockdoc_lab::cgroup::Cgroup;
use sockdoc_lab::{ss, wait, Family, Kind, Netns, SockState};

use crate::sockdoc;

const NOBODY: u32 = 65534;

/// A world-executable copy of the binary (the build directory may not be reachable for nobody),
/// removed on drop.
struct PublicCopy(PathBuf);

impl PublicCopy {
    fn new() -> PublicCopy {
        // One copy per test: tests run side by side in this process, and a copy being written
        // while another test executes it fails with "Text file busy".
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("sdlab-{}-{n}-sockdoc", std::process::id()));
        std::fs::copy(sockdoc::binary(), &path).expect("copy sockdoc binary");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod sockdoc copy");
        PublicCopy(path)
    }
}

impl Drop for PublicCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `ip netns exec NS setpriv --reuid=65534 --regid=65534 --clear-groups PROGRAM`.
fn as_nobody(ns: &Netns, program: &str) -> Command {
    let mut cmd = ns.command("setpriv");
    cmd.args([
        &format!("--reuid={NOBODY}"),
        &format!("--regid={NOBODY}"),
        "--clear-groups",
        program,
    ]);
    cmd
}

#[test]
fn lists_everything_and_says_what_needs_root() {
    let ns = Netns::new().expect("create namespace");
    let _root_v4 = Kind::Established.build(&ns, Family::V4).expect("build");
    let _root_v6 = Kind::Listen.build(&ns, Family::V6).expect("build");
    let _tw = Kind::TimeWait.build(&ns, Family::V4).expect("build");

    // A listener of nobody's own.
    let port = ns.fresh_port();
    let mut socat = as_nobody(&ns, "socat");
    socat.args([
        &format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr"),
        "EXEC:/bin/cat",
    ]);
    let nobody_pid = ns.spawn_command(socat).expect("start socat as nobody");
    let snap = wait::poll(Duration::from_secs(10), "nobody's listener", || {
        let snap = ss::snapshot(&ns)?;
        let up = snap
            .iter()
            .any(|s| s.state == SockState::Listen && s.local.port == port && !s.users.is_empty());
        Ok(if up {
            Ok(snap)
        } else {
            Err(format!("{snap:?}"))
        })
    })
    .expect("listener up");

    let copy = PublicCopy::new();
    let program = copy.0.to_string_lossy().into_owned();
    let mut cmd = as_nobody(&ns, &program);
    cmd.args(["list", "--json", "-p"]);
    let run = sockdoc::run_command(cmd, vec!["(as nobody) list --json -p".into()]).expect_ok();

    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "one stderr line expected: {:?}", run.stderr);
    assert!(
        lines[0].contains("root"),
        "the line says what needs root: {}",
        lines[0]
    );

    let doc = run.json("list");
    let spaces = sockdoc::namespaces(&doc);
    assert_eq!(spaces.len(), 1, "{doc}");
    assert_eq!(spaces[0].inode, ns.inode().expect("inode"), "{doc}");
    let sockets = &spaces[0].sockets;
    let got: BTreeSet<u64> = sockets.iter().map(|s| s.cookie).collect();
    let want: BTreeSet<u64> = snap.iter().filter_map(|s| s.cookie).collect();
    assert_eq!(got, want, "same sockets as ss (run as root): {doc}");

    for sd in sockets {
        let s = snap
            .iter()
            .find(|s| s.cookie == Some(sd.cookie))
            .expect("matched above");
        assert_eq!(
            (sd.state, sd.local, sd.remote),
            (s.state, s.local.socket_addr(), s.peer.socket_addr())
        );
        assert_eq!(sd.uid, u64::from(s.uid), "{}", sd.json);
        let owners = sd.processes.as_deref().unwrap_or_default();
        if sd.uid == u64::from(NOBODY) {
            assert!(
                owners
                    .iter()
                    .any(|p| p.pid == nobody_pid && p.name == "socat"),
                "nobody's own socket is attributed: {}",
                sd.json
            );
        } else {
            assert!(
                owners.is_empty(),
                "root's owners are not readable: {}",
                sd.json
            );
        }
    }
}

/// `sockdoc stats --by unit` as nobody, in the host's own namespace (where the cgroup2 mount is
/// visible): root's servers in a lab slice are named by unit, with the counts root's `ss` gives,
/// although nobody may not read their /proc/PID/fd. Loopback only.
#[test]
fn stats_by_unit_names_other_users_services() {
    let slice = Cgroup::slice().expect("create a cgroup slice");
    let host = Path::new("/proc/self/ns/net");
    let mut served = Vec::new();
    for name in ["web.service", "api.service"] {
        let sub = slice.child(name).expect("child cgroup");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let spec = format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork");
        slice
            .spawn(&sub, None, &["socat", &spec, "EXEC:/bin/cat"])
            .expect("start socat in its cgroup");
        served.push((name, sub, port));
    }
    let mut clients = Vec::new();
    for (_, sub, port) in &served {
        let filter = ["sport", "=", &format!(":{port}")];
        let up = |want: usize| {
            wait::poll(Duration::from_secs(10), "the server's sockets", || {
                let found = ss::cgroups(host, &filter)?;
                let mine = found.iter().filter(|(_, cg)| *cg == sub.rel()).count();
                Ok(if mine == want {
                    Ok(())
                } else {
                    Err(format!("{found:?}"))
                })
            })
        };
        up(1).expect("listening");
        clients.push(TcpStream::connect(("127.0.0.1", *port)).expect("connect"));
        up(2).expect("accepted");
    }
    let copy = PublicCopy::new();
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={NOBODY}"),
        &format!("--regid={NOBODY}"),
        "--clear-groups",
        &copy.0.to_string_lossy(),
    ]);
    let (a, b) = (format!(":{}", served[0].2), format!(":{}", served[1].2));
    let args = [
        "stats", "--json", "--by", "unit", "sport", "=", &a, "or", "sport", "=", &b,
    ];
    cmd.args(args);
    let doc = sockdoc::run_command(cmd, vec!["(as nobody) stats --by unit".into()])
        .expect_ok()
        .json("stats");
    let rows = &doc["namespaces"][0]["groups"][0]["rows"];
    for (name, _, _) in &served {
        let row = rows
            .as_array()
            .and_then(|r| r.iter().find(|r| r["key"] == *name))
            .unwrap_or_else(|| panic!("no row for {name}: {doc}"));
        assert_eq!(row["count"], 2, "listener and accepted connection: {doc}");
    }
    assert_eq!(doc["namespaces"][0]["total"], 4, "{doc}");
}
