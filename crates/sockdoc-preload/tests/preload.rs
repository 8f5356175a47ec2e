//! End-to-end tests of `libsockdoc_keepalive.so` under `LD_PRELOAD`.
//!
//! Real programs (python3, socat) are run with the library preloaded, on
//! loopback only and in no special namespace; socket options are read back
//! with `getsockopt` from inside the program and the kernel's keepalive
//! timer is checked with `ss -tno`. Every spawned process is killed by PID
//! through a drop guard, also when an assertion fails. These tests must not
//! link the crate's rlib (that would interpose `socket` in the test binary
//! itself), so they only use the built `.so`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Path of the cdylib cargo built next to this test's `deps` directory.
fn lib_path() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "deps"))
        .expect("test binary lives in a deps/ dir");
    let lib = deps
        .parent()
        .expect("deps has a parent")
        .join("libsockdoc_keepalive.so");
    assert!(lib.exists(), "{} not built", lib.display());
    lib
}

fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Kills a child (and the children it forked) by PID on drop.
struct Guard(Child);

impl Guard {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

impl Drop for Guard {
    fn drop(&mut self) {
        let pid = self.0.id();
        let mut stack = children_of(pid);
        while let Some(c) = stack.pop() {
            stack.extend(children_of(c));
            // SAFETY: signalling a PID we (transitively) spawned.
            unsafe { libc::kill(c as libc::pid_t, libc::SIGKILL) };
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const ENV: &[(&str, &str)] = &[
    ("SOCKDOC_KEEPALIVE_IDLE", "77"),
    ("SOCKDOC_KEEPALIVE_INTVL", "7"),
    ("SOCKDOC_KEEPALIVE_CNT", "3"),
    ("SOCKDOC_KEEPALIVE_USER_TIMEOUT", "20000"),
    ("SOCKDOC_KEEPALIVE_DEBUG", "1"),
];

/// Listener + client + accepted connection on 127.0.0.1, plus a UDP socket,
/// an unbound AF_INET6 TCP socket and a SOCK_NONBLOCK|SOCK_CLOEXEC one.
/// Prints one line per socket, then `ready`, then waits for stdin to close
/// (at most 8 s) so the test can look at the live connection with `ss`.
const SCRIPT: &str = r#"
import socket, select, sys
def opts(name, s):
    g = lambda lvl, opt: s.getsockopt(lvl, opt)
    T = socket.IPPROTO_TCP
    if s.type == socket.SOCK_STREAM:
        print(name, "keepalive=%d idle=%d intvl=%d cnt=%d user_timeout=%d" % (
            g(socket.SOL_SOCKET, socket.SO_KEEPALIVE), g(T, socket.TCP_KEEPIDLE),
            g(T, socket.TCP_KEEPINTVL), g(T, socket.TCP_KEEPCNT),
            g(T, socket.TCP_USER_TIMEOUT)))
    else:
        print(name, "keepalive=%d" % g(socket.SOL_SOCKET, socket.SO_KEEPALIVE))
lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
lst.bind(("127.0.0.1", 0)); lst.listen(4)
port = lst.getsockname()[1]
cli = socket.create_connection(("127.0.0.1", port))
acc, _ = lst.accept()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP)
nb = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
print("port", port)
for n, s in [("client", cli), ("listener", lst), ("accepted", acc), ("udp", udp), ("v6", v6), ("nb", nb)]:
    opts(n, s)
print("ready", flush=True)
select.select([sys.stdin], [], [], 8)
"#;

struct Run {
    guard: Guard,
    stdin: Option<ChildStdin>,
    lines: HashMap<String, HashMap<String, i64>>,
    port: u16,
}

fn read_until_ready(out: ChildStdout) -> Vec<String> {
    let mut lines = Vec::new();
    for line in BufReader::new(out).lines() {
        let line = line.expect("read stdout");
        if line == "ready" {
            return lines;
        }
        lines.push(line);
    }
    panic!("program exited before `ready`; got {lines:?}");
}

/// Start the script (optionally preloaded) and parse its report.
fn run_script(preload: bool) -> Run {
    let mut cmd = Command::new(python());
    cmd.arg("-c").arg(SCRIPT).envs(ENV.iter().copied());
    if preload {
        cmd.env("LD_PRELOAD", lib_path());
    } else {
        cmd.env_remove("LD_PRELOAD");
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("stdout");
    let guard = Guard(child);
    let mut lines = HashMap::new();
    let mut port = 0;
    for line in read_until_ready(stdout) {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or_default().to_string();
        if name == "port" {
            port = words.next().and_then(|p| p.parse().ok()).expect("port");
            continue;
        }
        let kv = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.parse::<i64>().expect("int value")))
            .collect();
        lines.insert(name, kv);
    }
    assert_ne!(port, 0, "script printed no port");
    Run {
        guard,
        stdin,
        lines,
        port,
    }
}

impl Run {
    fn get(&self, sock: &str, key: &str) -> i64 {
        self.lines
            .get(sock)
            .and_then(|m| m.get(key))
            .copied()
            .unwrap_or_else(|| panic!("no {sock}.{key} in {:?}", self.lines))
    }

