//! `sockdoc reap` in the lab: the daemon runs in the background (`sockdoc_lab::reap::Reaper`, killed by
//! PID on drop) against real services in fresh namespaces, with a 1 s interval and its configuration
//! in a temp dir; the tests check with `ss` which connections remain, and read the daemon's JSON
//! action lines and `/metrics`.
//!
//! - the seed incident (socat FTP proxy without keepalive, a vanished client, a busy session, an idle
//!   SSH connection): an idle-timeout rule closes only the ghost; the busy session and the sshd
//!   connection (never-kill) survive;
//! - `max_connections`: the idlest connections are evicted first, the caller's own SSH connection
//!   never;
//! - dry run: "would kill" logged once per socket, nothing touched;
//! - SIGHUP with a broken configuration: rejected, the old rule still enforced; a good one: reloaded;
//! - CLOSE-WAIT maximum age and keepalive enforcement;
//! - `--check` and a bad configuration at start: one line naming the line and the key, exit 64;
//! - `--lang zh`: `--check`, the stderr lines and the error lines in Chinese, the records unchanged.
//!
//! Needs root, CONFIG_INET_DIAG_DESTROY, `ip`, `nft`, `ss`, python3, socat, vsftpd and sshd.

use std::time::Duration;

use serde_json::Value;
use sockdoc_lab::doctor::{CloseWaitLeak, GhostIncident, FTP_PROXY_PORT, SSHD_PORT};
use sockdoc_lab::reap::Reaper;
use sockdoc_lab::ss;
use sockdoc_lab::treat::{by_cookie, wait_cookies_gone, EchoServer};
use sockdoc_lab::{Netns, SockState};

const BIN: &str = env!("CARGO_BIN_EXE_sockdoc");
const WAIT: Duration = Duration::from_secs(20);

fn start(ns: &Netns, config: &str, env: &[(&str, &str)]) -> Reaper {
    Reaper::start(BIN, ns, config, &["--metrics", "127.0.0.1:0"], env)
        .unwrap_or_else(|e| panic!("start sockdoc reap: {e}"))
}

fn cookie_of(v: &Value) -> u64 {
    v["socket"]["cookie"].as_u64().expect("socket cookie")
}

/// A client connection from the calling process inside `ns` (no `ss -p` wait: a daemon with a short
/// idle_timeout may close the server end before a slow `ss -p` would show it), and its local port.
fn client(srv: &EchoServer) -> (std::net::TcpStream, u16) {
    let addr = srv.addr();
    let s = sockdoc_lab::in_netns(&srv.ns, move || {
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
    })
    .expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let port = s.local_addr().expect("local address").port();
    (s, port)
}

/// The action line about the server end of the connection from client `port` (kills: the outcome
/// line, not the intent written ahead of it).
fn about(v: &Value, action: &str, port: u16) -> bool {
    v["action"] == action && v["phase"] != "intent" && v["socket"]["remote"]["port"] == port
}

/// The action lines logged so far with this `action` (kills: the outcome lines).
fn actions(r: &Reaper, action: &str) -> Vec<Value> {
    r.lines()
        .into_iter()
        .filter(|v| v["action"] == action && v["phase"] != "intent")
        .collect()
}

/// The ESTABLISHED sockets in `ns` with these cookies.
fn alive(ns: &Netns, cookies: &[u64]) -> Vec<u64> {
    let snap = ss::snapshot_quick(ns).expect("ss");
    cookies
        .iter()
        .copied()
        .filter(|c| by_cookie(&snap, *c).is_some_and(|s| s.state == SockState::Established))
        .collect()
}

