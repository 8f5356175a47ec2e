//! `sockdoc record` against real namespaces and sockets (root): connections made before and while
//! the recorder runs, the recorder restarted, then `list -o age` and its JSON checked against the
//! real time since each connection was made; a connection made after the last scan says unknown.
//! A CLOSE-WAIT leak recorded and then fixed (its process killed) is still there at its minute
//! with `--from DIR --at TIME`, also when the newest files of that minute are damaged (skipped
//! with a warning). A small `--max-size` holds.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sockdoc_lab::doctor::CloseWaitLeak;
use sockdoc_lab::in_netns;
use sockdoc_lab::netns::Netns;
use sockdoc_lab::wait::poll;
use sockdoc_record::{minute, store, when};

fn sockdoc(args: &[&str]) -> sockdoc_lab::cli::Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockdoc"));
    cmd.args(args);
    let owned = args.iter().map(|s| s.to_string()).collect();
    sockdoc_lab::cli::run_command(cmd, owned, Duration::from_secs(60)).expect("run sockdoc")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

/// A directory removed when the test ends, however it ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("sdrecord-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        TempDir(d)
    }
    fn s(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running recorder, stopped by SIGTERM (and reaped by its pid) when dropped.
struct Recorder(Child);

impl Recorder {
    fn start(ns: &str, dir: &TempDir, extra: &[&str]) -> Recorder {
        let mut args = vec!["--netns", ns, "record", "--dir", dir.s(), "--every", "1s"];
        args.extend_from_slice(extra);
        let child = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the recorder");
        Recorder(child)
    }

    /// SIGTERM, then its exit status and stderr.
    fn stop(mut self) -> (i32, String) {
        let status = self.term();
        let mut err = String::new();
        if let Some(mut e) = self.0.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        (status, err)
    }

    fn term(&mut self) -> i32 {
        // SAFETY: signalling the child this test started, by its pid.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        self.0.wait().map_or(-1, |s| s.code().unwrap_or(-1))
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.term();
        }
    }
}

/// Minute records in `dir`, oldest first.
fn minutes(dir: &Path) -> Vec<store::Entry> {
    store::list(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.kind == store::Kind::Minute)
        .collect()
}

/// Wait until `dir` holds minute records taken after `after_ms`, `n` of them.
fn wait_scans(dir: &Path, after_ms: u64, n: usize) {
    poll(Duration::from_secs(30), "recorder scans", || {
        let got = minutes(dir)
            .iter()
            .filter(|e| e.taken_ms > after_ms)
            .count();
        Ok(if got >= n {
            Ok(())
        } else {
            Err(format!("{got} of {n}"))
        })
    })
    .expect("scans");
}

/// A connection to `listener`, accepted: (client, server side, when it was about to be made).
fn connect(ns: &Netns, listener: &TcpListener) -> (TcpStream, TcpStream, u64) {
    let addr = listener.local_addr().expect("addr");
    let made = now_ms();
    let client = in_netns(ns, || TcpStream::connect(addr)).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (client, server, made)
}

