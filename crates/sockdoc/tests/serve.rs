//! `sockdoc serve`: the exporter answers /metrics with the namespace's real numbers (cross-checked
//! with ss), /healthz with ok, anything else with 404, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use sockdoc_lab::wait::poll;
use sockdoc_lab::Netns;

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

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to the exporter");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").expect("request");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("response");
    body
}

fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_match_the_namespace() {
    let ns = Netns::new().expect("namespace");
    let port = ns.fresh_port();
    ns.spawn(&["python3", "-c", HOLDER, &port.to_string()])
        .expect("holder");
    poll(Duration::from_secs(10), "4 established sockets", || {
        let t = ns
            .exec(&["ss", "-tnH", "state", "established"])
            .expect("ss");
        Ok(if t.lines().count() == 4 {
            Ok(())
        } else {
            Err(t)
        })
    })
    .expect("connections");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(["--netns", ns.name(), "serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let mut first = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut first)
        .expect("serving line");
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_default()
        .to_string();
    let metrics = get(&addr, "/metrics");
    let health = get(&addr, "/healthz");
    let other = get(&addr, "/nope");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().expect("serve ends");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    let est = r#"sockdoc_sockets{proto="tcp",family="ipv4",state="established"}"#;
    assert_eq!(value(&metrics, est), Some(4.0), "{metrics}");
    let listen = r#"sockdoc_sockets{proto="tcp",family="ipv4",state="listen"}"#;
    assert_eq!(value(&metrics, listen), Some(1.0), "{metrics}");
    let per_port = format!("sockdoc_listen_port_established{{port=\"{port}\"}}");
    assert_eq!(value(&metrics, &per_port), Some(2.0), "{metrics}");
    let cov = format!("sockdoc_keepalive_coverage_ratio{{port=\"{port}\"}}");
    assert_eq!(value(&metrics, &cov), Some(0.0), "{metrics}");
    assert!(
        metrics.contains("sockdoc_process_sockets{process=\"python3\"} 5"),
        "{metrics}"
    );
    assert!(metrics.contains("# EOF"), "OpenMetrics ends with # EOF");
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
        "{health}"
    );
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    assert_eq!(status.code(), Some(0), "SIGTERM ends serve cleanly");
}