#[test]
fn idle_rule_closes_only_the_idle_connection_of_the_service() {
    let inc = GhostIncident::build().expect("incident");
    let snap = ss::snapshot_quick(&inc.server).expect("ss");
    let find = |peer: std::net::SocketAddr, port: u16| {
        snap.iter()
            .find(|s| {
                s.state == SockState::Established
                    && s.local.port == port
                    && s.peer.socket_addr() == peer
            })
            .and_then(|s| s.cookie)
            .unwrap_or_else(|| panic!("no ESTAB :{port} <- {peer}"))
    };
    let ghost = inc.ghost.cookie.expect("ghost cookie");
    let busy = find(inc.busy, FTP_PROXY_PORT);
    let ssh = find(inc.ssh_client, SSHD_PORT);
    // A rule for sshd too, to show that never_kill wins over a matching rule.
    let config = format!(
        r#"
interval = "1s"
never_kill = ["sport = :{SSHD_PORT}"]

[[rule]]
name = "ftp-proxy"
local_port = {FTP_PROXY_PORT}
idle_timeout = "3s"

[[rule]]
name = "ssh"
local_port = {SSHD_PORT}
idle_timeout = "1s"
"#
    );
    let mut r = start(&inc.server, &config, &[]);
    let kill = r
        .wait_line("the ghost killed", WAIT, |v| {
            v["action"] == "kill" && v["outcome"] == "killed"
        })
        .expect("kill line");
    assert_eq!(cookie_of(&kill), ghost, "{kill}");
    assert_eq!(kill["rule"], "ftp-proxy");
    assert_eq!(kill["reason"], "idle-timeout");
    assert_eq!(kill["method"], "destroy");
    assert!(kill["idle_ms"].as_u64().expect("idle_ms") >= 3000, "{kill}");
    wait_cookies_gone(&inc.server, &[ghost], WAIT).expect("the ghost is gone");
    let spare = r
        .wait_line("the ssh connection spared", WAIT, |v| {
            v["action"] == "spare"
        })
        .expect("spare line");
    assert_eq!(cookie_of(&spare), ssh, "{spare}");
    assert_eq!(spare["reason"], "never-kill");
    assert_eq!(spare["would"], "idle-timeout");
    // Three more scans: the busy session and the SSH connection are still there, nothing else died.
    r.wait_scans(3, WAIT).expect("scans");
    assert_eq!(alive(&inc.server, &[busy, ssh]), vec![busy, ssh]);
    let kills = actions(&r, "kill");
    assert_eq!(kills.len(), 1, "{kills:?}");
    let spares = actions(&r, "spare").len();
    assert_eq!(spares, 1, "a spared socket is logged once");
    let metrics = r.get("/metrics").expect("metrics");
    for series in [
        r#"sockdoc_reap_kills_total{rule="ftp-proxy",reason="idle-timeout",outcome="killed"} 1"#,
        r#"sockdoc_reap_spared_total{rule="ssh",reason="never-kill"} 1"#,
        r#"sockdoc_reap_rule_connections{rule="ftp-proxy"} 1"#,
        r#"sockdoc_reap_rule_connections{rule="ssh"} 1"#,
    ] {
        assert!(metrics.contains(series), "{series} in\n{metrics}");
    }
    assert!(metrics.contains("sockdoc_reap_scans_total"), "{metrics}");
    let status = r.stop(WAIT).expect("stop");
    assert_eq!(status.code(), Some(0), "{}", r.stderr());
    let last = r.lines().pop().expect("lines");
    assert_eq!(last["action"], "stop", "{last}");
}

