//! `sockdoc keepalive` safety: options not asked for stay as the application set them
//! (TCP_USER_TIMEOUT), values beyond the kernel's limits are refused before any socket changes, a
//! write the kernel refuses part-way leaves the socket as it was, the audit log is written ahead (a
//! full disk changes nothing; a disk that fills mid-run stops it before the next batch, every change
//! on record), and `--restore --from-audit` puts the recorded values back exactly.
//!
//! The sockets acted on are client ends held by this test process (created inside the scenario's
//! namespace), so every option is read back with getsockopt on our own fd, independently of
//! sockdoc; the part-way failure uses a real kernel refusal: a cgroup BPF setsockopt program that
//! rejects TCP_KEEPINTVL for the sockets of one client process (see [`SetsockoptVeto`]).

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use sockdoc_lab::disk::Tmpfs;
use sockdoc_lab::doctor::sysctl;
use sockdoc_lab::treat::{Conn, EchoServer};

use crate::run::{assert_refused, strs, treat, Audit, KaDoc, Run};

/// The keepalive options of one socket, read with getsockopt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Opts {
    keepalive: bool,
    idle: u64,
    intvl: u64,
    cnt: u64,
    user_timeout_ms: u64,
}

impl Opts {
    fn from_json(v: &Value) -> Opts {
        let n = |k: &str| {
            v[k].as_u64()
                .unwrap_or_else(|| panic!("`{k}` is not a number in {v}"))
        };
        Opts {
            keepalive: v["keepalive"]
                .as_bool()
                .unwrap_or_else(|| panic!("`keepalive` is not a boolean in {v}")),
            idle: n("idle"),
            intvl: n("intvl"),
            // reap spells it `count`.
            cnt: v["cnt"].as_u64().unwrap_or_else(|| n("count")),
            user_timeout_ms: n("user_timeout_ms"),
        }
    }
}

fn getsockopt(fd: i32, level: i32, name: i32) -> u64 {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a live fd of ours, pointers to a c_int and its length.
    let r = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(r, 0, "getsockopt: {}", std::io::Error::last_os_error());
    u64::try_from(v).expect("non-negative")
}

fn setsockopt(fd: i32, level: i32, name: i32, v: i32) {
    // SAFETY: a live fd of ours, pointer to a c_int of the given size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "setsockopt: {}", std::io::Error::last_os_error());
}

/// Our own socket's keepalive options.
pub(crate) fn opts(fd: i32) -> Opts {
    Opts {
        keepalive: getsockopt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE) != 0,
        idle: getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
        intvl: getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
        cnt: getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
        user_timeout_ms: getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT),
    }
}

/// `["dport", "=", ":PORT"]`: the client ends (this process's sockets).
pub(crate) fn clients_of(srv: &EchoServer) -> Vec<String> {
    vec!["dport".into(), "=".into(), format!(":{}", srv.port)]
}

/// The audit log's records of one `phase`.
fn phase(audit: &Audit, phase: &str) -> Vec<Value> {
    audit
        .all_lines()
        .into_iter()
        .map(|l| l.json)
        .filter(|j| j["phase"] == phase)
        .collect()
}

/// The client-end result for `c` (by the client's local port).
fn result_for<'a>(doc: &'a Value, c: &Conn) -> &'a Value {
    doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["socket"]["local"]["port"] == u64::from(c.client.port()))
        .unwrap_or_else(|| panic!("no result for client {}: {doc:#}", c.client))
}

/// ss's timer kind on the client end of `c`, if any.
fn client_timer(srv: &EchoServer, c: &Conn) -> Option<String> {
    let snap = srv.sockets().expect("ss");
    let s = snap
        .iter()
        .find(|s| s.local.socket_addr() == c.client)
        .unwrap_or_else(|| panic!("client end {} gone", c.client));
    s.timer.as_ref().map(|t| t.kind.clone())
}

/// `sockdoc keepalive --restore --from-audit FROM OPTS... FILTER...` in the server's namespace,
/// recording to `log`: the run and its JSON document.
pub(crate) fn restore(
    srv: &EchoServer,
    log: &impl AsRef<Path>,
    from: &str,
    opts: &[&str],
    filter: &[&str],
) -> (Run, Value) {
    let mut args = vec!["--restore", "--from-audit", from];
    args.extend_from_slice(opts);
    let run = treat(&srv.ns, "keepalive", log, &args, filter, &[]);
    let doc = run.json("keepalive-restore");
    (run, doc)
}

pub(crate) const SET: [&str; 7] = ["--yes", "--idle", "60", "--intvl", "5", "--cnt", "3"];

