//! `sockdoc serve`: the exporter answers /metrics with the namespace's real numbers (cross-checked
//! with ss), on the scrapes that run the doctor's full census and on the cheap ones in between (which
//! leave ESTABLISHED sockets in the kernel and take their count from it), /healthz with ok, anything
//! else with 404, and stops cleanly on SIGTERM. The systemd units in deploy/ verify; serve does its
//! job as an unprivileged user with exactly the capabilities its unit grants, and reap keeps alive
//! and kills as root bounded to its unit's capability set.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sockdoc_lab::doctor::{CloseWaitLeak, Workdir};
use sockdoc_lab::reap::metric_value as value;
use sockdoc_lab::serve::{self as lab_serve, Killed};
use sockdoc_lab::units::UnitLab;
use sockdoc_lab::wait::poll;
use sockdoc_lab::{ss, Netns, SockState};

const HOLDER: &str = r#"
import socket, sys, time
port = int(sys.argv[1])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port)); l.listen(8)
keep = []
for _ in range(2):
    c = socket.create_connection(("127.0.0.1", port)); s, _ = l.accept(); keep += [c, s]
time.sleep(60)
"#;

/// Connects N times to a port and holds the connections (nobody accepts them: they wait in the
/// listener's accept queue).
const QUEUED: &str = r#"
import socket, sys, time
keep = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(int(sys.argv[2]))]
time.sleep(60)
"#;

/// More sockets for the state cross-check: an IPv6 connection over ::1 (both ends and the listener),
/// connected and unconnected UDP over IPv4, unconnected UDP over IPv6.
const MIXED: &str = r#"
import socket, time
l = socket.socket(socket.AF_INET6); l.bind(("::1", 0)); l.listen(4)
c = socket.create_connection(("::1", l.getsockname()[1])); s, _ = l.accept()
u1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u1.bind(("127.0.0.1", 0))
u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u2.connect(u1.getsockname())
u3 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u3.bind(("::1", 0))
time.sleep(60)
"#;

/// `sockdoc --netns NS serve --listen 127.0.0.1:0 EXTRA...`: the guard and where it listens.
fn serve(ns: &Netns, extra: &[&str]) -> (Killed, String) {
    lab_serve::start(env!("CARGO_BIN_EXE_sockdoc"), ns, extra)
}

fn get(addr: &str, path: &str) -> String {
    lab_serve::get(addr, path, Duration::from_secs(30)).expect("scrape the exporter")
}

/// A namespace where the HOLDER script holds a listener on the returned port and both ends of
/// two connections to it (4 ESTABLISHED sockets).
fn holder_ns() -> (Netns, u16) {
    let ns = Netns::new().expect("namespace");
    let port = ns.fresh_port();
    ns.spawn(&["python3", "-c", HOLDER, &port.to_string()])
        .expect("holder");
    wait_estab(&ns, 4);
    (ns, port)
}

