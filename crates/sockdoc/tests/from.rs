//! `--from PATH` and `sockdoc analyze`: evidence judged as the live kernel is. A lab scene (a
//! listener, connections with and without keepalive, TIME-WAIT) is dumped with the real `ss` in
//! two forms and written by `sockdoc snapshot`; `stats` of each counts what the live census counts,
//! `analyze` finds the keepalive gap where the dump has timers and says it cannot judge it where
//! it has none; commands that act refuse `--from`; bad evidence exits 65 or 66 with one line.
//! Needs root, `ip`, `ss` and python3.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sockdoc_lab::cli::Run;
use sockdoc_lab::state::Family;
use sockdoc_lab::{Kind, Netns, SockState};

fn sockdoc(args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockdoc"));
    cmd.args(args);
    let owned = args.iter().map(|s| s.to_string()).collect();
    sockdoc_lab::cli::run_command(cmd, owned, Duration::from_secs(60)).expect("run sockdoc")
}

/// `ss ARGS` inside `ns`, written to `path`.
fn dump(ns: &Netns, args: &[&str], path: &Path) {
    let out = ns.command("ss").args(args).output().expect("run ss");
    assert!(out.status.success(), "ss {args:?}: {out:?}");
    std::fs::write(path, &out.stdout).expect("write the dump");
}

/// TCP sockets by state in a `stats --json` document (every namespace of it).
fn tcp_states(doc: &Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for ns in doc["namespaces"].as_array().expect("namespaces") {
        for (state, n) in ns["tcp"]["states"].as_object().expect("tcp states") {
            *out.entry(state.clone()).or_default() += n.as_u64().unwrap_or(0);
        }
    }
    out
}

/// The ids of the findings in a `doctor --json` document.
fn finding_ids(doc: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    for ns in doc["namespaces"].as_array().expect("namespaces") {
        for f in ns["findings"].as_array().expect("findings") {
            ids.push(f["id"].as_str().unwrap_or_default().to_string());
        }
    }
    ids
}

/// A service without keepalive: a listener on `port` that accepted 3 connections it holds.
const SERVICE: &str = r#"
import socket, sys, time
port = int(sys.argv[1])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port)); l.listen(16)
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
held += [l.accept()[0] for _ in range(3)]
time.sleep(120)
"#;

#[test]
fn evidence_is_counted_and_judged_as_the_live_kernel_is() {
    let ns = Netns::new().expect("namespace");
    let port = ns.fresh_port();
    ns.spawn(&["python3", "-c", SERVICE, &port.to_string()])
        .expect("a service without keepalive");
    sockdoc_lab::wait::poll(Duration::from_secs(10), "the service's connections", || {
        let snap = sockdoc_lab::ss::snapshot(&ns)?;
        let accepted = snap
            .iter()
            .filter(|s| s.local.port == port && s.state == SockState::Established)
            .count();
        Ok(if accepted == 3 {
            Ok(())
        } else {
            Err(format!("{accepted} of 3 accepted"))
        })
    })
    .expect("the service is up");
    let _plain = Kind::Established
        .build(&ns, Family::V4)
        .expect("a pair without keepalive");
    let _ka = Kind::Keepalive
        .build(&ns, Family::V4)
        .expect("a pair with keepalive");
    let _tw = Kind::TimeWait.build(&ns, Family::V4).expect("TIME-WAIT");
    let dir = tempfile_dir();
    let (full, bare, snap) = (
        dir.join("ss-tanoip.txt"),
        dir.join("ss-tan.txt"),
        dir.join("scene.sdsnap"),
    );
    dump(&ns, &["-tanoip"], &full);
    dump(&ns, &["-tan"], &bare);
    let snap_s = snap.to_string_lossy().to_string();
    sockdoc(&["--netns", ns.name(), "snapshot", "-o", &snap_s]).expect_ok();
    let live = tcp_states(
        &sockdoc(&["--netns", ns.name(), "stats", "--json"])
            .expect_ok()
            .json("stats"),
    );
    assert!(
        live.get("established").copied().unwrap_or(0) >= 4,
        "{live:?}"
    );

    for evidence in [&full, &bare, &snap] {
        let path = evidence.to_string_lossy().to_string();
        let doc = sockdoc(&["--from", &path, "stats", "--json"])
            .expect_ok()
            .json("stats");
        assert_eq!(tcp_states(&doc), live, "stats --from {path}");
    }

    // With timers, the connections without keepalive are found; without, the finding is left
    // out and the report says why.
    let with = sockdoc(&["analyze", &full.to_string_lossy(), "--json"]);
    let ids = finding_ids(&with.json("doctor"));
    assert!(
        ids.iter().any(|i| i == "keepalive-coverage"),
        "{ids:?}\n{}\n{}\n{}",
        with.stderr,
        with.stdout,
        std::fs::read_to_string(&full).unwrap_or_default()
    );
    let without = sockdoc(&["analyze", &bare.to_string_lossy(), "--json"]);
    let ids = finding_ids(&without.json("doctor"));
    assert!(!ids.iter().any(|i| i == "keepalive-coverage"), "{ids:?}");
    assert!(
        without
            .stderr
            .contains("keepalive and ghost suspects cannot be judged")
            && without.stderr.contains("idle times unknown"),
        "{}",
        without.stderr
    );

    // Commands that act or watch refuse evidence; bad evidence is one line, 65 or 66.
    let kill = sockdoc(&[
        "--from",
        &full.to_string_lossy(),
        "kill",
        "--dry-run",
        "sport",
        "=",
        ":1",
    ]);
    assert_eq!(kill.code(), Some(64), "{}", kill.stderr);
    assert!(
        kill.stderr.contains("--from judges evidence"),
        "{}",
        kill.stderr
    );
    let missing = sockdoc(&["analyze", &dir.join("nothing-here").to_string_lossy()]);
    assert_eq!(missing.code(), Some(66), "{}", missing.stderr);
    let binary = dir.join("binary.dat");
    std::fs::write(&binary, b"\x00\x01\x02binary").expect("write");
    let bin = sockdoc(&["analyze", &binary.to_string_lossy()]);
    assert_eq!(bin.code(), Some(65), "{}", bin.stderr);
    assert_eq!(bin.stderr_lines().len(), 1, "{}", bin.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory for this test's files.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sdlab-from-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
