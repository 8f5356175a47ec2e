//! `sockdoc kill` against a socket in each state the lab can build (ESTABLISHED, CLOSE-WAIT,
//! FIN-WAIT-2, TIME-WAIT, SYN-RECV, connected UDP), one fresh namespace per socket, and what the
//! kernel really does, read back with `ss`.
//!
//! Observed on Linux 6.18 (CONFIG_INET_DIAG_DESTROY=y): SOCK_DESTROY removes the socket in every
//! one of these states, including the TIME-WAIT entry and the SYN-RECV request socket, which no
//! process holds (`tcp_abort` handles both); the owner of a destroyed ESTABLISHED socket reads
//! ECONNABORTED. `--method shutdown` needs an owner: on a CLOSE-WAIT socket held by a process it
//! sends the FIN (LAST-ACK, then gone once the peer ACKs); on a TIME-WAIT entry it fails with "no
//! process holds this socket" and exit 1.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::time::Duration;

use sockdoc_lab::treat::by_cookie;
use sockdoc_lab::{ss, Expected, Family, Kind, Netns, Proto, Scenario, SockState, SsSocket};

use crate::run::{strs, treat, Attempt, Audit, KillDoc, KillResult, Run};

/// A socket built in its state: the namespace, the scenario holding its files, the socket.
struct Built {
    ns: Netns,
    scenario: Scenario,
    target: Expected,
    cookie: u64,
}

/// Builds `kind` in a fresh namespace and picks its expected socket in `state`.
fn build(kind: Kind, state: SockState, proto_udp: bool) -> Built {
    let ns = Netns::new().expect("fresh namespace");
    let scenario = kind.build(&ns, Family::V4).expect("build the scenario");
    let target = scenario
        .expected
        .iter()
        .find(|e| e.state == state && (e.proto == Proto::Udp) == proto_udp)
        .unwrap_or_else(|| panic!("{kind}: no {state:?} socket in {:?}", scenario.expected))
        .clone();
    let snap = ss::snapshot_quick(&ns).expect("ss");
    let cookie = snap
        .iter()
        .find(|s| target.matches(s))
        .and_then(|s| s.cookie)
        .unwrap_or_else(|| panic!("{target}: no cookie in ss"));
    Built {
        ns,
        scenario,
        target,
        cookie,
    }
}

