//! `sockdoc keepalive --watch`: a service that opens a new listener and takes a new connection after the
//! watch started gets keepalive on them within a round; SIGTERM ends the watch cleanly.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sockdoc_lab::disk::Tmpfs;
use sockdoc_lab::wait::poll;
use sockdoc_lab::Netns;

/// A service with a listener on port ARG1 that, 1.5 s later (or once the file ARG3 exists, if given),
/// opens a second listener on port ARG2 and a connection to it.
const SERVICE: &str = r#"
import os, socket, sys, time
p1, p2 = int(sys.argv[1]), int(sys.argv[2])
l1 = socket.socket(); l1.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l1.bind(("127.0.0.1", p1)); l1.listen(8)
if len(sys.argv) > 3:
    while not os.path.exists(sys.argv[3]): time.sleep(0.05)
else:
    time.sleep(1.5)
l2 = socket.socket(); l2.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l2.bind(("127.0.0.1", p2)); l2.listen(8)
c = socket.create_connection(("127.0.0.1", p2)); s, _ = l2.accept()
time.sleep(60)
"#;

/// Waits (5 s at most) until `ss` shows a listener on `port` in `ns`.
fn wait_for_listener(ns: &Netns, port: u16) {
    poll(Duration::from_secs(5), "first listener", || {
        let t = ns.exec(&["ss", "-tlnH"]).expect("ss");
        Ok(if t.contains(&format!(":{port}")) {
            Ok(())
        } else {
            Err(t)
        })
    })
    .expect("listener up");
}

/// `sockdoc --netns NS keepalive --yes --idle 50 --watch --every 200ms --audit-log AUDIT` on the
/// sockets of ports `lo` to `hi`, stdout and stderr piped.
fn start_watch(ns: &Netns, audit: &Path, lo: u16, hi: u16) -> Child {
    let (lo, hi) = (format!(":{lo}"), format!(":{hi}"));
    Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args([
            "--netns",
            ns.name(),
            "keepalive",
            "--yes",
            "--idle",
            "50",
            "--watch",
            "--every",
            "200ms",
            "--audit-log",
        ])
        .arg(audit)
        .args(["sport", ">=", &lo, "and", "sport", "<=", &hi])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the watch")
}

/// `ss -tnoH state established ( sport = :PORT )` in `ns`.
fn established_from(ns: &Netns, port: u16) -> String {
    let f = format!("( sport = :{port} )");
    ns.exec(&["ss", "-tnoH", "state", "established", &f])
        .expect("ss")
}

#[test]
fn watch_covers_sockets_that_appear_later_and_stops_on_sigterm() {
    let ns = Netns::new().expect("namespace");
    let (p1, p2) = (ns.fresh_port(), ns.fresh_port());
    ns.spawn(&["python3", "-c", SERVICE, &p1.to_string(), &p2.to_string()])
        .expect("service");
    wait_for_listener(&ns, p1);
    let audit = std::env::temp_dir().join(format!("sockdoc-watch-{}.jsonl", std::process::id()));
    let watcher = start_watch(&ns, &audit, p1, p2);
    let found = poll(
        Duration::from_secs(10),
        "keepalive on the late connection",
        || {
            let t = established_from(&ns, p2);
            Ok(if t.contains("keepalive") {
                Ok(t)
            } else {
                Err(t)
            })
        },
    );
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(watcher.id() as libc::pid_t, libc::SIGTERM) };
    let out = watcher.wait_with_output().expect("watcher ends");
    let records = std::fs::read_to_string(&audit).unwrap_or_default();
    let _ = std::fs::remove_file(&audit);
    let line = found.expect("the watch set keepalive on a socket that appeared after it started");
    assert!(line.contains("keepalive,"), "{line}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "SIGTERM ends the watch cleanly: {out:?}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("watching"), "{stdout}");
    // The watch's rounds are written ahead too: an intent, then the outcome with the values before.
    let watched: Vec<serde_json::Value> = records
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["watch"] == true)
        .collect();
    let intent = watched
        .iter()
        .position(|v| v["phase"] == "intent")
        .unwrap_or_else(|| panic!("no intent record of the watch: {records}"));
    let outcome = watched
        .iter()
        .position(|v| v["phase"] == "outcome" && v["outcome"] == "set")
        .unwrap_or_else(|| panic!("no outcome record of the watch: {records}"));
    assert!(intent < outcome, "{records}");
    // The shape of every action record: phase and run first, no outcome in an intent.
    assert!(watched[intent].get("outcome").is_none(), "{records}");
    assert!(watched[intent]["change"]["idle"] == 50, "{records}");
    assert!(watched[intent]["run"].is_string(), "{records}");
    for l in records.lines().filter(|l| l.contains("\"watch\":true")) {
        assert!(l.starts_with("{\"phase\":"), "{l}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(l).expect("JSON")["run"],
            watched[intent]["run"],
            "the whole invocation is one run: {records}"
        );
    }
    assert_eq!(watched[outcome]["before"]["keepalive"], false, "{records}");
    assert_eq!(watched[outcome]["after"]["idle"], 50, "{records}");
}