/// The JSON socket of `list` whose local port is `port`.
fn by_local_port(v: &serde_json::Value, port: u16) -> serde_json::Value {
    v["namespaces"][0]["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .find(|s| s["local"]["port"] == port)
        .cloned()
        .unwrap_or_else(|| panic!("no socket on local port {port}: {v}"))
}

#[test]
fn ages_hold_across_a_restart_and_a_connection_after_the_last_scan_is_unknown() {
    let ns = Netns::new().expect("netns");
    let dir = TempDir::new("age");
    let listener = in_netns(&ns, || TcpListener::bind("127.0.0.1:0")).expect("listen");
    let mut conns = vec![connect(&ns, &listener), connect(&ns, &listener)];
    let rec = Recorder::start(ns.name(), &dir, &["--full-every", "2s"]);
    wait_scans(&dir.0, 0, 2);
    // Two more while it runs: first seen at its next scan.
    let during = now_ms();
    conns.push(connect(&ns, &listener));
    conns.push(connect(&ns, &listener));
    wait_scans(&dir.0, during, 2);
    let (code, err) = rec.stop();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("recorder stopped after"), "{err}");
    let before = sockdoc_record::read_index(&dir.0)
        .expect("index")
        .expect("an index file");
    let first: Vec<u64> = conns
        .iter()
        .map(|(c, _, _)| {
            let port = c.local_addr().expect("addr").port();
            let run = sockdoc(&[
                "--netns",
                ns.name(),
                "list",
                "--json",
                "--history",
                dir.s(),
                "sport",
                "=",
                &format!(":{port}"),
            ]);
            let s = by_local_port(&run.expect_ok().json("list"), port);
            let cookie = s["cookie"].as_u64().expect("cookie");
            before
                .first_seen(cookie)
                .expect("indexed before the restart")
        })
        .collect();
    // Restarted: it reloads the index, and keeps each old connection's first-seen time.
    let restarted = now_ms();
    let rec = Recorder::start(ns.name(), &dir, &["--full-every", "2s"]);
    wait_scans(&dir.0, restarted, 2);
    let (code, err) = rec.stop();
    assert_eq!(code, 0, "{err}");
    // After the last scan: one more connection.
    let late = connect(&ns, &listener);
    let listed_from = now_ms();
    let run = sockdoc(&["--netns", ns.name(), "list", "--json", "--history", dir.s()]).expect_ok();
    let listed_to = now_ms();
    let v = run.json("list");
    for (i, (c, _, made)) in conns.iter().enumerate() {
        let s = by_local_port(&v, c.local_addr().expect("addr").port());
        let age = s["age_ms"]
            .as_u64()
            .unwrap_or_else(|| panic!("no age: {s}"));
        let first_seen = s["first_seen"].as_str().expect("first_seen");
        assert_eq!(
            when::parse_at(first_seen, 0),
            Some(first[i]),
            "the restart kept the first-seen time: {s}"
        );
        // At most the real time since it was made; at least that minus one interval (1 s), the
        // census's own time and the list's (a census ends before its first-seen time is set).
        assert!(
            age <= listed_to - made,
            "age {age} > real {}: {s}",
            listed_to - made
        );
        let least = (listed_from - made).saturating_sub(1_000 + 500);
        assert!(age >= least, "age {age} < {least}: {s}");
    }
    let s = by_local_port(&v, late.0.local_addr().expect("addr").port());
    assert!(s["age_ms"].is_null() && s["first_seen"].is_null(), "{s}");
    // The text column says so in words.
    let text = sockdoc(&[
        "--netns",
        ns.name(),
        "list",
        "--history",
        dir.s(),
        "-o",
        "local,peer,state,age",
    ])
    .expect_ok();
    let late_port = format!(":{}", late.0.local_addr().expect("addr").port());
    let line = text
        .stdout
        .lines()
        .find(|l| l.contains(&late_port) && l.contains("ESTAB"))
        .expect("the late connection");
    assert!(line.ends_with("unknown"), "{line}");
    let old_port = format!(":{}", conns[0].0.local_addr().expect("addr").port());
    let line = text
        .stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&format!("127.0.0.1{old_port}")))
        .expect("an old connection");
    assert!(
        line.contains("≥ ") && line.contains("(first seen "),
        "{line}"
    );
    // Without a recorder's index: unknown, and one line saying why.
    let none = TempDir::new("none");
    let run = sockdoc(&[
        "--netns",
        ns.name(),
        "list",
        "--history",
        none.s(),
        "-o",
        "local,age",
    ]);
    let run = run.expect_ok();
    assert!(run.stderr.contains("no first-seen index"), "{}", run.stderr);
}

