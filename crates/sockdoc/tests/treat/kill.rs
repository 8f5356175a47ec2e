//! `sockdoc kill`: SOCK_DESTROY by default, shutdown through the owner's fd on request; the
//! safety rules (dry run, --yes, empty filter, --max, the caller's own SSH session, listeners only
//! with --listen) and the audit log.

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use sockdoc_lab::doctor::wait_sockets;
use sockdoc_lab::treat::{by_cookie, wait_cookies_gone, Conn, EchoServer};
use sockdoc_lab::SockState;

use crate::run::{
    assert_refused, socket_pids, sport, strs, treat, Attempt, Audit, AuditLine, KillDoc,
};

/// How long a peer may take to see the reset / FIN.
const SETTLE: Duration = Duration::from_secs(5);

fn server(conns: usize) -> (EchoServer, Vec<Conn>) {
    let srv = EchoServer::start().expect("start the echo server");
    let c = srv.connect(conns).expect("connect the clients");
    (srv, c)
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

fn cookies(conns: &[Conn]) -> Vec<u64> {
    sorted(conns.iter().map(Conn::cookie).collect())
}

/// The client end of `c` (local = the client's address) in the namespace, if ss shows it.
fn client_cookie(srv: &EchoServer, c: &Conn) -> u64 {
    let snap = srv.sockets().expect("ss");
    snap.iter()
        .find(|s| s.local.socket_addr() == c.client && s.peer.port == srv.port)
        .and_then(|s| s.cookie)
        .unwrap_or_else(|| panic!("client end {} not in ss", c.client))
}

/// Every server end of `conns` is still ESTABLISHED with its cookie, and still echoes.
fn assert_untouched(srv: &EchoServer, conns: &[Conn], why: &str) {
    let snap = srv.sockets().expect("ss");
    for c in conns {
        let s = by_cookie(&snap, c.cookie())
            .unwrap_or_else(|| panic!("{why}: server end of {} is gone", c.client));
        assert_eq!(s.state, SockState::Established, "{why}: {}", s.line);
        assert_eq!(
            c.echo("still there")
                .expect("echo on an untouched connection"),
            "still there",
            "{why}"
        );
    }
}

/// The audit lines of one kill run: `action` kill, `method`, outcome killed, uid 0, and the filter
/// text in the intent before each; returns their cookies, sorted.
fn audit_kills(audit: &Audit, method: &str, filter: &str) -> Vec<u64> {
    let lines = audit.lines();
    for l in &lines {
        assert_eq!(l.action, "kill", "{}", l.json);
        assert_eq!(l.method.as_deref(), Some(method), "{}", l.json);
        assert_eq!(l.outcome, "killed", "{}", l.json);
        assert_eq!(l.uid, 0, "{}", l.json);
    }
    let intents: Vec<AuditLine> = audit
        .all_lines()
        .into_iter()
        .filter(|l| l.json["phase"] == "intent")
        .collect();
    assert_eq!(intents.len(), lines.len(), "an intent for every outcome");
    for l in &intents {
        let typed = Some(filter.to_string());
        assert_eq!(l.filter, typed, "the filter as given: {}", l.json);
    }
    sorted(lines.iter().map(|l| l.cookie).collect())
}

#[test]
fn kill_destroys_the_selected_connections_and_resets_their_peers() {
    let (mut srv, conns) = server(3);
    let audit = Audit::new();
    let targets = cookies(&conns);
    let clients: Vec<u64> = conns.iter().map(|c| client_cookie(&srv, c)).collect();
    let listener = srv.listener.cookie.expect("listener cookie");
    let filter = sport(srv.port);

    let run = treat(&srv.ns, "kill", &audit, &["--yes"], &strs(&filter), &[]);
    let doc = KillDoc::parse(&run);
    assert!(!doc.dry_run, "{:#}", doc.doc);
    assert_eq!(
        (doc.selected, doc.acted, doc.killed),
        (3, 3, 3),
        "the three server ends, not the listener (no --listen): {:#}",
        doc.doc
    );
    assert_eq!(doc.cookies("killed"), targets, "{:#}", doc.doc);
    assert!(
        doc.results
            .iter()
            .all(|r| r.cookie != listener || r.outcome == "skipped"),
        "the listener is never acted on without --listen: {:#}",
        doc.doc
    );
    for c in &conns {
        let r = doc.result(c.cookie());
        assert_eq!(r.method.as_deref(), Some("destroy"), "{}", r.json);
        assert_eq!(r.reason, None, "{}", r.json);
        assert_eq!(
            r.attempts,
            [Attempt {
                method: "destroy".into(),
                ok: true,
                error: None
            }],
            "auto: SOCK_DESTROY first, and it worked: {}",
            r.json
        );
        assert_eq!(r.socket["state"], "established", "{}", r.json);
        assert_eq!(r.socket["local"]["port"], srv.port, "{}", r.json);
        assert_eq!(r.socket["remote"]["port"], c.client.port(), "{}", r.json);
        assert!(
            socket_pids(&r.socket).contains(&u64::from(srv.pid)),
            "the socket object carries its owner (list -p): {}",
            r.json
        );
    }

    // The kernel: the server ends are gone (sockdoc re-read them before answering "killed").
    let snap = srv.sockets().expect("ss");
    for cookie in &targets {
        assert!(
            by_cookie(&snap, *cookie).is_none(),
            "killed socket {cookie:x} still in ss: {:#?}",
            snap.iter().map(|s| &s.line).collect::<Vec<_>>()
        );
    }
    // Their peers got an RST: the client ends are closed (gone from ss) and read ECONNRESET.
    wait_cookies_gone(&srv.ns, &clients, SETTLE).expect("client ends closed by the RST");
    for c in &conns {
        let err = c
            .read_once()
            .expect_err("the client of a destroyed connection reads an error");
        assert_eq!(
            err.kind(),
            ErrorKind::ConnectionReset,
            "{}: {err}",
            c.client
        );
    }
    // The owner read ECONNABORTED on each and carries on; the listener survives and serves.
    let snap = srv.sockets().expect("ss");
    let l = by_cookie(&snap, listener).expect("the listener survives");
    assert_eq!(l.state, SockState::Listen, "{}", l.line);
    assert!(srv.running(), "the owner survives: {}", srv.log());
    srv.serves("after kill").expect("the server still serves");
    assert_eq!(
        srv.log().matches("recv:").count(),
        3,
        "the owner saw three aborted reads: {}",
        srv.log()
    );

    let filter_text = filter.join(" ");
    assert_eq!(
        audit_kills(&audit, "destroy", &filter_text),
        targets,
        "one audit line per killed socket"
    );
}

#[test]
fn dry_run_missing_yes_and_empty_filter_change_nothing() {
    let (srv, conns) = server(3);
    let audit = Audit::new();
    let filter = sport(srv.port);
    let targets = cookies(&conns);

    // --dry-run stops after showing the selection, before any confirmation: no --yes needed.
    let run = treat(&srv.ns, "kill", &audit, &["--dry-run"], &strs(&filter), &[]);
    assert_eq!(run.code(), Some(0), "dry run exits 0: {}", run.stderr);
    let doc = KillDoc::parse(&run);
    assert!(doc.dry_run, "{:#}", doc.doc);
    assert_eq!(doc.selected, 3, "{:#}", doc.doc);
    assert_eq!((doc.acted, doc.killed), (0, 0), "{:#}", doc.doc);
    let listener = srv.listener.cookie.expect("listener cookie");
    for r in &doc.results {
        assert!(
            targets.contains(&r.cookie) || (r.cookie == listener && r.outcome == "skipped"),
            "the selection shown (and at most the listener, skipped): {:#}",
            doc.doc
        );
        assert_ne!(r.outcome, "killed", "{}", r.json);
    }
    for c in &targets {
        doc.result(*c);
    }
    assert_untouched(&srv, &conns, "after --dry-run");
    assert!(audit.lines().is_empty(), "a dry run writes no audit line");

    // Without --yes and without a terminal on stdin: refused.
    let run = treat(&srv.ns, "kill", &audit, &[], &strs(&filter), &[]);
    assert_refused(&run, "no --yes, stdin not a terminal");
    assert!(
        run.stderr.contains("--yes"),
        "the refusal names --yes: {}",
        run.stderr
    );
    assert_untouched(&srv, &conns, "after the refusal");
    assert!(audit.lines().is_empty(), "a refusal writes no audit line");

    // An empty filter would select everything: refused, even with --yes.
    let run = treat(&srv.ns, "kill", &audit, &["--yes"], &[], &[]);
    assert_refused(&run, "empty filter");
    let run = treat(&srv.ns, "kill", &audit, &["--yes", "--listen"], &[], &[]);
    assert_refused(&run, "empty filter with --listen");
    assert_untouched(&srv, &conns, "after the empty filter");
    let snap = srv.sockets().expect("ss");
    assert!(by_cookie(&snap, listener).is_some(), "listener untouched");
    assert!(audit.lines().is_empty(), "a refusal writes no audit line");
}

#[test]
fn max_caps_the_sockets_acted_on_and_skips_the_rest() {
    let (srv, conns) = server(5);
    let audit = Audit::new();
    let filter = sport(srv.port);
    let targets = cookies(&conns);

    let run = treat(
        &srv.ns,
        "kill",
        &audit,
        &["--yes", "--max", "2"],
        &strs(&filter),
        &[],
    );
    let doc = KillDoc::parse(&run);
    assert_eq!(
        (doc.selected, doc.acted, doc.killed),
        (5, 2, 2),
        "{:#}",
        doc.doc
    );
    let killed = doc.cookies("killed");
    // (The listener may be listed as skipped too: not selected without --listen.)
    let skipped: Vec<u64> = doc
        .cookies("skipped")
        .into_iter()
        .filter(|c| targets.contains(c))
        .collect();
    assert_eq!((killed.len(), skipped.len()), (2, 3), "{:#}", doc.doc);
    assert_eq!(
        sorted(killed.iter().chain(&skipped).copied().collect()),
        targets,
        "{:#}",
        doc.doc
    );
    for r in doc.results.iter().filter(|r| skipped.contains(&r.cookie)) {
        assert_eq!(r.method, None, "nothing was tried: {}", r.json);
        assert!(r.attempts.is_empty(), "nothing was tried: {}", r.json);
        assert!(
            r.reason.as_deref().is_some_and(|s| !s.trim().is_empty()),
            "a skipped socket says why: {}",
            r.json
        );
    }

    let snap = srv.sockets().expect("ss");
    for c in &killed {
        assert!(by_cookie(&snap, *c).is_none(), "killed {c:x} still in ss");
    }
    let left: Vec<u64> = sorted(
        snap.iter()
            .filter(|s| s.state == SockState::Established && s.local.port == srv.port)
            .filter_map(|s| s.cookie)
            .collect(),
    );
    assert_eq!(
        left, skipped,
        "exactly the skipped three remain ESTABLISHED"
    );
    let rest: Vec<Conn> = conns
        .into_iter()
        .filter(|c| skipped.contains(&c.cookie()))
        .collect();
    assert_untouched(&srv, &rest, "skipped by --max");
    assert_eq!(
        audit_kills(&audit, "destroy", &filter.join(" ")),
        killed,
        "audit: the two acted on, not the skipped"
    );
}

#[test]
fn shutdown_method_closes_through_the_owners_fd_and_the_owner_survives() {
    let (mut srv, conns) = server(3);
    let audit = Audit::new();
    let filter = sport(srv.port);
    let targets = cookies(&conns);

    let run = treat(
        &srv.ns,
        "kill",
        &audit,
        &["--yes", "--method", "shutdown"],
        &strs(&filter),
        &[],
    );
    let doc = KillDoc::parse(&run);
    assert_eq!(
        (doc.selected, doc.acted, doc.killed),
        (3, 3, 3),
        "{:#}",
        doc.doc
    );
    assert_eq!(doc.cookies("killed"), targets, "{:#}", doc.doc);
    for r in targets.iter().map(|c| doc.result(*c)) {
        assert_eq!(r.method.as_deref(), Some("shutdown"), "{}", r.json);
        assert_eq!(
            r.attempts,
            [Attempt {
                method: "shutdown".into(),
                ok: true,
                error: None
            }],
            "--method shutdown tries nothing else: {}",
            r.json
        );
    }

    // The server ends sent their FIN: no longer ESTABLISHED (sockdoc re-read that), and once the
    // clients ACKed, FIN-WAIT-2. The clients read EOF and sit in CLOSE-WAIT.
    let snap = srv.sockets().expect("ss");
    for c in &conns {
        let end = snap
            .iter()
            .find(|s| s.local.port == srv.port && s.peer.socket_addr() == c.client);
        if let Some(s) = end {
            assert_ne!(s.state, SockState::Established, "{}", s.line);
        }
    }
    let port = srv.port;
    let clients: Vec<_> = conns.iter().map(|c| c.client).collect();
    wait_sockets(
        &srv.ns,
        "server ends in FIN-WAIT-2, client ends in CLOSE-WAIT",
        SETTLE,
        false,
        |snap| {
            for c in &clients {
                let server_end = snap
                    .iter()
                    .find(|s| s.local.port == port && s.peer.socket_addr() == *c)
                    .ok_or_else(|| format!("server end of {c} gone"))?;
                if server_end.state != SockState::FinWait2 {
                    return Err(format!("server end: {}", server_end.line));
                }
                let client_end = snap
                    .iter()
                    .find(|s| s.local.socket_addr() == *c)
                    .ok_or_else(|| format!("client end {c} gone"))?;
                if client_end.state != SockState::CloseWait {
                    return Err(format!("client end: {}", client_end.line));
                }
            }
            Ok(())
        },
    )
    .expect("the FIN went out and was ACKed");
    for c in &conns {
        assert_eq!(c.read_once().expect("EOF, not an error"), 0, "{}", c.client);
    }

    // The owner is alive and still serves.
    assert!(srv.running(), "the owner survives: {}", srv.log());
    srv.serves("after shutdown").expect("still serving");
    assert_eq!(
        audit_kills(&audit, "shutdown", &filter.join(" ")),
        targets,
        "audit"
    );
}

#[test]
fn the_callers_own_ssh_session_is_never_killed() {
    let (srv, conns) = server(3);
    let audit = Audit::new();
    let filter = sport(srv.port);
    let own = &conns[1];
    let ssh = own.ssh_connection();

    let run = treat(
        &srv.ns,
        "kill",
        &audit,
        &["--yes"],
        &strs(&filter),
        &[("SSH_CONNECTION", ssh.as_str())],
    );
    let doc = KillDoc::parse(&run);
    // (Whether `selected` counts the skipped session is left open by the contract.)
    assert_eq!(
        (doc.acted, doc.killed),
        (2, 2),
        "SSH_CONNECTION={ssh:?}: {:#}",
        doc.doc
    );
    let r = doc.result(own.cookie());
    assert_eq!(r.outcome, "skipped", "{}", r.json);
    assert_eq!(r.reason.as_deref(), Some("own ssh session"), "{}", r.json);
    assert_eq!(r.method, None, "{}", r.json);
    assert!(r.attempts.is_empty(), "{}", r.json);
    let others = sorted(
        conns
            .iter()
            .filter(|c| c.cookie() != own.cookie())
            .map(Conn::cookie)
            .collect(),
    );
    assert_eq!(doc.cookies("killed"), others, "{:#}", doc.doc);

    // Only the same four-tuple counts: the other two share both IPs and the server port.
    assert_untouched(&srv, std::slice::from_ref(own), "own SSH session");
    let snap = srv.sockets().expect("ss");
    for c in &others {
        assert!(by_cookie(&snap, *c).is_none(), "{c:x} should be killed");
    }
    assert_eq!(
        audit_kills(&audit, "destroy", &filter.join(" ")),
        others,
        "no audit line for the skipped session"
    );
}

#[test]
fn listeners_are_killed_only_with_listen() {
    let (mut srv, conns) = server(1);
    let audit = Audit::new();
    let listener = srv.listener.cookie.expect("listener cookie");
    let port = format!(":{}", srv.port);
    let filter = ["state", "listening", "sport", "=", port.as_str()];

    // Without --listen a listener is never selected, even by a filter that names only it.
    let run = treat(&srv.ns, "kill", &audit, &["--yes"], &filter, &[]);
    let doc = KillDoc::parse(&run);
    assert_eq!(
        (doc.selected, doc.acted, doc.killed),
        (0, 0, 0),
        "{:#}",
        doc.doc
    );
    assert!(
        doc.results
            .iter()
            .all(|r| r.cookie == listener && r.outcome == "skipped"),
        "at most the listener, skipped: {:#}",
        doc.doc
    );
    let snap = srv.sockets().expect("ss");
    assert!(by_cookie(&snap, listener).is_some(), "listener untouched");
    srv.serves("still listening").expect("serves");
    assert!(
        audit.lines().is_empty(),
        "nothing acted on, nothing audited"
    );

    // With --listen it is.
    let run = treat(
        &srv.ns,
        "kill",
        &audit,
        &["--yes", "--listen"],
        &filter,
        &[],
    );
    let doc = KillDoc::parse(&run);
    assert_eq!(
        (doc.selected, doc.acted, doc.killed),
        (1, 1, 1),
        "{:#}",
        doc.doc
    );
    let r = doc.result(listener);
    assert_eq!(r.outcome, "killed", "{}", r.json);
    assert_eq!(r.method.as_deref(), Some("destroy"), "{}", r.json);
    assert_eq!(r.socket["state"], "listen", "{}", r.json);

    let snap = srv.sockets().expect("ss");
    assert!(
        by_cookie(&snap, listener).is_none(),
        "the listener is gone from ss"
    );
    let err = srv
        .try_connect()
        .expect_err("nothing listens on the port any more");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    // Its owner survives (accept failed: EINVAL), and so does the connection it accepted before.
    assert!(srv.running(), "the owner survives: {}", srv.log());
    assert_untouched(&srv, &conns, "accepted before the listener died");
    assert_eq!(
        audit_kills(&audit, "destroy", &filter.join(" ")),
        [listener],
        "audit"
    );
}

/// nobody's uid and gid.
const NOBODY: u32 = 65534;

#[test]
fn unprivileged_callers_get_77_and_change_nothing() {
    let (srv, conns) = server(2);
    // A world-executable copy of the binary and a directory nobody may write its audit log to,
    // so that the only thing missing is the privilege to act.
    let dir = sockdoc_lab::doctor::Workdir::new("treat-nobody").expect("temp dir");
    let bin = dir.join("sockdoc");
    std::fs::copy(env!("CARGO_BIN_EXE_sockdoc"), &bin).expect("copy sockdoc");
    let open = dir.subdir("audit").expect("audit dir");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let audit = open.join("audit.jsonl");
    let port = format!(":{}", srv.port);
    for (command, extra) in [("kill", &[][..]), ("keepalive", &["--idle", "60"][..])] {
        let mut cmd = srv.ns.command("setpriv");
        cmd.args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
        ])
        .arg(&bin)
        .args([command, "--yes", "--json", "--audit-log"])
        .arg(&audit)
        .args(extra)
        .args(["sport", "=", &port])
        .env_remove("SSH_CONNECTION");
        let shown = vec![format!(
            "(as nobody) {command} --yes --json ... sport = {port}"
        )];
        let run = sockdoc_lab::cli::run_command(cmd, shown, Duration::from_secs(30))
            .expect("run sockdoc as nobody");
        assert_eq!(
            run.code(),
            Some(77),
            "{command} without the privilege to act: exit 77 (permission)\nstdout: {}\nstderr: {}",
            run.stdout,
            run.stderr
        );
        assert_untouched(&srv, &conns, command);
        // The echo check above may leave a brief retransmit timer; no keepalive timer may appear.
        for s in srv.sockets().expect("ss") {
            let keepalive = s.timer.as_ref().is_some_and(|t| t.kind == "keepalive");
            assert!(!keepalive, "{command} as nobody: {}", s.line);
        }
    }
}
