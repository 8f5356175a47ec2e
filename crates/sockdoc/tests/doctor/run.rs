//! Running the real `sockdoc` binary (with a deadline) and reading `doctor` / `ghosts` JSON into
//! typed values, checking the documented shape on the way (schema 1; see the contract in
//! docs/json-schema.md): a key that is missing or has the wrong type fails with the JSON.

use std::process::Command;
use std::time::Duration;

use serde_json::{Map, Value};
use sockdoc_lab::Netns;

/// A sockdoc run that takes longer than this is killed and fails the test.
const DEADLINE: Duration = Duration::from_secs(30);

/// Counter interval passed to every doctor run.
pub const INTERVAL: &str = "200ms";

/// Every finding id of the contract.
pub const FINDING_IDS: [&str; 15] = [
    "ghost-suspects",
    "keepalive-coverage",
    "close-wait-leak",
    "unreachable-peers",
    "time-wait-pressure",
    "ephemeral-port-exhaustion",
    "listen-overflow",
    "syn-flood",
    "syn-sent-fanout",
    "closing-piles",
    "udp-trouble",
    "fd-limit",
    "conntrack-full",
    "sysctl-obsolete",
    "sysctl-risky",
];

pub use sockdoc_lab::cli::Run;

/// `sockdoc ARGS...`, to completion or [`DEADLINE`].
pub fn run(args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockdoc"));
    cmd.args(args);
    sockdoc_lab::cli::run_command(cmd, args.iter().map(|s| s.to_string()).collect(), DEADLINE)
        .unwrap_or_else(|e| panic!("running sockdoc: {e}"))
}

/// `sockdoc doctor --netns NS --json --interval 200ms EXTRA...`, checked and parsed.
pub fn doctor(ns: &Netns, extra: &[&str]) -> Report {
    let mut args = vec![
        "doctor",
        "--netns",
        ns.name(),
        "--json",
        "--interval",
        INTERVAL,
    ];
    args.extend_from_slice(extra);
    let run = run(&args);
    Report::parse(run, ns)
}

/// `sockdoc doctor --netns NS --json --interval INTERVAL` with `action` run `after` the start,
/// i.e. after sockdoc has read the sockets and the first counters but before the second reading
/// (callers leave a wide margin on both sides: `after` well past startup, well before
/// `interval` ends).
pub fn doctor_during(ns: &Netns, interval: &str, after: Duration, action: impl FnOnce()) -> Report {
    let args: Vec<String> = [
        "doctor",
        "--netns",
        ns.name(),
        "--json",
        "--interval",
        interval,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let handle = std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    });
    std::thread::sleep(after);
    action();
    let run = handle.join().expect("doctor thread");
    Report::parse(run, ns)
}

/// One doctor run on one namespace.
#[derive(Debug)]
pub struct Report {
    pub run: Run,
    /// The whole document.
    pub doc: Value,
    /// Top-level `status`.
    pub status: String,
    /// The namespace entry.
    pub ns: Value,
    pub findings: Vec<Finding>,
}

fn obj<'a>(v: &'a Value, what: &str, ctx: &Value) -> &'a Map<String, Value> {
    v.as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {ctx}"))
}

fn uint(v: &Value, key: &str, ctx: &Value) -> u64 {
    v.get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("`{key}` is not an unsigned integer in {v}\n(in {ctx})"))
}

fn string<'a>(v: &'a Value, key: &str, ctx: &Value) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("`{key}` is not a string in {v}\n(in {ctx})"))
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "info" => 0,
        "warning" => 1,
        "critical" => 2,
        other => panic!("unknown severity {other:?}"),
    }
}

impl Report {
    /// Parses and checks the document against the contract: shape, the one namespace asked for,
    /// and status / exit code consistency (0 healthy, 1 warning, 2 critical; info does not count).
    pub fn parse(run: Run, ns: &Netns) -> Report {
        let doc = run.json("doctor");
        let status = string(&doc, "status", &doc).to_string();
        let spaces = doc["namespaces"]
            .as_array()
            .unwrap_or_else(|| panic!("`namespaces` is not an array: {doc}"));
        assert_eq!(spaces.len(), 1, "one namespace expected: {doc}");
        let entry = spaces[0].clone();
        let netns = &entry["netns"];
        obj(netns, "netns", &doc);
        assert_eq!(netns["name"], ns.name(), "netns.name: {doc}");
        assert_eq!(
            uint(netns, "inode", &doc),
            ns.inode().expect("namespace inode"),
            "netns.inode: {doc}"
        );
        assert!(netns["names"].is_array(), "netns.names: {doc}");
        assert!(
            netns["pid"].is_null() || netns["pid"].is_u64(),
            "netns.pid: {doc}"
        );
        assert!(netns["current"].is_boolean(), "netns.current: {doc}");
        let ns_status = string(&entry, "status", &doc);
        assert_eq!(ns_status, status, "one namespace: same status: {doc}");
        let summary = &entry["summary"];
        uint(summary, "tcp", &doc);
        uint(summary, "udp", &doc);
        for (state, n) in obj(&summary["states"], "summary.states", &doc) {
            assert!(n.is_u64(), "summary.states.{state}: {doc}");
        }
        assert!(entry["notes"].is_array(), "notes: {doc}");
        let findings: Vec<Finding> = entry["findings"]
            .as_array()
            .unwrap_or_else(|| panic!("`findings` is not an array: {doc}"))
            .iter()
            .map(|f| Finding::parse(f, &doc))
            .collect();
        let worst = findings
            .iter()
            .map(|f| severity_rank(&f.severity))
            .filter(|r| *r > 0)
            .max()
            .unwrap_or(0);
        let expect_status = ["healthy", "warning", "critical"][usize::from(worst)];
        assert_eq!(status, expect_status, "status vs findings: {doc}");
        assert_eq!(
            run.code(),
            Some(i32::from(worst)),
            "exit code for status {status}; stderr: {}",
            run.stderr
        );
        Report {
            run,
            doc,
            status,
            ns: entry,
            findings,
        }
    }