    /// Let the program exit and return its stderr.
    fn finish(mut self) -> String {
        drop(self.stdin.take());
        let mut err = String::new();
        if let Some(mut e) = self.guard.0.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let _ = self.guard.0.wait();
        err
    }
}

/// `ss -tnoH state established <filter>` output.
fn ss(filter: &str) -> String {
    let out = Command::new("ss")
        .args(["-tnoH", "state", "established", filter])
        .output()
        .expect("run ss");
    assert!(out.status.success(), "ss failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Seconds left on the `timer:(keepalive,…)` of the single line in `ss`
/// output, or `None` when there is no keepalive timer.
fn keepalive_secs(ss_out: &str) -> Option<f64> {
    let start = ss_out.find("timer:(keepalive,")? + "timer:(keepalive,".len();
    let rest = ss_out.get(start..)?;
    let dur = rest.split(',').next()?;
    // Formats like "1min16sec", "59sec", "850ms".
    let mut total = 0.0;
    let mut num = String::new();
    let mut unit = String::new();
    let mut flush = |num: &mut String, unit: &mut String| {
        if let Ok(n) = num.parse::<f64>() {
            total += n * match unit.as_str() {
                "min" => 60.0,
                "sec" => 1.0,
                "ms" => 0.001,
                _ => 0.0,
            };
        }
        num.clear();
        unit.clear();
    };
    for c in dur.chars() {
        if c.is_ascii_digit() {
            if !unit.is_empty() {
                flush(&mut num, &mut unit);
            }
            num.push(c);
        } else {
            unit.push(c);
        }
    }
    flush(&mut num, &mut unit);
    Some(total)
}

fn assert_about_77(what: &str, ss_out: &str) {
    let secs = keepalive_secs(ss_out)
        .unwrap_or_else(|| panic!("{what}: no keepalive timer in ss output: {ss_out:?}"));
    assert!(
        (70.0..=77.0).contains(&secs),
        "{what}: keepalive timer {secs}s, expected about 77s: {ss_out:?}"
    );
}

#[test]
fn tcp_sockets_get_keepalive_udp_untouched_and_ss_shows_timer() {
    let run = run_script(true);
    for sock in ["client", "listener", "accepted", "v6", "nb"] {
        assert_eq!(run.get(sock, "keepalive"), 1, "{sock}");
        assert_eq!(run.get(sock, "idle"), 77, "{sock}");
        assert_eq!(run.get(sock, "intvl"), 7, "{sock}");
        assert_eq!(run.get(sock, "cnt"), 3, "{sock}");
        assert_eq!(run.get(sock, "user_timeout"), 20000, "{sock}");
    }
    assert_eq!(run.get("udp", "keepalive"), 0, "UDP must be untouched");

    // Kernel view: both ends of the live connection run a keepalive timer.
    let port = run.port;
    assert_about_77("accepted", &ss(&format!("sport = :{port}")));
    assert_about_77("client", &ss(&format!("dport = :{port}")));

    let err = run.finish();
    let debug: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("sockdoc-keepalive:"))
        .collect();
    // One line per socket() call that made a TCP socket: listener, client,
    // v6, nb (accepted sockets come from accept(), not socket()).
    assert_eq!(debug.len(), 4, "debug lines: {err}");
    assert!(debug.iter().all(|l| l.ends_with(" ok")), "{err}");
    assert!(debug.iter().any(|l| l.contains("family=inet6")), "{err}");
    assert!(
        debug.iter().all(|l| l.contains("idle=77 intvl=7 cnt=3")),
        "{err}"
    );
}

#[test]
fn without_preload_nothing_changes() {
    let run = run_script(false);
    for sock in ["client", "listener", "accepted", "v6", "nb", "udp"] {
        assert_eq!(run.get(sock, "keepalive"), 0, "{sock}");
    }
    assert_ne!(run.get("client", "idle"), 77);
    let port = run.port;
    let out = ss(&format!("sport = :{port}"));
    assert!(
        out.contains(&format!(":{port}")),
        "connection not found: {out:?}"
    );
    assert_eq!(keepalive_secs(&out), None, "{out:?}");
    let err = run.finish();
    assert!(!err.contains("sockdoc-keepalive"), "{err}");
}

#[test]
fn defaults_apply_without_config() {
    let mut child = Command::new(python())
        .arg("-c")
        .arg(
            "import socket as s\n\
             x = s.socket()\n\
             print(x.getsockopt(s.SOL_SOCKET, s.SO_KEEPALIVE), x.getsockopt(s.IPPROTO_TCP, s.TCP_KEEPIDLE), \
             x.getsockopt(s.IPPROTO_TCP, s.TCP_KEEPINTVL), x.getsockopt(s.IPPROTO_TCP, s.TCP_KEEPCNT), \
             x.getsockopt(s.IPPROTO_TCP, s.TCP_USER_TIMEOUT))",
        )
        .env("LD_PRELOAD", lib_path())
        .env("SOCKDOC_KEEPALIVE_IDLE", "not-a-number")
        .env_remove("SOCKDOC_KEEPALIVE_INTVL")
        .env_remove("SOCKDOC_KEEPALIVE_CNT")
        .env_remove("SOCKDOC_KEEPALIVE_USER_TIMEOUT")
        .env_remove("SOCKDOC_KEEPALIVE_DEBUG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    let guard = Guard(child);
    drop(guard);
    assert_eq!(out.trim(), "1 300 30 5 0");
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn socat_accepted_connection_gets_keepalive() {
    let port = free_port();
    let socat = Command::new("socat")
        .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
        .arg("EXEC:cat")
        .envs(ENV.iter().copied())
        .env("LD_PRELOAD", lib_path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn socat");
    let mut socat = Guard(socat);
    let socat_pid = socat.pid();

    // Wait for the listener without connecting to it.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let out = Command::new("ss")
            .args(["-tlnH", &format!("sport = :{port}")])
            .output()
            .expect("ss");
        if String::from_utf8_lossy(&out.stdout).contains(&format!(":{port}")) {
            break;
        }
        assert!(Instant::now() < deadline, "socat did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Plain (not preloaded) python client: echo round trip, then hold.
    let client_src = format!(
        "import socket, select, sys\n\
         c = socket.create_connection(('127.0.0.1', {port}))\n\
         c.sendall(b'hi\\n')\n\
         print('echo', c.recv(16).decode().strip(), c.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE), flush=True)\n\
         print('ready', flush=True)\n\
         select.select([sys.stdin], [], [], 8)\n"
    );
    let mut client = Command::new(python())
        .arg("-c")
        .arg(client_src)
        .env_remove("LD_PRELOAD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let stdin = client.stdin.take();
    let stdout = client.stdout.take().expect("stdout");
    let client = Guard(client);
    let lines = read_until_ready(stdout);
    assert_eq!(lines, vec!["echo hi 0".to_string()], "client output");

    // socat's side of the connection (local port = listen port) has the
    // timer; the un-preloaded client's side does not.
    assert_about_77("socat accepted", &ss(&format!("sport = :{port}")));
    let client_side = ss(&format!("dport = :{port}"));
    assert!(client_side.contains(&format!(":{port}")), "{client_side:?}");
    assert_eq!(keepalive_secs(&client_side), None, "{client_side:?}");

    drop(stdin);
    drop(client);
    // Kill socat by PID (the guard does the same, and its forked children,
    // if an assertion above failed).
    // SAFETY: signalling the socat process we spawned.
    unsafe { libc::kill(socat_pid as libc::pid_t, libc::SIGTERM) };
    let _ = socat.0.wait();
    let mut err = String::new();
    if let Some(mut e) = socat.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(
        err.lines()
            .any(|l| l.starts_with("sockdoc-keepalive:") && l.ends_with(" ok")),
        "socat stderr: {err}"
    );
}