impl Built {
    /// A filter selecting exactly the target: its state, protocol and both ports.
    fn filter(&self) -> Vec<String> {
        let state = match self.target.state {
            SockState::Established => "established",
            SockState::CloseWait => "close-wait",
            SockState::FinWait2 => "fin-wait-2",
            SockState::TimeWait => "time-wait",
            SockState::SynRecv => "syn-recv",
            other => panic!("no filter word for {other:?}"),
        };
        let proto = match self.target.proto {
            Proto::Udp => "udp",
            _ => "tcp",
        };
        [
            proto,
            "state",
            state,
            "sport",
            "=",
            &format!(":{}", self.target.local.port()),
            "dport",
            "=",
            &format!(":{}", self.target.peer.port()),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// `sockdoc --netns NS kill --json --audit-log TMP --yes --method METHOD FILTER`; checks that
    /// exactly the target was selected and acted on, and returns its result with the run.
    fn kill(&self, method: &str) -> (Run, KillDoc, KillResult, Audit) {
        let audit = Audit::new();
        let filter = self.filter();
        let run = treat(
            &self.ns,
            "kill",
            &audit,
            &["--yes", "--method", method],
            &strs(&filter),
            &[],
        );
        let doc = KillDoc::parse(&run);
        assert_eq!(
            (doc.selected, doc.acted),
            (1, 1),
            "{}: the filter selects exactly it: {:#}",
            self.target,
            doc.doc
        );
        let r = doc.result(self.cookie).clone();
        let lines = audit.lines();
        assert_eq!(lines.len(), 1, "one audit line: {lines:?}");
        assert_eq!(lines[0].cookie, self.cookie, "{}", lines[0].json);
        assert_eq!(lines[0].outcome, r.outcome, "{}", lines[0].json);
        (run, doc, r, audit)
    }

    /// The target as ss shows it now (by cookie).
    fn now(&self) -> Option<SsSocket> {
        let snap = ss::snapshot_quick(&self.ns).expect("ss");
        by_cookie(&snap, self.cookie).cloned()
    }

    /// The scenario's file of the target (matched by its addresses), as a TcpStream (a dup).
    fn owner_stream(&self) -> TcpStream {
        let peer_port = self.target.peer.port();
        let fd: &OwnedFd = self
            .scenario
            .fds()
            .iter()
            .find(|fd| {
                let s = TcpStream::from(fd.try_clone().expect("dup"));
                s.local_addr().ok() == Some(self.target.local)
                    && s.peer_addr().ok().map(|a| a.port()) == Some(peer_port)
            })
            .expect("the scenario holds the target's file");
        TcpStream::from(fd.try_clone().expect("dup"))
    }
}

/// Destroy worked and the kernel no longer shows the socket.
fn assert_destroyed(b: &Built, run: &Run, r: &KillResult) {
    assert_eq!(
        r.outcome, "killed",
        "{}: {}\nstderr: {}",
        b.target, r.json, run.stderr
    );
    assert_eq!(r.method.as_deref(), Some("destroy"), "{}", r.json);
    assert_eq!(
        r.attempts,
        [Attempt {
            method: "destroy".into(),
            ok: true,
            error: None
        }],
        "{}",
        r.json
    );
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr);
    if let Some(s) = b.now() {
        panic!("{}: destroyed but ss still shows it: {}", b.target, s.line);
    }
}

#[test]
fn destroy_established_is_gone_and_its_owner_reads_econnaborted() {
    let b = build(Kind::Established, SockState::Established, false);
    // The owner's file, found by its addresses while it still has them.
    let mut owner = b.owner_stream();
    let (run, _, r, _) = b.kill("destroy");
    assert_eq!(r.socket["state"], "established", "{}", r.json);
    assert_destroyed(&b, &run, &r);
    owner
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let err = owner
        .read(&mut [0u8; 16])
        .expect_err("the owner of a destroyed socket reads an error");
    assert_eq!(
        err.kind(),
        ErrorKind::ConnectionAborted,
        "ECONNABORTED: {err}"
    );
}

#[test]
fn destroy_close_wait_is_gone() {
    let b = build(Kind::HalfClosed, SockState::CloseWait, false);
    let (run, _, r, _) = b.kill("destroy");
    assert_eq!(r.socket["state"], "close-wait", "{}", r.json);
    assert_destroyed(&b, &run, &r);
}

#[test]
fn destroy_fin_wait_2_is_gone() {
    let b = build(Kind::HalfClosed, SockState::FinWait2, false);
    let (run, _, r, _) = b.kill("destroy");
    assert_eq!(r.socket["state"], "fin-wait-2", "{}", r.json);
    assert_destroyed(&b, &run, &r);
}

#[test]
fn destroy_time_wait_is_gone_on_this_kernel() {
    let b = build(Kind::TimeWait, SockState::TimeWait, false);
    let (run, _, r, _) = b.kill("destroy");
    assert_eq!(r.socket["state"], "time-wait", "{}", r.json);
    assert_destroyed(&b, &run, &r);
}

#[test]
fn destroy_syn_recv_is_gone_on_this_kernel() {
    let b = build(Kind::SynRecv, SockState::SynRecv, false);
    let (run, _, r, _) = b.kill("destroy");
    assert_eq!(r.socket["state"], "syn-recv", "{}", r.json);
    assert_destroyed(&b, &run, &r);
}

#[test]
fn destroy_connected_udp_is_gone() {
    let b = build(Kind::UdpConnected, SockState::Established, true);
    let (run, _, r, _) = b.kill("destroy");
    assert_eq!(r.socket["proto"], "udp", "{}", r.json);
    assert_destroyed(&b, &run, &r);
}

#[test]
fn shutdown_close_wait_held_by_a_process_sends_the_fin() {
    let b = build(Kind::HalfClosed, SockState::CloseWait, false);
    let (run, _, r, _) = b.kill("shutdown");
    assert_eq!(r.outcome, "killed", "{}\nstderr: {}", r.json, run.stderr);
    assert_eq!(r.method.as_deref(), Some("shutdown"), "{}", r.json);
    assert_eq!(
        r.attempts,
        [Attempt {
            method: "shutdown".into(),
            ok: true,
            error: None
        }],
        "{}",
        r.json
    );
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr);
    if let Some(s) = b.now() {
        assert_eq!(
            s.state,
            SockState::LastAck,
            "after shutdown: LAST-ACK or gone: {}",
            s.line
        );
    }
}

#[test]
fn shutdown_time_wait_fails_no_process_holds_it() {
    let b = build(Kind::TimeWait, SockState::TimeWait, false);
    let (run, doc, r, _) = b.kill("shutdown");
    assert_eq!(r.outcome, "failed", "{}", r.json);
    assert_eq!(doc.killed, 0, "{:#}", doc.doc);
    assert_eq!(run.code(), Some(1), "stderr: {}", run.stderr);
    assert_eq!(r.method, None, "{}", r.json);
    assert_eq!(r.attempts.len(), 1, "{}", r.json);
    assert_eq!(r.attempts[0].method, "shutdown", "{}", r.json);
    assert!(!r.attempts[0].ok, "{}", r.json);
    for why in [r.reason.as_deref(), r.attempts[0].error.as_deref()] {
        assert!(
            why.is_some_and(|w| w.starts_with("no process holds this socket")),
            "{}",
            r.json
        );
    }
    let s = b.now().expect("the TIME-WAIT entry is untouched");
    assert_eq!(s.state, SockState::TimeWait, "{}", s.line);
}
