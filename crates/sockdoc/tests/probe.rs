//! `sockdoc ghosts --probe`: two idle connections to a server that never sets keepalive; the packets to
//! one client are dropped by nftables (its host "vanished"). Probing must call that one dead and the
//! other alive, put the original socket options back (no keepalive timer left), and `--reap` must close
//! only the dead one.

use std::process::Command;
use std::time::Duration;

use sockdoc_lab::disk::Tmpfs;
use sockdoc_lab::probe::{ghosts_probe_args, result_for};
use sockdoc_lab::wait::poll;
use sockdoc_lab::{Hook, Netns};

const HOLDER: &str = r#"
import socket, sys, time
port = int(sys.argv[1])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port)); l.listen(8)
keep = []
for _ in range(2):
    c = socket.create_connection(("127.0.0.1", port)); s, _ = l.accept(); keep += [c, s]
print("ready", flush=True)
time.sleep(120)
"#;

/// `sockdoc --netns NS ARGS...`: exit code and the JSON it printed.
fn sockdoc(ns: &str, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(["--netns", ns])
        .args(args)
        .output()
        .expect("run sockdoc");
    let v =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"));
    (out.status.code(), v)
}

/// (local port, peer port, timer text) of the server-side connections.
fn server_side(ns: &Netns, port: u16) -> Vec<(u16, u16, String)> {
    let f = format!("( sport = :{port} )");
    let text = ns
        .exec(&["ss", "-tnoH", "state", "established", &f])
        .expect("ss");
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let lp = w.get(2)?.rsplit(':').next()?.parse().ok()?;
            let pp = w.get(3)?.rsplit(':').next()?.parse().ok()?;
            Some((lp, pp, w.get(4).unwrap_or(&"").to_string()))
        })
        .collect()
}

/// Two idle connections held by [`HOLDER`] in a fresh namespace, the packets to one client
/// dropped: (namespace, server port, dead peer's port, alive peer's port).
fn two_ghosts() -> (Netns, u16, u16, u16) {
    let ns = Netns::new().expect("namespace");
    let port = ns.fresh_port();
    ns.spawn(&["python3", "-c", HOLDER, &port.to_string()])
        .expect("holder");
    let conns = poll(Duration::from_secs(10), "two connections", || {
        let c = server_side(&ns, port);
        Ok(if c.len() == 2 {
            Ok(c)
        } else {
            Err(format!("{c:?}"))
        })
    })
    .expect("connections");
    let (dead_peer, alive_peer) = (conns[0].1, conns[1].1);
    ns.drop_packets(Hook::Input, &format!("tcp dport {dead_peer}"))
        .expect("cut the client");
    std::thread::sleep(Duration::from_millis(1200));
    (ns, port, dead_peer, alive_peer)
}

/// `--lang zh`: the verdicts and the counts in Chinese, the same verdicts as in English.
#[test]
fn probe_verdicts_read_in_chinese() {
    let (ns, port, dead_peer, alive_peer) = two_ghosts();
    let dir = std::env::temp_dir().join(format!("sockdoc-probe-zh-{}", std::process::id()));
    let audit = dir.join("audit.jsonl");
    let sport = format!(":{port}");
    let out = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args([
            "--netns",
            ns.name(),
            "--lang",
            "zh",
            "ghosts",
            "--idle",
            "1s",
            "--probe",
        ])
        .args(["--probe-time", "4s", "--audit-log"])
        .arg(&audit)
        .args(["sport", "=", &sport])
        .output()
        .expect("run sockdoc");
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{out:?}");
    let line = |peer: u16| {
        text.lines()
            .find(|l| l.contains(&format!("127.0.0.1:{peer}")))
            .unwrap_or_else(|| panic!("no line for {peer}: {text}"))
    };
    assert!(line(dead_peer).starts_with("已死"), "{text}");
    assert!(line(alive_peer).starts_with("存活"), "{text}");
    assert!(line(alive_peer).contains("对端在"), "{text}");
    assert!(text.contains("1 个已死, 1 个存活, 0 个未知"), "{text}");
    for en in ["DEAD", "ALIVE", "alive,", "the peer"] {
        assert!(!text.contains(en), "{en:?}: {text}");
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("正在探测 2 个可疑连接"), "{err}");
}

