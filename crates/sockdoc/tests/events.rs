//! `sockdoc events`: connections that end in a namespace are reported, one JSON line each, with their
//! addresses and byte counts, and a filter narrows them.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use sockdoc_lab::Netns;

const TRAFFIC: &str = r#"
import socket, sys
port = int(sys.argv[1])
l = socket.socket(); l.bind(("127.0.0.1", port)); l.listen(4)
c = socket.create_connection(("127.0.0.1", port)); s, _ = l.accept()
c.sendall(b"hello"); s.recv(5); s.close(); c.close(); l.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", port + 1)); u.close()
"#;

#[test]
fn ends_of_connections_stream_as_json_lines() {
    let ns = Netns::new().expect("namespace");
    let port = ns.fresh_port();
    let sport = format!(":{port}");
    let (mut ev, stdout) = start_events(&ns, &["--count", "2", "tcp", "and", "sport", "=", &sport]);
    ns.exec(&["python3", "-c", TRAFFIC, &port.to_string()])
        .expect("traffic");
    let lines: Vec<String> = stdout.lines().map_while(Result::ok).collect();
    let status = ev.wait().expect("events ends");
    assert!(status.success(), "{status:?}");
    assert_eq!(
        lines.len(),
        2,
        "listener and accepted connection: {lines:?}"
    );
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    for e in &events {
        assert_eq!(e["schema"], 1);
        assert_eq!(e["command"], "events");
        assert_eq!(e["socket"]["proto"], "tcp");
        assert_eq!(e["socket"]["local"]["port"], port);
    }
    let conn = events
        .iter()
        .find(|e| e["socket"]["remote"]["port"] != 0)
        .expect("the accepted connection's end");
    let received = conn["socket"]["tcp_info"]["bytes_received"]
        .as_u64()
        .expect("bytes");
    assert!(received >= 5, "{conn}");
}

/// The human output in Chinese: a real connection's end says which state it ended from, how long
/// it lived and what it carried, in the catalog's Chinese words.
#[test]
fn ends_read_in_chinese() {
    let ns = Netns::new().expect("namespace");
    let port = ns.fresh_port();
    let sport = format!(":{port}");
    let (mut ev, stdout) = start_events_as(
        &ns,
        "--lang=zh",
        &["--count", "2", "tcp", "and", "sport", "=", &sport],
    );
    ns.exec(&["python3", "-c", TRAFFIC, &port.to_string()])
        .expect("traffic");
    let lines: Vec<String> = stdout.lines().map_while(Result::ok).collect();
    let status = ev.wait().expect("events ends");
    assert!(status.success(), "{status:?}");
    assert_eq!(
        lines.len(),
        2,
        "listener and accepted connection: {lines:?}"
    );
    let local = format!("127.0.0.1:{port}");
    for l in &lines {
        assert!(l.contains(" tcp "), "{l}");
        assert!(l.contains(&local), "{l}");
        assert!(l.contains("从 ") || l.contains("已结束"), "{l}");
        assert!(!l.contains("from ") && !l.contains("acked"), "{l}");
    }
    let conn = lines
        .iter()
        .find(|l| !l.contains("-> 0.0.0.0:") && !l.contains("-> *:"))
        .expect("the accepted connection's end");
    assert!(conn.contains("已确认") && conn.contains("已接收"), "{conn}");
}

/// An old connection open before events started, and a new one that lives ~2 s and ends from
/// CLOSE-WAIT. Prints the new one's real lifetime.
const LIFETIMES: &str = r#"
import socket, sys, time
port = int(sys.argv[1])
l = socket.socket(); l.bind(("127.0.0.1", port)); l.listen(4)
c1 = socket.create_connection(("127.0.0.1", port)); s1, _ = l.accept()
print("ready", flush=True)
sys.stdin.readline()
c2 = socket.create_connection(("127.0.0.1", port)); s2, _ = l.accept()
born = time.monotonic()
c2.sendall(b"hello"); s2.recv(5)
time.sleep(1.5)
c2.close()
time.sleep(0.8)
s2.close()
lived = time.monotonic() - born
time.sleep(0.3)
s1.close(); c1.close(); l.close()
print("lived %.3f" % lived, flush=True)
"#;

