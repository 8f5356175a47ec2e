//! `sockdoc diff`: the "after" proof of a treatment. The lab's echo server holds connections
//! without keepalive; a snapshot and a real `ss -tano` dump are taken; then keepalive is retrofitted on
//! the service's port and one of its connections is killed. `diff` of the snapshot against `now`
//! shows exactly that: the killed connection's two sockets gone (the same ones `ss` no longer
//! shows), nothing new, the rest persisting with the timer gained, and the keepalive finding
//! cleared; from the dump (no cookies) the same, matched by addresses. Nothing changed → exit 0.
//! Needs root, `ip`, `ss` and python3.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sockdoc_lab::cli::Run;
use sockdoc_lab::treat::EchoServer;
use sockdoc_lab::{Family, Kind, Netns};

fn sockdoc(args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockdoc"));
    cmd.args(args);
    let owned = args.iter().map(|s| s.to_string()).collect();
    sockdoc_lab::cli::run_command(cmd, owned, Duration::from_secs(60)).expect("run sockdoc")
}

/// A directory for this test's files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("sdlab-diff-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Scratch(dir)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The TCP sockets `ss` shows in `ns`, as (local, peer) address pairs.
fn ss_tuples(ns: &Netns) -> BTreeSet<(String, String)> {
    let out = ns.command("ss").args(["-tanH"]).output().expect("ss");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(3)?.to_string(), f.get(4)?.to_string()))
        })
        .collect()
}

fn dump(ns: &Netns, args: &[&str], path: &Path) {
    let out = ns.command("ss").args(args).output().expect("run ss");
    assert!(out.status.success(), "ss {args:?}: {out:?}");
    std::fs::write(path, &out.stdout).expect("write the dump");
}

/// The one namespace pair of a `diff --json` document.
fn only_pair(doc: &Value) -> &Value {
    let all = doc["namespaces"].as_array().expect("namespaces");
    assert_eq!(all.len(), 1, "{doc}");
    &all[0]
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The row `key` of table `table`.
fn row<'a>(pair: &'a Value, table: &str, key: &str) -> &'a Value {
    pair["tables"][table]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["key"] == key))
        .unwrap_or_else(|| panic!("no {key} in {table}: {}", pair["tables"][table]))
}