#[test]
fn a_fixed_close_wait_leak_is_still_there_at_its_minute_past_damaged_files() {
    let mut cw = CloseWaitLeak::build(100, 1).expect("close-wait scene");
    let dir = TempDir::new("cw");
    let rec = Recorder::start(cw.server.name(), &dir, &["--full-every", "1s"]);
    let leaking = |m: &minute::Minute| {
        m.namespaces
            .iter()
            .any(|n| n.findings.iter().any(|f| f.id == "close-wait-leak"))
    };
    let read = |e: &store::Entry| minute::read(&e.path).expect("minute");
    // Three minutes with the leak, each with its snapshot.
    poll(
        Duration::from_secs(30),
        "three minutes with the leak",
        || {
            let n = minutes(&dir.0).iter().filter(|e| leaking(&read(e))).count();
            Ok(if n >= 3 { Ok(()) } else { Err(n.to_string()) })
        },
    )
    .expect("leak recorded");
    let with_leak: Vec<store::Entry> = minutes(&dir.0)
        .into_iter()
        .filter(|e| leaking(&read(e)))
        .collect();
    let at = with_leak.last().expect("a minute").taken_ms;
    // Fixed: the leaking process killed (the lab's own, by pid).
    cw.kill_leaker().expect("kill the leaker");
    poll(Duration::from_secs(30), "a minute without the leak", || {
        let fixed = minutes(&dir.0)
            .iter()
            .any(|e| e.taken_ms > at && !leaking(&read(e)));
        Ok(if fixed {
            Ok(())
        } else {
            Err("still leaking".into())
        })
    })
    .expect("leak fixed");
    // Two scans more: the closed connections leave the index (each full snapshot compacts it).
    wait_scans(&dir.0, now_ms(), 2);
    let (code, err) = rec.stop();
    assert_eq!(code, 0, "{err}");
    // The newest minute and snapshot at that time damaged: skipped, the ones before are used.
    let entries = store::list(&dir.0).expect("list");
    let snap = store::at_or_before(&entries, store::Kind::Snapshot, at)[0]
        .path
        .clone();
    let len = std::fs::metadata(&snap).expect("snapshot").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&snap)
        .and_then(|f| f.set_len(len / 2))
        .expect("truncate");
    let last_minute = store::at_or_before(&entries, store::Kind::Minute, at)[0]
        .path
        .clone();
    std::fs::write(&last_minute, b"not zstd at all").expect("damage");
    let at_text = when::rfc3339(at);
    let run = sockdoc(&["--from", dir.s(), "--at", &at_text, "doctor", "--json"]);
    assert!(run.stderr.contains("skipped"), "{}", run.stderr);
    assert!(run.stderr.contains("replaying"), "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let recorded = &v["recorded"]["minute"]["namespaces"][0]["findings"];
    let ids: Vec<&str> = recorded
        .as_array()
        .expect("recorded findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(ids.contains(&"close-wait-leak"), "{v}");
    assert_ne!(v["recorded"]["snapshot"], snap.display().to_string());
    // The snapshot's own census shows it too, and the text says so.
    let judged: Vec<&str> = v["namespaces"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(judged.contains(&"close-wait-leak"), "{v}");
    let text = sockdoc(&["--from", dir.s(), "--at", &at_text]);
    assert!(
        text.stdout.contains("Findings recorded at"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("[close-wait-leak]"), "{}", text.stdout);
    // Ages at that minute come from its snapshot: the leak's connections, closed since and so
    // gone from the index, still have theirs.
    let index = sockdoc_record::read_index(&dir.0)
        .expect("read the index")
        .expect("an index");
    let aged = sockdoc(&[
        "--from",
        dir.s(),
        "--at",
        &at_text,
        "list",
        "--json",
        "state",
        "close-wait",
    ]);
    let v: serde_json::Value = serde_json::from_str(&aged.stdout).expect("json");
    let leaked = v["namespaces"][0]["sockets"].as_array().expect("sockets");
    assert!(leaked.len() >= 100, "{v}");
    let now = sockdoc(&[
        "--netns",
        cw.server.name(),
        "list",
        "--json",
        "state",
        "close-wait",
    ]);
    let now: serde_json::Value = serde_json::from_str(&now.stdout).expect("json");
    let live: Vec<u64> = now["namespaces"][0]["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .filter_map(|s| s["cookie"].as_u64())
        .collect();
    let mut closed = 0;
    for s in leaked {
        let cookie = s["cookie"].as_u64().expect("cookie");
        if !live.contains(&cookie) {
            assert_eq!(index.first_seen(cookie), None, "{cookie} still indexed");
            closed += 1;
        }
        let first = s["first_seen"]
            .as_str()
            .expect("first_seen from the snapshot");
        let first = when::parse_at(first, 0).expect("a time");
        // Counted to the snapshot's time, at or before the minute asked for.
        let age = s["age_ms"].as_u64().expect("age_ms");
        assert!(first + age <= at, "{s}");
    }
    assert!(
        closed >= 100,
        "{closed} of the leak's connections closed since"
    );
    // Live, it is gone.
    let live = sockdoc(&["--netns", cw.server.name(), "doctor", "--json"]);
    assert!(!live.stdout.contains("close-wait-leak"), "{}", live.stdout);
    // A time before any snapshot: one line, exit 66.
    let early = sockdoc(&["--from", dir.s(), "--at", "2000-01-01T00:00:00Z", "stats"]);
    assert_eq!(early.code(), Some(66), "{}", early.stderr);
    assert_eq!(early.stderr_lines().len(), 1, "{}", early.stderr);
}

#[test]
fn a_small_disk_budget_holds() {
    let ns = Netns::new().expect("netns");
    let dir = TempDir::new("budget");
    let listener = in_netns(&ns, || TcpListener::bind("127.0.0.1:0")).expect("listen");
    let _conns: Vec<_> = (0..20).map(|_| connect(&ns, &listener)).collect();
    let budget = 12 * 1024;
    let rec = Recorder::start(
        ns.name(),
        &dir,
        &["--full-every", "1s", "--max-size", "12KiB"],
    );
    // Until the first minute has been dropped to hold the budget.
    wait_scans(&dir.0, 0, 1);
    let first = minutes(&dir.0)[0].taken_ms;
    poll(Duration::from_secs(60), "pruning", || {
        let gone = minutes(&dir.0).first().is_none_or(|e| e.taken_ms > first);
        Ok(if gone { Ok(()) } else { Err("not yet".into()) })
    })
    .expect("pruned");
    let (code, err) = rec.stop();
    assert_eq!(code, 0, "{err}");
    let total: u64 = walk(&dir.0);
    assert!(total <= budget, "{total} bytes > {budget}");
    assert!(!minutes(&dir.0).is_empty());
}

/// Bytes of every file under `dir`.
fn walk(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// tcp_info read once (the first scan, `--info-every` far away): the scans after it carry it, idle
/// times aged. A silent connection, idle well under `--idle` at the reading, becomes a ghost
/// suspect in a later minute by the time since; one made after the reading has no idle time and is
/// never a suspect; each minute says when its tcp_info was read, and the replay says so too.
#[test]
fn tcp_info_between_readings_is_carried_and_aged() {
    let ns = Netns::new().expect("namespace");
    let listener = in_netns(&ns, || TcpListener::bind("127.0.0.1:0")).expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let (_c1, _s1, _) = connect(&ns, &listener);
    let dir = TempDir::new("carry");
    let started = now_ms();
    let rec = Recorder::start(
        ns.name(),
        &dir,
        &["--full-every", "1h", "--info-every", "1h", "--idle", "3s"],
    );
    wait_scans(&dir.0, started, 1);
    // Made after the only reading: carried nothing.
    let (_c2, _s2, _) = connect(&ns, &listener);
    let suspects = |m: &minute::Minute| {
        m.namespaces
            .iter()
            .flat_map(|n| n.findings.iter())
            .find(|f| f.id == "ghost-suspects")
            .and_then(|f| f.evidence.get("suspects").copied())
    };
    poll(
        Duration::from_secs(30),
        "a minute with the suspects",
        || {
            let got = minutes(&dir.0)
                .iter()
                .filter_map(|e| suspects(&minute::read(&e.path).expect("minute")))
                .max();
            Ok(match got {
                Some(n) => Ok(n),
                None => Err("no suspects yet".to_string()),
            })
        },
    )
    .expect("suspects recorded");
    let (code, err) = rec.stop();
    assert_eq!(code, 0, "{err}");
    let all: Vec<minute::Minute> = minutes(&dir.0)
        .iter()
        .map(|e| minute::read(&e.path).expect("minute"))
        .collect();
    let first = &all[0];
    assert_eq!(
        first.tcp_info_ms,
        Some(first.taken_ms),
        "the first scan reads"
    );
    assert_eq!(suspects(first), None, "idle < 3s at the reading");
    for m in &all[1..] {
        assert_eq!(
            m.tcp_info_ms,
            Some(first.taken_ms),
            "carried from the first"
        );
        // The two sides of the first connection; never the second one's.
        if let Some(n) = suspects(m) {
            assert_eq!(n, 2, "{:?}", m.namespaces[0].findings);
            assert!(m.taken_ms - first.taken_ms >= 2000, "aged past 3s");
        }
    }
    // The replay of the last minute says its idle times are a reading's, aged.
    let last = all.last().expect("a minute");
    let at = when::rfc3339(last.taken_ms);
    let run = sockdoc(&["--from", dir.s(), "--at", &at, "doctor"]);
    assert!(
        run.stdout.contains("idle times from the tcp_info read at"),
        "{}",
        run.stdout
    );
    let _ = port;
}

/// Full snapshots after the first read again only the processes that may have changed: a new
/// process's connection is named in a later snapshot, and the listener of a process that did not
/// change (its connection waits unaccepted in the queue) keeps its holder.
#[test]
fn later_snapshots_name_new_holders_and_keep_unchanged_ones() {
    const LISTEN: &str = "import socket,sys,time\nl=socket.socket();l.bind(('127.0.0.1',int(sys.argv[1])));l.listen(8);time.sleep(60)";
    const CONNECT: &str = "import socket,sys,time\nc=socket.create_connection(('127.0.0.1',int(sys.argv[1])));time.sleep(60)";
    let ns = Netns::new().expect("namespace");
    let port = ns.fresh_port();
    let p = port.to_string();
    let server = ns.spawn(&["python3", "-c", LISTEN, &p]).expect("server");
    poll(Duration::from_secs(10), "the listener", || {
        let t = ns.exec(&["ss", "-ltnH"]).expect("ss");
        Ok(if t.contains(&format!(":{port}")) {
            Ok(())
        } else {
            Err(t)
        })
    })
    .expect("listening");
    let dir = TempDir::new("again");
    let rec = Recorder::start(ns.name(), &dir, &["--full-every", "1s"]);
    wait_scans(&dir.0, 0, 2);
    let client = ns.spawn(&["python3", "-c", CONNECT, &p]).expect("client");
    let after = now_ms() + 1000;
    wait_scans(&dir.0, after, 2);
    let (code, err) = rec.stop();
    assert_eq!(code, 0, "{err}");
    let run = sockdoc(&["--from", dir.s(), "list", "--json", "-p"]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let pids = |port_of: &dyn Fn(&serde_json::Value) -> bool| -> Vec<u64> {
        v["namespaces"][0]["sockets"]
            .as_array()
            .expect("sockets")
            .iter()
            .filter(|s| port_of(s))
            .flat_map(|s| s["processes"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p["pid"].as_u64())
            .collect()
    };
    let listener = pids(&|s| s["state"] == "listen" && s["local"]["port"] == port);
    let connection = pids(&|s| s["state"] == "established" && s["remote"]["port"] == port);
    assert_eq!(listener, vec![u64::from(server)], "{v}");
    assert_eq!(connection, vec![u64::from(client)], "{v}");
}
