//! `sockdoc keepalive --watch`: a service that opens a new listener and takes a new connection after the
//! watch started gets keepalive on them within a round; SIGTERM ends the watch cleanly.

use std::process::{Command, Stdio};
use std::time::Duration;

use sockdoc_lab::wait::poll;
use sockdoc_lab::Netns;

const SERVICE: &str = r#"
import socket, sys, time
p1, p2 = int(sys.argv[1]), int(sys.argv[2])
l1 = socket.socket(); l1.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l1.bind(("127.0.0.1", p1)); l1.listen(8)
time.sleep(1.5)
l2 = socket.socket(); l2.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l2.bind(("127.0.0.1", p2)); l2.listen(8)
c = socket.create_connection(("127.0.0.1", p2)); s, _ = l2.accept()
time.sleep(60)
"#;

#[test]
fn watch_covers_sockets_that_appear_later_and_stops_on_sigterm() {
    let ns = Netns::new().expect("namespace");
    let (p1, p2) = (ns.fresh_port(), ns.fresh_port());
    ns.spawn(&["python3", "-c", SERVICE, &p1.to_string(), &p2.to_string()])
        .expect("service");
    poll(Duration::from_secs(5), "first listener", || {
        let t = ns.exec(&["ss", "-tlnH"]).expect("ss");
        Ok(if t.contains(&format!(":{p1}")) {
            Ok(())
        } else {
            Err(t)
        })
    })
    .expect("listener up");
    let audit = std::env::temp_dir().join(format!("sockdoc-watch-{}.jsonl", std::process::id()));
    let filter_lo = format!(":{p1}");
    let filter_hi = format!(":{p2}");
    let watcher = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
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
        .arg(&audit)
        .args(["sport", ">=", &filter_lo, "and", "sport", "<=", &filter_hi])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the watch");
    let found = poll(
        Duration::from_secs(10),
        "keepalive on the late connection",
        || {
            let f = format!("( sport = :{p2} )");
            let t = ns
                .exec(&["ss", "-tnoH", "state", "established", &f])
                .expect("ss");
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
