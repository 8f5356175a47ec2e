//! `sockdoc serve` for a test: started inside a lab namespace on a free loopback port, killed and
//! reaped on drop (also while a failing test unwinds), and scraped with a plain HTTP GET.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::netns::Netns;

/// A child process killed (by PID, through its handle) and reaped on drop.
#[derive(Debug)]
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads serve's "serving http://ADDR/metrics" (or https) line from the child's piped stderr, then keeps
/// draining stderr on a thread (so a later message never meets a closed pipe) and shows it.
/// Returns `ADDR`; panics (failing the test) when serve does not say where it listens.
pub fn listening_addr(child: &mut Child) -> String {
    let mut lines = BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    lines.read_line(&mut first).expect("serving line");
    std::thread::spawn(move || {
        for line in lines.lines().map_while(Result::ok) {
            eprintln!("serve: {line}");
        }
    });
    addr_in(&first)
}

/// `ADDR` of serve's "serving http://ADDR/metrics ..." (or https) line; panics (failing the test)
/// when the line does not say.
pub fn addr_in(serving: &str) -> String {
    let addr = serving
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_default()
        .to_string();
    assert!(
        !addr.is_empty(),
        "serve did not say where it listens: {serving}"
    );
    addr
}

/// `BINARY --netns NS serve --listen LISTEN EXTRA...` with its stderr piped and not yet read.
pub fn spawn(binary: &str, ns: &Netns, listen: &str, extra: &[&str]) -> Killed {
    let child = Command::new(binary)
        .args(["--netns", ns.name(), "serve", "--listen", listen])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sockdoc serve");
    Killed(child)
}

/// `BINARY --netns NS serve --listen 127.0.0.1:0 EXTRA...`: the guard and where it listens.
pub fn start(binary: &str, ns: &Netns, extra: &[&str]) -> (Killed, String) {
    let mut guard = spawn(binary, ns, "127.0.0.1:0", extra);
    let addr = listening_addr(&mut guard.0);
    (guard, addr)
}

/// The child's stderr lines, sent to a channel as they come (closed when the child's stderr is).
pub fn log_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// GET `path` from a sockdoc listener at `addr` (`host:port`) over HTTP/1.1, which answers and
/// closes: the whole response (status line, headers and body).
pub fn get(addr: &str, path: &str, timeout: Duration) -> io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(timeout))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: lab\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

/// The write end of a pipe whose read end is already closed, for a daemon's stderr: every write
/// there fails with EPIPE (SIGPIPE is ignored by Rust programs).
pub fn closed_pipe() -> io::Result<Stdio> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just returned by pipe2 and are owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Ok(Stdio::from(write))
}