#[test]
fn cap_evicts_the_idlest_first_and_never_the_own_ssh_session() {
    let srv = EchoServer::start().expect("echo server");
    // 0 ("the caller's SSH session") is the idlest, then 1 and 2; 3, 4 and 5 are busy.
    let mut conns = srv.connect(1).expect("connection");
    std::thread::sleep(Duration::from_millis(1000));
    conns.extend(srv.connect(5).expect("connections"));
    std::thread::sleep(Duration::from_millis(2000));
    for c in &conns[3..] {
        assert_eq!(c.echo("busy").expect("echo"), "busy");
    }
    let cookies: Vec<u64> = conns.iter().map(|c| c.cookie()).collect();
    let config = format!(
        "interval = \"1s\"\n[[rule]]\nname = \"capped\"\nlocal_port = {}\nmax_connections = 4\n",
        srv.port
    );
    let own = conns[0].ssh_connection();
    let mut r = start(&srv.ns, &config, &[("SSH_CONNECTION", own.as_str())]);
    wait_cookies_gone(&srv.ns, &cookies[1..3], WAIT).expect("the two idlest evicted");
    r.wait_scans(3, WAIT).expect("scans");
    assert_eq!(
        alive(&srv.ns, &cookies),
        vec![cookies[0], cookies[3], cookies[4], cookies[5]]
    );
    let lines = r.lines();
    let mut killed: Vec<u64> = lines
        .iter()
        .filter(|v| v["action"] == "kill" && v["phase"] != "intent")
        .map(|v| {
            assert_eq!(v["reason"], "max-connections", "{v}");
            assert_eq!(v["outcome"], "killed", "{v}");
            assert!(
                v["why"]
                    .as_str()
                    .is_some_and(|w| w.contains("6 connections > max_connections 4")),
                "{v}"
            );
            cookie_of(v)
        })
        .collect();
    killed.sort_unstable();
    let mut want = cookies[1..3].to_vec();
    want.sort_unstable();
    assert_eq!(killed, want);
    // Recorded ahead: each kill's intent line comes before its outcome line, with the same run id.
    for c in &killed {
        let about_c: Vec<&Value> = lines
            .iter()
            .filter(|v| v["action"] == "kill" && cookie_of(v) == *c)
            .collect();
        assert_eq!(about_c.len(), 2, "{about_c:?}");
        assert_eq!(
            (&about_c[0]["phase"], &about_c[1]["phase"]),
            (&Value::from("intent"), &Value::from("outcome")),
            "{about_c:?}"
        );
        assert!(about_c[0]["run"].is_string() && about_c[0]["run"] == about_c[1]["run"]);
    }
    let spare = lines
        .iter()
        .find(|v| v["action"] == "spare")
        .expect("the own SSH session spared");
    assert_eq!(spare["reason"], "own-ssh");
    assert_eq!(cookie_of(spare), cookies[0]);
    // The evicted clients were reset; the survivors still echo.
    assert!(conns[1].read_once().is_err(), "evicted: reset");
    for c in [&conns[0], &conns[3]] {
        assert_eq!(c.echo("still here").expect("echo"), "still here");
    }
}

