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

/// `sockdoc --netns NS --json events --scan 200ms --for 20s ARGS...`, killed with the namespace; returns
/// once its first stderr line says the subscription is in place.
fn start_events(
    ns: &Netns,
    args: &[&str],
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut ev = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args([
            "--netns",
            ns.name(),
            "--json",
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
    let mut py = ns
        .command("python3")
        .args(["-c", LIFETIMES, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python");
    ns.register_pid(py.id());
    let mut py_out = BufReader::new(py.stdout.take().expect("stdout"));
    let mut line = String::new();
    py_out.read_line(&mut line).expect("ready");
    assert_eq!(line.trim(), "ready");

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
    let mut stdin = py.stdin.take().expect("stdin");
    writeln!(stdin, "go").expect("go");
    line.clear();
    py_out.read_line(&mut line).expect("lifetime");
    let lived: f64 = line
        .trim()
        .strip_prefix("lived ")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("python said {line:?}"));
    py.wait().expect("python ends");

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
