//! The fleet deployment (deploy/) against the real thing: Debian's Prometheus scrapes two
//! `sockdoc serve` exporters while lab namespaces hold a CLOSE-WAIT leak (that grows during the test)
//! and a ghost connection; PromQL over Prometheus's HTTP API must return what ss says. The alert
//! rules pass `promtool check rules` and fire in `promtool test rules` (every alert has a firing
//! case), the scrape config passes `promtool check config`, and the Grafana dashboard and the alert
//! rules name only metrics that serve exports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sockdoc_lab::doctor::{received_ago_ms, CloseWaitLeak, GhostIncident, LEAKER_PORT};
use sockdoc_lab::prometheus::{http_get, need, Prometheus, PROMTOOL};
use sockdoc_lab::serve::Killed;
use sockdoc_lab::wait::poll;
use sockdoc_lab::{Netns, SockState, SsSocket};

/// Ghost threshold the exporters use, so the lab's ghost qualifies within the test.
const IDLE_MS: u64 = 2000;

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(rel)
}

/// `sockdoc --netns NS serve` on a free loopback port; returns the guard and `host:port`.
fn serve(ns: &Netns, extra: &[&str]) -> (Killed, String) {
    sockdoc_lab::serve::start(env!("CARGO_BIN_EXE_sockdoc"), ns, extra)
}

/// The ghost rule of sockdoc doctor, applied to ss's view: ESTABLISHED, no keepalive or retransmit
/// timer, nothing unacknowledged, nothing received past the threshold.
fn ss_ghosts(snap: &[SsSocket], threshold_ms: u64) -> usize {
    snap.iter()
        .filter(|s| {
            s.state == SockState::Established
                && s.timer
                    .as_ref()
                    .is_none_or(|t| t.kind != "keepalive" && t.kind != "on")
                && s.detail_u64("unacked").unwrap_or(0) == 0
                && received_ago_ms(s) > threshold_ms
        })
        .count()
}

fn close_wait_by_process(snap: &[SsSocket]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for s in snap.iter().filter(|s| s.state == SockState::CloseWait) {
        let name = s.users.first().map_or("-", |u| u.name.as_str());
        *out.entry(name.to_string()).or_default() += 1;
    }
    out
}

const CONNCLOSE: &str = r#"
import socket, sys
for _ in range(int(sys.argv[3])):
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    c.close()
"#;