#[test]
fn keepalive_leaves_the_apps_user_timeout_alone() {
    let srv = EchoServer::start().expect("start the echo server");
    let conns = srv.connect(2).expect("connect");
    let (app, plain) = (conns[0].stream.as_raw_fd(), conns[1].stream.as_raw_fd());
    // The application set TCP_USER_TIMEOUT on one of its sockets.
    setsockopt(app, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, 30_000);
    let audit = Audit::new();
    let filter = clients_of(&srv);
    let run = treat(&srv.ns, "keepalive", &audit, &SET, &strs(&filter), &[]);
    let doc = KaDoc::parse(&run);
    assert_eq!(doc.set, 2, "{:#}", doc.doc);
    let now = opts(app);
    assert_eq!(
        now,
        Opts {
            keepalive: true,
            idle: 60,
            intvl: 5,
            cnt: 3,
            user_timeout_ms: 30_000
        },
        "keepalive on, the application's TCP_USER_TIMEOUT kept"
    );
    assert_eq!(opts(plain).user_timeout_ms, 0, "still the kernel default");
    let r = result_for(&doc.doc, &conns[0]);
    assert_eq!(Opts::from_json(&r["before"]).user_timeout_ms, 30_000, "{r}");
    assert_eq!(Opts::from_json(&r["after"]), now, "after as read back: {r}");
    for c in &conns {
        assert_eq!(client_timer(&srv, c).as_deref(), Some("keepalive"));
    }

    // Asked for explicitly, it is written.
    let mut with = SET.to_vec();
    with.extend(["--user-timeout", "5000"]);
    let run = treat(&srv.ns, "keepalive", &audit, &with, &strs(&filter), &[]);
    assert_eq!(KaDoc::parse(&run).set, 2);
    assert_eq!(opts(app).user_timeout_ms, 5000);
    assert_eq!(opts(plain).user_timeout_ms, 5000);

    // Write-ahead: every outcome has an intent before it, and the intents of a run come first.
    let lines: Vec<Value> = audit.all_lines().into_iter().map(|l| l.json).collect();
    assert_eq!(
        lines.len(),
        8,
        "intent + outcome per socket, two runs: {lines:#?}"
    );
    for run in lines.chunks(4) {
        let phases: Vec<&str> = run
            .iter()
            .map(|l| l["phase"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            phases,
            ["intent", "intent", "outcome", "outcome"],
            "{run:#?}"
        );
        assert!(run[0].get("outcome").is_none(), "an intent: {}", run[0]);
        assert_eq!(run[2]["outcome"], "set");
        assert!(
            run.iter().all(|l| l["run"] == run[0]["run"]),
            "one run id: {run:#?}"
        );
    }
    assert!(
        lines[0]["change"].get("user_timeout_ms").is_none(),
        "first run did not ask for TCP_USER_TIMEOUT: {}",
        lines[0]
    );
    assert_eq!(lines[4]["change"]["user_timeout_ms"], 5000, "{}", lines[4]);
}

#[test]
fn values_beyond_the_kernel_limits_are_refused_before_any_socket() {
    let srv = EchoServer::start().expect("start the echo server");
    let conns = srv.connect(2).expect("connect");
    let audit = Audit::new();
    let filter = clients_of(&srv);
    let before: Vec<Opts> = conns.iter().map(|c| opts(c.stream.as_raw_fd())).collect();
    for (flag, value, limit) in [
        ("--intvl", "99999", "MAX_TCP_KEEPINTVL"),
        ("--idle", "40000", "MAX_TCP_KEEPIDLE"),
        ("--cnt", "200", "MAX_TCP_KEEPCNT"),
        ("--idle", "0", "MAX_TCP_KEEPIDLE"),
        ("--user-timeout", "2147483648", "INT_MAX"),
    ] {
        let run = treat(
            &srv.ns,
            "keepalive",
            &audit,
            &["--yes", flag, value],
            &strs(&filter),
            &[],
        );
        assert_refused(&run, &format!("{flag} {value}"));
        assert!(
            run.stderr.contains(flag) && run.stderr.contains(limit),
            "names the flag and the limit: {}",
            run.stderr
        );
        for (c, b) in conns.iter().zip(&before) {
            assert_eq!(
                opts(c.stream.as_raw_fd()),
                *b,
                "{flag} {value}: nothing changed"
            );
            assert_eq!(
                client_timer(&srv, c),
                None,
                "{flag} {value}: no keepalive timer"
            );
        }
    }
    assert!(
        audit.all_lines().is_empty(),
        "nothing acted on, nothing recorded"
    );
    // The limits themselves are accepted.
    let run = treat(
        &srv.ns,
        "keepalive",
        &audit,
        &[
            "--yes", "--idle", "32767", "--intvl", "32767", "--cnt", "127",
        ],
        &strs(&filter),
        &[],
    );
    assert_eq!(KaDoc::parse(&run).set, 2);
    assert_eq!(opts(conns[0].stream.as_raw_fd()).intvl, 32_767);
}

#[test]
fn a_write_the_kernel_refuses_part_way_is_undone() {
    let srv = EchoServer::start().expect("start the echo server");
    // A client process whose sockets may not get TCP_KEEPINTVL (cgroup BPF setsockopt program).
    let veto = SetsockoptVeto::new(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL).expect("BPF veto");
    let mut client = AppClient::start(&srv, Some(&veto), 30_000).expect("client");
    let before = client.opts();
    assert!(!before.keepalive, "{before:?}");
    let audit = Audit::new();
    let filter = clients_of(&srv);
    let run = treat(&srv.ns, "keepalive", &audit, &SET, &strs(&filter), &[]);
    let doc = KaDoc::parse(&run);
    assert_eq!((doc.selected, doc.set), (1, 0), "{:#}", doc.doc);
    let r = &doc.results[0];
    assert_eq!(r.outcome, "failed", "{}", r.json);
    assert_eq!(r.pid, Some(u64::from(client.pid)), "{}", r.json);
    assert_eq!(
        Opts::from_json(&r.json["before"]),
        before,
        "before is known: {}",
        r.json
    );
    let reason = r.reason.as_deref().unwrap_or("");
    assert!(
        reason.contains("TCP_KEEPINTVL")
            && reason.contains("EPERM")
            && reason.contains("TCP_KEEPIDLE put back"),
        "{reason}"
    );
    assert_eq!(
        client.opts(),
        before,
        "TCP_KEEPIDLE is back, nothing else written"
    );
    assert_eq!(run.code(), Some(1), "{}", run.stderr);
    let outcomes = phase(&audit, "outcome");
    assert_eq!(outcomes.len(), 1, "{outcomes:#?}");
    assert_eq!(outcomes[0]["outcome"], "failed");
    assert_eq!(Opts::from_json(&outcomes[0]["before"]), before);
    assert_eq!(phase(&audit, "intent").len(), 1);
    client.stop();
}

#[test]
fn restore_from_the_audit_log_puts_back_exactly_what_was_there() {
    let srv = EchoServer::start().expect("start the echo server");
    let mut conns = srv.connect(5).expect("connect");
    let fd = |c: &Conn| c.stream.as_raw_fd();
    // conns[1]: the application's own TCP_USER_TIMEOUT; conns[4]: its own keepalive already on.
    setsockopt(
        fd(&conns[1]),
        libc::IPPROTO_TCP,
        libc::TCP_USER_TIMEOUT,
        30_000,
    );
    setsockopt(fd(&conns[4]), libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    setsockopt(fd(&conns[4]), libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 900);
    let original: Vec<Opts> = conns.iter().map(|c| opts(fd(c))).collect();
    let ns_default =
        |k: &str| -> u64 { sysctl(&srv.ns, k).expect("sysctl").parse().expect("number") };
    assert_eq!(original[0].idle, ns_default("net.ipv4.tcp_keepalive_time"));

    // Two runs: the second one's `before` is the first one's work; the restore goes back to before both.
    let audit = Audit::new();
    let filter = clients_of(&srv);
    let run = treat(&srv.ns, "keepalive", &audit, &SET, &strs(&filter), &[]);
    assert_eq!(KaDoc::parse(&run).set, 5);
    let second = [
        "--yes",
        "--idle",
        "120",
        "--intvl",
        "6",
        "--cnt",
        "4",
        "--user-timeout",
        "1000",
    ];
    let run = treat(&srv.ns, "keepalive", &audit, &second, &strs(&filter), &[]);
    assert_eq!(KaDoc::parse(&run).set, 5);
    for c in &conns {
        assert_eq!(client_timer(&srv, c).as_deref(), Some("keepalive"));
    }

    // conns[2]: the application changed TCP_KEEPIDLE since; conns[3]: now held at another fd.
    setsockopt(fd(&conns[2]), libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 500);
    let moved_from = fd(&conns[3]);
    // SAFETY: dup/close on a descriptor this test owns; the new one is owned by the new stream.
    let moved_to = unsafe { libc::fcntl(moved_from, libc::F_DUPFD_CLOEXEC, 0) };
    assert!(moved_to >= 0);
    let old = std::mem::replace(&mut conns[3].stream, unsafe {
        std::net::TcpStream::from_raw_fd(moved_to)
    });
    drop(old);
    let moved = opts(fd(&conns[3]));
    let changed = opts(fd(&conns[2]));
    // A socket that is gone (changed by sockdoc, then closed), and a line that is not a record.
    let extra = srv.connect(1).expect("one more").remove(0);
    let gone = extra.client.port();
    let only_extra = [
        "dport".to_string(),
        "=".into(),
        format!(":{}", srv.port),
        "and".into(),
        "sport".into(),
        "=".into(),
        format!(":{gone}"),
    ];
    let run = treat(&srv.ns, "keepalive", &audit, &SET, &strs(&only_extra), &[]);
    assert_eq!(KaDoc::parse(&run).set, 1);
    drop(extra);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&audit.path)
        .and_then(|mut f| f.write_all(b"{not json\n"))
        .expect("append a broken line");
    let from = audit.path.to_string_lossy().into_owned();
    let restore_log = Audit::new();

    // The dry run shows the plan and changes nothing.
    let (_, doc) = restore(&srv, &restore_log, &from, &["--dry-run"], &[]);
    assert_eq!(doc["dry_run"], true, "{doc:#}");
    assert_eq!(doc["malformed"], 1, "{doc:#}");
    assert_eq!(doc["selected"], 3, "conns 0, 1 and 4: {doc:#}");
    for (i, c) in conns.iter().enumerate() {
        let want = match i {
            2 => "changed",
            3 => "owner-changed",
            _ => "planned",
        };
        assert_eq!(result_for(&doc, c)["outcome"], want, "conn {i}: {doc:#}");
    }
    assert_eq!(opts(fd(&conns[0])).idle, 120, "a dry run changes nothing");
    assert!(
        restore_log.all_lines().is_empty(),
        "a dry run records nothing"
    );
    let gone_result = doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["socket"]["local"]["port"] == u64::from(gone))
        .unwrap_or_else(|| panic!("no result for the closed connection: {doc:#}"));
    assert_eq!(gone_result["outcome"], "gone", "{gone_result}");

    // A filter narrows the recorded sockets to those it matches now.
    let one = format!(":{}", conns[0].client.port());
    let (_, doc) = restore(
        &srv,
        &restore_log,
        &from,
        &["--dry-run"],
        &["sport", "=", &one],
    );
    assert_eq!(doc["selected"], 1, "{doc:#}");
    assert_eq!(doc["results"].as_array().map(Vec::len), Some(1), "{doc:#}");
    assert_eq!(result_for(&doc, &conns[0])["outcome"], "planned", "{doc:#}");

    // The restore.
    let (run, doc) = restore(&srv, &restore_log, &from, &["--yes"], &[]);
    assert_eq!(
        run.code(),
        Some(1),
        "sockets left alone are a warning: {}",
        run.stderr
    );
    assert_eq!(
        (doc["selected"].as_u64(), doc["restored"].as_u64()),
        (Some(3), Some(3)),
        "{doc:#}"
    );
    for i in [0, 1, 4] {
        let c = &conns[i];
        assert_eq!(
            opts(fd(c)),
            original[i],
            "conn {i} exactly as before sockdoc"
        );
        let r = result_for(&doc, c);
        assert_eq!(r["outcome"], "restored", "{r}");
        assert_eq!(Opts::from_json(&r["after"]), original[i], "{r}");
    }
    for i in [0, 1] {
        assert_eq!(
            client_timer(&srv, &conns[i]),
            None,
            "conn {i}: keepalive off again in ss -o"
        );
    }
    assert_eq!(
        client_timer(&srv, &conns[4]).as_deref(),
        Some("keepalive"),
        "its own keepalive"
    );
    assert_eq!(opts(fd(&conns[2])), changed, "changed since: left alone");
    assert_eq!(opts(fd(&conns[3])), moved, "another owner fd: left alone");
    assert!(result_for(&doc, &conns[2])["reason"]
        .as_str()
        .is_some_and(|r| r.contains("TCP_KEEPIDLE is 500")));
    let intents = phase(&restore_log, "intent");
    let outcomes = phase(&restore_log, "outcome");
    assert_eq!((intents.len(), outcomes.len()), (3, 3));
    for l in intents.iter().chain(&outcomes) {
        assert_eq!(l["action"], "keepalive-restore", "{l}");
    }

    // Restored once: a second restore (reading its own records too) has nothing left to do.
    let mut both = std::fs::read_to_string(&audit.path).expect("audit");
    both.push_str(&std::fs::read_to_string(&restore_log.path).expect("restore log"));
    std::fs::write(&audit.path, both).expect("join the logs");
    let (_, doc) = restore(&srv, &restore_log, &from, &["--yes"], &[]);
    assert_eq!(doc["restored"], 0, "{doc:#}");
    for i in [0, 1, 4] {
        assert_eq!(opts(fd(&conns[i])), original[i]);
    }
}