/// `--every` below 100ms would make the watch a busy loop of full censuses: refused as a usage error
/// before anything is selected or changed (it ran forever before).
#[test]
fn watch_every_below_100ms_is_refused() {
    let ns = Netns::new().expect("namespace");
    let port = ns.fresh_port().to_string();
    for every in ["0s", "0", "50ms", "99ms"] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockdoc"));
        cmd.args([
            "--netns",
            ns.name(),
            "keepalive",
            "--yes",
            "--watch",
            "--every",
            every,
            "--audit-log",
            "/dev/null",
            "sport",
            "=",
            &port,
        ])
        .stdin(Stdio::null());
        let run =
            sockdoc_lab::cli::run_command(cmd, vec![every.to_string()], Duration::from_secs(20))
                .expect("run sockdoc");
        assert_eq!(run.code(), Some(64), "--every {every}: {}", run.stderr);
        assert_eq!(run.stderr_lines().len(), 1, "{}", run.stderr);
        assert!(
            run.stderr.contains("100ms"),
            "says the floor: {}",
            run.stderr
        );
    }
}

/// A watch round whose intent records cannot be written (the disk filled after the first run)
/// changes nothing and ends the watch: exit 74, one line saying what was changed and what to do.
#[test]
fn a_watch_round_that_cannot_write_the_audit_log_stops_before_changing_anything() {
    use std::io::{BufRead, BufReader};
    let ns = Netns::new().expect("namespace");
    let (p1, p2) = (ns.fresh_port(), ns.fresh_port());
    let fs = Tmpfs::mount(256 * 1024).expect("a tmpfs");
    let trigger = fs.join("trigger");
    let audit = fs.join("audit.jsonl");
    ns.spawn(&[
        "python3",
        "-c",
        SERVICE,
        &p1.to_string(),
        &p2.to_string(),
        &trigger.to_string_lossy(),
    ])
    .expect("service");
    wait_for_listener(&ns, p1);
    let mut watcher = start_watch(&ns, &audit, p1, p2);
    // The first run (the first listener) is on record once the watch says it is watching.
    let mut stdout = BufReader::new(watcher.stdout.take().expect("stdout"));
    let mut said = String::new();
    while !said.contains("watching") {
        let mut line = String::new();
        if stdout
            .read_line(&mut line)
            .expect("read the watch's output")
            == 0
        {
            break;
        }
        said.push_str(&line);
    }
    assert!(said.contains("set on 1 of 1"), "{said}");
    // Fill the log's last page with a line of padding, then the disk.
    fs.fill_with_room("audit.jsonl", 0).expect("fill the disk");
    // The trigger is an empty file: no data page needed.
    std::fs::File::create(&trigger).expect("trigger");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = watcher.try_wait().expect("wait") {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = watcher.kill();
            let _ = watcher.wait();
            panic!("the watch did not stop on the full disk");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut watcher.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert_eq!(status.code(), Some(74), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("No space left on device")
            && lines[0].contains("stopped after changing 0 of")
            && lines[0].contains("--audit-log"),
        "{}",
        lines[0]
    );
    // The round's sockets exist and were not changed: no keepalive timer on the connection.
    let t = established_from(&ns, p2);
    assert!(!t.trim().is_empty(), "the connection is there");
    assert!(!t.contains("keepalive"), "nothing changed: {t}");
    let records = std::fs::read_to_string(&audit).expect("the audit log");
    assert!(!records.contains("\"watch\":true"), "{records}");
}