/// A Python script in a namespace (killed with it) that prints `ready`, waits for a line on stdin,
/// then prints one more line and exits.
struct Script {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Script {
    /// `python3 -c SCRIPT ARGS...` in `ns`; returns once it said `ready`.
    fn start(ns: &Netns, script: &str, args: &[&str]) -> Script {
        let mut child = ns
            .command("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python");
        ns.register_pid(child.id());
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("ready");
        assert_eq!(line.trim(), "ready");
        Script { child, out }
    }

    /// Says go; returns the script's last line once it has exited.
    fn go(mut self) -> String {
        let mut stdin = self.child.stdin.take().expect("stdin");
        writeln!(stdin, "go").expect("go");
        let mut line = String::new();
        self.out.read_line(&mut line).expect("the last line");
        self.child.wait().expect("python ends");
        line
    }
}

/// `sockdoc --netns NS --json events --scan 200ms --for 20s ARGS...`, killed with the namespace; returns
/// once its first stderr line says the subscription is in place.
fn start_events(
    ns: &Netns,
    args: &[&str],
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    start_events_as(ns, "--json", args)
}

/// [`start_events`] with `output` (`--json`, or `--lang=zh` for Chinese text) instead of `--json`.
fn start_events_as(
    ns: &Netns,
    output: &str,
    args: &[&str],
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut ev = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args([
            "--netns",
            ns.name(),
            output,
            "events",
            "--scan",
            "200ms",
            "--for",
            "20s",
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start events");
    ns.register_pid(ev.id());
    let mut err = BufReader::new(ev.stderr.take().expect("stderr"));
    let mut first = String::new();
    err.read_line(&mut first).expect("ready line");
    assert!(first.starts_with("watching"), "{first}");
    let out = BufReader::new(ev.stdout.take().expect("stdout"));
    (ev, out)
}

#[test]
fn ends_carry_the_last_state_the_lifetime_and_the_owner() {
    let ns = Netns::new().expect("namespace");
    let port = ns.fresh_port();
    let sport = format!(":{port}");
    let py = Script::start(&ns, LIFETIMES, &[&port.to_string()]);

    // Every end on the port, with owners; and only those that ended from CLOSE-WAIT.
    let (mut all, all_out) = start_events(
        &ns,
        &["-p", "--count", "3", "tcp", "and", "sport", "=", &sport],
    );
    let (mut cw, cw_out) = start_events(
        &ns,
        &[
            "--count",
            "1",
            "state",
            "close-wait",
            "and",
            "sport",
            "=",
            &sport,
        ],
    );
    // Two scans have seen the old connection before the new one starts.
    std::thread::sleep(std::time::Duration::from_millis(600));
    let line = py.go();
    let lived: f64 = line
        .trim()
        .strip_prefix("lived ")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("python said {line:?}"));

    let events: Vec<serde_json::Value> = all_out
        .lines()
        .map(|l| serde_json::from_str(&l.expect("line")).expect("JSON"))
        .collect();
    assert!(all.wait().expect("events ends").success());
    assert_eq!(events.len(), 3, "new, old, listener: {events:#?}");
    let by_peer = |want_state: &str| {
        events
            .iter()
            .find(|e| e["last_state"] == want_state && e["socket"]["remote"]["port"] != 0)
            .unwrap_or_else(|| panic!("an end from {want_state}: {events:#?}"))
    };
    // The new connection: seen starting, so its lifetime is bounded on both sides.
    let new = by_peer("close-wait");
    assert_eq!(new["lifetime"]["kind"], "between", "{new}");
    let min = new["lifetime"]["min_s"].as_f64().expect("min");
    let max = new["lifetime"]["max_s"].as_f64().expect("max");
    assert!(
        min <= lived + 0.1 && lived <= max + 0.1,
        "{min} <= {lived} <= {max}"
    );
    // Within about one scan interval (plus scheduling on a loaded machine).
    assert!(max - min < 1.0, "{min}..{max}");
    assert_eq!(new["process"]["name"], "python3", "{new}");
    assert!(new["socket"]["tcp_info"]["bytes_received"].as_u64() >= Some(5));
    // The old one was open before events began.
    let old = by_peer("established");
    assert_eq!(old["lifetime"]["kind"], "at_least", "{old}");
    assert!(old["lifetime"]["min_s"].as_f64() >= Some(lived));
    let listener = events
        .iter()
        .find(|e| e["socket"]["remote"]["port"] == 0)
        .expect("the listener's end");
    assert_eq!(listener["last_state"], "listen", "{listener}");

    // The state filter saw only the connection that ended from CLOSE-WAIT.
    let only: Vec<serde_json::Value> = cw_out
        .lines()
        .map(|l| serde_json::from_str(&l.expect("line")).expect("JSON"))
        .collect();
    assert!(cw.wait().expect("events ends").success());
    assert_eq!(only.len(), 1, "{only:#?}");
    assert_eq!(only[0]["socket"]["cookie"], new["socket"]["cookie"]);
}

/// Connects to a listener of its own and closes `n` times (both ends end each time), then exits.
const CHURN: &str = r#"
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port)); l.listen(128)
for _ in range(n):
    c = socket.create_connection(("127.0.0.1", port)); s, _ = l.accept()
    s.close(); c.close()