#[test]
fn probe_tells_dead_from_alive_restores_and_reaps() {
    let (ns, port, dead_peer, alive_peer) = two_ghosts();
    let dir = std::env::temp_dir().join(format!("sockdoc-probe-{}", std::process::id()));
    let audit = dir.join("audit.jsonl");
    let audit_s = audit.to_str().expect("path");
    let filter = format!(":{port}");

    // An audit log that cannot be written: nothing is probed, no option changes, exit 74.
    let full = Tmpfs::full().expect("a full tmpfs");
    let full_log = full.join("audit.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(["--netns", ns.name()])
        .args(ghosts_probe_args(
            full_log.to_str().expect("path"),
            &[],
            &filter,
        ))
        .output()
        .expect("run sockdoc");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(74), "{err}");
    assert!(err.contains("cannot write the audit log"), "{err}");
    let untouched = server_side(&ns, port);
    assert_eq!(untouched.len(), 2, "{untouched:?}");
    assert!(
        untouched.iter().all(|c| !c.2.contains("keepalive")),
        "no probe started: {untouched:?}"
    );
    drop(full);

    let (code, doc) = sockdoc(ns.name(), &ghosts_probe_args(audit_s, &[], &filter));
    assert_eq!(doc["command"], "ghosts-probe");
    assert_eq!(
        (doc["dead"].as_u64(), doc["alive"].as_u64()),
        (Some(1), Some(1)),
        "{doc:#}"
    );
    assert_eq!(code, Some(1), "dead ghosts left in place: warning exit");
    assert_eq!(result_for(&doc, dead_peer)["verdict"], "dead", "{doc:#}");
    assert_eq!(result_for(&doc, alive_peer)["verdict"], "alive", "{doc:#}");
    assert_eq!(result_for(&doc, alive_peer)["restored"], true);
    // Original options back: no keepalive timer on either connection, both still there.
    let after = server_side(&ns, port);
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(
        after.iter().all(|c| !c.2.contains("keepalive")),
        "{after:?}"
    );
    let lines = std::fs::read_to_string(&audit).expect("audit log");
    let records: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
        .collect();
    let kinds: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap_or("").to_string(),
                r["phase"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    // Each suspect's probe is recorded ahead (intent on disk before its options change), then what
    // it had before (outcome), then the verdict.
    let count = |action: &str, phase: &str| {
        kinds
            .iter()
            .filter(|(a, p)| a == action && p == phase)
            .count()
    };
    assert_eq!(count("probe-start", "intent"), 2, "{lines}");
    assert_eq!(count("probe-start", "outcome"), 2, "{lines}");
    assert_eq!(count("probe-end", ""), 2, "{lines}");
    assert_eq!(records.len(), 6, "{lines}");
    let first_outcome = kinds
        .iter()
        .position(|(a, p)| a == "probe-start" && p == "outcome");
    let last_intent = kinds
        .iter()
        .rposition(|(a, p)| a == "probe-start" && p == "intent");
    assert!(last_intent < first_outcome, "intents first: {lines}");
    assert!(
        records
            .iter()
            .filter(|r| r["phase"] == "outcome")
            .all(|r| r["before"]["keepalive"] == false),
        "{lines}"
    );

    let (code, doc) = sockdoc(
        ns.name(),
        &ghosts_probe_args(audit_s, &["--reap", "--yes"], &filter),
    );
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(result_for(&doc, dead_peer)["reaped"], true, "{doc:#}");
    let left = server_side(&ns, port);
    assert_eq!(
        left.iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![alive_peer],
        "{left:?}"
    );
    // The reaping was recorded ahead: the kill's intent, then its outcome, in one run.
    let text = std::fs::read_to_string(&audit).expect("audit log");
    let kills: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line"))
        .filter(|v| v["action"] == "kill")
        .collect();
    assert_eq!(kills.len(), 2, "{text}");
    assert_eq!(
        (&kills[0]["phase"], &kills[1]["phase"]),
        (&"intent".into(), &"outcome".into()),
        "{text}"
    );
    assert_eq!(kills[0]["run"], kills[1]["run"], "{text}");
    assert_eq!(kills[1]["outcome"], "killed", "{text}");
    assert_eq!(kills[1]["socket"]["remote"]["port"], dead_peer, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
