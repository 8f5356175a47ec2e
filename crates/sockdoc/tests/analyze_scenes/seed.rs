//! The incident notes' own `ss -aoen` lines (the fixture of sockdoc-evidence: port 21 without
//! keepalive, sshd's port 333 with it, pasted under the notes' command line and among their
//! Chinese sentences); the notes in Chinese; and the notes each view shows of a plain `ss -tan`
//! paste. Files only: no namespace, no root.

use std::path::PathBuf;

use serde_json::Value;
use sockdoc_lab::doctor::Workdir;

use crate::capture::{finding, sockdoc};

fn seed_notes() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sockdoc-evidence/tests/fixtures/seed-notes.txt");
    p.to_string_lossy().into_owned()
}

fn one_ns(doc: &Value) -> Value {
    doc["namespaces"][0].clone()
}

#[test]
fn the_notes_own_lines_name_port_21_and_not_sshds() {
    let notes = seed_notes();
    let run = sockdoc(&["analyze", &notes, "--json"]);
    assert_eq!(run.code(), Some(1), "a warning: {}", run.stderr);
    let ns = one_ns(&run.json("doctor"));
    let ghosts = finding(&ns, "ghost-suspects").unwrap_or_else(|| panic!("{ns:#}"));
    let groups = ghosts["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1, "{ghosts:#}");
    assert_eq!(groups[0]["local_port"], 21, "{ghosts:#}");
    assert_eq!(groups[0]["count"], 2, "{ghosts:#}");
    assert!(
        groups[0]["max_idle_ms"].is_null(),
        "idle unknown: {ghosts:#}"
    );
    assert_eq!(
        groups[0]["peers"],
        serde_json::json!(["192.168.20.63", "192.168.49.21"])
    );
    assert!(!ghosts.to_string().contains("333"), "{ghosts:#}");
    let title = ghosts["title"].as_str().unwrap_or_default();
    assert!(title.ends_with("on port 21 (owner unknown)"), "{title}");
    let cov = finding(&ns, "keepalive-coverage").unwrap_or_else(|| panic!("{ns:#}"));
    let row = |port: u64| {
        cov["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .find(|g| g["local_port"] == port)
            .unwrap_or_else(|| panic!("port {port}: {cov:#}"))
            .clone()
    };
    assert_eq!(row(21)["percent"], 0, "{cov:#}");
    assert_eq!(row(21)["connections"], 2, "{cov:#}");
    assert_eq!(row(333)["percent"], 100, "{cov:#}");
    assert_eq!(row(333)["connections"], 4, "{cov:#}");
    // Each rests on the notes' own ss -aoen, as typed there.
    for f in [ghosts, cov] {
        let r = &f["rests_on"];
        assert_eq!(
            r[0]["form"], "ss -aoen|grep 192.168.12.32:21|grep ESTAB",
            "{r}"
        );
        assert_eq!(r[0]["file"], notes.as_str(), "{r}");
        let what: Vec<&str> = r
            .as_array()
            .expect("rests_on")
            .iter()
            .filter_map(|x| x["what"].as_str())
            .collect();
        assert_eq!(what, ["sockets", "timers"], "{r}");
    }
    let said = ns["notes"].to_string();
    assert!(
        said.contains("judged by missing keepalive timers only"),
        "{said}"
    );
    assert!(
        said.contains("no listening sockets in the evidence"),
        "{said}"
    );
    assert!(
        said.contains("3 line(s) of the evidence could not be read"),
        "{said}"
    );
    // The text report says it too.
    let text = sockdoc(&["analyze", &notes]);
    assert!(
        text.stdout
            .contains("Rests on: sockets, timers from ss -aoen"),
        "{}",
        text.stdout
    );
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

#[test]
fn the_notes_speak_chinese_with_lang_zh() {
    let notes = seed_notes();
    let run = sockdoc(&["analyze", &notes, "--json", "--lang", "zh"]);
    let ns = one_ns(&run.json("doctor"));
    let said: Vec<&str> = ns["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(said.len() >= 5, "{said:?}");
    for n in &said {
        assert!(has_cjk(n), "not Chinese: {n}");
    }
    assert!(
        said.iter()
            .any(|n| n.contains("仅按缺少 keepalive 定时器判断")),
        "{said:?}"
    );
    for line in run.stderr_lines() {
        assert!(has_cjk(line), "stderr not Chinese: {line}");
    }
    let ghosts = finding(&ns, "ghost-suspects").expect("ghosts");
    assert!(
        has_cjk(ghosts["title"].as_str().unwrap_or_default()),
        "{ghosts:#}"
    );
    let text = sockdoc(&["analyze", &notes, "--lang", "zh"]);
    assert!(
        text.stdout.contains("依据：套接字, 定时器，来自 ss -aoen"),
        "{}",
        text.stdout
    );
}

/// A plain `ss -tan` paste: no timers, tcp_info, owners, sysctls.
const SS_TAN: &str = "\
State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process
LISTEN 0      128          0.0.0.0:22         0.0.0.0:*
ESTAB  0      0          10.0.0.1:22       10.0.0.9:50122
ESTAB  0      0          10.0.0.1:22       10.0.0.8:50123
TIME-WAIT 0   0          10.0.0.1:41000    10.0.0.7:80
";

/// The `note:` lines a run printed on stderr.
fn note_lines(run: &sockdoc_lab::cli::Run) -> String {
    run.stderr_lines()
        .into_iter()
        .filter(|l| l.starts_with("note:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn each_view_notes_only_what_it_judges() {
    let dir = Workdir::new("notes-per-view").expect("workdir");
    let dump = dir.write("ss-tan.txt", SS_TAN).expect("write");
    let dump = dump.to_string_lossy().into_owned();
    let view = |args: &[&str]| {
        let mut all = vec!["--from", dump.as_str()];
        all.extend_from_slice(args);
        let run = sockdoc(&all);
        assert!(run.status.success(), "{args:?}: {}", run.stderr);
        note_lines(&run)
    };
    let (timers, idle, owners, sysctls) = (
        "no timers in the evidence",
        "idle times unknown",
        "no owners in the evidence",
        "no sysctls in the evidence",
    );
    // Counting by state judges neither keepalive, idle times, owners nor settings.
    let stats = view(&["stats"]);
    for n in [timers, idle, owners, sysctls] {
        assert!(!stats.contains(n), "stats says {n:?}:\n{stats}");
    }
    // By process: the owners are missing.
    let by_process = view(&["stats", "--by", "process"]);
    assert!(by_process.contains(owners), "{by_process}");
    assert!(!by_process.contains(timers), "{by_process}");
    let list = view(&["list", "-o", "local,peer,process"]);
    assert!(list.contains(owners) && !list.contains(timers), "{list}");
    // Ghosts judge keepalive and idle times, not settings.
    let ghosts = view(&["ghosts"]);
    assert!(ghosts.contains(timers) && ghosts.contains(idle), "{ghosts}");
    assert!(!ghosts.contains(sysctls), "{ghosts}");
    // The doctor judges everything.
    let doctor = sockdoc(&["--from", &dump, "doctor"]);
    let all = note_lines(&doctor);
    for n in [timers, idle, owners, sysctls] {
        assert!(all.contains(n), "doctor does not say {n:?}:\n{all}");
    }
}