#[test]
fn dry_run_logs_would_kill_once_and_touches_nothing() {
    let srv = EchoServer::start().expect("echo server");
    let conns = srv.connect(2).expect("connections");
    let cookies: Vec<u64> = conns.iter().map(|c| c.cookie()).collect();
    let config = format!(
        "interval = \"1s\"\ndry_run = true\n[[rule]]\nlocal_port = {}\nidle_timeout = \"1s\"\n[rule.keepalive]\nidle = 60\nintvl = 5\ncount = 3\n",
        srv.port
    );
    let mut r = start(&srv.ns, &config, &[]);
    for c in &cookies {
        r.wait_line("would kill", WAIT, |v| {
            v["outcome"] == "would kill" && cookie_of(v) == *c
        })
        .expect("would kill line");
    }
    r.wait_scans(3, WAIT).expect("scans");
    assert_eq!(
        alive(&srv.ns, &cookies),
        cookies,
        "dry run killed something"
    );
    let lines = r.lines();
    let would: Vec<&Value> = lines.iter().filter(|v| v["action"] == "kill").collect();
    assert_eq!(would.len(), 2, "once per socket: {would:?}");
    assert!(would
        .iter()
        .all(|v| v["dry_run"] == true && v["method"].is_null()));
    let ka: Vec<&Value> = lines
        .iter()
        .filter(|v| v["action"] == "keepalive")
        .collect();
    assert!(
        !ka.is_empty() && ka.iter().all(|v| v["outcome"] == "would set"),
        "{ka:?}"
    );
    // No keepalive timer appeared: nothing was set.
    let snap = ss::snapshot_quick(&srv.ns).expect("ss");
    for c in &cookies {
        let s = by_cookie(&snap, *c).expect("still there");
        assert!(s.timer.is_none(), "{}", s.line);
    }
    assert_eq!(conns[0].echo("untouched").expect("echo"), "untouched");
    let metrics = r.get("/metrics").expect("metrics");
    assert!(
        metrics.contains(r#"outcome="would-kill"} 2"#)
            && metrics.contains("sockdoc_reap_dry_run 1"),
        "{metrics}"
    );
}

#[test]
fn sighup_with_a_broken_config_keeps_the_old_one() {
    let srv = EchoServer::start().expect("echo server");
    let good = format!(
        "interval = \"1s\"\n[[rule]]\nname = \"echo\"\nlocal_port = {}\nidle_timeout = \"2s\"\n",
        srv.port
    );
    let mut r = start(&srv.ns, &good, &[]);
    let (_a, a_port) = client(&srv);
    let a = r
        .wait_line("the first connection reaped", WAIT, |v| {
            about(v, "kill", a_port)
        })
        .expect("kill line");
    assert_eq!(a["outcome"], "killed", "{a}");

    let broken = format!(
        "interval = \"1s\"\n[[rule]]\nname = \"echo\"\nlocal_port = {}\nidle_timeout = \"soon\"\n",
        srv.port
    );
    r.rewrite(&broken).expect("rewrite");
    r.signal(libc::SIGHUP).expect("SIGHUP");
    let rejected = r
        .wait_line("the reload rejected", WAIT, |v| {
            v["action"] == "config" && v["outcome"] == "rejected"
        })
        .expect("rejected line");
    let error = rejected["error"].as_str().expect("error text");
    assert!(
        error.contains("line 5") && error.contains("idle_timeout") && !error.contains('\n'),
        "{error}"
    );
    assert!(r.running(), "a broken config must not stop the daemon");
    // The old rule is still enforced.
    let (b, b_port) = client(&srv);
    let kill = r
        .wait_line("the old rule enforced", WAIT, |v| about(v, "kill", b_port))
        .expect("kill line");
    assert_eq!(kill["outcome"], "killed", "{kill}");
    assert_eq!(kill["reason"], "idle-timeout", "{kill}");
    wait_cookies_gone(&srv.ns, &[cookie_of(&kill)], WAIT).expect("old rule still enforced");
    assert!(
        std::io::Read::read(&mut &b, &mut [0u8; 16]).is_err(),
        "the client was reset"
    );

    // A good new configuration is taken: a dry run now.
    r.rewrite(&format!(
        "interval = \"1s\"\ndry_run = true\n[[rule]]\nname = \"echo\"\nlocal_port = {}\nidle_timeout = \"1s\"\n",
        srv.port
    ))
    .expect("rewrite");
    r.signal(libc::SIGHUP).expect("SIGHUP");
    r.wait_line("the reload", WAIT, |v| {
        v["action"] == "config" && v["outcome"] == "reloaded"
    })
    .expect("reloaded line");
    let (_c, c_port) = client(&srv);
    let would = r
        .wait_line("would kill", WAIT, |v| about(v, "kill", c_port))
        .expect("would kill the third connection");
    assert_eq!(would["outcome"], "would kill", "{would}");
    r.wait_scans(2, WAIT).expect("scans");
    let c = cookie_of(&would);
    assert_eq!(alive(&srv.ns, &[c]), vec![c]);
    let metrics = r.get("/metrics").expect("metrics");
    for series in [
        r#"sockdoc_reap_config_reloads_total{outcome="rejected"} 1"#,
        r#"sockdoc_reap_config_reloads_total{outcome="reloaded"} 1"#,
        r#"sockdoc_reap_kills_total{rule="echo",reason="idle-timeout",outcome="killed"} 2"#,
    ] {
        assert!(metrics.contains(series), "{series} in\n{metrics}");
    }
    assert_eq!(r.stop(WAIT).expect("stop").code(), Some(0));
}

#[test]
fn close_wait_max_age_closes_the_leak_only() {
    let leak = CloseWaitLeak::build(5, 3).expect("close-wait leak");
    let config = format!(
        "interval = \"1s\"\n[[rule]]\nname = \"leaker\"\nlocal_port = {}\nclose_wait_max_age = \"2s\"\n",
        leak.leaker.port
    );
    let mut r = start(&leak.server, &config, &[]);
    let count = |port: u16| {
        ss::snapshot_quick(&leak.server)
            .expect("ss")
            .iter()
            .filter(|s| s.state == SockState::CloseWait && s.local.port == port)
            .count()
    };
    sockdoc_lab::wait::poll(WAIT, "the leaked CLOSE-WAIT sockets closed", || {
        let n = count(leak.leaker.port);
        Ok(if n == 0 {
            Ok(())
        } else {
            Err(format!("{n} left"))
        })
    })
    .expect("leak closed");
    r.wait_scans(2, WAIT).expect("scans");
    assert_eq!(
        count(leak.young.port),
        3,
        "another service's CLOSE-WAIT stays"
    );
    let kills = actions(&r, "kill");
    assert_eq!(kills.len(), 5, "{kills:?}");
    for k in &kills {
        assert_eq!(k["reason"], "close-wait-age", "{k}");
        assert_eq!(k["outcome"], "killed", "{k}");
        assert_eq!(k["socket"]["state"], "close-wait", "{k}");
    }
}

#[test]
fn keepalive_is_set_once_on_connections_and_the_listener() {
    let srv = EchoServer::start().expect("echo server");
    let a = srv.connect(1).expect("connection").remove(0);
    let config = format!(
        "interval = \"1s\"\n[[rule]]\nname = \"ka\"\nlocal_port = {}\n[rule.keepalive]\nidle = 77\nintvl = 5\ncount = 3\n",
        srv.port
    );
    let mut r = start(&srv.ns, &config, &[]);
    let set = r
        .wait_line("keepalive on the connection", WAIT, |v| {
            v["action"] == "keepalive"
                && v["phase"] == "outcome"
                && v["socket"]["state"] == "established"
        })
        .expect("keepalive line");
    assert_eq!(set["outcome"], "set", "{set}");
    // Recorded ahead: the intent of the same run, for the same socket, came first.
    let lines = r.lines();
    let at = |phase: &str| {
        lines.iter().position(|v| {
            v["action"] == "keepalive" && v["phase"] == phase && cookie_of(v) == a.cookie()
        })
    };
    let (intent, outcome) = (at("intent"), at("outcome"));
    assert!(intent.is_some() && intent < outcome, "{lines:?}");
    let intent = &lines[intent.unwrap_or_default()];
    assert_eq!(intent["run"], set["run"], "{intent}");
    assert!(intent.get("outcome").is_none(), "{intent}");
    assert_eq!(cookie_of(&set), a.cookie());
    assert_eq!(set["before"]["keepalive"], false, "{set}");
    r.wait_line("keepalive on the listener", WAIT, |v| {
        v["action"] == "keepalive" && v["socket"]["state"] == "listen" && v["outcome"] == "set"
    })
    .expect("listener line");
    let snap = ss::snapshot_quick(&srv.ns).expect("ss");
    let s = by_cookie(&snap, a.cookie()).expect("connection");
    assert!(
        s.timer.as_ref().is_some_and(|t| t.kind == "keepalive"),
        "{}",
        s.line
    );
    // A new connection inherits keepalive from the listener: nothing more to do for it.
    let b = srv.connect(1).expect("connection").remove(0);
    r.wait_scans(2, WAIT).expect("scans");
    let n = actions(&r, "keepalive").len();
    assert_eq!(n, 2, "once per socket, and not for the inheriting one");
    let snap = ss::snapshot_quick(&srv.ns).expect("ss");
    let s = by_cookie(&snap, b.cookie()).expect("new connection");
    assert!(
        s.timer.as_ref().is_some_and(|t| t.kind == "keepalive"),
        "{}",
        s.line
    );
    assert_eq!(a.echo("alive").expect("echo"), "alive");
}

#[test]
fn bad_configs_are_refused_with_the_line_and_key() {
    let dir = sockdoc_lab::doctor::Workdir::new("reap-check").expect("dir");
    let bad = dir
        .write(
            "bad.toml",
            "interval = \"1s\"\n[[rule]]\nname = \"x\"\nlocal_port = 21\nidle_timout = \"3s\"\n",
        )
        .expect("write");
    let bad = bad.to_string_lossy().into_owned();
    for extra in [&["--check"][..], &["--metrics", "off"][..]] {
        let mut args = vec!["reap", "--config", bad.as_str()];
        args.extend_from_slice(extra);
        let run = sockdoc_lab::cli::run(BIN, &args).expect("run");
        assert_eq!(run.code(), Some(64), "{run:?}");
        let lines = run.stderr_lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("line 5") && lines[0].contains("idle_timout"),
            "{lines:?}"
        );
    }
    let ok = dir
        .write(
            "ok.toml",
            "[[rule]]\nname = \"ftp\"\nlocal_port = 21\nidle_timeout = \"2h\"\n",
        )
        .expect("write");
    let run = sockdoc_lab::cli::run(BIN, &["reap", "--config", &ok.to_string_lossy(), "--check"])
        .expect("run")
        .expect_ok();
    assert!(run.stdout.contains("ftp: sport = :21"), "{}", run.stdout);
}

