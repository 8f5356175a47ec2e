//! `sockdoc sysctl check` and `plan` on a real namespace whose per-namespace settings the test sets to
//! the incident notes' harmful values; the plan file is written atomically and never overwritten
//! without --force.

use std::path::PathBuf;
use std::process::Command;

use sockdoc_lab::doctor::Workdir;
use sockdoc_lab::Netns;

fn sockdoc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(args)
        .output()
        .expect("run sockdoc")
}

/// A setting's value in `ns`, whitespace normalised.
fn value(ns: &Netns, key: &str) -> String {
    ns.exec(&["sysctl", "-n", key])
        .expect("read")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn check_judges_the_namespace_values_and_plan_writes_safely() {
    let ns = Netns::new().expect("namespace");
    ns.exec(&["sysctl", "-q", "-w", "net.ipv4.tcp_max_tw_buckets=5000"])
        .expect("set tw buckets");
    ns.exec(&[
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.ip_local_port_range=1024 65000",
    ])
    .expect("set port range");
    let out = sockdoc(&["--netns", ns.name(), "sysctl", "check", "--json"]);
    assert_eq!(out.status.code(), Some(1), "changes recommended: {out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["command"], "sysctl-check");
    assert_eq!(doc["netns"]["name"], ns.name());
    let row = |key: &str| {
        doc["settings"]
            .as_array()
            .expect("settings")
            .iter()
            .find(|r| r["key"] == key)
            .cloned()
            .expect("audited key")
    };
    let tw = row("net.ipv4.tcp_max_tw_buckets");
    assert_eq!(tw["current"], "5000");
    assert_eq!(tw["verdict"], "change");
    assert_eq!(tw["recommended"], "262144");
    let range = row("net.ipv4.ip_local_port_range");
    assert_eq!(range["current"], "1024 65000");
    assert_eq!(range["recommended"], "10000 65000");
    assert_eq!(
        row("net.ipv4.tcp_tw_recycle")["current"],
        serde_json::Value::Null
    );
    // A host-wide setting is absent in the namespace: said so, with the host's value.
    let backlog = row("net.core.netdev_max_backlog");
    assert_eq!(backlog["current"], serde_json::Value::Null);
    let host = host_value("net.core.netdev_max_backlog");
    let reason = backlog["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("host-wide") && reason.contains(&host),
        "{backlog}"
    );

    let dir = std::env::temp_dir().join(format!("sockdoc-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("90-sockdoc.conf");
    let path = file.to_str().expect("utf-8 path");
    let out = sockdoc(&["--netns", ns.name(), "sysctl", "plan", "--out", path]);
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&file).expect("plan written");
    assert!(
        text.contains("net.ipv4.tcp_max_tw_buckets = 262144"),
        "{text}"
    );
    assert!(
        text.contains("net.ipv4.ip_local_port_range = 10000 65000"),
        "{text}"
    );
    // The running namespace is untouched: plan applies nothing.
    let now = ns
        .exec(&["sysctl", "-n", "net.ipv4.tcp_max_tw_buckets"])
        .expect("read back");
    assert_eq!(now.trim(), "5000");
    // No silent overwrite.
    std::fs::write(&file, "keep me\n").expect("overwrite for the test");
    let out = sockdoc(&["--netns", ns.name(), "sysctl", "plan", "--out", path]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("still there"),
        "keep me\n"
    );
    let out = sockdoc(&[
        "--netns",
        ns.name(),
        "sysctl",
        "plan",
        "--out",
        path,
        "--force",
    ]);
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&file)
        .expect("replaced")
        .contains("262144"));
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("sockdoc-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn zh_check_speaks_chinese() {
    let out = sockdoc(&["--lang", "zh", "sysctl", "check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("net.ipv4.tcp_keepalive_time"));
    assert!(
        text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "{text}"
    );
}

#[test]
fn apply_then_rollback_leaves_everything_as_before() {
    let ns = Netns::new().expect("namespace");
    ns.exec(&["sysctl", "-q", "-w", "net.ipv4.tcp_max_tw_buckets=5000"])
        .expect("set tw buckets");
    ns.exec(&[
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.ip_local_port_range=1024 65000",
    ])
    .expect("set port range");
    let read = |k: &str| value(&ns, k);
    let keys = [
        "net.ipv4.tcp_max_tw_buckets",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_keepalive_time",
    ];
    let before: Vec<String> = keys.iter().map(|k| read(k)).collect();
    let dir = std::env::temp_dir().join(format!("sockdoc-apply-{}", std::process::id()));
    let conf = dir.join("sysctl.d").join("90-sockdoc.conf");
    std::fs::create_dir_all(conf.parent().expect("dir")).expect("conf dir");
    let state = dir.join("state");
    let audit = dir.join("audit.jsonl");
    let args = |cmd: &str| -> Vec<String> {
        let mut v: Vec<String> = ["--netns", ns.name(), "sysctl", cmd]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if cmd == "apply" {
            v.extend(["--conf".into(), conf.display().to_string(), "--yes".into()]);
        }
        v.extend([
            "--state-dir".into(),
            state.display().to_string(),
            "--audit-log".into(),
            audit.display().to_string(),
        ]);
        v
    };
    let run = |a: Vec<String>| {
        Command::new(env!("CARGO_BIN_EXE_sockdoc"))
            .args(&a)
            .output()
            .expect("run sockdoc")
    };
    let out = run(args("apply"));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(read("net.ipv4.tcp_max_tw_buckets"), "262144");
    assert_eq!(read("net.ipv4.ip_local_port_range"), "10000 65000");
    // The file holds exactly the values now running: what a reboot would load.
    let text = std::fs::read_to_string(&conf).expect("conf written");
    let settings: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains('='))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    assert!(settings.len() >= 2, "{text}");
    for (k, v) in &settings {
        assert_eq!(&read(k), v, "{k} in the file and at runtime");
    }
    // Applied settings need nothing more.
    let again = run(args("apply"));
    assert!(again.status.success(), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to change"));
    // A new change refuses while the first apply is not rolled back (its backup would be lost).
    ns.exec(&["sysctl", "-q", "-w", "net.ipv4.tcp_max_tw_buckets=4000"])
        .expect("drift");
    let again = run(args("apply"));
    assert_eq!(again.status.code(), Some(64), "{again:?}");
    assert_eq!(
        read("net.ipv4.tcp_max_tw_buckets"),
        "4000",
        "a refused apply changes nothing"
    );
    let out = run(args("rollback"));
    assert!(out.status.success(), "{out:?}");
    let after: Vec<String> = keys.iter().map(|k| read(k)).collect();
    assert_eq!(before, after, "runtime values restored exactly");
    assert!(!conf.exists(), "the file did not exist before apply");
    assert_eq!(
        std::fs::read_dir(&state).expect("state dir").count(),
        0,
        "backup consumed"
    );
    let log = std::fs::read_to_string(&audit).expect("audit");
    // Recorded ahead: each key's intent comes before its outcome, for the apply and the rollback.
    for action in ["sysctl-apply", "sysctl-rollback"] {
        let records: Vec<serde_json::Value> = log
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|v: &serde_json::Value| v["action"] == action)
            .collect();
        assert!(!records.is_empty(), "{action} recorded: {log}");
        for r in &records {
            let key = &r["key"];
            let phases: Vec<&str> = records
                .iter()
                .filter(|v| v["key"] == *key)
                .filter_map(|v| v["phase"].as_str())
                .collect();
            assert_eq!(phases, ["intent", "outcome"], "{action} {key}: {log}");
        }
        assert!(records.iter().any(|v| v["outcome"] == "applied"), "{log}");
    }
    let nothing = run(args("rollback"));
    assert_eq!(nothing.status.code(), Some(66));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_profile_is_applied_over_the_audit_and_refuses_what_the_namespace_lacks() {
    let ns = Netns::new().expect("namespace");
    let read = |k: &str| value(&ns, k);
    let keys = [
        "net.core.somaxconn",
        "net.ipv4.tcp_max_syn_backlog",
        "net.ipv4.tcp_syncookies",
    ];
    let before: Vec<String> = keys.iter().map(|k| read(k)).collect();
    let dir = std::env::temp_dir().join(format!("sockdoc-profile-{}", std::process::id()));
    let conf = dir.join("90-sockdoc.conf");
    std::fs::create_dir_all(&dir).expect("dir");
    let state = dir.join("state");
    let audit = dir.join("audit.jsonl");
    let run = |extra: &[&str]| {
        let mut a = vec!["--netns", ns.name(), "sysctl"];
        a.extend_from_slice(extra);
        sockdoc(&a)
    };
    let paths = [
        "--state-dir",
        state.to_str().expect("utf-8"),
        "--audit-log",
        audit.to_str().expect("utf-8"),
    ];

    // An unknown profile is a one-line usage error naming the known ones.
    let bad = run(&["check", "--profile", "fast"]);
    assert_eq!(bad.status.code(), Some(64), "{bad:?}");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("fast-dead-peers"), "{err}");

    // check shows what the profile would do, with the refusal and its reason.
    let check = run(&["--json", "check", "--profile", "busy-server"]);
    let doc: serde_json::Value = serde_json::from_slice(&check.stdout).expect("JSON");
    assert_eq!(doc["profile"], "busy-server");
    let refused = doc["refused"].as_array().expect("refused");
    assert_eq!(refused.len(), 1, "{doc:#}");
    assert_eq!(refused[0]["key"], "net.core.netdev_max_backlog");
    let somax = doc["settings"]
        .as_array()
        .expect("settings")
        .iter()
        .find(|r| r["key"] == "net.core.somaxconn")
        .expect("somaxconn");
    assert_eq!(somax["recommended"], "8192");
    assert!(somax["reason"]
        .as_str()
        .is_some_and(|r| r.starts_with("[busy-server]")));

    let mut apply = vec![
        "apply",
        "--profile",
        "busy-server",
        "--yes",
        "--conf",
        conf.to_str().expect("utf-8"),
    ];
    apply.extend_from_slice(&paths);
    let out = run(&apply);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused net.core.netdev_max_backlog"),
        "{out:?}"
    );
    assert_eq!(read("net.core.somaxconn"), "8192");
    assert_eq!(read("net.ipv4.tcp_max_syn_backlog"), "8192");
    assert_eq!(read("net.ipv4.tcp_syncookies"), "1");
    let text = std::fs::read_to_string(&conf).expect("conf written");
    assert!(text.contains("busy-server"), "{text}");
    assert!(!text.contains("netdev_max_backlog ="), "{text}");
    for (k, v) in text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
    {
        assert_eq!(read(k.trim()), v.trim(), "{k} in the file and at runtime");
    }
    // The host's own values are untouched: the namespace has its own.
    assert_ne!(
        std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .expect("host somaxconn")
            .trim(),
        "8192",
        "applied in the namespace only"
    );

    let mut rollback = vec!["rollback"];
    rollback.extend_from_slice(&paths);
    let out = run(&rollback);
    assert!(out.status.success(), "{out:?}");
    let after: Vec<String> = keys.iter().map(|k| read(k)).collect();
    assert_eq!(before, after);
    assert!(!conf.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The host's own sysctl.d file as it was when the test began (content and mtime, or absent). If a
/// run changed it anyway, dropping this puts it back, so a failing test never leaves the host with a
/// namespace's settings for its next boot.
struct HostConf {
    path: std::path::PathBuf,
    before: Option<(Vec<u8>, std::time::SystemTime)>,
}

impl HostConf {
    fn snapshot() -> HostConf {
        let path = std::path::PathBuf::from("/etc/sysctl.d/90-sockdoc.conf");
        let before = Self::read(&path);
        HostConf { path, before }
    }

    fn read(path: &std::path::Path) -> Option<(Vec<u8>, std::time::SystemTime)> {
        let bytes = std::fs::read(path).ok()?;
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
        Some((bytes, mtime))
    }

    fn unchanged(&self) -> bool {
        Self::read(&self.path) == self.before
    }
}

impl Drop for HostConf {
    fn drop(&mut self) {
        if self.unchanged() {
            return;
        }
        match &self.before {
            None => {
                let _ = std::fs::remove_file(&self.path);
            }
            Some((bytes, _)) => {
                let _ = std::fs::write(&self.path, bytes);
            }
        }
    }
}

/// A namespace whose net.ipv4.tcp_max_tw_buckets is 5000 (the profile wants 262144), and a temp
/// directory (removed on drop) for the state dir and audit log of its `sysctl` runs.
struct TwLow {
    ns: Netns,
    dir: Workdir,
    state: PathBuf,
    audit: PathBuf,
}

impl TwLow {
    fn new(tag: &str) -> TwLow {
        let ns = Netns::new().expect("namespace");
        ns.exec(&["sysctl", "-q", "-w", "net.ipv4.tcp_max_tw_buckets=5000"])
            .expect("set tw buckets");
        let dir = Workdir::new(&format!("sysctl-{tag}")).expect("dir");
        let (state, audit) = (dir.join("state"), dir.join("audit.jsonl"));
        TwLow {
            ns,
            dir,
            state,
            audit,
        }
    }

    /// `sockdoc --netns NS sysctl ARGS... --state-dir STATE --audit-log AUDIT`.
    fn run(&self, args: &[&str]) -> std::process::Output {
        self.run_logged(args, self.audit.to_str().expect("utf-8"))
    }

    /// [`TwLow::run`] with another audit log.
    fn run_logged(&self, args: &[&str], audit: &str) -> std::process::Output {
        let mut a = vec!["--netns", self.ns.name(), "sysctl"];
        a.extend_from_slice(args);
        a.extend_from_slice(&[
            "--state-dir",
            self.state.to_str().expect("utf-8"),
            "--audit-log",
            audit,
        ]);
        sockdoc(&a)
    }
}

fn host_value(key: &str) -> String {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::read_to_string(path)
        .expect("host value")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `--netns X sysctl apply` sets X's values at runtime only: the host's /etc/sysctl.d file is neither
/// created nor changed (so no boot or `sysctl --system` applies them to the host), the dry run and
/// the plan say so, a host-loaded --conf is refused, and rollback restores the namespace.
#[test]
fn a_namespace_apply_never_writes_the_host_sysctl_d() {
    let host_file = HostConf::snapshot();
    let t = TwLow::new("nsapply");
    let ns = &t.ns;
    let host_tw = host_value("net.ipv4.tcp_max_tw_buckets");
    let run = |extra: &[&str]| t.run(extra);

    let out = run(&["apply", "--yes"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        host_file.unchanged(),
        "the host's /etc/sysctl.d/90-sockdoc.conf was created or changed: {out:?}"
    );
    assert_eq!(value(ns, "net.ipv4.tcp_max_tw_buckets"), "262144");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no file written"),
        "{out:?}"
    );
    assert_eq!(
        host_value("net.ipv4.tcp_max_tw_buckets"),
        host_tw,
        "host untouched"
    );
    let log = std::fs::read_to_string(&t.audit).expect("audit");
    let first: serde_json::Value =
        serde_json::from_str(log.lines().next().expect("a line")).expect("JSON");
    assert_eq!(first["conf"], serde_json::Value::Null, "{first}");

    let back = run(&["rollback"]);
    assert!(back.status.success(), "{back:?}");
    assert_eq!(value(ns, "net.ipv4.tcp_max_tw_buckets"), "5000");
    assert!(host_file.unchanged());

    // The dry run says where the settings go: this namespace, at runtime, no file.
    let dry = run(&["apply", "--dry-run"]);
    assert!(dry.status.success(), "{dry:?}");
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(
        text.contains(&format!("at runtime in network namespace {}", ns.name()))
            && text.contains("write no file")
            && !text.contains("/etc/sysctl.d"),
        "{text}"
    );

    // The plan's heading names the namespace, not "this host".
    let plan = sockdoc(&["--netns", ns.name(), "sysctl", "plan"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(!text.contains("this host"), "{text}");
    assert!(
        text.contains(&format!("network namespace {}", ns.name()))
            && text.contains("not for the host"),
        "{text}"
    );

    // A file the host loads at boot is refused for a namespace, before anything changes.
    let refused = run(&["apply", "--yes", "--conf", "/etc/sysctl.d/90-sockdoc.conf"]);
    assert_eq!(refused.status.code(), Some(64), "{refused:?}");
    let refused = sockdoc(&[
        "--netns",
        ns.name(),
        "sysctl",
        "plan",
        "--out",
        "/etc/sysctl.d/90-sockdoc.conf",
        "--force",
    ]);
    assert_eq!(refused.status.code(), Some(64), "{refused:?}");
    assert_eq!(value(ns, "net.ipv4.tcp_max_tw_buckets"), "5000");

    assert!(host_file.unchanged());
}

/// An apply killed between writing its temporary file and renaming it leaves `*.sockdoc-tmp` files;
/// the next run removes them (and says so), leaves other files alone, and a --conf written for a
/// namespace says whose settings it holds and how to load them there.
#[test]
fn stale_temporary_files_are_cleaned_and_a_namespace_file_is_marked() {
    let t = TwLow::new("stale");
    let (ns, dir) = (&t.ns, t.dir.path());
    let conf = dir.join("90-sockdoc.conf");
    // The old fixed name, one of a process that is gone (above any pid_max), and a stranger's.
    let stale = [
        dir.join(".90-sockdoc.conf.sockdoc-tmp"),
        dir.join(".90-sockdoc.conf.4194999.sockdoc-tmp"),
    ];
    let other = dir.join(".other.conf.4194999.sockdoc-tmp");
    for f in stale.iter().chain([&other]) {
        std::fs::write(f, "net.ipv4.tcp_max_tw_buckets = 1\n").expect("stale file");
    }
    let out = t.run(&["apply", "--yes", "--conf", conf.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{out:?}");
    for f in &stale {
        assert!(!f.exists(), "{} left", f.display());
    }
    assert!(other.exists(), "another file's temporary file is not ours");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("left by an interrupted sockdoc run"), "{err}");
    let text = std::fs::read_to_string(&conf).expect("conf written");
    assert!(
        text.contains(&format!("network namespace {}", ns.name()))
            && text.contains("not for the host")
            && text.contains(&format!("ip netns exec {} sysctl -p", ns.name())),
        "{text}"
    );
    assert!(
        text.contains("net.ipv4.tcp_max_tw_buckets = 262144"),
        "{text}"
    );
    let ours: Vec<_> = std::fs::read_dir(dir)
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("sockdoc-tmp") && n.starts_with(".90-sockdoc"))
        .collect();
    assert!(ours.is_empty(), "{ours:?}");
    let back = t.run(&["rollback"]);
    assert!(back.status.success(), "{back:?}");
    assert!(!conf.exists());
}

/// Refusals speak of settings, not sockets; a path through a file says "Not a directory"; nothing
/// changes in either case.
#[test]
fn apply_refusals_say_what_is_wrong() {
    let t = TwLow::new("refuse");
    // No --yes and no terminal.
    let out = t.run(&["apply"]);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("setting") && err.contains("--yes") && !err.contains("socket"),
        "{err}"
    );
    // An audit log under a file.
    let out = t.run_logged(&["apply", "--yes"], "/etc/passwd/audit.jsonl");
    assert_eq!(out.status.code(), Some(74), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("Not a directory") && err.contains("/etc/passwd is a file"),
        "{err}"
    );
    assert!(!err.contains("File exists"), "{err}");
    assert_eq!(value(&t.ns, "net.ipv4.tcp_max_tw_buckets"), "5000");
    assert!(!t.state.exists(), "no backup was made");
}

/// `apply`, its refusal and `rollback` in Chinese: where the settings go, what was done, and no
/// English sentence; the values change and come back as in English.
#[test]
fn apply_and_rollback_speak_chinese() {
    let t = TwLow::new("zh");
    let name = t.ns.name();
    let zh = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(&["--lang", "zh"]);
        let out = t.run(&a);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, _, err) = zh(&["apply"]);
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("拒绝对") && err.contains("「应用参数」"),
        "{err}"
    );
    assert!(!err.contains("refusing"), "{err}");

    let (code, dry, _) = zh(&["apply", "--dry-run"]);
    assert_eq!(code, Some(0));
    let place = format!("将在网络命名空间 {name} (net:");
    assert!(
        dry.contains(&format!("演练: {place}")) && dry.contains("不写文件"),
        "{dry}"
    );
    assert!(
        !dry.contains("dry run") && !dry.contains("write no file"),
        "{dry}"
    );

    let (code, done, err) = zh(&["apply", "--yes"]);
    assert_eq!(code, Some(0), "{err}");
    let applied = format!("已在网络命名空间 {name} (net:");
    assert!(
        done.contains(&applied) && done.contains("未写入文件; 备份在"),
        "{done}"
    );
    assert_eq!(value(&t.ns, "net.ipv4.tcp_max_tw_buckets"), "262144");

    let (code, back, err) = zh(&["rollback"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        back.starts_with("已恢复 ") && back.contains(" 个参数"),
        "{back}"
    );
    assert_eq!(value(&t.ns, "net.ipv4.tcp_max_tw_buckets"), "5000");
    let (code, _, err) = zh(&["rollback"]);
    assert_eq!(code, Some(66), "{err}");
    assert!(err.contains("没有可回滚的内容"), "{err}");
}
