//! The audit log is written ahead of every act: a batch's intent records are on disk before any socket
//! of the batch is touched, its outcome records before the next batch; a record that cannot be
//! written stops the run before its next act (exit 74, one line, the report of what was done).
//!
//! - a full disk (a small tmpfs filled to the last block): nothing is killed;
//! - a disk that fills during the run: the run stops part-way, and every socket the kernel no longer
//!   shows has its intent record;
//! - SIGKILL at random points (0-250 ms after the log appears) of a kill of 3000 connections, five
//!   times: every destroyed socket has its intent record;
//! - a normal run: each killed socket has its intent, then its outcome, with the same run id;
//! - a rung that answered but that the kernel's re-read contradicts (shutdown of a FIN-WAIT-2
//!   socket): a corrected outcome record follows;
//! - `reap` with its `--log` on a disk that fills: it stops (exit 74) before its next kill, and every
//!   socket it destroyed has its intent record.
//!
//! The tmpfs mounts live in temp directories and are unmounted by a guard, also when a test fails.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sockdoc_lab::disk::Tmpfs;
use sockdoc_lab::doctor::Workdir;
use sockdoc_lab::treat::{Conn, EchoServer};
use sockdoc_lab::SockState;

use crate::run::{records, sockdoc, sport, strs, Audit, KillDoc};

/// The reason a selected socket the run did not reach is skipped (as `sockdoc kill` words it).
const NOT_REACHED: &str = "not acted on: the audit log could not be written";

/// `sockdoc --netns NS kill --yes --json --audit-log LOG sport = :PORT`.
fn kill_args(srv: &EchoServer, log: &Path) -> Vec<String> {
    let mut a: Vec<String> = [
        "--netns",
        srv.ns.name(),
        "kill",
        "--yes",
        "--json",
        "--max",
        "100000",
        "--audit-log",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(log.to_string_lossy().into_owned());
    a.extend(sport(srv.port));
    a
}

/// The server ends with these cookies that the kernel still shows, by state.
fn present(srv: &EchoServer, cookies: &HashSet<u64>) -> HashMap<u64, SockState> {
    srv.sockets()
        .expect("ss")
        .into_iter()
        .filter_map(|s| {
            s.cookie
                .filter(|c| cookies.contains(c))
                .map(|c| (c, s.state))
        })
        .collect()
}

/// Cookies of the records with this `phase` (kill records only).
fn phase(recs: &[Value], phase: &str) -> HashSet<u64> {
    recs.iter()
        .filter(|r| r["action"] == "kill" && r["phase"] == phase)
        .map(|r| r["socket"]["cookie"].as_u64().expect("socket.cookie"))
        .collect()
}

/// Every record of the log is a kill with a run id, and an intent (with the filter and the whole
/// socket) or an outcome (the socket named by cookie, state and ends, and what became of it).
fn check_shape(recs: &[Value]) {
    for r in recs {
        assert_eq!(r["action"], "kill", "{r}");
        assert!(
            r["run"].as_str().is_some_and(|s| !s.is_empty()),
            "run id: {r}"
        );
        assert!(r["uid"].is_u64() && r["socket"]["cookie"].is_u64(), "{r}");
        assert!(r["socket"]["local"]["port"].is_u64(), "{r}");
        match r["phase"].as_str() {
            Some("intent") => assert!(r["filter"].is_string() && r["socket"]["inode"].is_u64()),
            Some("outcome") => assert!(r["outcome"].is_string() && r.get("filter").is_none()),
            _ => panic!("neither intent nor outcome: {r}"),
        }
    }
}

fn cookie_set(conns: &[Conn]) -> HashSet<u64> {
    conns.iter().map(Conn::cookie).collect()
}

/// The `cookies` the kernel no longer shows (`now`: what it still shows).
fn not_present(cookies: &HashSet<u64>, now: &HashMap<u64, SockState>) -> HashSet<u64> {
    cookies
        .iter()
        .filter(|c| !now.contains_key(c))
        .copied()
        .collect()
}

/// The cookies of the report's results that `keep` keeps.
fn result_cookies(doc: &Value, keep: impl Fn(&Value) -> bool) -> HashSet<u64> {
    doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| keep(r))
        .map(|r| r["socket"]["cookie"].as_u64().expect("cookie"))
        .collect()
}

