//! The `rst` rung of `sockdoc kill` (sequence numbers learned from a challenge ACK, then a forged
//! RST) and raw probes for ghost suspects no process holds (`ghosts --probe`), between two fresh
//! namespaces joined by a veth pair: the server side (where sockdoc acts) and the client side (the
//! peers). The test process holds both ends of every connection, so it sees what the owner and the
//! peer of a killed socket experience; `ss` in each namespace is the cross-check.
//!
//! Observed on Linux 6.18: a forged RST with the learned sequence number removes an ESTABLISHED,
//! CLOSE-WAIT, FIN-WAIT-1, FIN-WAIT-2, LAST-ACK or SYN-RECV socket (the request socket answers an
//! out-of-window SYN with an ACK), and a TIME-WAIT entry when net.ipv4.tcp_rfc1337 = 0
//! (with 1 the entry ignores it, and sockdoc says so up front); the owner of a reset ESTABLISHED
//! socket reads ECONNRESET; the peer's end is reset only with `--tell-peer`. Needs root, `ip`,
//! `nft` and `ss`.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sockdoc_lab::cli::{run_command, Run};
use sockdoc_lab::doctor::{link, sysctl_set, Link, Workdir};
use sockdoc_lab::probe::{ghosts_probe_args, result_for};
use sockdoc_lab::{in_netns, ss, Hook, Netns, SockState, SsSocket};

const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A sockdoc run taking longer than this is killed (generous: the machine may be busy).
const DEADLINE: Duration = Duration::from_secs(120);

/// A server namespace and a client namespace joined by veth, a listener of the test process in the
/// server namespace, and a place for the audit log.
struct Pair {
    server: Netns,
    client: Netns,
    link: Link,
    listener: TcpListener,
    port: u16,
    dir: Workdir,
}

impl Pair {
    fn new() -> Pair {
        let server = Netns::new().expect("server namespace");
        let client = Netns::new().expect("client namespace");
        let link = link(&server, &client).expect("veth link");
        let ip = link.server_ip;
        let listener = in_netns(&server, move || TcpListener::bind((ip, 0))).expect("listen");
        let port = listener.local_addr().expect("addr").port();
        Pair {
            server,
            client,
            link,
            listener,
            port,
            dir: Workdir::new("rst").expect("temp dir"),
        }
    }

    fn server_addr(&self) -> SocketAddr {
        SocketAddr::from((self.link.server_ip, self.port))
    }

    /// A client connection from the client namespace (not accepted).
    fn connect(&self) -> TcpStream {
        let addr = self.server_addr();
        let c = in_netns(&self.client, move || {
            TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        })
        .expect("connect");
        c.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        c
    }

    /// A connection accepted by the test process: (client end, server end).
    fn accepted(&self) -> (TcpStream, TcpStream) {
        let c = self.connect();
        let (s, _) = self.listener.accept().expect("accept");
        s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        (c, s)
    }

    /// `sockdoc --netns SERVER ARGS...` with stdin null and no `$SSH_CONNECTION`.
    fn sockdoc(&self, args: &[&str]) -> Run {
        let mut all = vec!["--netns", self.server.name()];
        all.extend_from_slice(args);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockdoc"));
        cmd.args(&all).env_remove("SSH_CONNECTION");
        run_command(cmd, all.iter().map(|s| s.to_string()).collect(), DEADLINE)
            .expect("run sockdoc")
    }

    fn audit(&self) -> String {
        self.dir.join("audit.jsonl").to_string_lossy().into_owned()
    }