    /// The finding `id`, if it fired.
    pub fn get(&self, id: &str) -> Option<&Finding> {
        let mut it = self.findings.iter().filter(|f| f.id == id);
        let f = it.next();
        assert!(it.next().is_none(), "{id} reported twice: {}", self.doc);
        f
    }

    /// The finding `id`; panics with the document when it did not fire.
    pub fn finding(&self, id: &str) -> &Finding {
        self.get(id)
            .unwrap_or_else(|| panic!("{id} did not fire:\n{:#}", self.doc))
    }

    /// Panics when `id` fired.
    pub fn assert_absent(&self, id: &str) {
        if let Some(f) = self.get(id) {
            panic!("{id} fired unexpectedly: {:#}", f.json);
        }
    }

    /// Ids of the findings that fired.
    pub fn ids(&self) -> Vec<&str> {
        self.findings.iter().map(|f| f.id.as_str()).collect()
    }

    /// `summary.states.<state>` (0 when absent).
    pub fn state_count(&self, state: &str) -> u64 {
        self.ns["summary"]["states"][state].as_u64().unwrap_or(0)
    }
}

/// One finding.
#[derive(Clone, Debug)]
pub struct Finding {
    pub id: String,
    pub severity: String,
    pub title: String,
    pub groups: Vec<Value>,
    pub json: Value,
}

impl Finding {
    fn parse(f: &Value, doc: &Value) -> Finding {
        let id = string(f, "id", doc).to_string();
        assert!(FINDING_IDS.contains(&id.as_str()), "unknown id {id}: {doc}");
        let severity = string(f, "severity", doc).to_string();
        severity_rank(&severity);
        let title = string(f, "title", doc).to_string();
        assert!(!title.trim().is_empty() && !title.contains('\n'), "{f}");
        string(f, "detail", doc);
        string(f, "why", doc);
        let fix = f["fix"]
            .as_array()
            .unwrap_or_else(|| panic!("`fix` is not an array: {f}"));
        assert!(fix.iter().all(Value::is_string), "fix: {f}");
        for (k, v) in obj(&f["evidence"], "evidence", doc) {
            assert!(
                v.is_i64() || v.is_u64(),
                "evidence.{k} is not an integer: {f}"
            );
        }
        let groups = f
            .get("groups")
            .map(|g| {
                g.as_array()
                    .unwrap_or_else(|| panic!("`groups` is not an array: {f}"))
                    .clone()
            })
            .unwrap_or_default();
        for g in &groups {
            obj(g, "group", doc);
        }
        Finding {
            id,
            severity,
            title,
            groups,
            json: f.clone(),
        }
    }

    /// `evidence.<key>` as an unsigned integer.
    pub fn ev(&self, key: &str) -> u64 {
        uint(&self.json["evidence"], key, &self.json)
    }

    /// The groups whose `key` equals `value` (a number or a string).
    pub fn groups_where(&self, key: &str, value: impl Into<Value>) -> Vec<&Value> {
        let value = value.into();
        self.groups.iter().filter(|g| g[key] == value).collect()
    }

    /// The one group whose `key` equals `value`.
    pub fn group(&self, key: &str, value: impl Into<Value>) -> &Value {
        let value = value.into();
        let found = self.groups_where(key, value.clone());
        assert_eq!(
            found.len(),
            1,
            "{}: one group with {key} = {value} expected: {:#}",
            self.id,
            self.json
        );
        found[0]
    }
}

/// `group.<key>` as an unsigned integer.
pub fn g_u64(g: &Value, key: &str) -> u64 {
    uint(g, key, g)
}

/// `group.<key>` as a string.
pub fn g_str<'a>(g: &'a Value, key: &str) -> &'a str {
    string(g, key, g)
}

/// One namespace's entry of a `ghosts --json` document.
#[derive(Debug)]
pub struct Ghosts {
    pub threshold_ms: u64,
    pub suspects: Vec<Value>,
    pub doc: Value,
}

/// `sockdoc ghosts --netns NS --json EXTRA...` (exit 0 expected).
pub fn ghosts(ns: &Netns, extra: &[&str]) -> Ghosts {
    let mut args = vec!["ghosts", "--netns", ns.name(), "--json"];
    args.extend_from_slice(extra);
    let run = run(&args);
    let doc = run.json("ghosts");
    assert!(
        run.status.success(),
        "`sockdoc {}` failed: {}",
        run.args.join(" "),
        run.stderr
    );
    let spaces = doc["namespaces"]
        .as_array()
        .unwrap_or_else(|| panic!("`namespaces` is not an array: {doc}"));
    assert_eq!(spaces.len(), 1, "one namespace: {doc}");
    let entry = &spaces[0];
    assert_eq!(entry["netns"]["name"], ns.name(), "{doc}");
    let threshold_ms = uint(entry, "threshold_ms", &doc);
    let suspects = entry["suspects"]
        .as_array()
        .unwrap_or_else(|| panic!("`suspects` is not an array: {doc}"))
        .clone();
    Ghosts {
        threshold_ms,
        suspects,
        doc,
    }
}

/// Whether `s` contains a CJK ideograph.
pub fn has_cjk(s: &str) -> bool {
    s.chars()
        .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c))
}
