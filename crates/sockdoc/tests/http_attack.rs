//! The `/metrics` endpoint of `sockdoc serve` and `sockdoc reap` under attack and misuse, each daemon
//! watching a lab namespace and listening on loopback:
//!
//! - 500 idle connections, a client trickling its request head one byte a second and one streaming a
//!   1 GiB request line, all at once: a scrape still answers, correctly, in under a second, and the
//!   daemon's resident memory stays under 60 MB; the server closes the idle connections itself and
//!   cuts the huge line short;
//! - more idle connections than the cap: the oldest are evicted, the scrape still answers;
//! - HEAD answers GET's headers (same Content-Length) without a body; POST, PUT, DELETE... get 405
//!   with `Allow: GET, HEAD` and never run a scrape;
//! - listening on 0.0.0.0 or :: prints a warning;
//! - reap with stderr a closed pipe, and clients hanging up mid-request: it keeps serving, reloads,
//!   stops on SIGTERM with exit 0 and writes its stop record;
//! - reap ended by a failure (its log cannot be synced) still writes a stop record saying why.
//!
//! Needs root and `ip`.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sockdoc_lab::doctor::Workdir;
use sockdoc_lab::reap::{metric_value, Reaper, Stderr};
use sockdoc_lab::serve::{self as lab_serve, Killed};
use sockdoc_lab::Netns;

const BIN: &str = env!("CARGO_BIN_EXE_sockdoc");
const WAIT: Duration = Duration::from_secs(20);

/// What the issue allows a scrape under attack, and the daemon's memory.
const SCRAPE_LIMIT: Duration = Duration::from_secs(1);
const RSS_LIMIT_KB: u64 = 60 * 1024;

const IDLE_CONNECTIONS: usize = 500;
const HUGE_LINE: u64 = 1 << 30;

/// A reap configuration that acts on nothing (a dry-run rule on a port nobody uses).
const QUIET_REAP: &str =
    "interval = \"1s\"\ndry_run = true\n[[rule]]\nname = \"none\"\nlocal_port = 9\nidle_timeout = \"1h\"\n";

/// The daemon's resident memory in KiB (`VmRSS`).
fn rss_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Sends `request` as is and reads the whole answer (the server closes after one): (head, body).
fn raw(addr: &str, request: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("send");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("read the answer");
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head: {}", String::from_utf8_lossy(&all)));
    let head = String::from_utf8_lossy(&all[..split]).to_string();
    (head, all[split + 4..].to_vec())
}

/// A header's value (names compared without case).
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Everything an attacker runs at once against `addr`.
struct Attack {
    stop: Arc<AtomicBool>,
    idle: Vec<TcpStream>,
    trickled: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
    huge: Option<JoinHandle<(u64, String)>>,
    sampler: Option<JoinHandle<u64>>,
}

/// What an attack saw.
struct Seen {
    /// The daemon's largest resident memory, KiB.
    max_rss_kb: u64,
    /// Bytes of the huge request line the server took, and how the stream ended.
    huge_sent: u64,
    huge_end: String,
    /// Bytes the trickler sent.
    trickled: u64,
    /// The idle connections, still held by the client.
    idle: Vec<TcpStream>,
}

