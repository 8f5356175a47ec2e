//! `sockdoc events`: connections that end in a namespace are reported, one JSON line each, with their
//! addresses and byte counts, and a filter narrows them.

use std::io::{BufRead, BufReader};
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
    let mut ev = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args([
            "--netns",
            ns.name(),
            "--json",
            "events",
            "--count",
            "2",
            "--for",
            "15s",
            "tcp",
            "and",
            "sport",
            "=",
            &sport,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start events");
    // The first stderr line says the subscription is in place.
    let mut err = BufReader::new(ev.stderr.take().expect("stderr"));
    let mut first = String::new();
    err.read_line(&mut first).expect("ready line");
    assert!(first.starts_with("watching"), "{first}");
    ns.exec(&["python3", "-c", TRAFFIC, &port.to_string()])
        .expect("traffic");
    let stdout = ev.stdout.take().expect("stdout");
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .collect();
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