/// `sockdoc ARGS...`, killed after 10 s (a daemon that should have refused its configuration).
fn run_briefly(args: &[&str]) -> sockdoc_lab::cli::Run {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(args).env_remove("SSH_CONNECTION");
    sockdoc_lab::cli::run_command(
        cmd,
        args.iter().map(|s| s.to_string()).collect(),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A rule's fields are values and its filter is parsed alone: `peer` cannot smuggle in an `or` that
/// selects another port, a stray `)` in `filter` cannot close the rule, and an `or` inside a
/// balanced filter stays inside the rule.
#[test]
fn rule_fields_cannot_escape_their_rule() {
    let srv = EchoServer::start().expect("echo server");
    let conns = srv.connect(2).expect("connections");
    let cookies: Vec<u64> = conns.iter().map(|c| c.cookie()).collect();
    let port = srv.port;
    let dir = sockdoc_lab::doctor::Workdir::new("reap-escape").expect("dir");
    let peer = dir
        .write(
            "peer.toml",
            &format!("interval = \"1s\"\n[[rule]]\nlocal_port = 21\npeer = \"127.0.0.1 or sport = :{port}\"\nidle_timeout = \"1s\"\n"),
        )
        .expect("write");
    let peer = peer.to_string_lossy().into_owned();
    let run = run_briefly(&[
        "--netns",
        srv.ns.name(),
        "reap",
        "--config",
        &peer,
        "--dry-run",
        "--metrics",
        "off",
    ]);
    assert_eq!(run.code(), Some(64), "{run:?}");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("line 4") && lines[0].contains("peer"),
        "{lines:?}"
    );
    assert!(!run.stdout.contains("would kill"), "{}", run.stdout);

    let paren = dir
        .write(
            "paren.toml",
            "[[rule]]\nname = \"x\"\nfilter = \"sport = :1 ) or ( state all\"\nidle_timeout = 3\n",
        )
        .expect("write");
    let run = run_briefly(&["reap", "--config", &paren.to_string_lossy(), "--check"]);
    assert_eq!(run.code(), Some(64), "{run:?}");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("line 3") && lines[0].contains("filter") && lines[0].contains("')'"),
        "{lines:?}"
    );

    // Balanced: `dport = :1 or sport = :PORT` is one subtree under the rule's `and`.
    let config = format!(
        "interval = \"1s\"\n[[rule]]\nlocal_port = 21\nfilter = \"dport = :1 or sport = :{port}\"\nidle_timeout = \"1s\"\n"
    );
    let mut r = Reaper::start(
        BIN,
        &srv.ns,
        &config,
        &["--metrics", "127.0.0.1:0", "--dry-run"],
        &[],
    )
    .expect("start");
    let start = r
        .lines()
        .into_iter()
        .find(|v| v["action"] == "start")
        .expect("start");
    assert_eq!(
        start["rules"][0]["selector"],
        format!("sport = :21 and ( dport = :1 or sport = :{port} )")
    );
    r.wait_scans(3, WAIT).expect("scans");
    assert!(actions(&r, "kill").is_empty(), "{:?}", r.lines());
    assert_eq!(alive(&srv.ns, &cookies), cookies);
}

