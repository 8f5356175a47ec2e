//! Capturing a scene's namespace as people paste it: the real `ss` and `netstat` in several forms,
//! and a sosreport-like directory (`/proc/net`, `netstat -s`, `sysctl -a`), written to a
//! [`Workdir`] (removed on drop, also when a test fails). Running `sockdoc` on them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sockdoc_lab::cli::Run;
use sockdoc_lab::doctor::Workdir;
use sockdoc_lab::Netns;

/// One form of evidence: its name (the command as typed), the paths `analyze` is given, and
/// what it can tell.
pub struct Form {
    pub name: &'static str,
    pub paths: Vec<PathBuf>,
    pub can: Can,
}

/// What a form can tell.
#[derive(Clone, Copy, Debug, Default)]
pub struct Can {
    pub timers: bool,
    pub tcp_info: bool,
    pub owners: bool,
    /// Each socket's state (false: a `state` filter's output pasted without its command line).
    pub states: bool,
    /// Listen backlogs (`ss` only).
    pub backlogs: bool,
    /// The ESTABLISHED connections were dumped (not another state's filter).
    pub established: bool,
    /// `sysctl -a` (beside the dump, or in the sosreport).
    pub sysctls: bool,
}

/// `ARGS` inside `ns`; its stdout.
fn exec(ns: &Netns, args: &[&str]) -> String {
    ns.exec(args)
        .unwrap_or_else(|e| panic!("{args:?} in {}: {e}", ns.name()))
}

/// The forms of the brief, as typed (`state` takes the scene's state after it).
const TYPED: [&str; 9] = [
    "ss -tan",
    "ss -tanp",
    "ss -tanoi",
    "ss -aoen",
    "ss -peaonmi",
    "ss -Htanop",
    "ss -tanop state",
    "netstat -antp",
    "netstat -neopa",
];

/// What a typed form's options tell: `-o` timers, `-i` tcp_info, `-p` owners; only ss shows
/// listen backlogs.
fn can_of(typed: &str) -> Can {
    let flags = typed.split_whitespace().nth(1).unwrap_or_default();
    Can {
        timers: flags.contains('o'),
        tcp_info: flags.contains('i'),
        owners: flags.contains('p'),
        states: true,
        backlogs: typed.starts_with("ss "),
        established: true,
        sysctls: false,
    }
}

/// The forms of `ns`, each captured once: the typed ones with their command line, a `state`
/// filter's output for `state` pasted without its command line (no State column, states
/// unknown), and the sosreport-like directory. With `beside`, every dump is given that file too
/// (a `sysctl -a` beside it).
pub fn forms(ns: &Netns, dir: &Workdir, state: &str, beside: Option<&Path>) -> Vec<Form> {
    let mut out = Vec::new();
    for (i, typed) in TYPED.iter().enumerate() {
        let mut args: Vec<&str> = typed.split_whitespace().collect();
        let filtered = args.last() == Some(&"state");
        if filtered {
            args.push(state);
        }
        let text = exec(ns, &args);
        let pasted = format!("$ {}\n{text}", args.join(" "));
        let mut paths = vec![write(dir, &format!("form{i}.txt"), &pasted)];
        let mut can = Can {
            sysctls: beside.is_some(),
            ..can_of(typed)
        };
        if filtered {
            can.established = state == "established";
            let mut bare = vec![write(dir, "bare-state.txt", &text)];
            bare.extend(beside.map(Path::to_path_buf));
            out.push(Form {
                name: "ss -tanop state S (pasted bare)",
                paths: bare,
                can: Can {
                    states: false,
                    ..can
                },
            });
        }
        paths.extend(beside.map(Path::to_path_buf));
        let name = if filtered { "ss -tanop state S" } else { typed };
        out.push(Form { name, paths, can });
    }
    out.push(Form {
        name: "sosreport",
        paths: vec![sosreport(ns, dir)],
        can: Can {
            timers: true,
            states: true,
            established: true,
            sysctls: true,
            ..Can::default()
        },
    });
    out
}

/// Write `text` to `name` in `dir` (its directories made); the path.
fn write(dir: &Workdir, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&p, text).expect("write the dump");
    p
}

/// A sosreport-like directory of `ns`: `/proc/net/{tcp,tcp6,udp,udp6}`, `netstat -s` and
/// `sysctl -a`, where sosreport puts them.
pub fn sosreport(ns: &Netns, dir: &Workdir) -> PathBuf {
    let root = "sosreport-scene";
    for f in ["tcp", "tcp6", "udp", "udp6"] {
        let text = exec(ns, &["cat", &format!("/proc/net/{f}")]);
        write(dir, &format!("{root}/proc/net/{f}"), &text);
    }
    let text = exec(ns, &["netstat", "-s"]);
    write(
        dir,
        &format!("{root}/sos_commands/networking/netstat_-s"),
        &text,
    );
    write(
        dir,
        &format!("{root}/sos_commands/kernel/sysctl_-a"),
        &sysctl_a(ns),
    );
    dir.join(root)
}

/// `sysctl -a` inside `ns` (its complaints about unreadable keys left on stderr).
pub fn sysctl_a(ns: &Netns) -> String {
    let out = ns
        .command("sysctl")
        .arg("-a")
        .output()
        .expect("run sysctl -a");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sockdoc ARGS...`, to completion (60 s at most).
pub fn sockdoc(args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockdoc"));
    cmd.args(args);
    let owned = args.iter().map(|s| s.to_string()).collect();
    sockdoc_lab::cli::run_command(cmd, owned, Duration::from_secs(60)).expect("run sockdoc")
}

/// The live doctor of `ns` (`--json --interval 200ms` and `extra`), its one namespace.
pub fn live(ns: &Netns, extra: &[&str]) -> Value {
    let args = [
        &[
            "--netns",
            ns.name(),
            "doctor",
            "--json",
            "--interval",
            "200ms",
        ],
        extra,
    ]
    .concat();
    one_ns(&sockdoc(&args).json("doctor"))
}

/// `sockdoc analyze PATHS... --json EXTRA...` of `form`: its one namespace and its stderr.
pub fn analyze(form: &Form, extra: &[&str]) -> (Value, String) {
    let mut args = vec!["analyze".to_string()];
    args.extend(form.paths.iter().map(|p| p.to_string_lossy().into_owned()));
    args.push("--json".into());
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = sockdoc(&args);
    assert!(
        matches!(run.code(), Some(0..=2)),
        "{}: exit {:?}: {}",
        form.name,
        run.code(),
        run.stderr
    );
    (one_ns(&run.json("doctor")), run.stderr)
}

fn one_ns(doc: &Value) -> Value {
    let all = doc["namespaces"].as_array().expect("namespaces");
    assert_eq!(all.len(), 1, "one namespace: {doc:#}");
    all[0].clone()
}

/// The finding `id` of a namespace's diagnosis, if it fired.
pub fn finding<'a>(ns: &'a Value, id: &str) -> Option<&'a Value> {
    ns["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == id)
}

/// The notes of a namespace's diagnosis, one string.
pub fn notes(ns: &Value) -> String {
    ns["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The group of finding `f` whose `key` is `value`.
pub fn group<'a>(f: &'a Value, key: &str, value: u64) -> Option<&'a Value> {
    f["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g[key] == value)
}