/// setpriv's capability list for `caps` (`CAP_NET_ADMIN` ...): `,+net_admin...`.
fn setpriv_caps(caps: &[String]) -> String {
    caps.iter()
        .map(|c| format!(",+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect()
}

fn wait_estab(ns: &Netns, n: usize) {
    poll(
        Duration::from_secs(10),
        &format!("{n} established sockets"),
        || {
            let t = ns
                .exec(&["ss", "-tnH", "state", "established"])
                .expect("ss");
            Ok(if t.lines().count() == n {
                Ok(())
            } else {
                Err(t)
            })
        },
    )
    .expect("connections");
}

#[test]
fn metrics_match_the_namespace() {
    let (ns, port) = holder_ns();
    // The doctor's census runs on the first scrape only: the second one is a cheap scrape.
    let (mut child, addr) = serve(&ns, &["--doctor-every", "1h", "--owners-every", "1h"]);
    let metrics = get(&addr, "/metrics");
    let health = get(&addr, "/healthz");
    let other = get(&addr, "/nope");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    let est = r#"sockdoc_sockets{proto="tcp",family="ipv4",state="established"}"#;
    assert_eq!(value(&metrics, est), Some(4.0), "{metrics}");
    let listen = r#"sockdoc_sockets{proto="tcp",family="ipv4",state="listen"}"#;
    assert_eq!(value(&metrics, listen), Some(1.0), "{metrics}");
    let per_port = format!("sockdoc_listen_port_established{{port=\"{port}\"}}");
    assert_eq!(value(&metrics, &per_port), Some(2.0), "{metrics}");
    let cov = format!("sockdoc_keepalive_coverage_ratio{{port=\"{port}\"}}");
    assert_eq!(value(&metrics, &cov), Some(0.0), "{metrics}");
    let queue = format!("sockdoc_accept_queue{{port=\"{port}\"}}");
    assert_eq!(value(&metrics, &queue), Some(0.0), "{metrics}");
    let backlog = format!("sockdoc_accept_backlog{{port=\"{port}\"}}");
    assert_eq!(value(&metrics, &backlog), Some(8.0), "{metrics}");
    let python = "sockdoc_process_sockets{process=\"python3\"}";
    assert_eq!(value(&metrics, python), Some(5.0), "{metrics}");
    assert_eq!(
        value(&metrics, "sockdoc_doctor_age_seconds").map(|a| a < 60.0),
        Some(true),
        "{metrics}"
    );
    // A client that asks for no format (curl, this GET) gets the Prometheus text 0.0.4.
    assert!(
        metrics
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4")
            && !metrics.contains("# EOF"),
        "{metrics}"
    );
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
        "{health}"
    );
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");

    // Three more connections nobody accepts: ESTABLISHED on both ends, in the accept queue.
    ns.spawn(&["python3", "-c", QUEUED, &port.to_string(), "3"])
        .expect("queued clients");
    wait_estab(&ns, 10);
    let ss_queue: u64 = sockdoc_lab::ss::query_quick(&ns, &["state", "listening"])
        .expect("ss")
        .iter()
        .find(|s| s.local.port == port)
        .map(|s| s.recv_q)
        .expect("the listener");
    assert_eq!(ss_queue, 3);
    let cheap = get(&addr, "/metrics");
    // Read at every scrape: the state counts (ESTABLISHED from the kernel's count) and the queue.
    assert_eq!(value(&cheap, est), Some(10.0), "{cheap}");
    assert_eq!(value(&cheap, &queue), Some(ss_queue as f64), "{cheap}");
    // From the last full census, as --help says, until the next --doctor-every.
    assert_eq!(value(&cheap, &per_port), Some(2.0), "{cheap}");
    assert_eq!(value(&cheap, python), Some(5.0), "{cheap}");

    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.0.wait().expect("serve ends");
    assert_eq!(status.code(), Some(0), "SIGTERM ends serve cleanly");
}

/// A state as node_exporter's tcpstat spells it in a label (`fin_wait2`, `time_wait`, `close`), from
/// sockdoc's word for it (`fin-wait-2`, `time-wait`, `unconn`); UDP keeps `unconn`.
fn state_label(proto: &str, sockdoc: &str) -> String {
    match (proto, sockdoc) {
        (_, "fin-wait-1") => "fin_wait1".into(),
        (_, "fin-wait-2") => "fin_wait2".into(),
        ("tcp", "unconn") => "close".into(),
        (_, other) => other.replace('-', "_"),
    }
}

/// ss's count per (proto, family, state), keyed like the labels of `sockdoc_sockets`.
fn ss_counts(ns: &Netns) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for s in sockdoc_lab::ss::snapshot_quick(ns).expect("ss") {
        let family = if s.local.ip.is_ipv4() { "ipv4" } else { "ipv6" };
        let key = format!(
            "proto=\"{}\",family=\"{family}\",state=\"{}\"",
            s.proto.name(),
            state_label(s.proto.name(), s.state.sockdoc_name())
        );
        *out.entry(key).or_default() += 1.0;
    }
    out
}

fn scraped_counts(metrics: &str) -> BTreeMap<String, f64> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("sockdoc_sockets{"))
        .filter_map(|l| {
            let (labels, v) = l.split_once("} ")?;
            Some((labels.to_string(), v.parse().ok()?))
        })
        .collect()
}

