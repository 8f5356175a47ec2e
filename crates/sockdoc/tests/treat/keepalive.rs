//! `sockdoc keepalive`: SO_KEEPALIVE and its timings retrofitted onto a running server's sockets
//! (through duplicates of its fds), without restarting it; the dry run and refusals.

use sockdoc_lab::doctor::sysctl;
use sockdoc_lab::ss;
use sockdoc_lab::treat::{by_cookie, Conn, EchoServer};
use sockdoc_lab::SockState;

use crate::run::{assert_refused, sockdoc, sport, strs, treat, Audit, Before, KaDoc};

/// `--idle 60 --intvl 5 --cnt 3`.
const IDLE_S: u64 = 60;
const OPTS: [&str; 7] = ["--yes", "--idle", "60", "--intvl", "5", "--cnt", "3"];

/// The keepalive settings a socket starts with: the namespace's sysctls, SO_KEEPALIVE off.
fn defaults(srv: &EchoServer) -> Before {
    let n = |k: &str| -> u64 { sysctl(&srv.ns, k).expect("sysctl").parse().expect("number") };
    Before {
        keepalive: false,
        idle: n("net.ipv4.tcp_keepalive_time"),
        intvl: n("net.ipv4.tcp_keepalive_intvl"),
        cnt: n("net.ipv4.tcp_keepalive_probes"),
    }
}

/// Asserts that ss shows a keepalive timer on every server end of `conns`, due within
/// `lo_ms..=IDLE` (IDLE minus the time the connection has been idle), no probe sent yet.
fn assert_keepalive_timers(srv: &EchoServer, conns: &[Conn], lo_ms: u64) {
    let snap = srv.sockets().expect("ss");
    for c in conns {
        let s = by_cookie(&snap, c.cookie())
            .unwrap_or_else(|| panic!("server end of {} gone", c.client));
        assert_eq!(s.state, SockState::Established, "{}", s.line);
        let t = s
            .timer
            .as_ref()
            .unwrap_or_else(|| panic!("no timer after keepalive: {}", s.line));
        assert_eq!(t.kind, "keepalive", "{}", s.line);
        assert!(
            (lo_ms..=IDLE_S * 1000).contains(&t.remaining_ms),
            "keepalive due in about {IDLE_S} s: {}",
            s.line
        );
        assert_eq!(t.count, 0, "no probe yet: {}", s.line);
    }
}

/// No socket on the server's port has a timer (idle connections without keepalive).
fn assert_no_timers(srv: &EchoServer, why: &str) {
    for s in srv.sockets().expect("ss") {
        assert!(s.timer.is_none(), "{why}: {}", s.line);
    }
}