/// A rule must select something explicitly: an empty or blank `filter` is refused like no selector.
#[test]
fn empty_or_blank_rule_filter_is_refused() {
    let dir = sockdoc_lab::doctor::Workdir::new("reap-blank").expect("dir");
    for (i, f) in ["", "   ", "\\t"].iter().enumerate() {
        let p = dir
            .write(
                &format!("blank{i}.toml"),
                &format!("[[rule]]\nname = \"x\"\nfilter = \"{f}\"\nidle_timeout = 3\n"),
            )
            .expect("write");
        let run = run_briefly(&["reap", "--config", &p.to_string_lossy(), "--check"]);
        assert_eq!(run.code(), Some(64), "{f:?}: {run:?}");
        let lines = run.stderr_lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("line 3") && lines[0].contains("selects every socket"),
            "{lines:?}"
        );
    }
}

/// The configuration is read only from a regular file of at most 1 MiB: `/dev/zero` and a huge
/// file are refused at once, in one line.
#[test]
fn config_reads_are_capped() {
    let started = std::time::Instant::now();
    let run = run_briefly(&["reap", "--config", "/dev/zero", "--check"]);
    assert_eq!(run.code(), Some(66), "{run:?}");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("/dev/zero") && lines[0].contains("regular file"),
        "{lines:?}"
    );
    let run = run_briefly(&["reap", "--config", "/dev/zero", "--metrics", "off"]);
    assert_eq!(run.code(), Some(66), "{run:?}");
    let run = run_briefly(&["--lang", "zh", "reap", "--config", "/dev/zero", "--check"]);
    assert_eq!(run.code(), Some(66), "{run:?}");
    assert_eq!(
        run.stderr_lines(),
        ["sockdoc: /dev/zero 是一个字符设备, 不是配置文件: 请给出一个普通文件的路径"],
        "{run:?}"
    );

    let dir = sockdoc_lab::doctor::Workdir::new("reap-big").expect("dir");
    let mut text = String::from("[[rule]]\nlocal_port = 21\nidle_timeout = 3\n");
    while text.len() <= 2 << 20 {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    let big = dir.write("big.toml", &text).expect("write");
    let run = run_briefly(&["reap", "--config", &big.to_string_lossy(), "--check"]);
    assert_eq!(run.code(), Some(64), "{run:?}");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("too large"), "{lines:?}");
    // Generous: the old reader took 8 s for 4 GB of /dev/zero before failing.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// Listens on a port, connects to it, accepts, and holds the idle pair (a target for a reap rule).