#[test]
fn a_retrofit_and_a_kill_are_exactly_what_diff_shows() {
    let echo = EchoServer::start().expect("an echo server without keepalive");
    let (ns, port) = (&echo.ns, echo.port);
    let conns = echo.connect(3).expect("3 connections");
    // A neighbour that already has keepalive and is left alone.
    let _ka = Kind::Keepalive
        .build(ns, Family::V4)
        .expect("keepalive pair");
    let dir = Scratch::new();
    let (snap, tano, audit) = (
        dir.path("before.sdsnap"),
        dir.path("ss-tano.txt"),
        dir.path("audit.jsonl"),
    );
    sockdoc(&["--netns", ns.name(), "snapshot", "-o", &snap]).expect_ok();
    dump(ns, &["-tano"], Path::new(&tano));
    let before = ss_tuples(ns);

    // Nothing changed yet: exit 0, no connection new or gone.
    let same = sockdoc(&["--netns", ns.name(), "diff", &snap, "now", "--json"]);
    assert_eq!(same.code(), Some(0), "{}\n{}", same.stdout, same.stderr);
    let same_doc = same.json("diff");
    let pair = only_pair(&same_doc);
    assert_eq!(
        (
            n(&pair["connections"]["new"]),
            n(&pair["connections"]["gone"])
        ),
        (0, 0),
        "{pair}"
    );

    // The treatment: keepalive on the service's port, then one of its connections killed.
    let sport = format!(":{port}");
    let treat = |verb: &str, filter: &[&str]| {
        let mut args = vec!["--netns", ns.name(), verb, "--yes", "--audit-log", &audit];
        args.extend_from_slice(filter);
        sockdoc(&args).expect_ok();
    };
    treat("keepalive", &["sport", "=", &sport]);
    let dport = format!(":{}", conns[0].client.port());
    treat("kill", &["sport", "=", &sport, "dport", "=", &dport]);
    let after = ss_tuples(ns);
    let gone: BTreeSet<_> = before.difference(&after).cloned().collect();
    assert!(after.is_subset(&before), "nothing new was made: {after:?}");
    assert!(!gone.is_empty());

    let run = sockdoc(&["--netns", ns.name(), "diff", &snap, "now", "--json"]);
    assert_eq!(run.code(), Some(1), "{}\n{}", run.stdout, run.stderr);
    let doc = run.json("diff");
    assert_eq!(
        doc["before"]["source"]["files"][0]["format"],
        "sockdoc snapshot v1"
    );
    assert!(doc["after"]["source"].is_null());
    let pair = only_pair(&doc);
    let c = &pair["connections"];
    assert_eq!(c["matched_by"], "cookie");
    assert_eq!(n(&c["new"]), 0, "{pair}");
    assert_eq!(
        n(&c["gone"]),
        gone.len() as u64,
        "ss says gone: {gone:?}\n{pair}"
    );
    assert_eq!(n(&c["persisting"]), after.len() as u64, "{pair}");
    // The two accepted connections left gained the timer (the listener shows none).
    assert_eq!(n(&pair["keepalive"]["gained"]), 2, "{pair}");
    assert_eq!(n(&pair["keepalive"]["lost"]), 0, "{pair}");
    let served = row(pair, "port", &format!("tcp {port}"));
    assert_eq!(
        (n(&served["before"]), n(&served["after"])),
        (4, 3),
        "{served}"
    );
    assert_eq!(n(&served["gone"]), 1);
    let est = row(pair, "state", "tcp ESTAB");
    assert_eq!(n(&est["gone"]), gone.len() as u64, "{est}");
    assert_eq!(n(&est["new"]), 0);
    // The port went from no keepalive to covered.
    let coverage = pair["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|c| c["id"] == "keepalive-coverage"))
        .expect("keepalive-coverage on both sides");
    assert_eq!(coverage["change"], "changed", "{coverage}");
    let was = coverage["title_before"].as_str().unwrap_or_default();
    assert!(
        was.starts_with("No keepalive") && was.contains(&port.to_string()),
        "{coverage}"
    );
    assert!(coverage["title"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Keepalive is on"));

    // The text says it the same way.
    let text = sockdoc(&["--netns", ns.name(), "diff", &snap, "now"]);
    assert_eq!(text.code(), Some(1));
    let gone_word = format!("0 new, {} gone", gone.len());
    assert!(text.stdout.contains(&gone_word), "{}", text.stdout);
    assert!(
        text.stdout
            .contains("2 persisting connections gained a keepalive timer"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("was: No keepalive"), "{}", text.stdout);

    // From a dump without cookies: matched by addresses, the same connections gone.
    let from_dump = sockdoc(&["--netns", ns.name(), "diff", &tano, "now", "--json"]);
    assert_eq!(from_dump.code(), Some(1), "{}", from_dump.stderr);
    let doc = from_dump.json("diff");
    let pair = only_pair(&doc);
    assert_eq!(pair["connections"]["matched_by"], "addresses");
    assert_eq!(n(&pair["connections"]["gone"]), gone.len() as u64, "{pair}");
    assert_eq!(n(&pair["connections"]["new"]), 0, "{pair}");
    assert_eq!(n(&pair["keepalive"]["gained"]), 2, "{pair}");
    let format = doc["before"]["source"]["files"][0]["format"].as_str();
    assert!(format.is_some_and(|f| f.starts_with("ss")), "{format:?}");

    // Every view of evidence says where it came from; the live kernel's has no `source`.
    for view in ["stats", "list", "doctor"] {
        let doc = sockdoc(&["--from", &tano, view, "--json"]).json(view);
        let files = doc["source"]["files"].as_array().expect("source.files");
        assert_eq!(files.len(), 1, "{view}: {}", doc["source"]);
        assert_eq!(files[0]["path"], tano.as_str(), "{view}");
        let unknown = doc["source"]["unknown"][0].as_array().expect("unknown");
        assert!(unknown.iter().any(|u| u == "owners"), "{view}: {unknown:?}");
    }
    let live = sockdoc(&["--netns", ns.name(), "stats", "--json"]).json("stats");
    assert!(live.get("source").is_none(), "{live}");

    // A dump without timers cannot say whether keepalive changed, and says so.
    let tan = dir.path("ss-tan.txt");
    dump(ns, &["-tan"], Path::new(&tan));
    let blind = sockdoc(&["--netns", ns.name(), "diff", &tan, "now", "--json"]);
    assert_eq!(blind.code(), Some(0), "{}\n{}", blind.stdout, blind.stderr);
    let doc = blind.json("diff");
    assert!(only_pair(&doc)["keepalive"].is_null(), "{doc}");
}

#[test]
fn bad_sides_are_one_line() {
    let both_now = sockdoc(&["diff", "now", "now"]);
    assert_eq!(both_now.code(), Some(64), "{}", both_now.stderr);
    assert_eq!(both_now.stderr_lines().len(), 1, "{}", both_now.stderr);
    let missing = sockdoc(&["diff", "/nonexistent/before.sdsnap", "now"]);
    assert_eq!(missing.code(), Some(66), "{}", missing.stderr);
    assert_eq!(missing.stderr_lines().len(), 1, "{}", missing.stderr);
}