/// The cookies the report skips as not reached (the log could not be written).
fn not_reached(doc: &Value) -> HashSet<u64> {
    result_cookies(doc, |r| {
        r["outcome"] == "skipped" && r["reason"] == NOT_REACHED
    })
}

/// A 4 MiB disk with 1.2 MiB left: room for the first batch's intents and outcomes (512 of each,
/// well under 1 KB apiece) and part of the second's, so that a run of 1500 kills stops part-way.
fn filling_disk() -> Tmpfs {
    let fs = Tmpfs::mount(4 << 20).expect("a tmpfs");
    fs.fill_leaving(1200 * 1024).expect("fill the tmpfs");
    fs
}

#[test]
fn a_full_disk_kills_nothing_and_says_so_in_each_language() {
    let srv = EchoServer::start().expect("echo server");
    let conns = srv.connect(20).expect("connections");
    let fs = Tmpfs::full().expect("a full tmpfs");
    let log = fs.join("audit.jsonl");
    let args = kill_args(&srv, &log);
    let run = sockdoc(&strs(&args));
    assert_eq!(
        run.code(),
        Some(74),
        "a log that cannot be written: exit 74\nstdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    // Nothing destroyed: every connection is still ESTABLISHED and echoes.
    let cookies = cookie_set(&conns);
    let now = present(&srv, &cookies);
    for c in &conns {
        assert_eq!(
            now.get(&c.cookie()),
            Some(&SockState::Established),
            "{} was touched",
            c.client
        );
        assert_eq!(c.echo("alive").expect("echo"), "alive");
    }
    let err = run.stderr_lines();
    assert_eq!(err.len(), 1, "one line: {:?}", run.stderr);
    assert!(
        err[0].contains(&log.display().to_string())
            && err[0].contains("No space left on device")
            && err[0].contains("--audit-log"),
        "names the log, the error and what to do: {}",
        err[0]
    );
    // The report says so: nothing acted on, every socket not reached.
    let doc = run.json("kill");
    assert_eq!(
        (doc["acted"].as_u64(), doc["killed"].as_u64()),
        (Some(0), Some(0)),
        "{doc:#}"
    );
    let results = doc["results"].as_array().expect("results");
    assert_eq!(
        not_reached(&doc),
        cookies,
        "every selected socket not reached: {doc:#}"
    );
    assert!(results.iter().all(|r| r["outcome"] == "skipped"), "{doc:#}");
    assert!(records(&log).is_empty(), "no torn record left behind");

    // The same refusal in Chinese: the log, the kernel's error and what to do, no English words.
    let zh: Vec<String> = ["--lang", "zh"]
        .iter()
        .map(|s| s.to_string())
        .chain(args)
        .collect();
    let run = sockdoc(&strs(&zh));
    assert_eq!(run.code(), Some(74), "{}", run.stderr);
    let err = run.stderr_lines();
    assert_eq!(err.len(), 1, "one line: {:?}", run.stderr);
    let want = format!("无法写入审计日志 {}: ", log.display());
    assert!(err[0].contains(&want), "{}", err[0]);
    assert!(
        err[0].contains("20 个套接字未处理") && err[0].contains("--audit-log"),
        "{}",
        err[0]
    );
    assert!(!err[0].contains("cannot write"), "{}", err[0]);
}

#[test]
fn a_disk_that_fills_during_the_run_stops_it_with_every_kill_on_record() {
    // Batches of 512, 2048 and 440: the log fills at the second or third commit, whatever the
    // records' exact length here.
    const N: usize = 3000;
    let srv = EchoServer::start().expect("echo server");
    let conns = srv.connect(N).expect("connections");
    let cookies = cookie_set(&conns);
    let fs = filling_disk();
    let log = fs.join("audit.jsonl");
    let run = sockdoc(&strs(&kill_args(&srv, &log)));
    assert_eq!(
        run.code(),
        Some(74),
        "the disk filled: exit 74\nstderr: {}",
        run.stderr
    );
    let err = run.stderr_lines();
    assert_eq!(err.len(), 1, "one line: {:?}", run.stderr);
    assert!(
        err[0].contains("No space left on device") && err[0].contains("not acted on"),
        "{}",
        err[0]
    );
    let recs = records(&log);
    check_shape(&recs);
    let intents = phase(&recs, "intent");
    let now = present(&srv, &cookies);
    let gone = not_present(&cookies, &now);
    assert!(
        !gone.is_empty() && gone.len() < N,
        "the run stopped part-way: {} of {N} gone",
        gone.len()
    );
    let unrecorded: Vec<&u64> = gone.difference(&intents).collect();
    assert!(
        unrecorded.is_empty(),
        "{} destroyed sockets have no intent record (of {} gone)",
        unrecorded.len(),
        gone.len()
    );
    assert!(
        now.values().all(|s| *s == SockState::Established),
        "what was not acted on is untouched"
    );
    // The report covers what was done: the killed are exactly the gone, the rest not reached.
    let doc = run.json("kill");
    assert_eq!(
        result_cookies(&doc, |r| r["outcome"] == "killed"),
        gone,
        "killed in the report = gone from the kernel"
    );
    assert_eq!(doc["killed"].as_u64(), Some(gone.len() as u64));
    assert_eq!(
        not_reached(&doc),
        cookies.difference(&gone).copied().collect::<HashSet<u64>>(),
        "the rest: not acted on"
    );
    eprintln!(
        "disk filled: {} of {N} killed, {} intent and {} outcome records",
        gone.len(),
        intents.len(),
        phase(&recs, "outcome").len()
    );
}

/// A seed-free pseudo-random number from the clock.
fn random_below(n: u64, salt: u64) -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = t ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(std::process::id());
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x % n
}

