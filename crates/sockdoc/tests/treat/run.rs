//! Running `sockdoc kill` / `sockdoc keepalive` (with a deadline, stdin null, `$SSH_CONNECTION`
//! removed unless a test sets it) and reading their JSON and audit log into typed values. The
//! readers check the contract's shape and its internal consistency (counts vs outcomes, exit code
//! vs counts) as they go, and fail with the document when something is off.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sockdoc_lab::doctor::Workdir;
use sockdoc_lab::Netns;

pub use sockdoc_lab::cli::Run;

/// A sockdoc run that takes longer than this is killed and fails the test.
const DEADLINE: Duration = Duration::from_secs(30);

/// `sockdoc ARGS...` with `env` added (and `SSH_CONNECTION` removed unless `env` sets it).
pub fn sockdoc_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockdoc"));
    cmd.args(args).env_remove("SSH_CONNECTION");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let shown = env
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .chain(args.iter().map(|s| s.to_string()))
        .collect();
    sockdoc_lab::cli::run_command(cmd, shown, DEADLINE)
        .unwrap_or_else(|e| panic!("running sockdoc: {e}"))
}

/// `sockdoc ARGS...`.
pub fn sockdoc(args: &[&str]) -> Run {
    sockdoc_env(args, &[])
}

/// `sockdoc --netns NS COMMAND --json --audit-log PATH OPTS... FILTER...` with `env`; `audit` is an
/// [`Audit`] or any other log path.
pub fn treat(
    ns: &Netns,
    command: &str,
    audit: &impl AsRef<Path>,
    opts: &[&str],
    filter: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let path = audit.as_ref().to_string_lossy().into_owned();
    let mut args = vec![
        "--netns",
        ns.name(),
        command,
        "--json",
        "--audit-log",
        path.as_str(),
    ];
    args.extend_from_slice(opts);
    args.extend_from_slice(filter);
    sockdoc_env(&args, env)
}

/// `["sport", "=", ":PORT"]`.
pub fn sport(port: u16) -> Vec<String> {
    vec!["sport".into(), "=".into(), format!(":{port}")]
}

/// `Vec<String>` -> `Vec<&str>`.
pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A temporary audit log path (its directory exists, the file does not yet).
#[derive(Debug)]
pub struct Audit {
    pub path: PathBuf,
    _dir: Workdir,
}

impl Audit {
    pub fn new() -> Audit {
        let dir = Workdir::new("audit").expect("temp dir for the audit log");
        Audit {
            path: dir.join("audit.jsonl"),
            _dir: dir,
        }
    }

    /// Every record but the intents (`"phase":"intent"`) as JSON, shape-checked: `phase` and `run`
    /// (every action record is written ahead), `time` (RFC 3339), `action`, `outcome` (outcomes
    /// only: an intent has none), `socket` (with a cookie), `filter`, `uid`. A missing file reads as
    /// no lines.
    pub fn lines(&self) -> Vec<AuditLine> {
        records(&self.path)
            .into_iter()
            .filter(|v| v["phase"] != "intent")
            .map(AuditLine::parse)
            .collect()
    }

    /// Every record, intents included, as JSON, shape-checked like [`Audit::lines`].
    pub fn all_lines(&self) -> Vec<AuditLine> {
        records(&self.path)
            .into_iter()
            .map(AuditLine::parse)
            .collect()
    }
}

impl AsRef<Path> for Audit {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// Every record of the audit log at `path`, in file order. A missing file reads as no records; only
/// the last line may be torn (a run killed in the middle of a write), and it is left out.
pub fn records(path: &Path) -> Vec<Value> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("read {}: {e}", path.display()),
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let n = lines.len();
    lines
        .into_iter()
        .enumerate()
        .filter_map(|(i, l)| match serde_json::from_str::<Value>(l) {
            Ok(v) => Some(v),
            Err(_) if i + 1 == n && !text.ends_with('\n') => None,
            Err(e) => panic!("audit line {} is not JSON ({e}): {l:?}", i + 1),
        })
        .collect()
}