#[test]
fn prometheus_sees_the_close_wait_leak_and_the_ghost_as_ss_does() {
    need(PROMTOOL);
    let leak = CloseWaitLeak::build(120, 3).expect("CLOSE-WAIT leak");
    let ghost = GhostIncident::build().expect("ghost incident");
    let idle = format!("{IDLE_MS}ms");
    // The /proc walk covers the whole host: with many sockets elsewhere on it (another bench) a walk
    // in a debug build can outlast a scrape timeout, so it runs less often than the scrapes.
    let cadence = [
        "--doctor-every",
        "1s",
        "--owners-every",
        "5s",
        "--idle",
        &idle,
    ];
    let (_s1, leak_addr) = serve(&leak.server, &cadence);
    let (_s2, ghost_addr) = serve(&ghost.server, &cadence);
    let mut jobs = "  - job_name: sockdoc\n    static_configs:\n".to_string();
    for (addr, scenario) in [(&leak_addr, "close-wait"), (&ghost_addr, "ghost")] {
        jobs.push_str(&format!(
            "      - targets: [\"{addr}\"]\n        labels:\n          scenario: {scenario}\n"
        ));
    }
    let prom = Prometheus::start(&jobs, &[&deploy("prometheus/alerts.yml")], |_| {});
    prom.wait_for(r#"count(up{job="sockdoc"} == 1)"#, 2.0);

    // CLOSE-WAIT by state and per process, as ss -p counts them.
    let snap = sockdoc_lab::ss::snapshot(&leak.server).expect("ss");
    let cw_total = snap
        .iter()
        .filter(|s| s.state == SockState::CloseWait)
        .count();
    assert_eq!(cw_total, 123, "the scenario's 120 + 3 CLOSE-WAIT sockets");
    prom.wait_for(
        r#"sum(sockdoc_sockets{scenario="close-wait",proto="tcp",state="close_wait"})"#,
        cw_total as f64,
    );
    for (process, n) in close_wait_by_process(&snap) {
        prom.wait_for(
            &format!(r#"sockdoc_process_close_wait{{scenario="close-wait",process="{process}"}}"#),
            n as f64,
        );
    }

    // The leak grows while Prometheus watches: 30 more clients hang up on the leaker.
    let ip = leak.link.server_ip.to_string();
    leak.client
        .exec(&[
            "python3",
            "-c",
            CONNCLOSE,
            &ip,
            &LEAKER_PORT.to_string(),
            "30",
        ])
        .expect("more clients");
    let grown = poll(Duration::from_secs(10), "150 leaked sockets in ss", || {
        let snap = sockdoc_lab::ss::snapshot(&leak.server)?;
        let by = close_wait_by_process(&snap);
        Ok(match by.get("cw-leaker") {
            Some(150) => Ok(by),
            other => Err(format!("{other:?}")),
        })
    })
    .expect("the leak grew");
    prom.wait_for(
        r#"sockdoc_process_close_wait{scenario="close-wait",process="cw-leaker"}"#,
        grown["cw-leaker"] as f64,
    );
    let growth = prom
        .scalar(
            r#"delta(sockdoc_process_close_wait{scenario="close-wait",process="cw-leaker"}[1m])"#,
        )
        .expect("delta");
    assert!(growth > 0.0, "Prometheus saw the leak grow: delta {growth}");

    // The ghost: the doctor's rule, checked against ss's own idle times and timers.
    poll(
        Duration::from_secs(15),
        "the ghost to pass the threshold",
        || {
            let snap = sockdoc_lab::ss::snapshot(&ghost.server)?;
            Ok(match ss_ghosts(&snap, IDLE_MS + 1000) {
                0 => Err("no ghost in ss yet".to_string()),
                n => Ok(n),
            })
        },
    )
    .expect("ghost in ss");
    let expected = ss_ghosts(
        &sockdoc_lab::ss::snapshot(&ghost.server).expect("ss"),
        IDLE_MS,
    );
    assert_eq!(
        expected, 1,
        "the incident has one ghost (the vanished laptop's)"
    );
    prom.wait_for(
        r#"sockdoc_ghost_suspects{scenario="ghost"}"#,
        expected as f64,
    );
    // Keepalive coverage per service: none on the proxy's :21, all on sshd's :2222.
    prom.wait_for(
        r#"sockdoc_keepalive_coverage_ratio{scenario="ghost",port="21"}"#,
        0.0,
    );
    prom.wait_for(
        r#"sockdoc_keepalive_coverage_ratio{scenario="ghost",port="2222"}"#,
        1.0,
    );
    prom.wait_for(
        r#"sockdoc_finding{scenario="ghost",id="ghost-suspects",severity="warning"}"#,
        1.0,
    );

    // The deploy rules load and evaluate cleanly on this data.
    poll(
        Duration::from_secs(15),
        "every alert rule evaluated",
        || {
            let data = prom.api("rules", "").map_err(std::io::Error::other)?;
            let rules: Vec<&Value> = data["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().into_iter().flatten())
                .collect();
            let bad: Vec<String> = rules
                .iter()
                .filter(|r| r["health"] != "ok")
                .map(|r| format!("{}: {} {}", r["name"], r["health"], r["lastError"]))
                .collect();
            Ok(if rules.len() == 7 && bad.is_empty() {
                Ok(())
            } else {
                Err(format!("{} rules, not ok: {bad:?}", rules.len()))
            })
        },
    )
    .expect("rules healthy");

    // Every dashboard query is valid PromQL (instance variable set to all).
    for expr in dashboard_exprs() {
        let q = expr.replace("$instance", ".*");
        prom.api("query", &q)
            .unwrap_or_else(|e| panic!("dashboard query rejected: {e}"));
    }
}

fn promtool(args: &[&str]) -> (bool, String) {
    need(PROMTOOL);
    let out = Command::new(PROMTOOL)
        .args(args)
        .current_dir(deploy("prometheus"))
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `- alert: NAME` entries of alerts.yml.
fn alert_names() -> Vec<String> {
    let text = std::fs::read_to_string(deploy("prometheus/alerts.yml")).expect("alerts.yml");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(|n| n.trim().to_string())
        .collect()
}

#[test]
fn alert_rules_pass_promtool_check_and_every_alert_fires_in_its_tests() {
    let (ok, text) = promtool(&["check", "rules", "alerts.yml"]);
    assert!(ok && text.contains("SUCCESS: 7 rules found"), "{text}");
    let (ok, text) = promtool(&["test", "rules", "alerts_test.yml"]);
    assert!(ok && text.contains("SUCCESS"), "{text}");
    // Every alert has at least one case that expects it to fire (an exp_alerts list with labels).
    let tests = std::fs::read_to_string(deploy("prometheus/alerts_test.yml")).expect("tests");
    let mut firing = BTreeSet::new();
    let mut current: Option<String> = None;
    for line in tests.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("alertname:") {
            current = Some(name.trim().to_string());
        } else if t.starts_with("- exp_labels:") {
            if let Some(name) = &current {
                firing.insert(name.clone());
            }
        }
    }
    let names = alert_names();
    assert_eq!(names.len(), 7, "{names:?}");
    for name in &names {
        assert!(firing.contains(name), "{name} has no firing test case");
    }
}

#[test]
fn scrape_config_passes_promtool_check_config() {
    let (ok, text) = promtool(&["check", "config", "sockdoc.yml"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("is valid prometheus config file syntax") && text.contains("7 rules found"),
        "{text}"
    );
}

fn dashboard_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(deploy("grafana/sockdoc.json")).expect("dashboard");
    let dash: Value = serde_json::from_str(&text).expect("the dashboard is valid JSON");
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr", Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dash["panels"], &mut out);
    out
}

/// `sockdoc_...` identifiers in a PromQL expression.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("sockdoc_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

#[test]
fn dashboard_and_alerts_name_only_metrics_serve_exports() {
    let ns = Netns::new().expect("namespace");
    let port = ns.fresh_port();
    let holder = format!(
        "import socket, time\nl = socket.socket(); l.bind(('127.0.0.1', {port})); l.listen(8)\nc = socket.create_connection(('127.0.0.1', {port})); s, _ = l.accept()\ntime.sleep(60)\n"
    );
    ns.spawn(&["python3", "-c", &holder]).expect("holder");
    poll(Duration::from_secs(10), "a connection", || {
        let t = ns.exec(&["ss", "-tnH", "state", "established"])?;
        Ok(if t.lines().count() == 2 {
            Ok(())
        } else {
            Err(t)
        })
    })
    .expect("connection");
    // The flight recorder's first-seen index, for the age metrics (`--history`).
    let history = sockdoc_lab::doctor::Workdir::new("prom-history").expect("temp dir");
    let dir = history.path().to_str().expect("utf-8 path");
    let recorder = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args([
            "--netns",
            ns.name(),
            "record",
            "--dir",
            dir,
            "--every",
            "1s",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the recorder");
    let _recorder = Killed(recorder);
    poll(Duration::from_secs(30), "a recorder scan", || {
        let n = std::fs::read_dir(history.join("minutes")).map_or(0, |d| d.count());
        Ok(if n > 0 { Ok(()) } else { Err("none".into()) })
    })
    .expect("scanned");
    let (_serve, addr) = serve(&ns, &["--history", dir]);
    let (status, body) = http_get(&addr, "/metrics").expect("scrape");
    assert!(status.contains(" 200"), "{status}");
    // Exported names: sample names, and family names from TYPE lines (the Prometheus text 0.0.4 a
    // plain GET gets names a counter with its `_total`).
    let mut exported = BTreeSet::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.split_whitespace().next() {
                exported.insert(name.to_string());
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            exported.insert(line[..end].to_string());
        }
    }
    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 15, "the dashboard has its panels: {exprs:?}");
    let mut used = BTreeSet::new();
    for e in &exprs {
        used.extend(metric_names(e));
    }
    let rules = std::fs::read_to_string(deploy("prometheus/alerts.yml")).expect("alerts.yml");
    for line in rules.lines() {
        if let Some(e) = line.trim().strip_prefix("expr:") {
            used.extend(metric_names(e));
        }
    }
    let missing: Vec<&String> = used.iter().filter(|m| !exported.contains(*m)).collect();
    assert!(
        missing.is_empty(),
        "dashboard/alerts use metrics serve does not export: {missing:?}; exported: {exported:?}"
    );
    // The dashboard covers the exporter: every family serve exports appears in some panel.
    let unused: Vec<&String> = exported
        .iter()
        .filter(|m| m.starts_with("sockdoc_") && !used.contains(*m))
        .collect();
    assert!(unused.is_empty(), "exported but on no panel: {unused:?}");
}