l.close()
"#;

/// `sockdoc --netns NS --json events ARGS...` with stdout piped and stderr in `err`; returns once the
/// subscription is in place.
fn spawn_events(ns: &Netns, err: &std::path::Path, args: &[&str]) -> std::process::Child {
    let ev = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(["--netns", ns.name(), "--json", "events"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(err).expect("stderr file"),
        ))
        .spawn()
        .expect("start events");
    ns.register_pid(ev.id());
    sockdoc_lab::wait::poll(
        std::time::Duration::from_secs(20),
        "the watching line",
        || {
            let text = std::fs::read_to_string(err)?;
            Ok(if text.starts_with("watching") {
                Ok(())
            } else {
                Err(text)
            })
        },
    )
    .expect("events started");
    ev
}

/// `kill -SIG pid`.
fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .expect("kill");
    assert!(st.success(), "kill -{sig} {pid}");
}

/// Resident memory of `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// Lines of the stream: (ends, lost records).
fn split(lines: &[String]) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let all: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    all.into_iter().partition(|v| v.get("lost").is_none())
}

fn lost_sum(lost: &[serde_json::Value], why: &str) -> u64 {
    lost.iter()
        .filter(|v| v["why"] == why)
        .map(|v| v["lost"].as_u64().expect("lost count"))
        .sum()
}