const IDLE_PAIR: &str = r#"
import socket, sys, time
port = int(sys.argv[1])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port)); l.listen(4)
c = socket.create_connection(("127.0.0.1", port)); s, _ = l.accept()
time.sleep(60)
"#;

/// ESTABLISHED sockets to or from `port` in the namespace now called `ns.name()`.
fn established_on(ns: &Netns, port: u16) -> usize {
    ss::snapshot_quick(ns)
        .expect("ss")
        .iter()
        .filter(|s| {
            s.state == SockState::Established && (s.local.port == port || s.peer.port == port)
        })
        .count()
}

/// A reaper started on `--netns X` is pinned to that namespace: when X is deleted and a new
/// namespace is given the name, it stops with exit 69 and a stop record saying why, and never acts
/// on the new namespace's connections (an idle pair there that its rule would close stays). Run in
/// Chinese: its last line speaks it, the stop record keeps the recorded (English) words.
#[test]
fn recreated_namespace_stops_the_reaper_without_acting_there() {
    let ns = Netns::new().expect("namespace");
    let port = ns.fresh_port();
    let old = ns.inode().expect("inode");
    let config =
        format!("interval = \"1s\"\n[[rule]]\nlocal_port = {port}\nidle_timeout = \"1s\"\n");
    let mut r = start(&ns, &config, &[("LANG", "zh_CN.UTF-8")]);
    let start_line = actions(&r, "start").remove(0);
    assert!(
        start_line["netns"]
            .as_str()
            .is_some_and(|l| l.contains(&format!("net:{old}"))),
        "{start_line}"
    );
    let new = ns.recreate().expect("recreate");
    assert_ne!(old, new);
    ns.spawn(&["python3", "-c", IDLE_PAIR, &port.to_string()])
        .expect("idle pair");
    let stop = r
        .wait_line_even_if_exited("the stop line", WAIT, |v| v["action"] == "stop")
        .expect("stop line");
    let reason = stop["reason"].as_str().expect("reason");
    assert!(
        reason.contains(&format!("net:{old}"))
            && reason.contains(&format!("now means another namespace [net:{new}]"))
            && reason.contains("--follow-netns"),
        "{reason}"
    );
    let status = r.stop(WAIT).expect("exit status");
    assert_eq!(status.code(), Some(69), "{status:?}\n{}", r.stderr());
    let err = r.stderr();
    assert!(
        err.contains(&format!("现在指向另一个命名空间 [net:{new}]")) && err.contains("已停止"),
        "{err}"
    );
    // The new namespace's idle pair: untouched, and no kill was ever logged.
    sockdoc_lab::wait::poll(WAIT, "the idle pair", || {
        Ok(if established_on(&ns, port) == 2 {
            Ok(())
        } else {
            Err("not yet".to_string())
        })
    })
    .expect("idle pair up");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(established_on(&ns, port), 2);
    assert!(actions(&r, "kill").is_empty(), "{:?}", r.lines());
}

