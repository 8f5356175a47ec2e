//! `sockdoc analyze` on real dumps of the lab's scenes: each scene is built (real vsftpd, sshd,
//! nginx, socat and helper servers in lab namespaces), the live `sockdoc doctor --json` is run
//! inside its namespace, then the real `ss` and `netstat` output of the namespace is captured in
//! the forms people paste (each with its command line, as in a ticket; a `state` filter's output
//! also bare, without it) and as a sosreport-like directory (`/proc/net/*`, `netstat -s`,
//! `sysctl -a`); `analyze` of each must find what the live doctor found wherever the form can
//! tell it, and name in its notes what it could not judge ([`check::forms`]). Needs root, `ip`,
//! `ss`, `netstat`, python3, socat, vsftpd, sshd and nginx.
//!
//! | scene × form | incident (`--idle 2s`) | CLOSE-WAIT leak | TIME-WAIT pressure (`sysctl -a` beside) | accept overflow |
//! |---|---|---|---|---|
//! | `ss -tan` | unjudged: no timers | leak by port | pressure | overflow by port |
//! | `ss -tanp` | unjudged: no timers | leak by port and process | pressure | overflow by port and process |
//! | `ss -tanoi` | ghost (idle from tcp_info) and coverage, no process | leak by port | pressure | overflow, coverage |
//! | `ss -aoen` | ghost by missing timers (idle unknown) and coverage | leak by port | pressure | overflow, coverage; every keepalive-less connection a suspect (idle unknown) |
//! | `ss -peaonmi` | ghost and coverage as live, with processes | leak by port and process | pressure | overflow by process, coverage |
//! | `ss -Htanop` | ghost by missing timers, coverage by process | leak by process | pressure | overflow by process, coverage; suspects (idle unknown) |
//! | `ss -tanop state S` (command line names S) | ghost by missing timers; coverage with service ports taken from the connections (no listener dumped) | leak (S = close-wait) | pressure (S = time-wait) | overflow (S = listening); coverage unjudged: not every state |
//! | the same pasted bare | states unknown: counted as ESTAB (said) | unjudged: no State column | unjudged: no State column | unjudged: no State column |
//! | `netstat -antp` | unjudged: no timers | leak by port and pid | pressure | unjudged: no listen backlogs |
//! | `netstat -neopa` | ghost by missing timers, coverage by pid | leak by pid | pressure | unjudged: no listen backlogs; coverage |
//! | sosreport (`/proc/net`, `netstat -s`, `sysctl -a`) | ghost by missing timers, coverage | leak by port | pressure | unjudged: no listen backlogs; coverage |
//!
//! Also the incident notes' own `ss -aoen` lines ([`seed`]), the notes in Chinese and the notes
//! each view shows.

mod capture;
mod check;
mod seed;

use std::time::Duration;

use serde_json::Value;
use sockdoc_lab::doctor::{
    CloseWaitLeak, GhostIncident, ListenOverflow, TimeWaitStorm, Workdir, FTP_PROXY_PORT,
    LEAKER_PORT, STUCK_PORT,
};

use capture::{forms, group, live, sysctl_a, Form};