/// 20k connections churn while nobody reads events' output: the ends that do not fit the queue are
/// counted and reported as lost (output too slow), so reported + lost covers every end; memory stays
/// bounded while the output is blocked.
#[test]
fn a_blocked_output_loses_ends_counted_and_memory_stays_bounded() {
    const N: u64 = 20_000;
    let ns = Netns::new().expect("namespace");
    let port = ns.fresh_port();
    let dir = sockdoc_lab::doctor::Workdir::new("events-blocked").expect("dir");
    let err = dir.join("stderr.log");
    let sport = format!(":{port}");
    let mut ev = spawn_events(
        &ns,
        &err,
        &[
            "--scan", "200ms", "--buffer", "2000", "sport", "=", &sport, "or", "dport", "=", &sport,
        ],
    );
    let mut stdout = ev.stdout.take().expect("stdout");
    ns.exec(&["python3", "-c", CHURN, &port.to_string(), &N.to_string()])
        .expect("churn");
    // Give the listener time to take in the last broadcasts; the output is still blocked.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let resident = rss(ev.id());
    signal(ev.id(), "INT");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut text).expect("read the stream");
    let status = ev.wait().expect("events ends");
    assert!(status.success(), "{status:?}");
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let (ends, lost) = split(&lines);
    let slow = lost_sum(&lost, "output_too_slow");
    assert!(slow > 0, "a lost record: {lost:?}");
    assert!(
        lost.iter()
            .all(|v| v["schema"] == 1 && v["command"] == "events" && v["time"].is_string()),
        "{lost:?}"
    );
    let counted = ends.len() as u64 + slow + lost_sum(&lost, "ended_unreported");
    // Both ends of every connection, and the listener.
    assert!(
        counted > 2 * N,
        "{} reported + {slow} lost < {} ends; lost records: {lost:?}",
        ends.len(),
        2 * N + 1
    );
    assert!(resident < 64 << 20, "RSS {resident} bytes while blocked");
    let err = std::fs::read_to_string(&err).expect("stderr");
    assert!(
        err.contains("lost") && err.contains("output too slow"),
        "{err}"
    );
}

/// Holds 5000 connections, waits for a line on stdin, closes them all, churns `n` more, exits.
const HOLD_THEN_CHURN: &str = r#"
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port)); l.listen(1024)
held = []
for _ in range(5000):
    c = socket.create_connection(("127.0.0.1", port)); s, _ = l.accept(); held += [c, s]
print("ready", flush=True)
sys.stdin.readline()
for x in held: x.close()
for _ in range(n):
    c = socket.create_connection(("127.0.0.1", port)); s, _ = l.accept()
    s.close(); c.close()
l.close()
print("done", flush=True)
"#;