#[test]
fn cheap_scrapes_count_every_state_as_ss_does() {
    // Server: listeners, CLOSE-WAIT, plus IPv6 TCP and UDP of both kinds. Client: FIN-WAIT-2 left by
    // clients that hung up on the leaker (held by the kernel alone), TIME-WAIT from the closer's.
    let lab = CloseWaitLeak::build(20, 3).expect("scenario");
    lab.server
        .spawn(&["python3", "-c", MIXED])
        .expect("more sockets");
    poll(Duration::from_secs(10), "the IPv6 connection", || {
        let t = lab.server.exec(&["ss", "-6tnH", "state", "established"])?;
        Ok(if t.lines().count() == 2 {
            Ok(())
        } else {
            Err(t)
        })
    })
    .expect("mixed sockets");
    for ns in [&lab.server, &lab.client] {
        let (_serve, addr) = serve(ns, &["--doctor-every", "1h", "--owners-every", "1h"]);
        let full = scraped_counts(&get(&addr, "/metrics"));
        poll(
            Duration::from_secs(10),
            "a cheap scrape to agree with ss",
            || {
                let cheap = scraped_counts(&get(&addr, "/metrics"));
                let ss = ss_counts(ns);
                Ok(if cheap == ss && full == ss {
                    Ok(())
                } else {
                    Err(format!(
                        "ss {ss:?}\ncheap scrape {cheap:?}\nfull census {full:?}"
                    ))
                })
            },
        )
        .expect("counts agree");
    }
    let ss = ss_counts(&lab.client);
    assert!(
        ss.keys().any(|k| k.contains("\"fin_wait2\""))
            && ss.keys().any(|k| k.contains("\"time_wait\"")),
        "the client side has FIN-WAIT-2 and TIME-WAIT to count: {ss:?}"
    );
    let server = ss_counts(&lab.server);
    for want in [
        r#"proto="tcp",family="ipv6",state="established""#,
        r#"proto="udp",family="ipv4",state="established""#,
        r#"proto="udp",family="ipv6",state="unconn""#,
    ] {
        assert!(server.contains_key(want), "{want} in {server:?}");
    }
}

/// The sum of the values of every series of `family` whose labels contain `having`.
fn family_sum(metrics: &str, family: &str, having: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) && l.contains(having))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Per-unit series on real cgroups: web.service and api.service hold a listener and the
/// connections they accepted, as ss counts them on their ports, on the scrape with the full census
/// and on the cheap one after it; a TIME-WAIT socket, which has no cgroup, counts under
/// `no_cgroup`; each family adds up to every socket ss sees.
#[test]
fn unit_series_name_web_and_api_with_what_ss_counts() {
    let lab = UnitLab::beside_time_wait(3, 2).expect("two services in a lab slice (root?)");
    let (_serve, addr) = serve(&lab.ns, &["--doctor-every", "1h", "--owners-every", "1h"]);
    let unit = |name: &str, state: &str| {
        format!("sockdoc_unit_sockets{{unit=\"{name}\",proto=\"tcp\",state=\"{state}\"}}")
    };
    let snap = ss::snapshot(&lab.ns).expect("ss");
    let ss_count = |port: Option<u16>, state: SockState| {
        snap.iter()
            .filter(|s| s.state == state && port.is_none_or(|p| s.local.port == p))
            .count() as f64
    };
    for scrape in ["full", "cheap"] {
        let m = get(&addr, "/metrics");
        for ((sub, port), accepted) in [(&lab.web, 3.0), (&lab.api, 2.0)] {
            let name = sub.rel().rsplit('/').next().unwrap_or_default().to_string();
            let est = ss_count(Some(*port), SockState::Established);
            assert_eq!(est, accepted, "ss on :{port}");
            let got = value(&m, &unit(&name, "established"));
            assert_eq!(got, Some(est), "{scrape} scrape, {name}:\n{m}");
            let listen = ss_count(Some(*port), SockState::Listen);
            let got = value(&m, &unit(&name, "listen"));
            assert_eq!(got, Some(listen), "{scrape} scrape, {name}:\n{m}");
        }
        let tw = ss_count(None, SockState::TimeWait);
        assert!(tw >= 1.0, "the scenario left a TIME-WAIT socket");
        let got = value(&m, &unit("no_cgroup", "time_wait"));
        assert_eq!(got, Some(tw), "{scrape} scrape:\n{m}");
        for family in ["sockdoc_unit_sockets", "sockdoc_container_sockets"] {
            let sum = family_sum(&m, family, "");
            assert_eq!(sum, snap.len() as f64, "{scrape} scrape, {family}:\n{m}");
        }
        let outside = family_sum(
            &m,
            "sockdoc_container_sockets",
            "container=\"no_container\"",
        );
        assert_eq!(outside + tw, snap.len() as f64, "no container here:\n{m}");
    }
}

#[test]
fn a_bad_cadence_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(["serve", "--listen", "127.0.0.1:0", "--doctor-every", "soon"])
        .output()
        .expect("run serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains("--doctor-every") && err.contains("30s"),
        "{err}"
    );
}

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(rel)
}

/// `Key=` values of a unit file, split on whitespace.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    let text = std::fs::read_to_string(deploy(unit)).expect("unit file");
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .flat_map(|v| v.split_whitespace().map(str::to_string))
        .collect()
}