#[test]
fn keepalive_is_retrofitted_onto_a_running_server() {
    let (mut srv, conns) = {
        let srv = EchoServer::start().expect("start the echo server");
        let c = srv.connect(3).expect("connect");
        (srv, c)
    };
    let audit = Audit::new();
    let filter = sport(srv.port);
    let listener = srv.listener.cookie.expect("listener cookie");
    let listener_fd = srv.listener.users[0].fd;
    let before = defaults(&srv);
    let fds_before = srv.fd_count().expect("fd count");
    assert_no_timers(&srv, "before");

    let run = treat(&srv.ns, "keepalive", &audit, &OPTS, &strs(&filter), &[]);
    let doc = KaDoc::parse(&run);
    assert!(!doc.dry_run, "{:#}", doc.doc);
    let estab = doc.in_state("established");
    assert_eq!(estab.len(), 3, "the three server ends: {:#}", doc.doc);
    for c in &conns {
        let r = doc.result(c.cookie());
        assert_eq!(r.outcome, "set", "{}", r.json);
        assert_eq!(r.reason, None, "{}", r.json);
        assert_eq!(r.pid, Some(u64::from(srv.pid)), "the owner: {}", r.json);
        assert_eq!(
            r.fd,
            u64::try_from(c.server_fd()).ok(),
            "the owner's fd, as ss -p shows it: {}",
            r.json
        );
        assert_eq!(r.before, Some(before), "never had keepalive: {}", r.json);
    }
    // The listener: selected by `sport = :P` (keepalive takes ESTABLISHED and LISTEN sockets).
    let listener_set = match doc.results.iter().find(|r| r.cookie == listener) {
        Some(r) => {
            assert_eq!(r.outcome, "set", "{}", r.json);
            assert_eq!(r.state, "listen", "{}", r.json);
            assert_eq!(r.pid, Some(u64::from(srv.pid)), "{}", r.json);
            assert_eq!(r.fd, u64::try_from(listener_fd).ok(), "{}", r.json);
            assert_eq!(r.before.map(|b| b.keepalive), Some(false), "{}", r.json);
            true
        }
        None => false,
    };
    let expect = 3 + u64::from(listener_set);
    assert_eq!((doc.selected, doc.set), (expect, expect), "{:#}", doc.doc);

    // The kernel: a keepalive timer on each server end, ~60 s out (minus the idle time so far);
    // the client ends (another process's sockets, not selected) still have none.
    assert_keepalive_timers(&srv, &conns, 30_000);
    let snap = srv.sockets().expect("ss");
    for c in &conns {
        let client = snap
            .iter()
            .find(|s| s.local.socket_addr() == c.client)
            .expect("client end");
        assert!(client.timer.is_none(), "not selected: {}", client.line);
    }
    // sockdoc list agrees.
    let port = format!(":{}", srv.port);
    let list = sockdoc(&[
        "list",
        "--netns",
        srv.ns.name(),
        "--json",
        "state",
        "established",
        "sport",
        "=",
        &port,
    ])
    .expect_ok()
    .json("list");
    let socks = list["namespaces"][0]["sockets"]
        .as_array()
        .unwrap_or_else(|| panic!("sockets: {list}"));
    assert_eq!(socks.len(), 3, "{list:#}");
    for s in socks {
        assert_eq!(s["timer"]["kind"], "keepalive", "{s}");
    }

    // The owner is untouched: same process, same descriptors, the same connections still echo.
    assert!(srv.running(), "{}", srv.log());
    assert_eq!(srv.fd_count().expect("fd count"), fds_before, "owner's fds");
    let owners = ss::query(&srv.ns, &["state", "established", "sport", "=", &port]).expect("ss");
    for c in &conns {
        let s = by_cookie(&owners, c.cookie()).expect("server end");
        assert_eq!(s.users, c.server_end.users, "same owner and fd: {}", s.line);
        assert_eq!(c.echo("after keepalive").expect("echo"), "after keepalive");
    }

    // What was set: a second run reads it back as `before`.
    let run = treat(&srv.ns, "keepalive", &audit, &OPTS, &strs(&filter), &[]);
    let again = KaDoc::parse(&run);
    let now = Before {
        keepalive: true,
        idle: IDLE_S,
        intvl: 5,
        cnt: 3,
    };
    for c in &conns {
        let r = again.result(c.cookie());
        assert_eq!(r.before, Some(now), "idle/intvl/cnt as asked: {}", r.json);
    }
    if listener_set {
        let r = again.result(listener);
        assert_eq!(r.before, Some(now), "{}", r.json);
        // A listener's settings are inherited: a connection accepted now starts with them.
        let fresh = srv.connect(1).expect("a new connection");
        assert_keepalive_timers(&srv, &fresh, 50_000);
    }

    // Audit: per socket set, an intent record (written and synced first) and an outcome record.
    let all = audit.all_lines();
    let (intents, lines): (Vec<_>, Vec<_>) =
        all.into_iter().partition(|l| l.json["phase"] == "intent");
    assert_eq!(intents.len(), lines.len(), "an intent per outcome");
    // One shape with kill's records: intents carry the change and no outcome; an intent and its
    // outcome share the run id, and both runs have their own.
    for i in &intents {
        assert!(
            i.outcome.is_empty() && i.json["change"]["idle"].is_u64(),
            "{}",
            i.json
        );
        assert!(
            lines
                .iter()
                .any(|l| l.cookie == i.cookie && l.json["run"] == i.json["run"]),
            "an outcome of the same run: {}",
            i.json
        );
    }
    let runs: std::collections::HashSet<&str> = lines
        .iter()
        .filter_map(|l| l.json["run"].as_str())
        .collect();
    assert_eq!(runs.len(), 2, "two runs, two run ids: {runs:?}");
    assert_eq!(
        lines.len() as u64,
        doc.set + again.set,
        "one outcome line per socket set"
    );
    let filter_text = filter.join(" ");
    for l in &lines {
        assert_eq!(l.action, "keepalive", "{}", l.json);
        assert_eq!(l.outcome, "set", "{}", l.json);
        assert_eq!(l.uid, 0, "{}", l.json);
        assert_eq!(
            l.filter.as_deref(),
            Some(filter_text.as_str()),
            "{}",
            l.json
        );
        assert!(
            conns.iter().any(|c| c.cookie() == l.cookie) || l.cookie == listener,
            "{}",
            l.json
        );
    }
}

#[test]
fn keepalive_dry_run_and_refusals_set_nothing() {
    let srv = EchoServer::start().expect("start the echo server");
    let conns = srv.connect(3).expect("connect");
    let audit = Audit::new();
    let filter = sport(srv.port);
    assert_no_timers(&srv, "before");

    // --dry-run wins over --yes.
    let mut opts = vec!["--dry-run"];
    opts.extend_from_slice(&OPTS);
    let run = treat(&srv.ns, "keepalive", &audit, &opts, &strs(&filter), &[]);
    assert_eq!(run.code(), Some(0), "dry run exits 0: {}", run.stderr);
    let doc = KaDoc::parse(&run);
    assert!(doc.dry_run, "{:#}", doc.doc);
    assert!(
        doc.selected == 3 || doc.selected == 4,
        "the three connections (and the listener): {:#}",
        doc.doc
    );
    assert_eq!(doc.set, 0, "{:#}", doc.doc);
    assert!(
        doc.results.iter().all(|r| r.outcome != "set"),
        "{:#}",
        doc.doc
    );
    assert_no_timers(&srv, "after --dry-run");
    assert!(
        audit.all_lines().is_empty(),
        "a dry run writes no audit line"
    );

    // No --yes, stdin not a terminal: refused.
    let run = treat(
        &srv.ns,
        "keepalive",
        &audit,
        &["--idle", "60"],
        &strs(&filter),
        &[],
    );
    assert_refused(&run, "keepalive without --yes");
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_no_timers(&srv, "after the refusal");

    // Empty filter: refused.
    let run = treat(&srv.ns, "keepalive", &audit, &["--yes"], &[], &[]);
    assert_refused(&run, "keepalive with an empty filter");
    assert_no_timers(&srv, "after the empty filter");
    assert!(
        audit.all_lines().is_empty(),
        "a refusal writes no audit line"
    );
    for c in &conns {
        assert_eq!(c.echo("untouched").expect("echo"), "untouched");
    }
}