#[test]
fn keepalive_on_a_full_disk_changes_nothing() {
    let srv = EchoServer::start().expect("start the echo server");
    let conns = srv.connect(2).expect("connect");
    let disk = Tmpfs::full().expect("a full tmpfs");
    let log = disk.join("audit.jsonl");
    let filter = clients_of(&srv);
    let run = treat(&srv.ns, "keepalive", &log, &SET, &strs(&filter), &[]);
    assert_eq!(
        run.code(),
        Some(74),
        "stdout {}\nstderr {}",
        run.stdout,
        run.stderr
    );
    assert_eq!(run.stderr_lines().len(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("audit log"), "{}", run.stderr);
    for c in &conns {
        assert!(!opts(c.stream.as_raw_fd()).keepalive, "nothing changed");
        assert_eq!(client_timer(&srv, c), None);
    }
    // The listener and the server ends (`sport`): still without keepalive.
    let port = format!(":{}", srv.port);
    let run = crate::run::sockdoc(&[
        "--netns",
        srv.ns.name(),
        "keepalive",
        "--yes",
        "--audit-log",
        &log.to_string_lossy(),
        "sport",
        "=",
        &port,
    ]);
    assert_eq!(run.code(), Some(74), "{}", run.stderr);
    for s in srv.sockets().expect("ss") {
        assert!(s.timer.is_none(), "nothing changed: {}", s.line);
    }
}

/// A disk that fills during the run stops it before the next batch: 3000 connections in batches of
/// 512, 2048 and 440 (write-ahead batches grow fourfold). The audit file is written on a second
/// thread while a batch is acted on, in commits [intents 1], [intents 2] (while batch 1 is changed),
/// [outcomes 1 + intents 3] (while batch 2 is), …; the log has room for the first two and half the
/// third. Two batches are changed, the
/// third is not touched; every changed socket has its intent on disk; exit 74 with one line; the
/// report, printed before the error, says what was set and what was not acted on.
#[test]
fn a_disk_that_fills_during_the_run_stops_it_before_the_next_batch() {
    const N: usize = 3000;
    const FIRST: usize = 512;
    const TWO: usize = FIRST + 4 * FIRST;
    let srv = EchoServer::start().expect("start the echo server");
    let conns = srv.connect(N).expect("connect");
    let filter = clients_of(&srv);
    // The same run on a roomy disk first, twice (the second one's records show the keepalive timer
    // and `before` as the run under test will), to learn the size of its records.
    let measure = Audit::new();
    for audit in [&Audit::new(), &measure] {
        let run = treat(&srv.ns, "keepalive", audit, &SET, &strs(&filter), &[]);
        assert_eq!(KaDoc::parse(&run).set, N as u64);
    }
    let text = std::fs::read_to_string(&measure.path).expect("audit");
    let size = |phase: &str| -> Vec<usize> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{{\"phase\":\"{phase}\"")))
            .map(|l| l.len() + 1)
            .collect()
    };
    let (intents, outcomes) = (size("intent"), size("outcome"));
    assert_eq!((intents.len(), outcomes.len()), (N, N));
    // Run two sets idle 61: records of the same lengths.
    let third = outcomes[..FIRST].iter().sum::<usize>() + intents[TWO..].iter().sum::<usize>();
    let room = intents[..TWO].iter().sum::<usize>() + third / 2;
    let disk = Tmpfs::with_room("audit.jsonl", room).expect("a nearly full tmpfs");
    let log = disk.join("audit.jsonl");
    let set_61 = ["--yes", "--idle", "61", "--intvl", "5", "--cnt", "3"];
    let run = treat(&srv.ns, "keepalive", &log, &set_61, &strs(&filter), &[]);
    assert_eq!(run.code(), Some(74), "stderr {}", run.stderr);
    let err = run.stderr_lines();
    assert_eq!(err.len(), 1, "{}", run.stderr);
    assert!(
        err[0].contains("No space left on device")
            && err[0].contains(&format!("stopped after changing {TWO} of {N}"))
            && err[0].contains(&format!("{TWO} acted on have an intent but no outcome"))
            && err[0].contains("--audit-log"),
        "what was changed, and what to do: {}",
        err[0]
    );
    // The kernel, read on our own fds: the first two batches changed, the third untouched.
    // Sockets by their client port (the client ends are the ones selected).
    let changed: std::collections::HashSet<u64> = conns
        .iter()
        .filter(|c| opts(c.stream.as_raw_fd()).idle == 61)
        .map(|c| u64::from(c.client.port()))
        .collect();
    assert_eq!(changed.len(), TWO, "two batches changed, not the third");
    assert!(
        conns
            .iter()
            .all(|c| matches!(opts(c.stream.as_raw_fd()).idle, 60 | 61)),
        "nothing else written"
    );
    // Every changed socket has its intent on disk (the log's lines after the padding).
    let written = std::fs::read_to_string(&log).expect("audit");
    let recs: Vec<Value> = written
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["action"] == "keepalive")
        .collect();
    let with_intent: std::collections::HashSet<u64> = recs
        .iter()
        .filter(|v| v["phase"] == "intent")
        .map(|v| v["socket"]["local"]["port"].as_u64().expect("port"))
        .collect();
    assert!(
        changed.is_subset(&with_intent),
        "{} changed sockets have no intent record",
        changed.difference(&with_intent).count()
    );
    let outcomes = recs.iter().filter(|v| v["phase"] == "outcome").count();
    assert_eq!(
        outcomes, 0,
        "the first batch's outcomes, with the third batch's intents, were cut off whole"
    );
    // The report: set = changed, the rest not acted on.
    let doc = run.json("keepalive");
    let by = |o: &str| -> std::collections::HashSet<u64> {
        doc["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter(|r| r["outcome"] == o)
            .map(|r| r["socket"]["local"]["port"].as_u64().expect("port"))
            .collect()
    };
    assert_eq!(by("set"), changed);
    assert_eq!(doc["set"].as_u64(), Some(TWO as u64));
    let skipped: Vec<&Value> = doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["outcome"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), N - TWO);
    assert!(
        skipped
            .iter()
            .all(|r| r["reason"] == "not acted on: the audit log could not be written"),
        "{skipped:?}"
    );
}