impl Attack {
    /// `idle` connections that send nothing, a trickler and a 1 GiB request line; the daemon's
    /// memory sampled every 50 ms meanwhile.
    fn start(addr: &str, pid: u32, idle: usize) -> Attack {
        let stop = Arc::new(AtomicBool::new(false));
        let idle: Vec<TcpStream> = (0..idle)
            .map(|i| TcpStream::connect(addr).unwrap_or_else(|e| panic!("idle {i}: {e}")))
            .collect();
        // One byte a second of a request head that never ends; a new connection when the server
        // closes this one.
        let trickled = Arc::new(AtomicU64::new(0));
        let trickler = {
            let (stop, addr, trickled) = (stop.clone(), addr.to_string(), trickled.clone());
            std::thread::spawn(move || {
                let head =
                    b"GET /metrics HTTP/1.1\r\nHost: lab\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa\r\n";
                'conn: while !stop.load(Ordering::SeqCst) {
                    let Ok(mut s) = TcpStream::connect(&addr) else {
                        return;
                    };
                    for b in head.iter().cycle() {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        if s.write_all(&[*b]).is_err() {
                            continue 'conn;
                        }
                        trickled.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            })
        };
        // A request line of 1 GiB, streamed in 64 KiB pieces (never held in memory).
        let huge = {
            let (stop, addr) = (stop.clone(), addr.to_string());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).expect("connect the huge line");
                s.set_write_timeout(Some(Duration::from_secs(10)))
                    .expect("timeout");
                let chunk = vec![b'a'; 64 * 1024];
                let mut sent = 0u64;
                if let Err(e) = s.write_all(b"GET /") {
                    return (sent, e.to_string());
                }
                while sent < HUGE_LINE && !stop.load(Ordering::SeqCst) {
                    match s.write(&chunk) {
                        Ok(n) => sent += n as u64,
                        Err(e) => return (sent, e.to_string()),
                    }
                }
                (sent, "not cut".to_string())
            })
        };
        let sampler = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut max = 0;
                while !stop.load(Ordering::SeqCst) {
                    max = max.max(rss_kb(pid).unwrap_or(0));
                    std::thread::sleep(Duration::from_millis(50));
                }
                max
            })
        };
        Attack {
            stop,
            idle,
            trickled,
            threads: vec![trickler],
            huge: Some(huge),
            sampler: Some(sampler),
        }
    }

    /// Stops the clients (the idle connections stay open) and says what was seen.
    fn finish(mut self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        let (huge_sent, huge_end) = self
            .huge
            .take()
            .map(|h| h.join().expect("huge line thread"))
            .unwrap_or_default();
        let max_rss_kb = self
            .sampler
            .take()
            .map(|h| h.join().expect("sampler thread"))
            .unwrap_or_default();
        Seen {
            max_rss_kb,
            huge_sent,
            huge_end,
            trickled: self.trickled.load(Ordering::SeqCst),
            idle: std::mem::take(&mut self.idle),
        }
    }
}

