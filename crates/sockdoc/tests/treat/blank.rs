//! A blank filter (`''`, `' '`, an unset `$FILTER`) parses to "every socket": every command that acts
//! refuses it with a usage error (exit 64, one line), and nothing is touched or recorded. Also: a
//! `--proc` name cannot smuggle filter words past its quotes.

use sockdoc_lab::treat::{by_cookie, EchoServer, ECHO_NAME};
use sockdoc_lab::SockState;

use crate::run::{assert_refused, treat, Audit};

#[test]
fn a_blank_filter_is_refused_by_every_acting_command() {
    let srv = EchoServer::start().expect("start the echo server");
    let conns = srv.connect(4).expect("connect the clients");
    let audit = Audit::new();
    let listener = srv.listener.cookie.expect("listener cookie");
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("kill", &["--yes"], &[""]),
        ("kill", &["--yes", "--listen"], &[""]),
        ("kill", &["--dry-run"], &[" "]),
        ("kill", &["--yes"], &["", " ", "\t\n"]),
        ("kill", &["--yes", "--max", "1000"], &["\u{a0}"]),
        ("keepalive", &["--dry-run"], &[""]),
        ("keepalive", &["--yes"], &[" "]),
        ("keepalive", &["--yes", "--proc", ECHO_NAME], &[""]),
        ("keepalive", &["--yes", "--pid", "1"], &["  "]),
        ("ghosts", &["--probe", "--reap", "--yes"], &[""]),
        ("ghosts", &["--probe", "--reap", "--yes"], &[" ", ""]),
    ];
    for (command, opts, filter) in cases {
        let run = treat(&srv.ns, command, &audit, opts, filter, &[]);
        let why = format!("{command} {opts:?} {filter:?}");
        assert_refused(&run, &why);
        assert!(
            run.stderr.contains("blank filter") && run.stderr.contains("sport = :21"),
            "{why}: the refusal says what is wrong and what to write: {}",
            run.stderr
        );
    }
    // Every connection and the listener are still there, unchanged, and still carry data.
    let snap = srv.sockets().expect("ss");
    for c in &conns {
        let s = by_cookie(&snap, c.cookie())
            .unwrap_or_else(|| panic!("server end of {} is gone", c.client));
        assert_eq!(s.state, SockState::Established, "{}", s.line);
        assert!(
            s.timer.as_ref().is_none_or(|t| t.kind != "keepalive"),
            "no keepalive was set: {}",
            s.line
        );
        assert_eq!(c.echo("still here").expect("echo"), "still here");
    }
    assert!(by_cookie(&snap, listener).is_some(), "listener untouched");
    assert!(audit.lines().is_empty(), "a refusal writes no audit line");
}

/// `--proc` is one process name, whatever quotes it holds: `x' or 'state all` used to close the
/// quote and select every socket.
#[test]
fn a_proc_name_stays_one_value() {
    let srv = EchoServer::start().expect("start the echo server");
    let _conns = srv.connect(2).expect("connect the clients");
    let audit = Audit::new();
    for name in [
        "x' or 'state all",
        "x\" or \"state all",
        "x' or sport > 0 or 'y",
    ] {
        let run = treat(
            &srv.ns,
            "keepalive",
            &audit,
            &["--dry-run", "--proc", name],
            &[],
            &[],
        );
        assert_eq!(run.code(), Some(0), "{name:?}: {}", run.stderr);
        let doc = run.json("keepalive");
        assert_eq!(
            doc["selected"], 0,
            "{name:?} names no process, so nothing is selected: {doc:#}"
        );
    }
    let run = treat(
        &srv.ns,
        "keepalive",
        &audit,
        &["--dry-run", "--proc", "a'b\"c"],
        &[],
        &[],
    );
    assert_refused(&run, "a name with both quotes");
    assert!(audit.lines().is_empty());
}

/// A 120 KB bad word, in a filter or as an option's value, comes back shortened with its size, on
/// one line: never echoed in full.
#[test]
fn a_huge_bad_word_is_not_echoed_back() {
    let srv = EchoServer::start().expect("start the echo server");
    let audit = Audit::new();
    let word = "x".repeat(120_000);
    let cases: [(&[&str], Vec<&str>); 3] = [
        (&["--dry-run"], vec![word.as_str()]),
        (&["--dry-run"], vec!["dst", word.as_str()]),
        (
            &["--dry-run", "--max", word.as_str()],
            vec!["sport", "=", ":1"],
        ),
    ];
    for (opts, filter) in cases {
        let run = treat(&srv.ns, "kill", &audit, opts, &filter, &[]);
        assert_refused(&run, "a huge bad word");
        assert!(
            run.stderr.len() < 1000,
            "{} bytes of error: {}",
            run.stderr.len(),
            &run.stderr[..300]
        );
        assert!(
            run.stderr.contains("bytes)"),
            "its size is given: {}",
            run.stderr
        );
    }
}