/// Audit logs written before every action record carried a run id (no `run`; intents with
/// `"outcome":"pending"`) still undo; and a restore whose own audit log cannot be written puts
/// nothing back: exit 74, one line, the report (printed first) says what was not acted on.
#[test]
fn restore_reads_older_logs_and_stops_when_its_log_cannot_be_written() {
    let srv = EchoServer::start().expect("start the echo server");
    let conns = srv.connect(2).expect("connect");
    let fd = |c: &Conn| c.stream.as_raw_fd();
    let original: Vec<Opts> = conns.iter().map(|c| opts(fd(c))).collect();
    let audit = Audit::new();
    let filter = clients_of(&srv);
    let run = treat(&srv.ns, "keepalive", &audit, &SET, &strs(&filter), &[]);
    assert_eq!(KaDoc::parse(&run).set, 2);
    // The log as older versions wrote it.
    let mut old = String::new();
    for mut v in crate::run::records(&audit.path) {
        let o = v.as_object_mut().expect("a record is an object");
        assert!(o.remove("run").is_some(), "written with a run id: {v}");
        if o["phase"] == "intent" {
            assert!(o.get("outcome").is_none(), "an intent has no outcome: {v}");
            o.insert("outcome".into(), "pending".into());
        }
        old.push_str(&format!("{v}\n"));
    }
    std::fs::write(&audit.path, old).expect("rewrite the log");
    let from = audit.path.to_string_lossy().into_owned();

    // The restore's own log is on a full disk: nothing is put back.
    let disk = Tmpfs::full().expect("a full tmpfs");
    let (run, doc) = restore(&srv, &disk.join("audit.jsonl"), &from, &["--yes"], &[]);
    assert_eq!(run.code(), Some(74), "stderr {}", run.stderr);
    let err = run.stderr_lines();
    assert_eq!(err.len(), 1, "{}", run.stderr);
    assert!(
        err[0].contains("stopped after changing 0 of 2") && err[0].contains("--audit-log"),
        "{}",
        err[0]
    );
    assert_eq!(
        (doc["records"].as_u64(), doc["restored"].as_u64()),
        (Some(2), Some(0)),
        "{doc:#}"
    );
    for c in &conns {
        let r = result_for(&doc, c);
        assert_eq!(r["outcome"], "skipped", "{r}");
        assert_eq!(
            r["reason"], "not acted on: the audit log could not be written",
            "{r}"
        );
        assert_eq!(opts(fd(c)).idle, 60, "still as sockdoc set it");
    }

    // With a log that can be written, the older records are read and undone.
    let restore_log = Audit::new();
    let (run, doc) = restore(&srv, &restore_log, &from, &["--yes"], &[]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    assert_eq!(
        (
            doc["records"].as_u64(),
            doc["malformed"].as_u64(),
            doc["restored"].as_u64()
        ),
        (Some(2), Some(0), Some(2)),
        "{doc:#}"
    );
    for (c, was) in conns.iter().zip(&original) {
        assert_eq!(opts(fd(c)), *was, "exactly as before sockdoc");
    }
    // Its own records have the one shape (checked by the reader): intent, then outcome, one run.
    let lines = restore_log.all_lines();
    let phases: Vec<&str> = lines
        .iter()
        .map(|l| l.json["phase"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(phases, ["intent", "intent", "outcome", "outcome"]);
    assert!(lines.iter().all(|l| l.json["run"] == lines[0].json["run"]));
    assert!(
        lines[0].json["restore_to"]["idle"].is_u64(),
        "{}",
        lines[0].json
    );
}

/// reap's keepalive policy writes keepalive and its timings only: the application's
/// TCP_USER_TIMEOUT survives (reap wrote 0 over it).
#[test]
fn reap_keepalive_leaves_the_apps_user_timeout_alone() {
    let srv = EchoServer::start().expect("start the echo server");
    let conns = srv.connect(1).expect("connect");
    let fd = conns[0].stream.as_raw_fd();
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, 30_000);
    let config = format!(
        "interval = \"1s\"\n[[rule]]\nname = \"ka\"\nfilter = \"dport = :{}\"\n[rule.keepalive]\nidle = 77\nintvl = 5\ncount = 3\n",
        srv.port
    );
    let mut r = sockdoc_lab::reap::Reaper::start(
        env!("CARGO_BIN_EXE_sockdoc"),
        &srv.ns,
        &config,
        &["--metrics", "127.0.0.1:0"],
        &[],
    )
    .unwrap_or_else(|e| panic!("start sockdoc reap: {e}"));
    let set = r
        .wait_line(
            "keepalive on the client end",
            Duration::from_secs(20),
            |v| {
                v["action"] == "keepalive"
                    && v["phase"] == "outcome"
                    && v["socket"]["local"]["port"] == u64::from(conns[0].client.port())
            },
        )
        .expect("keepalive line");
    assert_eq!(set["outcome"], "set", "{set}");
    let now = opts(fd);
    assert!(
        now.keepalive && now.idle == 77 && now.intvl == 5 && now.cnt == 3,
        "{now:?}"
    );
    assert_eq!(
        now.user_timeout_ms, 30_000,
        "the application's TCP_USER_TIMEOUT kept"
    );
    assert_eq!(set["before"]["user_timeout_ms"], 30_000, "{set}");

    // reap's action log undoes like an audit log.
    r.stop(Duration::from_secs(10)).expect("stop reap");
    let log = r.config.with_file_name("actions.jsonl");
    let log = log.to_string_lossy();
    let restore_log = Audit::new();
    let one = format!(":{}", conns[0].client.port());
    let (_, doc) = restore(&srv, &restore_log, &log, &["--yes"], &["sport", "=", &one]);
    assert_eq!(doc["restored"], 1, "{doc:#}");
    assert_eq!(
        doc["malformed"], 0,
        "reap's other lines are records too: {doc:#}"
    );
    assert_eq!(opts(fd), Opts::from_json(&set["before"]), "as before reap");
    assert!(!opts(fd).keepalive);
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

/// A cgroup (v2, under [`CGROUP_ROOT`]) with a BPF `cgroup/setsockopt` program attached that refuses
/// one option (EPERM) for every socket created by a process in it; everything else passes. Dropping
/// it detaches the program (the link fd closes) and removes the cgroup.
struct SetsockoptVeto {
    dir: PathBuf,
    _prog: std::os::fd::OwnedFd,
    link: Option<std::os::fd::OwnedFd>,
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup/unified";

/// `bpf(2)` commands, program type and attach type (linux/bpf.h).
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_PROG_TYPE_CGROUP_SOCKOPT: u32 = 25;
const BPF_CGROUP_SETSOCKOPT: u32 = 22;

/// One eBPF instruction: opcode, dst | src << 4, offset, immediate.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = code;
    b[1] = dst | (src << 4);
    b[2..4].copy_from_slice(&off.to_ne_bytes());
    b[4..8].copy_from_slice(&imm.to_ne_bytes());
    b
}

fn bpf(cmd: libc::c_long, attr: &mut [u8; 144]) -> std::io::Result<std::os::fd::OwnedFd> {
    // SAFETY: bpf(2) with a zero-padded attribute buffer of the kernel's union size.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor the kernel just handed us.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

impl SetsockoptVeto {
    fn new(level: i32, optname: i32) -> std::io::Result<SetsockoptVeto> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = Path::new(CGROUP_ROOT).join(format!(
            "sockdoc-veto-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir)?;
        let mut veto = SetsockoptVeto {
            dir,
            _prog: std::fs::File::open("/dev/null")?.into(),
            link: None,
        };
        // struct bpf_sockopt: level at 24, optname at 28. Return 1 = go on, 0 = EPERM.
        let prog: Vec<u8> = [
            insn(0xb7, 0, 0, 0, 1),       // r0 = 1
            insn(0x61, 2, 1, 28, 0),      // r2 = ctx->optname
            insn(0x55, 2, 0, 3, optname), // if r2 != optname goto exit
            insn(0x61, 2, 1, 24, 0),      // r2 = ctx->level
            insn(0x55, 2, 0, 1, level),   // if r2 != level goto exit
            insn(0xb7, 0, 0, 0, 0),       // r0 = 0
            insn(0x95, 0, 0, 0, 0),       // exit
        ]
        .concat();
        let license = b"GPL\0";
        let mut attr = [0u8; 144];
        attr[0..4].copy_from_slice(&BPF_PROG_TYPE_CGROUP_SOCKOPT.to_ne_bytes());
        attr[4..8].copy_from_slice(&((prog.len() / 8) as u32).to_ne_bytes());
        attr[8..16].copy_from_slice(&(prog.as_ptr() as u64).to_ne_bytes());
        attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
        attr[68..72].copy_from_slice(&BPF_CGROUP_SETSOCKOPT.to_ne_bytes());
        let prog_fd = bpf(BPF_PROG_LOAD, &mut attr)?;
        let cg = std::fs::File::open(&veto.dir)?;
        let mut attr = [0u8; 144];
        attr[0..4].copy_from_slice(&(prog_fd.as_raw_fd() as u32).to_ne_bytes());
        attr[4..8].copy_from_slice(&(cg.as_raw_fd() as u32).to_ne_bytes());
        attr[8..12].copy_from_slice(&BPF_CGROUP_SETSOCKOPT.to_ne_bytes());
        veto.link = Some(bpf(BPF_LINK_CREATE, &mut attr)?);
        veto._prog = prog_fd;
        Ok(veto)
    }

    /// `cgroup.procs` of the cgroup: a pid written there moves into it.
    fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }
}

impl Drop for SetsockoptVeto {
    fn drop(&mut self) {
        self.link = None;
        // The cgroup empties once its processes are reaped.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// An application client: a Python process in the scenario's namespace (and in the veto's cgroup,
/// if given) with one connection to the echo server, on which it set TCP_USER_TIMEOUT; on each
/// line on its stdin it prints the connection's keepalive options as JSON. Killed on drop.
struct AppClient {
    child: Child,
    pid: u32,
    lines: mpsc::Receiver<String>,
}

const APP_CLIENT: &str = r#"
import json, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
if int(sys.argv[2]):
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(sys.argv[2]))
def opts():
    g = lambda level, name: s.getsockopt(level, name)
    T = socket.IPPROTO_TCP
    return {"keepalive": g(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0, "idle": g(T, socket.TCP_KEEPIDLE),
            "intvl": g(T, socket.TCP_KEEPINTVL), "cnt": g(T, socket.TCP_KEEPCNT),
            "user_timeout_ms": g(T, socket.TCP_USER_TIMEOUT)}
print(json.dumps(opts()), flush=True)
for _ in sys.stdin:
    print(json.dumps(opts()), flush=True)
"#;

impl AppClient {
    fn start(
        srv: &EchoServer,
        veto: Option<&SetsockoptVeto>,
        user_timeout_ms: u32,
    ) -> std::io::Result<AppClient> {
        let join = veto.map_or(String::new(), |v| {
            format!("echo $$ > '{}' && ", v.procs().display())
        });
        let script = format!(
            "{join}exec ip netns exec {} /usr/bin/python3 -c \"$0\" {} {user_timeout_ms}",
            srv.ns.name(),
            srv.port
        );
        let mut child = Command::new("sh")
            .args(["-c", &script, APP_CLIENT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let pid = child.id();
        let out = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut c = AppClient { child, pid, lines };
        c.next_line()?;
        Ok(c)
    }

    fn next_line(&mut self) -> std::io::Result<String> {
        self.lines
            .recv_timeout(Duration::from_secs(15))
            .map_err(|e| std::io::Error::other(format!("app client said nothing: {e}")))
    }

    /// Its connection's options, as the application reads them.
    fn opts(&mut self) -> Opts {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(b"get\n").expect("ask the client");
        stdin.flush().expect("flush");
        let line = self.next_line().expect("the client's answer");
        Opts::from_json(&serde_json::from_str(&line).expect("JSON"))
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AppClient {
    fn drop(&mut self) {
        self.stop();
    }
}