impl Drop for Attack {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Under attack: three scrapes, each answered in time, status 200, with `metric`; memory bounded;
/// the idle connections closed by the server, the huge line cut short.
fn scrape_under_attack(addr: &str, pid: u32, metric: &str) {
    // A first scrape before the attack: the exporter's slow parts (the /proc walk) are cached, as in
    // any exporter that has been running.
    let warm = lab_serve::get(addr, "/metrics", WAIT).expect("first scrape");
    assert!(warm.starts_with("HTTP/1.1 200"), "{warm}");
    let attack = Attack::start(addr, pid, IDLE_CONNECTIONS);
    // Let the trickler send a few bytes and the huge line stream.
    std::thread::sleep(Duration::from_millis(1500));
    let mut took = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let answer = lab_serve::get(addr, "/metrics", WAIT).expect("scrape under attack");
        let elapsed = t.elapsed();
        took.push(elapsed);
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(
            metric_value(&answer.replace("\r\n", "\n"), metric).is_some(),
            "no {metric} in:\n{answer}"
        );
        assert!(
            elapsed < SCRAPE_LIMIT,
            "a scrape under attack took {elapsed:?} (limit {SCRAPE_LIMIT:?})"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut seen = attack.finish();
    // The server ends the idle connections itself (the request head deadline): each read sees the
    // end, not this test's timeout.
    let closed = seen
        .idle
        .iter_mut()
        .map(|c| {
            c.set_read_timeout(Some(Duration::from_secs(40)))
                .expect("timeout");
            match c.read_to_end(&mut Vec::new()) {
                Ok(_) => true,
                Err(e) => e.kind() == ErrorKind::ConnectionReset,
            }
        })
        .filter(|closed| *closed)
        .count();
    eprintln!(
        "scrapes under attack took {took:?}; daemon RSS at most {} KiB; huge line cut after {} bytes ({}); {} bytes trickled; {closed} idle connections closed by the server",
        seen.max_rss_kb, seen.huge_sent, seen.huge_end, seen.trickled
    );
    assert!(
        seen.max_rss_kb > 0 && seen.max_rss_kb < RSS_LIMIT_KB,
        "RSS reached {} KiB (limit {RSS_LIMIT_KB})",
        seen.max_rss_kb
    );
    assert!(
        seen.huge_sent < HUGE_LINE,
        "the server read the whole 1 GiB request line"
    );
    assert!(seen.trickled > 0, "the trickler never sent a byte");
    assert_eq!(closed, IDLE_CONNECTIONS, "idle connections left open");
}

#[test]
fn serve_answers_a_scrape_in_time_under_attack() {
    let ns = Netns::new().expect("namespace");
    let (guard, addr) = lab_serve::start(BIN, &ns, &[]);
    scrape_under_attack(&addr, guard.0.id(), "sockdoc_time_wait");
}

#[test]
fn reap_answers_a_scrape_in_time_under_attack() {
    let ns = Netns::new().expect("namespace");
    let mut r = Reaper::start(BIN, &ns, QUIET_REAP, &["--metrics", "127.0.0.1:0"], &[])
        .expect("start sockdoc reap");
    r.wait_scans(1, WAIT).expect("a scan");
    let addr = r.metrics.clone().expect("metrics address");
    scrape_under_attack(&addr, r.pid, "sockdoc_reap_scans_total");
    assert!(r.running(), "reap stopped:\n{}", r.stderr());
}

#[test]
fn more_idle_connections_than_the_cap_evict_the_oldest() {
    // The server's cap is 512: 700 connections that say nothing must not lock a scraper out.
    let ns = Netns::new().expect("namespace");
    let (_guard, addr) = lab_serve::start(BIN, &ns, &[]);
    let mut idle: Vec<TcpStream> = (0..700)
        .map(|i| TcpStream::connect(&addr).unwrap_or_else(|e| panic!("idle {i}: {e}")))
        .collect();
    let answer = lab_serve::get(&addr, "/metrics", WAIT).expect("scrape");
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    // The oldest one made room: the server closed it.
    idle[0]
        .set_read_timeout(Some(Duration::from_secs(40)))
        .expect("timeout");
    let end = idle[0].read(&mut [0u8; 64]);
    assert!(
        matches!(end, Ok(0)) || matches!(&end, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "{end:?}"
    );
}

/// HEAD gets GET's status and headers (the same Content-Length) and no body, from serve and reap.
fn head_has_no_body(addr: &str) {
    for path in ["/metrics", "/healthz", "/nothing"] {
        let (get_head, get_body) = raw(addr, &format!("GET {path} HTTP/1.1\r\nHost: lab\r\n\r\n"));
        let (head, body) = raw(addr, &format!("HEAD {path} HTTP/1.1\r\nHost: lab\r\n\r\n"));
        assert!(
            body.is_empty(),
            "HEAD {path} sent a body: {head}\n\n{body:?}"
        );
        assert_eq!(
            head.lines().next(),
            get_head.lines().next(),
            "{path}: {head}\n---\n{get_head}"
        );
        assert_eq!(
            header(&head, "content-type"),
            header(&get_head, "content-type")
        );
        let len: usize = header(&head, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("HEAD {path} without Content-Length: {head}"));
        if path == "/metrics" {
            // The text changes from scrape to scrape (the scrape's duration): a full answer's size.
            assert!(len > 100, "{head}");
        } else {
            assert_eq!(len, get_body.len(), "{path}: {head}");
        }
    }
}

/// Methods other than GET and HEAD: 405 with `Allow: GET, HEAD`, on any path.
fn refused_methods(addr: &str) {
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        for path in ["/metrics", "/healthz"] {
            let (head, _) = raw(
                addr,
                &format!("{method} {path} HTTP/1.1\r\nHost: lab\r\nContent-Length: 0\r\n\r\n"),
            );
            assert!(head.starts_with("HTTP/1.1 405"), "{method} {path}: {head}");
            assert_eq!(header(&head, "allow"), Some("GET, HEAD"), "{head}");
        }
    }
}

#[test]
fn serve_head_has_no_body_and_other_methods_never_scrape() {
    let ns = Netns::new().expect("namespace");
    let (_guard, addr) = lab_serve::start(BIN, &ns, &[]);
    head_has_no_body(&addr);
    let scrapes = || {
        let text = lab_serve::get(&addr, "/metrics", WAIT).expect("scrape");
        metric_value(&text.replace("\r\n", "\n"), "sockdoc_scrapes_total")
            .unwrap_or_else(|| panic!("no sockdoc_scrapes_total:\n{text}"))
    };
    let before = scrapes();
    refused_methods(&addr);
    // Only the next GET scraped: ten refused requests ran no census.
    assert_eq!(scrapes(), before + 1.0);
}

#[test]
fn reap_head_has_no_body_and_other_methods_are_refused() {
    let ns = Netns::new().expect("namespace");
    let r = Reaper::start(BIN, &ns, QUIET_REAP, &["--metrics", "127.0.0.1:0"], &[])
        .expect("start sockdoc reap");
    let addr = r.metrics.clone().expect("metrics address");
    head_has_no_body(&addr);
    refused_methods(&addr);
}

/// Starts `sockdoc ARGS` inside `ns` (so that a wildcard address is the namespace's) and returns
/// its first `lines` stderr lines.
fn stderr_lines(ns: &Netns, args: &[&str], lines: usize) -> Vec<String> {
    let mut cmd = ns.command(BIN);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut guard = Killed(cmd.spawn().expect("start sockdoc"));
    let err = guard.0.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    while got.len() < lines {
        match rx.recv_timeout(WAIT) {
            Ok(l) => got.push(l),
            Err(_) => break,
        }
    }
    got
}

#[test]
fn listening_on_all_interfaces_is_warned_about() {
    let ns = Netns::new().expect("namespace");
    for (listen, suggested) in [("0.0.0.0:0", "127.0.0.1:"), ("[::]:0", "[::1]:")] {
        let lines = stderr_lines(&ns, &["serve", "--listen", listen], 2);
        assert!(
            lines.len() == 2
                && lines[1].contains("warning: serving metrics on all interfaces")
                && lines[1].contains(suggested),
            "serve --listen {listen}: {lines:?}"
        );
    }
    // Loopback: no warning, the serving line only.
    let lines = stderr_lines(&ns, &["serve", "--listen", "127.0.0.1:0"], 2);
    assert!(
        lines.len() == 1 && lines[0].starts_with("serving http://127.0.0.1:"),
        "{lines:?}"
    );
    // Both lines in Chinese.
    let lines = stderr_lines(&ns, &["--lang", "zh", "serve", "--listen", "0.0.0.0:0"], 2);
    assert!(
        lines.len() == 2
            && lines[0].starts_with("正在提供 http://0.0.0.0:")
            && lines[1].contains("所有网络接口")
            && lines[1].contains("127.0.0.1:"),
        "{lines:?}"
    );
    let dir = Workdir::new("reap-wildcard").expect("temp dir");
    let config = dir.write("reap.toml", QUIET_REAP).expect("config");
    let log = dir.join("actions.jsonl");
    let (config, log) = (config.to_string_lossy(), log.to_string_lossy());
    let lines = stderr_lines(
        &ns,
        &[
            "reap",
            "--config",
            &config,
            "--log",
            &log,
            "--metrics",
            "0.0.0.0:0",
        ],
        2,
    );
    assert!(
        lines.len() == 2 && lines[1].contains("warning: serving metrics on all interfaces"),
        "reap --metrics 0.0.0.0:0: {lines:?}"
    );
}

/// Connects, sends `partial` and resets the connection (SO_LINGER 0) without reading.
fn hang_up(addr: &str, partial: &[u8]) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let _ = s.write_all(partial);
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads a linger struct of the size given from a valid pointer.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER");
}

#[test]
fn reap_with_a_closed_stderr_survives_clients_hanging_up_and_logs_its_stop() {
    let ns = Netns::new().expect("namespace");
    let mut r = Reaper::start_with(
        BIN,
        &ns,
        QUIET_REAP,
        &["--metrics", "127.0.0.1:0"],
        &[],
        Stderr::ClosedPipe,
    )
    .expect("start sockdoc reap with stderr a closed pipe");
    let addr = r.metrics.clone().expect("metrics address");
    // Clients that hang up: before sending anything, mid-head, and right after asking.
    for _ in 0..5 {
        hang_up(&addr, b"");
        hang_up(&addr, b"GET /met");
        hang_up(&addr, b"GET /metrics HTTP/1.1\r\nHost: lab\r\n\r\n");
    }
    r.wait_scans(2, WAIT).expect("scans after the hang-ups");
    // A reload prints a line on the closed stderr too.
    r.signal(libc::SIGHUP).expect("SIGHUP");
    r.wait_line("the reload", WAIT, |v| {
        v["action"] == "config" && v["outcome"] == "reloaded"
    })
    .expect("reloaded");
    let status = r.stop(WAIT).expect("stop");
    assert_eq!(status.code(), Some(0), "{status:?}");
    let lines = r.lines();
    let last = lines.last().expect("log lines");
    assert_eq!(last["action"], "stop", "{lines:?}");
    assert_eq!(last["reason"], "SIGINT or SIGTERM", "{last}");
}

/// The JSON records read from `fifo` (opened non-blocking) up to and including reap's stop record;
/// fails the test when none comes within [`WAIT`].
fn read_fifo_until_stop(fifo: &std::fs::File) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + WAIT;
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    let records = |text: &[u8]| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(text)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    loop {
        match (&*fifo).read(&mut buf) {
            Ok(n) if n > 0 => text.extend_from_slice(&buf[..n]),
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("read the fifo: {e}"),
        }
        let lines = records(&text);
        if lines.iter().any(|v| v["action"] == "stop") {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "no stop record from reap: {:?}",
            String::from_utf8_lossy(&text)
        );
    }
}

