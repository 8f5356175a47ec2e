//! `sockdoc conntrack` on a namespace where an nftables `ct state` rule turns tracking on and a real
//! client keeps connections to a real listener: counts, protocol, TCP state and top destination must
//! match the kernel's own table (`conntrack -L` reads the same entries). The same namespace's
//! evidence (`sysctl -a`, `conntrack -L`, /proc/net/nf_conntrack, a snapshot) read back with
//! `--from` gives the same counts, and `sysctl check --from` the same audit as the live one.

use std::process::Command;
use std::time::Duration;

use sockdoc_lab::wait::poll;
use sockdoc_lab::Netns;

const HOLDER: &str = r#"
import socket, sys, time
port = int(sys.argv[1])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port)); l.listen(64)
keep = []
for _ in range(6):
    c = socket.create_connection(("127.0.0.1", port)); s, _ = l.accept(); keep += [c, s]
print("ready", flush=True)
time.sleep(120)
"#;

fn sockdoc_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(args)
        .output()
        .expect("run sockdoc");
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("json")
}

/// A namespace where tracking is on and the holder keeps 6 connections on its port.
fn tracked() -> (Netns, u16) {
    let ns = Netns::new().expect("namespace");
    ns.nft(
        "table inet sdct {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    ct state established,related accept\n  }\n}\n",
    )
    .expect("tracking rule");
    let port = ns.fresh_port();
    ns.spawn(&["python3", "-c", HOLDER, &port.to_string()])
        .expect("holder");
    (ns, port)
}

/// The live `conntrack --json` of `ns` once the holder's 6 connections are tracked.
fn six_tracked(ns: &Netns) -> serde_json::Value {
    poll(Duration::from_secs(10), "6 tracked connections", || {
        let d = sockdoc_json(&["--netns", ns.name(), "conntrack", "--json"]);
        let n = d["namespaces"][0]["count"].as_u64().unwrap_or(0);
        Ok(if n >= 6 {
            Ok(d)
        } else {
            Err(format!("count {n}"))
        })
    })
    .expect("entries appear")
}

#[test]
fn conntrack_counts_what_the_kernel_tracks() {
    let (ns, port) = tracked();
    let doc = six_tracked(&ns);
    let n = &doc["namespaces"][0];
    assert_eq!(doc["command"], "conntrack");
    assert_eq!(n["active"], true);
    assert_eq!(n["netns"]["name"], ns.name());
    let listed = ns.exec(&["conntrack", "-L"]).unwrap_or_default();
    let kernel_lines = listed.lines().filter(|l| l.starts_with("tcp")).count() as u64;
    let tcp = n["by_proto"]
        .as_array()
        .expect("by_proto")
        .iter()
        .find(|r| r["key"] == "tcp")
        .expect("tcp row")["count"]
        .as_u64()
        .expect("count");
    assert!(tcp >= 6, "{n}");
    if kernel_lines > 0 {
        assert_eq!(
            tcp, kernel_lines,
            "sockdoc and conntrack -L read the same table"
        );
    }
    let dest = format!("127.0.0.1:{port}");
    assert_eq!(n["top_destinations"][0]["key"], dest.as_str(), "{n}");
    assert_eq!(n["top_destinations"][0]["count"], 6);
    let established = n["by_tcp_state"]
        .as_array()
        .expect("states")
        .iter()
        .find(|r| r["key"] == "ESTABLISHED")
        .expect("ESTABLISHED row");
    assert_eq!(established["count"], 6);
    assert!(n["max"].as_u64().unwrap_or(0) > 0);
}

/// `ip netns exec NS CMD...` written to `dir/name`.
fn capture(ns: &Netns, dir: &std::path::Path, name: &str, cmd: &[&str]) -> String {
    let out = ns.command(cmd[0]).args(&cmd[1..]).output().expect("run");
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    let path = dir.join(name);
    std::fs::write(&path, &out.stdout).expect("write evidence");
    path.to_string_lossy().to_string()
}

/// The rows of a breakdown as key → count.
fn rows(n: &serde_json::Value, key: &str) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = n[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["key"].as_str().unwrap_or("").to_string(),
                        r["count"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn evidence_of_the_table_and_the_settings_reads_as_the_live_kernel() {
    let (ns, _port) = tracked();
    let live = six_tracked(&ns);
    let dir = tempfile::tempdir().expect("temp dir");
    let sysctls = capture(&ns, dir.path(), "sysctl-a.txt", &["sysctl", "-a"]);
    let listed = capture(&ns, dir.path(), "conntrack-L.txt", &["conntrack", "-L"]);
    let table = capture(
        &ns,
        dir.path(),
        "nf_conntrack",
        &["cat", "/proc/net/nf_conntrack"],
    );
    let snap = dir
        .path()
        .join("scene.sdsnap")
        .to_string_lossy()
        .to_string();
    sockdoc_json(&["--netns", ns.name(), "snapshot", "-o", &snap, "--json"]);
    let l = &live["namespaces"][0];
    for from in [vec![&sysctls, &listed], vec![&sysctls, &table], vec![&snap]] {
        let mut args: Vec<&str> = Vec::new();
        for f in &from {
            args.extend(["--from", f.as_str()]);
        }
        args.extend(["conntrack", "--json"]);
        let doc = sockdoc_json(&args);
        assert!(doc["source"]["files"].is_array(), "{doc}");
        let n = &doc["namespaces"][0];
        assert_eq!(n["count"], l["count"], "{from:?}: {n}");
        assert_eq!(n["max"], l["max"], "{from:?}");
        for key in ["by_proto", "by_tcp_state", "top_destinations"] {
            assert_eq!(rows(n, key), rows(l, key), "{from:?} {key}");
        }
    }
    // Entries alone: counted, the limit said to be unknown.
    let only = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(["--from", &listed, "conntrack"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&only.stdout);
    assert!(text.contains("the limit is not in the evidence"), "{text}");

    // The settings: the same audit as the live one, from sysctl -a or the snapshot.
    let live_check = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(["--netns", ns.name(), "sysctl", "check", "--json"])
        .output()
        .expect("run");
    let live_check: serde_json::Value = serde_json::from_slice(&live_check.stdout).expect("json");
    let audit = |doc: &serde_json::Value| -> Vec<(String, String, String)> {
        doc["settings"]
            .as_array()
            .expect("settings")
            .iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or("-").to_string();
                (s("key"), s("current"), s("verdict"))
            })
            .collect()
    };
    for from in [&sysctls, &snap] {
        let out = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
            .args(["--from", from.as_str(), "sysctl", "check", "--json"])
            .output()
            .expect("run");
        assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(audit(&doc), audit(&live_check), "{from}");
        assert!(doc["source"]["files"].is_array(), "{doc}");
    }
    // Evidence without settings: one line, 65.
    let none = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(["--from", &listed, "sysctl", "check"])
        .output()
        .expect("run");
    assert_eq!(none.status.code(), Some(65), "{none:?}");
    let err = String::from_utf8_lossy(&none.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("sysctl -a"), "{err}");
    // Acting on evidence is refused.
    let apply = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(["--from", &sysctls, "sysctl", "apply", "--dry-run"])
        .output()
        .expect("run");
    assert_eq!(apply.status.code(), Some(64), "{apply:?}");
}