#[test]
fn systemd_units_verify_and_grant_only_what_each_needs() {
    // What each unit may do, read from the files themselves.
    assert_eq!(
        unit_values("sockdoc-serve.service", "CapabilityBoundingSet"),
        ["CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"]
    );
    assert_eq!(
        unit_values("sockdoc-serve.service", "AmbientCapabilities"),
        ["CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"]
    );
    assert_eq!(unit_values("sockdoc-serve.service", "DynamicUser"), ["yes"]);
    assert_eq!(
        unit_values("sockdoc-reap.service", "CapabilityBoundingSet"),
        ["CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"]
    );
    for unit in ["sockdoc-serve.service", "sockdoc-reap.service"] {
        assert_eq!(unit_values(unit, "NoNewPrivileges"), ["yes"], "{unit}");
        assert_eq!(unit_values(unit, "ProtectSystem"), ["strict"], "{unit}");
    }
    let Ok(analyze) = which("systemd-analyze") else {
        println!("skipping systemd-analyze verify: systemd-analyze is not installed");
        return;
    };
    // Verify copies that point at the binary under test (verify checks that ExecStart exists).
    let dir = Workdir::new("units").expect("temp dir");
    let bin = env!("CARGO_BIN_EXE_sockdoc");
    let mut paths = Vec::new();
    for unit in ["sockdoc-serve.service", "sockdoc-reap.service"] {
        let text = std::fs::read_to_string(deploy(unit)).expect("unit");
        assert!(text.contains("/usr/local/bin/sockdoc "), "{unit}");
        paths.push(
            dir.write(
                unit,
                &text.replace("/usr/local/bin/sockdoc ", &format!("{bin} ")),
            )
            .expect("copy"),
        );
    }
    let out = Command::new(analyze)
        .arg("verify")
        .args(&paths)
        .output()
        .expect("systemd-analyze");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Unknown keys and bad values are only warnings: there must be none.
    assert!(
        err.trim().is_empty(),
        "systemd-analyze verify warned:\n{err}"
    );
}

fn which(tool: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .ok_or(())
}

const SCRAPE: &str = r#"
import ctypes, sys, urllib.request
ctypes.CDLL(None).prctl(15, b"scraper", 0, 0, 0)
print(urllib.request.urlopen("http://" + sys.argv[1] + "/metrics", timeout=30).read().decode())
"#;