#[test]
fn reap_writes_its_stop_record_when_a_failure_ends_it() {
    // The action log is a FIFO: the start record goes through, syncing it fails (a pipe cannot be
    // synced), which ends the daemon; it then opens the log once more for its stop record.
    let ns = Netns::new().expect("namespace");
    let dir = Workdir::new("reap-fifo").expect("temp dir");
    let config = dir.write("reap.toml", QUIET_REAP).expect("config");
    let fifo = dir.join("actions.fifo");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("path");
    // SAFETY: mkfifo reads a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let mut cmd = Command::new(BIN);
    cmd.args(["--netns", ns.name(), "reap", "--metrics", "off", "--config"])
        .arg(&config)
        .arg("--log")
        .arg(&fifo)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Held open for reading and writing, without blocking: the fifo always has a reader, so reap's
    // opens never wait and nothing it writes is discarded between its two opens (the first for the
    // start record, the second for the stop record).
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .expect("open the fifo");
    let mut guard = Killed(cmd.spawn().expect("start sockdoc reap"));
    let lines = read_fifo_until_stop(&reader);
    let actions: Vec<&serde_json::Value> = lines.iter().map(|v| &v["action"]).collect();
    assert_eq!(actions, ["start", "stop"], "{lines:?}");
    let stop = &lines[1];
    assert_eq!(stop["reason"], "error", "{stop}");
    assert!(
        stop["error"].as_str().is_some_and(|e| e.contains("sync")),
        "{stop}"
    );
    let status = guard.0.wait().expect("exit");
    let mut err = String::new();
    guard
        .0
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert_eq!(status.code(), Some(74), "{status:?}: {err}");
    assert!(err.contains("cannot sync the action log"), "{err}");
}

#[test]
fn serve_and_events_with_a_closed_stderr_run_and_stop_cleanly() {
    let ns = Netns::new().expect("namespace");
    let spawn = |args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(["--netns", ns.name()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(lab_serve::closed_pipe().expect("pipe"));
        Killed(cmd.spawn().expect("start sockdoc"))
    };
    // serve: its "serving" line meets the closed pipe; it keeps serving until SIGTERM.
    let mut serve = spawn(&["serve", "--listen", "127.0.0.1:0"]);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        serve.0.try_wait().expect("wait").is_none(),
        "serve exited: {:?}",
        serve.0.try_wait()
    );
    let pid = i32::try_from(serve.0.id()).expect("pid");
    // SAFETY: kill sends a signal to the process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "SIGTERM");
    let status = serve.0.wait().expect("serve exit");
    assert_eq!(status.code(), Some(0), "serve: {status:?}");
    // events: its "watching" line too; it ends by itself after --for.
    let mut events = spawn(&["events", "--for", "1s"]);
    let status = events.0.wait().expect("events exit");
    assert_eq!(status.code(), Some(0), "events: {status:?}");
}