/// The rows of `f`'s groups, each as the values of `keys`.
fn rows(f: &Value, keys: &[&str]) -> Vec<Vec<Value>> {
    let mut out: Vec<Vec<Value>> = f["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| keys.iter().map(|k| g[*k].clone()).collect())
        .collect();
    out.sort_by_key(|r| format!("{r:?}"));
    out
}

/// The same rows (by `keys`) and severity in both; `pid` too when the form names owners.
fn same_rows(want: &Value, got: &Value, form: &Form, keys: &[&str]) {
    let mut keys = keys.to_vec();
    if form.can.owners {
        keys.push("pid");
    }
    assert_eq!(got["severity"], want["severity"], "{}: {got:#}", form.name);
    assert_eq!(
        rows(got, &keys),
        rows(want, &keys),
        "{}: {got:#}\nlive: {want:#}",
        form.name
    );
}

#[test]
fn the_incident_as_pasted() {
    let g = GhostIncident::build().expect("build the incident");
    g.wait_idle(Duration::from_millis(2300))
        .expect("ghost idle");
    let idle = ["--idle", "2s"];
    let want = live(&g.server, &idle);
    let dir = Workdir::new("scene-incident").expect("workdir");
    let laptop = g.laptop_link.client_ip.to_string();
    let same = |want: &Value, got: &Value, form: &Form| match want["id"].as_str() {
        Some("ghost-suspects") => {
            // Only the proxy's port: sshd's and vsftpd's connections have keepalive.
            let all = got["groups"].as_array().expect("groups");
            assert!(
                all.iter().all(|x| x["local_port"] == FTP_PROXY_PORT),
                "{}: {got:#}",
                form.name
            );
            let ghost = all
                .iter()
                .find(|x| {
                    x["peers"]
                        .as_array()
                        .is_some_and(|p| p.contains(&laptop.as_str().into()))
                })
                .unwrap_or_else(|| panic!("{}: no group holds the laptop: {got:#}", form.name));
            let w = &want["groups"][0];
            if form.can.owners {
                assert_eq!(ghost["pid"], w["pid"], "{}: {got:#}", form.name);
            }
            if form.can.tcp_info {
                same_rows(want, got, form, &["local_port", "count", "peers"]);
                assert!(
                    ghost["max_idle_ms"].as_u64().unwrap_or(0) >= 2000,
                    "{got:#}"
                );
            } else {
                assert!(ghost["max_idle_ms"].is_null(), "idle unknown: {got:#}");
            }
        }
        Some("keepalive-coverage") => {
            let keys = ["local_port", "connections", "with_keepalive"];
            if form.name.contains("state") {
                // No listener dumped: the owner named is the first connection's, not the
                // listener's.
                assert_eq!(
                    rows(got, &keys),
                    rows(want, &keys),
                    "{}: {got:#}",
                    form.name
                );
            } else {
                same_rows(want, got, form, &keys);
            }
        }
        other => panic!("unexpected live finding {other:?}"),
    };
    let all = forms(&g.server, &dir, "established", None);
    check::forms(&want, &all, &idle, &same);
}

#[test]
fn a_close_wait_leak_as_pasted() {
    let cw = CloseWaitLeak::build(110, 3).expect("build");
    let want = live(&cw.server, &[]);
    let dir = Workdir::new("scene-close-wait").expect("workdir");
    let same = |want: &Value, got: &Value, form: &Form| {
        assert_eq!(want["id"], "close-wait-leak");
        same_rows(want, got, form, &["local_port", "count"]);
        assert_eq!(
            got["evidence"]["close_wait"], want["evidence"]["close_wait"],
            "{}",
            form.name
        );
        let leak = group(got, "local_port", u64::from(LEAKER_PORT)).expect("the leaker");
        assert_eq!(leak["count"], 110, "{}: {got:#}", form.name);
    };
    let all = forms(&cw.server, &dir, "close-wait", None);
    check::forms(&want, &all, &[], &same);
}

#[test]
fn time_wait_pressure_as_pasted_beside_sysctl_a() {
    let tw = TimeWaitStorm::build(200).expect("build");
    assert_eq!(tw.requests(150).expect("150 requests"), 150);
    let want = live(&tw.client, &[]);
    let dir = Workdir::new("scene-time-wait").expect("workdir");
    let sysctls = dir
        .write("sysctl-a.txt", &sysctl_a(&tw.client))
        .expect("write sysctl -a");
    let same = |want: &Value, got: &Value, form: &Form| {
        assert_eq!(got["severity"], want["severity"], "{}: {got:#}", form.name);
        match want["id"].as_str() {
            Some("time-wait-pressure") => {
                for k in ["time_wait", "max_tw_buckets"] {
                    assert_eq!(
                        got["evidence"][k], want["evidence"][k],
                        "{}: {k}",
                        form.name
                    );
                }
                assert_eq!(got["evidence"]["time_wait"], 150, "{}", form.name);
            }
            Some("sysctl-risky") => same_rows(want, got, form, &["key", "value"]),
            other => panic!("unexpected live finding {other:?}"),
        }
    };
    let all = forms(&tw.client, &dir, "time-wait", Some(&sysctls));
    check::forms(&want, &all, &[], &same);
}

#[test]
fn an_accept_queue_overflow_as_pasted() {
    let lo = ListenOverflow::build(20).expect("build");
    let want = live(&lo.server, &[]);
    let dir = Workdir::new("scene-listen").expect("workdir");
    let same = |want: &Value, got: &Value, form: &Form| match want["id"].as_str() {
        Some("listen-overflow") => {
            same_rows(want, got, form, &["local_port", "accept_queue", "backlog"]);
            let stuck = group(got, "local_port", u64::from(STUCK_PORT)).expect("stuck");
            assert_eq!(stuck["accept_queue"], lo.stuck_listener.recv_q);
        }
        Some("keepalive-coverage") => {
            same_rows(
                want,
                got,
                form,
                &["local_port", "connections", "with_keepalive"],
            );
        }
        other => panic!("unexpected live finding {other:?}"),
    };
    let all = forms(&lo.server, &dir, "listening", None);
    check::forms(&want, &all, &[], &same);
}