/// With --follow-netns the switch is deliberate: logged as its own record, then the rule applies in
/// the new namespace.
#[test]
fn follow_netns_switches_deliberately_and_says_so() {
    let ns = Netns::new().expect("namespace");
    let port = ns.fresh_port();
    let old = ns.inode().expect("inode");
    let config =
        format!("interval = \"1s\"\n[[rule]]\nlocal_port = {port}\nidle_timeout = \"1s\"\n");
    let mut r = Reaper::start(
        BIN,
        &ns,
        &config,
        &["--metrics", "127.0.0.1:0", "--follow-netns"],
        &[],
    )
    .expect("start");
    let new = ns.recreate().expect("recreate");
    ns.spawn(&["python3", "-c", IDLE_PAIR, &port.to_string()])
        .expect("idle pair");
    let switch = r
        .wait_line("the netns record", WAIT, |v| v["action"] == "netns")
        .expect("netns line");
    assert_eq!(switch["outcome"], "followed");
    assert!(
        switch["from"]
            .as_str()
            .is_some_and(|s| s.contains(&format!("net:{old}")))
            && switch["to"]
                .as_str()
                .is_some_and(|s| s.contains(&format!("net:{new}"))),
        "{switch}"
    );
    r.wait_line("a kill in the new namespace", WAIT, |v| {
        v["action"] == "kill" && v["outcome"] == "killed"
    })
    .expect("kill line");
    assert!(r.stderr().contains("following it"), "{}", r.stderr());
    assert!(r.running());
}

/// Waits until the daemon's stderr holds `needle`.
fn wait_stderr(r: &Reaper, needle: &str) -> bool {
    let until = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < until {
        if r.stderr().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// `--lang zh`: `--check`, the daemon's stderr lines and its error lines are Chinese; its JSON
/// records are the same as in English.
#[test]
fn reap_speaks_chinese_when_asked() {
    let dir = sockdoc_lab::doctor::Workdir::new("reap-zh").expect("dir");
    let ok = dir
        .write(
            "ok.toml",
            "dry_run = true\n[[rule]]\nname = \"ftp\"\nlocal_port = 21\nidle_timeout = \"2h\"\n",
        )
        .expect("write");
    let ok = ok.to_string_lossy().into_owned();
    let run = sockdoc_lab::cli::run(BIN, &["--lang", "zh", "reap", "--config", &ok, "--check"])
        .expect("run")
        .expect_ok();
    assert!(
        run.stdout.contains("正确, 1 条规则") && run.stdout.contains("  ftp: sport = :21 (演练)"),
        "{}",
        run.stdout
    );
    let run = sockdoc_lab::cli::run(
        BIN,
        &["--all-netns", "--lang", "zh", "reap", "--config", &ok],
    )
    .expect("run");
    assert_eq!(run.code(), Some(64), "{run:?}");
    assert!(
        run.stderr.contains("reap 只在一个网络命名空间中工作"),
        "{}",
        run.stderr
    );

    let ns = Netns::new().expect("namespace");
    let config =
        "interval = \"1s\"\ndry_run = true\n[[rule]]\nlocal_port = 21\nidle_timeout = \"1s\"\n";
    let mut r =
        Reaper::start(BIN, &ns, config, &["--metrics", "off", "--lang", "zh"], &[]).expect("start");
    assert!(wait_stderr(&r, "条规则, 每 1s 扫描一次"), "{}", r.stderr());
    assert!(r.stderr().contains("操作日志: 标准输出"), "{}", r.stderr());
    r.rewrite("[[rule]]\nname = \"x\"\n").expect("rewrite");
    r.signal(libc::SIGHUP).expect("SIGHUP");
    assert!(
        wait_stderr(&r, "新配置被拒绝, 继续使用原配置"),
        "{}",
        r.stderr()
    );
    let rejected = r
        .wait_line("the config record", WAIT, |v| v["action"] == "config")
        .expect("config line");
    assert_eq!(rejected["outcome"], "rejected", "{rejected}");
    assert_eq!(r.stop(WAIT).expect("stop").code(), Some(0));
}