#[test]
fn sigkill_at_random_points_leaves_every_destroyed_socket_on_record() {
    const N: usize = 3000;
    const RUNS: u64 = 5;
    const DELAY_MS: u64 = 250;
    let srv = EchoServer::start().expect("echo server");
    let mut conns: Vec<Conn> = Vec::new();
    let dir = Workdir::new("audit-sigkill").expect("temp dir");
    for i in 0..RUNS {
        // Top the population up to N live connections.
        conns.retain(|c| c.echo("x").is_ok());
        let more = N - conns.len();
        conns.extend(srv.connect(more).expect("connections"));
        let cookies = cookie_set(&conns);
        assert_eq!(present(&srv, &cookies).len(), N, "run {i}: {N} connections");
        let log = dir.join(&format!("audit-{i}.jsonl"));
        // The delay counts from the log's creation (just before the first act; the census and the
        // /proc walk before it take a varying time), so that most runs die while acting.
        let delay = Duration::from_millis(random_below(DELAY_MS + 1, i));
        let mut child = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
            .args(kill_args(&srv, &log))
            .env_remove("SSH_CONNECTION")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sockdoc kill");
        let started = Instant::now();
        while !log.exists() && started.elapsed() < Duration::from_secs(20) {
            if child.try_wait().expect("try_wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(delay);
        let t = Instant::now();
        let _ = child.kill(); // SIGKILL, this child only
        let status = child.wait().expect("wait");
        let recs = records(&log);
        check_shape(&recs);
        let intents = phase(&recs, "intent");
        let outcomes = phase(&recs, "outcome");
        let now = present(&srv, &cookies);
        let gone = not_present(&cookies, &now);
        eprintln!(
            "run {i}: SIGKILL {delay:?} after the log appeared ({status}, reaped in {:?}): {} of {N} destroyed, {} intent, {} outcome records",
            t.elapsed(),
            gone.len(),
            intents.len(),
            outcomes.len()
        );
        let unrecorded = gone.difference(&intents).count();
        assert_eq!(
            unrecorded, 0,
            "run {i} (SIGKILL after {delay:?}): {unrecorded} of {} destroyed sockets have no intent record",
            gone.len()
        );
        assert!(
            outcomes.is_subset(&intents),
            "run {i}: an outcome without its intent"
        );
        assert!(
            now.values().all(|s| *s == SockState::Established),
            "run {i}: the rest is untouched"
        );
    }
}

#[test]
fn each_killed_socket_has_its_intent_then_its_outcome() {
    let srv = EchoServer::start().expect("echo server");
    let conns = srv.connect(6).expect("connections");
    let audit = Audit::new();
    let run = sockdoc(&strs(&kill_args(&srv, &audit.path)));
    let doc = KillDoc::parse(&run);
    assert_eq!((doc.acted, doc.killed), (6, 6), "{:#}", doc.doc);
    let recs = records(&audit.path);
    check_shape(&recs);
    assert_eq!(recs.len(), 12, "one intent and one outcome per socket");
    let run_id = recs[0]["run"].clone();
    for c in &conns {
        let at: Vec<(usize, &Value)> = recs
            .iter()
            .enumerate()
            .filter(|(_, r)| r["socket"]["cookie"] == c.cookie())
            .collect();
        assert_eq!(at.len(), 2, "{at:?}");
        let ((i, intent), (j, outcome)) = (at[0], at[1]);
        assert!(i < j);
        assert_eq!(intent["phase"], "intent", "{intent}");
        assert_eq!(
            intent["methods"],
            serde_json::json!(["destroy", "shutdown", "rst"]),
            "{intent}"
        );
        assert!(intent.get("outcome").is_none(), "{intent}");
        assert_eq!(outcome["phase"], "outcome", "{outcome}");
        assert_eq!(outcome["outcome"], "killed", "{outcome}");
        assert_eq!(outcome["method"], "destroy", "{outcome}");
        assert_eq!((&intent["run"], &outcome["run"]), (&run_id, &run_id));
    }
    // The outcome lines keep the shape `Audit::lines` checks.
    assert_eq!(audit.lines().len(), 6);
}

#[test]
fn a_rung_the_kernel_contradicts_is_recorded_failed() {
    // A FIN-WAIT-2 server end: shutdown(2) through its owner's fd answers 0 but changes nothing.
    let ns = sockdoc_lab::Netns::new().expect("namespace");
    let port = ns.fresh_port();
    let (client, server) = sockdoc_lab::in_netns(&ns, move || {
        let l = std::net::TcpListener::bind(("127.0.0.1", port))?;
        let c = std::net::TcpStream::connect(("127.0.0.1", port))?;
        let (s, _) = l.accept()?;
        s.shutdown(std::net::Shutdown::Write)?;
        Ok((c, s))
    })
    .expect("a connection");
    let snap = sockdoc_lab::doctor::wait_sockets(
        &ns,
        "the server end in FIN-WAIT-2",
        Duration::from_secs(10),
        false,
        |snap| {
            snap.iter()
                .find(|s| s.local.port == port && s.state == SockState::FinWait2)
                .cloned()
                .ok_or_else(|| "not yet".to_string())
        },
    )
    .expect("FIN-WAIT-2");
    let cookie = snap.cookie.expect("cookie");
    let audit = Audit::new();
    let path = audit.path.to_string_lossy().into_owned();
    let p = format!(":{port}");
    let run = sockdoc(&[
        "--netns",
        ns.name(),
        "kill",
        "--yes",
        "--json",
        "--method",
        "shutdown",
        "--audit-log",
        &path,
        "sport",
        "=",
        &p,
    ]);
    let doc = KillDoc::parse(&run);
    let r = doc.result(cookie);
    assert_eq!(r.outcome, "failed", "{}", r.json);
    assert_eq!(
        r.reason.as_deref(),
        Some("the kernel still shows it unchanged"),
        "{}",
        r.json
    );
    let recs = records(&audit.path);
    check_shape(&recs);
    let phases: Vec<(&str, &str)> = recs
        .iter()
        .filter(|v| v["socket"]["cookie"] == cookie)
        .map(|v| {
            (
                v["phase"].as_str().unwrap_or(""),
                v["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        phases,
        [("intent", ""), ("outcome", "failed")],
        "the outcome is written after the batch is read again: {recs:#?}"
    );
    // The rung's own answer is kept in the attempts.
    let last = recs.last().expect("records");
    assert_eq!(last["attempts"][0]["method"], "shutdown", "{last}");
    assert_eq!(last["attempts"][0]["error"], Value::Null, "{last}");
    // One record shape for every kill: why not killed is `error` (`reason` is why it was chosen).
    let last = recs.last().expect("records");
    assert_eq!(
        last["error"], "the kernel still shows it unchanged",
        "{last}"
    );
    drop((client, server));
}

#[test]
fn reap_stops_before_its_next_kill_when_its_log_fills() {
    // More intents than the log has room for (3000 of ~900 bytes in 1.2 MiB), whatever the scans
    // pick: the log fills at a commit of intents, before the last kill.
    const N: usize = 3000;
    let srv = EchoServer::start().expect("echo server");
    let conns = srv.connect(N).expect("connections");
    let cookies = cookie_set(&conns);
    let recs = reap_on_a_filling_log(
        &srv,
        &format!(
            "interval = \"1s\"\nmax_kills_per_interval = 100000\n[[rule]]\nname = \"idle\"\nlocal_port = {}\nidle_timeout = \"1s\"\n",
            srv.port
        ),
    );
    let intents = phase(&recs, "intent");
    let now = present(&srv, &cookies);
    let gone = not_present(&cookies, &now);
    eprintln!(
        "reap on a filling log: {} of {N} killed, {} intent and {} outcome records",
        gone.len(),
        intents.len(),
        phase(&recs, "outcome").len()
    );
    assert!(gone.len() < N, "stopped before killing everything");
    let unrecorded = gone.difference(&intents).count();
    assert_eq!(unrecorded, 0, "destroyed sockets without an intent record");
}

/// Runs `sockdoc reap` in `srv`'s namespace with `config`, its action log at `log`, until it exits
/// (at most 30 s; then it is killed and the status is `None`); returns the status and its stderr.
fn reap_until_it_stops(
    srv: &EchoServer,
    config: &Path,
    log: &Path,
) -> (Option<std::process::ExitStatus>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args([
            "--netns",
            srv.ns.name(),
            "reap",
            "--metrics",
            "off",
            "--config",
        ])
        .arg(config)
        .arg("--log")
        .arg(log)
        .env_remove("SSH_CONNECTION")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockdoc reap");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break Some(s);
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    (status, stderr)
}

#[test]
fn reap_stops_before_its_next_keepalive_change_when_its_log_fills() {
    const N: usize = 1500;
    let srv = EchoServer::start().expect("echo server");
    let conns = srv.connect(N).expect("connections");
    let cookies = cookie_set(&conns);
    let recs = reap_on_a_filling_log(
        &srv,
        &format!(
            "interval = \"1s\"\n[[rule]]\nname = \"ka\"\nlocal_port = {}\n[rule.keepalive]\nidle = 77\nintvl = 5\ncount = 3\n",
            srv.port
        ),
    );
    let intents: HashSet<u64> = recs
        .iter()
        .filter(|r| r["action"] == "keepalive" && r["phase"] == "intent")
        .filter_map(|r| r["socket"]["cookie"].as_u64())
        .collect();
    // What the kernel shows with a keepalive timer now is what reap changed.
    let changed: HashSet<u64> = srv
        .sockets()
        .expect("ss")
        .into_iter()
        .filter(|s| s.timer.as_ref().is_some_and(|t| t.kind == "keepalive"))
        .filter_map(|s| s.cookie.filter(|c| cookies.contains(c)))
        .collect();
    eprintln!(
        "reap keepalive on a filling log: {} of {N} changed, {} intent records",
        changed.len(),
        intents.len()
    );
    assert!(
        !changed.is_empty(),
        "reap changed some sockets before the log filled"
    );
    assert!(changed.len() < N, "stopped before changing everything");
    let unrecorded = changed.difference(&intents).count();
    assert_eq!(unrecorded, 0, "changed sockets without an intent record");
}

/// Runs `sockdoc reap` in `srv`'s namespace with `config` (TOML) and its action log on a disk that
/// fills up; reap must stop by itself with exit 74 and say why. Returns the records that reached the
/// log.
fn reap_on_a_filling_log(srv: &EchoServer, config: &str) -> Vec<Value> {
    let fs = filling_disk();
    let log = fs.join("actions.jsonl");
    let dir = Workdir::new("audit-reap").expect("temp dir");
    let config = dir.write("reap.toml", config).expect("config");
    let (status, stderr) = reap_until_it_stops(srv, &config, &log);
    let status = status.expect("reap must stop by itself when its log is full");
    assert_eq!(status.code(), Some(74), "exit 74 on a full log: {stderr}");
    assert!(
        stderr.contains("cannot write the action log") && stderr.contains("No space left"),
        "{stderr}"
    );
    records(&log)
}