/// serve as `nobody` with the given capabilities, inside `ns` (entered by `ip netns exec` as root
/// before setpriv drops everything): one scrape.
fn scrape_as_nobody(ns: &Netns, caps: &[String]) -> String {
    let set = setpriv_caps(caps);
    let mut cmd = ns.command("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        &format!("--inh-caps=-all{set}"),
        &format!("--ambient-caps=-all{set}"),
        &format!("--bounding-set=-all{set}"),
        env!("CARGO_BIN_EXE_sockdoc"),
        "serve",
        "--listen",
        "127.0.0.1:0",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let child = cmd.spawn().expect("setpriv sockdoc serve");
    let mut guard = Killed(child);
    let addr = lab_serve::listening_addr(&mut guard.0);
    ns.exec(&["python3", "-c", SCRAPE, &addr]).expect("scrape")
}

#[test]
fn serve_works_unprivileged_with_exactly_its_units_capabilities() {
    // Root's sockets: a listener and both ends of two connections.
    let (ns, port) = holder_ns();
    let caps = unit_values("sockdoc-serve.service", "AmbientCapabilities");
    let with = scrape_as_nobody(&ns, &caps);
    // serve's own listener and the scrape's connection are in the namespace too: look at the holder.
    let per_port = format!("sockdoc_listen_port_established{{port=\"{port}\"}}");
    assert_eq!(value(&with, &per_port), Some(2.0), "{with}");
    let python = "sockdoc_process_sockets{process=\"python3\"}";
    assert_eq!(
        value(&with, python),
        Some(5.0),
        "the unit's capabilities let serve attribute root's sockets:\n{with}"
    );
    // Without them the counts are the same, but no socket of root's can be attributed.
    let without = scrape_as_nobody(&ns, &[]);
    assert_eq!(value(&without, &per_port), Some(2.0), "{without}");
    assert_eq!(value(&without, python), None, "{without}");
    assert!(
        value(&without, "sockdoc_process_sockets{process=\"-\"}").is_some_and(|n| n >= 5.0),
        "{without}"
    );
}

/// The kernel's number of a capability name (the few the units use).
fn cap_bit(name: &str) -> u32 {
    match name {
        "CAP_DAC_READ_SEARCH" => 2,
        "CAP_NET_ADMIN" => 12,
        "CAP_SYS_PTRACE" => 19,
        other => panic!("unexpected capability {other}"),
    }
}

#[test]
fn reap_acts_as_root_bounded_to_its_units_capabilities() {
    let (ns, port) = holder_ns();
    let dir = Workdir::new("reap-caps").expect("temp dir");
    let config = dir
        .write(
            "reap.toml",
            &format!(
                "interval = \"1s\"\nmetrics = \"off\"\n[[rule]]\nname = \"idle\"\nlocal_port = {port}\nidle_timeout = \"1s\"\n[rule.keepalive]\nidle = 60\nintvl = 5\ncount = 3\n"
            ),
        )
        .expect("config");
    let caps = unit_values("sockdoc-reap.service", "CapabilityBoundingSet");
    let set = setpriv_caps(&caps);
    let mut cmd = ns.command("setpriv");
    cmd.args([
        &format!("--bounding-set=-all{set}"),
        "--inh-caps=-all",
        env!("CARGO_BIN_EXE_sockdoc"),
        "reap",
        "--config",
    ])
    .arg(&config)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("setpriv sockdoc reap");
    let out = child.stdout.take().expect("stdout");
    let reap = Killed(child);
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    // With them: keepalive through the owner's fd (pidfd_getfd), then SOCK_DESTROY on the idle ones.
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let done = |seen: &[serde_json::Value], action: &str, outcome: &str| {
        seen.iter()
            .any(|v| v["action"] == action && v["outcome"] == outcome)
    };
    while !(done(&seen, "keepalive", "set") && done(&seen, "kill", "killed")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(v) => seen.push(v),
            Err(_) => panic!("reap did not keepalive and kill in time: {seen:?}"),
        }
    }
    assert!(
        !done(&seen, "keepalive", "failed") && !done(&seen, "kill", "failed"),
        "{seen:?}"
    );
    // It holds exactly the unit's capabilities, and nothing more, while it works.
    let want: u64 = caps.iter().map(|c| 1u64 << cap_bit(c)).sum();
    let status = std::fs::read_to_string(format!("/proc/{}/status", reap.0.id())).expect("status");
    assert!(status.starts_with("Name:\tsockdoc"), "{status}");
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok());
    assert_eq!(eff, Some(want), "{status}");
    let killed: Vec<&serde_json::Value> = seen
        .iter()
        .filter(|v| v["action"] == "kill" && v["phase"] != "intent")
        .collect();
    assert!(
        killed.iter().all(|v| v["method"] == "destroy"),
        "{killed:?}"
    );
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

/// With `sockdoc record`'s index (`--history`), a listening port's oldest connection is exported
/// with the time the recorder first saw it: after the connection was made, no later than the
/// recorder's first scan, and the same after the exporter restarts. Without an index the series
/// is left out.
#[test]
fn oldest_connection_per_port_comes_from_the_recorders_index() {
    let made = now_s();
    let (ns, port) = holder_ns();
    let dir = Workdir::new("serve-history").expect("temp dir");
    let d = dir.path().to_str().expect("utf-8 path");
    let rec = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(["--netns", ns.name(), "record", "--dir", d, "--every", "1s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the recorder");
    let rec = Killed(rec);
    let minutes = dir.join("minutes");
    poll(Duration::from_secs(30), "a recorder scan", || {
        let n = std::fs::read_dir(&minutes).map_or(0, |d| d.count());
        Ok(if n > 0 { Ok(()) } else { Err("none".into()) })
    })
    .expect("scanned");
    let scanned = now_s();
    let series = format!("sockdoc_listen_port_oldest_first_seen_time_seconds{{port=\"{port}\"}}");
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (_serve, addr) = serve(&ns, &["--doctor-every", "0s", "--history", d]);
        let m = get(&addr, "/metrics");
        let v = value(&m, &series).unwrap_or_else(|| panic!("no {series}:\n{m}"));
        assert!(
            made - 1.0 <= v && v <= scanned + 1.0,
            "{made} <= {v} <= {scanned}"
        );
        assert!(m.contains("sockdoc_record_last_scan_time_seconds "), "{m}");
        seen.push(v);
    }
    assert_eq!(seen[0], seen[1], "the same across the exporter's restart");
    drop(rec);
    let empty = Workdir::new("serve-no-history").expect("temp dir");
    let (_serve, addr) = serve(&ns, &["--history", empty.path().to_str().expect("utf-8")]);
    let m = get(&addr, "/metrics");
    assert!(!m.contains("oldest_first_seen"), "{m}");
}