/// The reader stalled (events stopped with SIGSTOP) while 10k held sockets and 40k churned ones end:
/// the kernel's buffer (1 MiB here) overflows; the overflow is reported, and every end of a
/// connection the scans saw is either reported or counted as lost.
#[test]
fn a_stalled_reader_reports_kernel_losses_and_counts_what_the_scans_saw() {
    let ns = Netns::new().expect("namespace");
    let port = ns.fresh_port();
    let dir = sockdoc_lab::doctor::Workdir::new("events-stalled").expect("dir");
    let err = dir.join("stderr.log");
    let py = Script::start(&ns, HOLD_THEN_CHURN, &[&port.to_string(), "20000"]);
    let sport = format!(":{port}");
    let mut ev = spawn_events(
        &ns,
        &err,
        &[
            "--scan",
            "200ms",
            "--kernel-buffer",
            "1",
            "sport",
            "=",
            &sport,
            "or",
            "dport",
            "=",
            &sport,
        ],
    );
    let stdout = BufReader::new(ev.stdout.take().expect("stdout"));
    let got = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = got.clone();
    let reader = std::thread::spawn(move || {
        stdout
            .lines()
            .map_while(Result::ok)
            .inspect(|_| {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
            .collect::<Vec<_>>()
    });
    // Scans see the held connections.
    std::thread::sleep(std::time::Duration::from_millis(800));
    signal(ev.id(), "STOP");
    assert_eq!(py.go().trim(), "done");
    signal(ev.id(), "CONT");
    // Until the stream is quiet for two seconds: scans have decided what vanished unreported (two
    // missed scans, then a second's grace for late ends) and the lost records are out.
    let mut last = usize::MAX;
    while got.load(std::sync::atomic::Ordering::SeqCst) != last {
        last = got.load(std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    signal(ev.id(), "INT");
    let status = ev.wait().expect("events ends");
    assert!(status.success(), "{status:?}");
    let lines = reader.join().expect("reader");
    let (ends, lost) = split(&lines);
    let seen_by_scans = ends
        .iter()
        .filter(|e| e["lifetime"]["kind"] == "at_least" || e["lifetime"]["kind"] == "between")
        .count() as u64;
    let unreported = lost_sum(&lost, "ended_unreported") + lost_sum(&lost, "output_too_slow");
    let overflows = lost_sum(&lost, "kernel_buffer_overflow");
    eprintln!(
        "{} ends reported ({seen_by_scans} of connections the scans saw), {unreported} counted lost, {overflows} overflows; stderr: {}",
        ends.len(),
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    // 5000 held connections (both ends) and the listener, all seen by the scans: each end is
    // reported or counted lost.
    assert!(
        seen_by_scans + unreported >= 10_001,
        "{seen_by_scans} + {unreported}; lost: {lost:?}"
    );
    // Exact counts never count an end twice (a late end is not a lost one).
    assert!(
        ends.len() as u64 + unreported <= 50_001,
        "{} + {unreported}",
        ends.len()
    );
    // Whatever went missing was said: the kernel's overflow is in the stream and on stderr.
    let err = std::fs::read_to_string(&err).expect("stderr");
    if ends.len() < 50_001 {
        assert!(overflows > 0, "a silent loss: {lost:?}");
        assert!(
            lost.iter()
                .any(|v| v["why"] == "kernel_buffer_overflow" && v["exact"] == false),
            "{lost:?}"
        );
        assert!(err.contains("overflowed"), "{err}");
    }
}

/// events on `--netns X` is pinned: when X is deleted and recreated it says so and exits 69 (it used
/// to keep listening in the dead namespace); with --follow-netns it subscribes in the new one.
#[test]
fn a_recreated_namespace_stops_events_or_is_followed() {
    let ns = Netns::new().expect("namespace");
    let old = ns.inode().expect("inode");
    let dir = sockdoc_lab::doctor::Workdir::new("events-netns").expect("dir");
    let err = dir.join("stderr.log");
    let mut ev = spawn_events(&ns, &err, &["--scan", "200ms", "tcp"]);
    let new = ns.recreate().expect("recreate");
    let status =
        sockdoc_lab::wait::poll(std::time::Duration::from_secs(20), "events to exit", || {
            Ok(match ev.try_wait()? {
                Some(s) => Ok(s),
                None => Err("still running".to_string()),
            })
        })
        .expect("events exits");
    assert_eq!(status.code(), Some(69), "{status:?}");
    let text = std::fs::read_to_string(&err).expect("stderr");
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.contains(&format!("net:{old}"))
            && last.contains(&format!("[net:{new}]"))
            && last.contains("--follow-netns"),
        "{text}"
    );

    // Following: ends in the new namespace are reported.
    let err2 = dir.join("stderr2.log");
    let port = ns.fresh_port();
    let sport = format!(":{port}");
    let ev = spawn_events(
        &ns,
        &err2,
        &[
            "--follow-netns",
            "--scan",
            "200ms",
            "--count",
            "1",
            "tcp",
            "and",
            "sport",
            "=",
            &sport,
        ],
    );
    let newer = ns.recreate().expect("recreate again");
    sockdoc_lab::wait::poll(std::time::Duration::from_secs(20), "the switch", || {
        let text = std::fs::read_to_string(&err2)?;
        Ok(
            if text.contains("following it")
                && text.contains(&format!(
                    "watching connection ends in {} [net:{newer}]",
                    ns.name()
                ))
            {
                Ok(())
            } else {
                Err(text)
            },
        )
    })
    .expect("followed");
    ns.exec(&["python3", "-c", TRAFFIC, &port.to_string()])
        .expect("traffic");
    let out = ev.wait_with_output().expect("events ends");
    assert!(out.status.success(), "{:?}", out.status);
    let line = String::from_utf8_lossy(&out.stdout);
    let e: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
    assert_eq!(e["socket"]["local"]["port"], port, "{e}");
}