/// One audit log line.
#[derive(Clone, Debug)]
pub struct AuditLine {
    pub action: String,
    pub method: Option<String>,
    /// The outcome; empty for an intent record.
    pub outcome: String,
    pub cookie: u64,
    /// The filter as typed: in intents and keepalive outcomes (a kill's outcome names only its
    /// socket and what became of it).
    pub filter: Option<String>,
    pub uid: u64,
    pub json: Value,
}

impl AuditLine {
    fn parse(v: Value) -> AuditLine {
        let time = str_of(&v, "time").to_string();
        assert!(is_rfc3339(&time), "`time` is not RFC 3339: {v}");
        assert!(
            v["run"].as_str().is_some_and(|r| !r.is_empty()),
            "no run id: {v}"
        );
        let intent = match str_of(&v, "phase") {
            "intent" => true,
            "outcome" => false,
            p => panic!("phase {p:?} is neither intent nor outcome: {v}"),
        };
        assert_eq!(
            v.get("outcome").is_none(),
            intent,
            "an outcome record has an outcome, an intent none: {v}"
        );
        AuditLine {
            action: str_of(&v, "action").to_string(),
            // Kill lines carry the method; keepalive lines need not.
            method: v.get("method").and_then(|_| opt_str(&v, "method")),
            outcome: if intent {
                String::new()
            } else {
                str_of(&v, "outcome").to_string()
            },
            cookie: socket_cookie(&v["socket"], &v),
            filter: v.get("filter").map(|_| str_of(&v, "filter").to_string()),
            uid: u64_of(&v, "uid"),
            json: v,
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)`.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    if rest == "Z" || rest == "z" {
        return true;
    }
    let r = rest.as_bytes();
    r.len() == 6
        && matches!(r[0], b'+' | b'-')
        && r[1..3].iter().all(u8::is_ascii_digit)
        && r[3] == b':'
        && r[4..6].iter().all(u8::is_ascii_digit)
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("`{key}` is not a string in {v}"))
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v.get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("`{key}` is not an unsigned integer in {v}"))
}

fn bool_of(v: &Value, key: &str) -> bool {
    v.get(key)
        .and_then(Value::as_bool)
        .unwrap_or_else(|| panic!("`{key}` is not a boolean in {v}"))
}

/// `key` is a string or null (a missing key fails).
fn opt_str(v: &Value, key: &str) -> Option<String> {
    match v.get(key) {
        Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        _ => panic!("`{key}` is neither a string nor null in {v}"),
    }
}

fn array<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("`{key}` is not an array in {v}"))
}

/// The socket object (as in `list --json -p`, or named by a kill's outcome: cookie, state and
/// ends): checks the keys the tests rely on and returns the cookie.
fn socket_cookie(s: &Value, ctx: &Value) -> u64 {
    assert!(s.is_object(), "`socket` is not an object in {ctx}");
    assert!(s["state"].is_string(), "socket.state in {ctx}");
    for end in ["local", "remote"] {
        assert!(
            s[end]["ip"].is_string() && s[end]["port"].is_u64(),
            "socket.{end} in {ctx}"
        );
    }
    s["cookie"]
        .as_u64()
        .unwrap_or_else(|| panic!("socket.cookie is not an unsigned integer in {ctx}"))
}

/// PIDs in `socket.processes` (as `list -p` prints them).
pub fn socket_pids(s: &Value) -> Vec<u64> {
    s["processes"]
        .as_array()
        .unwrap_or_else(|| panic!("socket.processes is not an array (list -p object): {s}"))
        .iter()
        .map(|p| {
            p["pid"]
                .as_u64()
                .unwrap_or_else(|| panic!("processes[].pid: {s}"))
        })
        .collect()
}

/// One `attempts[]` entry of a kill result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub method: String,
    pub ok: bool,
    pub error: Option<String>,
}

/// One `results[]` entry of `kill --json`.
#[derive(Clone, Debug)]
pub struct KillResult {
    pub socket: Value,
    pub cookie: u64,
    pub outcome: String,
    pub method: Option<String>,
    pub reason: Option<String>,
    pub attempts: Vec<Attempt>,
    pub json: Value,
}

/// A `kill --json` document.
#[derive(Debug)]
pub struct KillDoc {
    pub doc: Value,
    pub dry_run: bool,
    pub selected: u64,
    pub acted: u64,
    pub killed: u64,
    pub results: Vec<KillResult>,
}

impl KillDoc {
    /// Parses and checks: envelope, types, `killed`/`acted` against the outcomes, one result per
    /// selected socket (not in a dry run), and the exit code (0 when everything acted on was
    /// killed, 1 otherwise).
    pub fn parse(run: &Run) -> KillDoc {
        let doc = run.json("kill");
        let dry_run = bool_of(&doc, "dry_run");
        let selected = u64_of(&doc, "selected");
        let acted = u64_of(&doc, "acted");
        let killed = u64_of(&doc, "killed");
        let results: Vec<KillResult> = array(&doc, "results")
            .iter()
            .map(|r| {
                let outcome = str_of(r, "outcome").to_string();
                // A dry run reports what it would act on as "planned".
                let allowed: &[&str] = if bool_of(&doc, "dry_run") {
                    &["planned", "skipped"]
                } else {
                    &["killed", "failed", "skipped"]
                };
                assert!(
                    allowed.contains(&outcome.as_str()),
                    "outcome {outcome:?}: {r}"
                );
                let method = opt_str(r, "method");
                if let Some(m) = &method {
                    assert!(
                        ["destroy", "shutdown", "rst"].contains(&m.as_str()),
                        "method: {r}"
                    );
                }
                let attempts = array(r, "attempts")
                    .iter()
                    .map(|a| Attempt {
                        method: str_of(a, "method").to_string(),
                        ok: bool_of(a, "ok"),
                        error: opt_str(a, "error"),
                    })
                    .collect();
                KillResult {
                    cookie: socket_cookie(&r["socket"], &doc),
                    socket: r["socket"].clone(),
                    outcome,
                    method,
                    reason: opt_str(r, "reason"),
                    attempts,
                    json: r.clone(),
                }
            })
            .collect();
        let count = |o: &str| results.iter().filter(|r| r.outcome == o).count() as u64;
        if !dry_run {
            // Every selected socket has a result; matches that were not selected (a listener
            // without --listen) may be listed as skipped too.
            assert!(
                results.len() as u64 >= selected,
                "a result per selected socket: {doc:#}"
            );
            assert!(selected >= acted, "acted on more than selected: {doc:#}");
            assert_eq!(killed, count("killed"), "killed vs outcomes: {doc:#}");
            assert_eq!(
                acted,
                count("killed") + count("failed"),
                "acted vs outcomes: {doc:#}"
            );
            let want = if killed == acted { 0 } else { 1 };
            assert_eq!(
                run.code(),
                Some(want),
                "exit code with {killed} of {acted} killed; stderr: {}",
                run.stderr
            );
        }
        KillDoc {
            doc,
            dry_run,
            selected,
            acted,
            killed,
            results,
        }
    }

    /// The result for `cookie`.
    pub fn result(&self, cookie: u64) -> &KillResult {
        self.results
            .iter()
            .find(|r| r.cookie == cookie)
            .unwrap_or_else(|| panic!("no result for cookie {cookie}: {:#}", self.doc))
    }

    /// Cookies whose outcome is `outcome`, sorted.
    pub fn cookies(&self, outcome: &str) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .results
            .iter()
            .filter(|r| r.outcome == outcome)
            .map(|r| r.cookie)
            .collect();
        v.sort_unstable();
        v
    }
}

/// `before` of a keepalive result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Before {
    pub keepalive: bool,
    pub idle: u64,
    pub intvl: u64,
    pub cnt: u64,
}

/// One `results[]` entry of `keepalive --json`.
#[derive(Clone, Debug)]
pub struct KaResult {
    pub cookie: u64,
    /// `socket.state`.
    pub state: String,
    pub pid: Option<u64>,
    pub fd: Option<u64>,
    pub outcome: String,
    pub reason: Option<String>,
    pub before: Option<Before>,
    pub json: Value,
}

/// A `keepalive --json` document.
#[derive(Debug)]
pub struct KaDoc {
    pub doc: Value,
    pub dry_run: bool,
    pub selected: u64,
    pub set: u64,
    pub results: Vec<KaResult>,
}

impl KaDoc {
    /// Parses and checks: envelope, types, `set` against the outcomes, one result per selected
    /// socket (not in a dry run), `before`, `pid` and `fd` present on every "set" result, and the
    /// exit code (0 when everything selected was set, 1 otherwise).
    pub fn parse(run: &Run) -> KaDoc {
        let doc = run.json("keepalive");
        let dry_run = bool_of(&doc, "dry_run");
        let selected = u64_of(&doc, "selected");
        let set = u64_of(&doc, "set");
        let results: Vec<KaResult> = array(&doc, "results")
            .iter()
            .map(|r| {
                let outcome = str_of(r, "outcome").to_string();
                let allowed: &[&str] = if bool_of(&doc, "dry_run") {
                    &["planned", "skipped"]
                } else {
                    &["set", "failed", "skipped"]
                };
                assert!(
                    allowed.contains(&outcome.as_str()),
                    "outcome {outcome:?}: {r}"
                );
                let before = match r.get("before") {
                    Some(Value::Null) | None => None,
                    Some(b) => Some(Before {
                        keepalive: bool_of(b, "keepalive"),
                        idle: u64_of(b, "idle"),
                        intvl: u64_of(b, "intvl"),
                        cnt: u64_of(b, "cnt"),
                    }),
                };
                let num = |k: &str| match r.get(k) {
                    Some(Value::Null) | None => None,
                    Some(v) => Some(
                        v.as_u64()
                            .unwrap_or_else(|| panic!("`{k}` is neither a number nor null: {r}")),
                    ),
                };
                let res = KaResult {
                    cookie: socket_cookie(&r["socket"], &doc),
                    state: str_of(&r["socket"], "state").to_string(),
                    pid: num("pid"),
                    fd: num("fd"),
                    outcome,
                    reason: opt_str(r, "reason"),
                    before,
                    json: r.clone(),
                };
                if res.outcome == "set" {
                    assert!(
                        res.pid.is_some() && res.fd.is_some() && res.before.is_some(),
                        "a set socket has pid, fd and before: {r}"
                    );
                }
                res
            })
            .collect();
        if !dry_run {
            assert!(
                results.len() as u64 >= selected,
                "a result per selected socket: {doc:#}"
            );
            let n_set = results.iter().filter(|r| r.outcome == "set").count() as u64;
            assert_eq!(set, n_set, "set vs outcomes: {doc:#}");
            // 0 when every selected socket was set, 1 when some failed; a run with skipped
            // sockets and no failures is not pinned down by the contract.
            let failed = results.iter().any(|r| r.outcome == "failed");
            let want = if failed {
                Some(1)
            } else if set == selected {
                Some(0)
            } else {
                None
            };
            if let Some(want) = want {
                assert_eq!(
                    run.code(),
                    Some(want),
                    "exit code with {set} of {selected} set; stderr: {}",
                    run.stderr
                );
            }
        }
        KaDoc {
            doc,
            dry_run,
            selected,
            set,
            results,
        }
    }

    /// The result for `cookie`.
    pub fn result(&self, cookie: u64) -> &KaResult {
        self.results
            .iter()
            .find(|r| r.cookie == cookie)
            .unwrap_or_else(|| panic!("no result for cookie {cookie}: {:#}", self.doc))
    }

    /// Results whose socket is in `state` (sockdoc spelling: `established`, `listen`...).
    pub fn in_state(&self, state: &str) -> Vec<&KaResult> {
        self.results.iter().filter(|r| r.state == state).collect()
    }
}

/// Asserts a refusal: exit 64, exactly one non-empty stderr line.
pub fn assert_refused(run: &Run, why: &str) {
    assert_eq!(
        run.code(),
        Some(64),
        "{why}: `sockdoc {}` must exit 64\nstdout: {}\nstderr: {}",
        run.args.join(" "),
        run.stdout,
        run.stderr
    );
    assert_eq!(
        run.stderr_lines().len(),
        1,
        "{why}: one stderr line expected: {:?}",
        run.stderr
    );
}