    /// `kill --json --yes --method rst [extra] FILTER` → the JSON document.
    fn kill_rst(&self, extra: &[&str], filter: &[&str]) -> (Run, Value) {
        let audit = self.audit();
        let mut args = vec![
            "kill",
            "--json",
            "--yes",
            "--method",
            "rst",
            "--audit-log",
            &audit,
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(filter);
        let run = self.sockdoc(&args);
        let doc = run.json("kill");
        (run, doc)
    }

    /// The server-namespace socket from local port `lport` to peer port `pport` (TCP), if any.
    fn server_side(&self, lport: u16, pport: u16) -> Option<SsSocket> {
        find(&self.server, lport, pport)
    }

    fn client_side(&self, lport: u16, pport: u16) -> Option<SsSocket> {
        find(&self.client, lport, pport)
    }
}

fn find(ns: &Netns, lport: u16, pport: u16) -> Option<SsSocket> {
    ss::snapshot_quick(ns)
        .expect("ss")
        .into_iter()
        .find(|s| s.local.port == lport && s.peer.port == pport)
}

fn port_of(s: &TcpStream) -> u16 {
    s.local_addr().expect("addr").port()
}

/// Filter words selecting one TCP connection of the server side.
fn filter(state: &str, sport: u16, dport: u16) -> Vec<String> {
    [
        "tcp",
        "state",
        state,
        "sport",
        "=",
        &format!(":{sport}"),
        "dport",
        "=",
        &format!(":{dport}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The only result of a one-socket kill: checks it was killed by `rst` alone, with a note.
fn assert_killed_by_rst(run: &Run, doc: &Value) -> Value {
    assert_eq!(
        (doc["selected"].as_u64(), doc["killed"].as_u64()),
        (Some(1), Some(1)),
        "{doc:#}\nstderr: {}",
        run.stderr
    );
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr);
    let r = doc["results"][0].clone();
    assert_eq!(r["outcome"], "killed", "{r:#}");
    assert_eq!(r["method"], "rst", "{r:#}");
    let attempts = r["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1, "{r:#}");
    assert_eq!(attempts[0]["method"], "rst");
    assert_eq!(attempts[0]["ok"], true);
    let note = attempts[0]["note"]
        .as_str()
        .expect("a note on the rst rung");
    assert!(
        note.contains("challenge ACK") && note.contains("RST to the socket with seq"),
        "{note}"
    );
    r
}

#[test]
fn rst_kills_established_the_owner_reads_econnreset_and_the_peer_is_told_only_when_asked() {
    let p = Pair::new();
    let (mut told_c, mut told_s) = p.accepted();
    let (mut quiet_c, mut quiet_s) = p.accepted();
    // Some traffic first, so the sequence numbers are not the initial ones.
    told_c.write_all(b"ping").expect("write");
    told_s.read_exact(&mut [0u8; 4]).expect("read");
    told_s.write_all(b"pong!").expect("write");
    told_c.read_exact(&mut [0u8; 5]).expect("read");
    let (tp, qp) = (port_of(&told_c), port_of(&quiet_c));
    assert_eq!(
        p.server_side(p.port, tp).map(|s| s.state),
        Some(SockState::Established)
    );

    let f = filter("established", p.port, tp);
    let (run, doc) = p.kill_rst(&["--tell-peer"], &strs(&f));
    let r = assert_killed_by_rst(&run, &doc);
    let note = r["attempts"][0]["note"].as_str().expect("note");
    assert!(note.contains("RST to the peer"), "{note}");
    assert!(p.server_side(p.port, tp).is_none(), "server end gone");
    assert!(
        p.client_side(tp, p.port).is_none(),
        "--tell-peer: the client end in the other namespace is gone too"
    );
    let e = told_s
        .read(&mut [0u8; 8])
        .expect_err("owner reads an error");
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "owner: {e}");
    let e = told_c.read(&mut [0u8; 8]).expect_err("peer reads an error");
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "peer: {e}");

    let f = filter("established", p.port, qp);
    let (run, doc) = p.kill_rst(&[], &strs(&f));
    let r = assert_killed_by_rst(&run, &doc);
    let note = r["attempts"][0]["note"].as_str().expect("note");
    assert!(!note.contains("peer"), "{note}");
    assert!(p.server_side(p.port, qp).is_none(), "server end gone");
    let e = quiet_s
        .read(&mut [0u8; 8])
        .expect_err("owner reads an error");
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "owner: {e}");
    let peer = p
        .client_side(qp, p.port)
        .expect("without --tell-peer the client end is untouched");
    assert_eq!(peer.state, SockState::Established, "{}", peer.line);
    // Its next send meets a host that no longer knows the connection.
    quiet_c.write_all(b"hello?").expect("write");
    let e = quiet_c.read(&mut [0u8; 8]).expect_err("reset on next send");
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "peer: {e}");

    // One outcome line per socket (after its intent line), with the rung and its note.
    let log = std::fs::read_to_string(p.audit()).expect("audit log");
    let all: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(
        all.iter().filter(|l| l["phase"] == "intent").count(),
        2,
        "{log}"
    );
    let lines: Vec<&Value> = all.iter().filter(|l| l["phase"] != "intent").collect();
    assert_eq!(lines.len(), 2, "{log}");
    for l in &lines {
        assert_eq!(l["method"], "rst", "{l}");
        assert_eq!(l["outcome"], "killed", "{l}");
        assert!(l["attempts"][0]["note"].is_string(), "{l}");
    }
}

/// Waits until the server ends of the connections from the given client ports are in the given
/// states, then kills each by a forged RST (filtered on its state and ports) and checks it is gone.
fn kill_each_by_rst(p: &Pair, targets: [(&str, SockState, u16); 2]) {
    let what = targets
        .map(|(state, _, _)| state.to_uppercase())
        .join(" and ");
    sockdoc_lab::wait::poll(IO_TIMEOUT, &what, || {
        let seen = targets.map(|(_, _, port)| p.server_side(p.port, port).map(|s| s.state));
        Ok(if seen.iter().zip(&targets).all(|(s, t)| *s == Some(t.1)) {
            Ok(())
        } else {
            Err(format!("{seen:?}"))
        })
    })
    .expect("states");
    for (state, _, port) in targets {
        let f = filter(state, p.port, port);
        let (run, doc) = p.kill_rst(&[], &strs(&f));
        let r = assert_killed_by_rst(&run, &doc);
        assert_eq!(r["socket"]["state"], state, "{r:#}");
        if let Some(s) = p.server_side(p.port, port) {
            panic!("{state}: still there: {}", s.line);
        }
    }
}

#[test]
fn rst_kills_close_wait_and_fin_wait_2() {
    let p = Pair::new();
    // CLOSE-WAIT: the client shut its sending side; the server end holds on.
    let (cw_c, _cw_s) = p.accepted();
    cw_c.shutdown(Shutdown::Write).expect("shutdown");
    // FIN-WAIT-2: the server end shut its sending side; the client ACKed and holds on.
    let (fw_c, fw_s) = p.accepted();
    fw_s.shutdown(Shutdown::Write).expect("shutdown");
    let (cwp, fwp) = (port_of(&cw_c), port_of(&fw_c));
    kill_each_by_rst(
        &p,
        [
            ("close-wait", SockState::CloseWait, cwp),
            ("fin-wait-2", SockState::FinWait2, fwp),
        ],
    );
}

/// A TIME-WAIT entry on the server side: the server closes first, then the client.
fn time_wait(p: &Pair) -> u16 {
    let (c, s) = p.accepted();
    let port = port_of(&c);
    drop(s);
    sockdoc_lab::wait::poll(IO_TIMEOUT, "client CLOSE-WAIT", || {
        Ok(match p.client_side(port, p.port).map(|s| s.state) {
            Some(SockState::CloseWait) => Ok(()),
            other => Err(format!("{other:?}")),
        })
    })
    .expect("close-wait");
    drop(c);
    sockdoc_lab::wait::poll(IO_TIMEOUT, "server TIME-WAIT", || {
        Ok(match p.server_side(p.port, port).map(|s| s.state) {
            Some(SockState::TimeWait) => Ok(()),
            other => Err(format!("{other:?}")),
        })
    })
    .expect("time-wait");
    port
}

#[test]
fn rst_kills_time_wait_unless_rfc1337() {
    let p = Pair::new();
    sysctl_set(&p.server, "net.ipv4.tcp_rfc1337", "0").expect("sysctl");
    let port = time_wait(&p);
    let f = filter("time-wait", p.port, port);
    let (run, doc) = p.kill_rst(&[], &strs(&f));
    assert_killed_by_rst(&run, &doc);
    assert!(p.server_side(p.port, port).is_none(), "TIME-WAIT gone");

    sysctl_set(&p.server, "net.ipv4.tcp_rfc1337", "1").expect("sysctl");
    let port = time_wait(&p);
    let f = filter("time-wait", p.port, port);
    let (run, doc) = p.kill_rst(&[], &strs(&f));
    assert_eq!(
        run.code(),
        Some(1),
        "not killed: exit 1; stderr {}",
        run.stderr
    );
    let r = &doc["results"][0];
    assert_eq!(r["outcome"], "failed", "{r:#}");
    let why = r["reason"].as_str().expect("reason");
    assert!(why.contains("tcp_rfc1337 = 1"), "{why}");
    let s = p.server_side(p.port, port).expect("still there");
    assert_eq!(s.state, SockState::TimeWait, "{}", s.line);
}

#[test]
fn rst_kills_a_syn_recv_request() {
    let p = Pair::new();
    // The handshake's last ACK never reaches the server: the client is ESTABLISHED, the server
    // keeps a request socket in SYN-RECV (retransmitting its SYN-ACK).
    p.server
        .drop_packets(
            Hook::Input,
            &format!("tcp dport {} tcp flags == ack", p.port),
        )
        .expect("nft");
    let c = p.connect();
    let cport = port_of(&c);
    sockdoc_lab::wait::poll(IO_TIMEOUT, "SYN-RECV", || {
        Ok(match p.server_side(p.port, cport).map(|s| s.state) {
            Some(SockState::SynRecv) => Ok(()),
            other => Err(format!("{other:?}")),
        })
    })
    .expect("syn-recv");
    let f = filter("syn-recv", p.port, cport);
    let (run, doc) = p.kill_rst(&[], &strs(&f));
    let r = assert_killed_by_rst(&run, &doc);
    assert_eq!(r["socket"]["state"], "syn-recv", "{r:#}");
    if let Some(s) = p.server_side(p.port, cport) {
        panic!("SYN-RECV still there: {}", s.line);
    }
}

#[test]
fn rst_does_not_apply_to_udp() {
    let p = Pair::new();
    let ip = p.link.server_ip;
    let peer = SocketAddr::from((p.link.client_ip, 9));
    let u = in_netns(&p.server, move || {
        let u = UdpSocket::bind((ip, 0))?;
        u.connect(peer)?;
        Ok(u)
    })
    .expect("udp");
    let uport = u.local_addr().expect("addr").port();
    let f: Vec<String> = ["udp", "sport", "=", &format!(":{uport}")]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (run, doc) = p.kill_rst(&[], &strs(&f));
    assert_eq!(run.code(), Some(1), "stderr {}", run.stderr);
    let r = &doc["results"][0];
    assert_eq!(r["outcome"], "failed", "{r:#}");
    assert_eq!(r["socket"]["proto"], "udp", "{r:#}");
    let why = r["attempts"][0]["error"].as_str().expect("error");
    assert!(why.contains("does not apply to UDP"), "{why}");
    let still = ss::snapshot_quick(&p.server)
        .expect("ss")
        .into_iter()
        .any(|s| s.local.port == uport);
    assert!(still, "the UDP socket is untouched");
}

#[test]
fn confirm_above_needs_yes_off_a_terminal() {
    let p = Pair::new();
    let conns: Vec<(TcpStream, TcpStream)> = (0..3).map(|_| p.accepted()).collect();
    let audit = p.audit();
    let sport = format!(":{}", p.port);
    let base = [
        "kill",
        "--json",
        "--method",
        "rst",
        "--audit-log",
        &audit,
        "state",
        "established",
        "sport",
        "=",
        &sport,
    ];
    let mut over = base.to_vec();
    over.extend_from_slice(&["--confirm-above", "2"]);
    let run = p.sockdoc(&over);
    assert_eq!(run.code(), Some(64), "refused: {}", run.stderr);
    assert!(
        run.stderr.contains("--confirm-above 2") && run.stderr.contains("--yes"),
        "{}",
        run.stderr
    );
    let left = |p: &Pair| {
        conns
            .iter()
            .filter(|(c, _)| p.server_side(p.port, port_of(c)).is_some())
            .count()
    };
    assert_eq!(left(&p), 3, "nothing killed");
    assert!(
        !std::path::Path::new(&audit).exists(),
        "nothing recorded either"
    );
    over.push("--yes");
    let run = p.sockdoc(&over);
    let doc = run.json("kill");
    assert_eq!(doc["killed"], 3, "{doc:#}\nstderr: {}", run.stderr);
    assert_eq!(left(&p), 0);
}

/// Seconds of silence before the probe, above `--idle 1s`.
const IDLE: Duration = Duration::from_millis(1500);

#[test]
fn ghosts_probe_tells_dead_from_alive_in_the_accept_queue_with_raw_probes() {
    let p = Pair::new();
    // Nobody accepts: both server ends wait in the listener's queue, held by no process.
    let dead = p.connect();
    let alive = p.connect();
    let (dp, ap) = (port_of(&dead), port_of(&alive));
    // The dead client's host vanishes: its packets are dropped both ways, then it is closed
    // (its FIN never leaves).
    p.client
        .drop_packets(Hook::Input, &format!("tcp dport {dp}"))
        .expect("nft");
    p.client
        .drop_packets(Hook::Output, &format!("tcp sport {dp}"))
        .expect("nft");
    drop(dead);
    std::thread::sleep(IDLE);
    for port in [dp, ap] {
        let s = p.server_side(p.port, port).expect("in the accept queue");
        assert_eq!((s.state, s.ino), (SockState::Established, 0), "{}", s.line);
    }
    let audit = p.audit();
    let sport = format!(":{}", p.port);
    let probe = |extra: &[&str]| {
        let run = p.sockdoc(&ghosts_probe_args(&audit, extra, &sport));
        let doc = run.json("ghosts-probe");
        (run, doc)
    };
    let (run, doc) = probe(&[]);
    let d = result_for(&doc, dp);
    let a = result_for(&doc, ap);
    assert_eq!(d["verdict"], "dead", "{doc:#}\nstderr: {}", run.stderr);
    assert_eq!(d["method"], "raw", "{d:#}");
    assert!(
        d["reason"]
            .as_str()
            .is_some_and(|r| r.contains("raw probes unanswered")),
        "{d:#}"
    );
    assert_eq!(a["verdict"], "alive", "{a:#}");
    assert_eq!(a["method"], "raw", "{a:#}");
    assert_eq!(run.code(), Some(1), "a dead ghost left: warning exit");
    // A raw probe changes nothing: both are still there, ESTABLISHED, no timer.
    for port in [dp, ap] {
        let s = p.server_side(p.port, port).expect("still there");
        assert_eq!(s.state, SockState::Established, "{}", s.line);
        assert!(s.timer.is_none(), "{}", s.line);
    }
    let (run, doc) = probe(&["--reap", "--yes"]);
    assert_eq!(run.code(), Some(0), "{doc:#}\nstderr: {}", run.stderr);
    assert_eq!(result_for(&doc, dp)["reaped"], true, "{doc:#}");
    assert!(p.server_side(p.port, dp).is_none(), "the dead one reaped");
    assert!(p.server_side(p.port, ap).is_some(), "the alive one kept");
    drop(alive);
}

#[test]
fn rst_kills_fin_wait_1_and_last_ack_whose_fin_is_never_acked() {
    let p = Pair::new();
    // FIN-WAIT-1: the client's packets are dropped, then the server end shuts its sending side.
    let (fw_c, fw_s) = p.accepted();
    // LAST-ACK: the client shuts its side (server end CLOSE-WAIT), its packets are dropped, then
    // the server end shuts its side too.
    let (la_c, la_s) = p.accepted();
    la_c.shutdown(Shutdown::Write).expect("shutdown");
    let (fwp, lap) = (port_of(&fw_c), port_of(&la_c));
    sockdoc_lab::wait::poll(IO_TIMEOUT, "CLOSE-WAIT", || {
        Ok(match p.server_side(p.port, lap).map(|s| s.state) {
            Some(SockState::CloseWait) => Ok(()),
            other => Err(format!("{other:?}")),
        })
    })
    .expect("close-wait");
    for port in [fwp, lap] {
        p.client
            .drop_packets(Hook::Output, &format!("tcp sport {port}"))
            .expect("nft");
    }
    fw_s.shutdown(Shutdown::Write).expect("shutdown");
    la_s.shutdown(Shutdown::Write).expect("shutdown");
    kill_each_by_rst(
        &p,
        [
            ("fin-wait-1", SockState::FinWait1, fwp),
            ("last-ack", SockState::LastAck, lap),
        ],
    );
}
