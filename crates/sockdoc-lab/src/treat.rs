//! Scenarios for the treatments (`sockdoc kill`, `sockdoc keepalive`): a plain echo server that
//! never sets SO_KEEPALIVE, in a fresh namespace, with client connections the test itself holds.
//!
//! The server ([`EchoServer`]) is a small Python process (`/proc/PID/comm` = [`ECHO_NAME`]) on
//! `127.0.0.1:PORT`: it accepts, echoes whatever it reads, and closes a connection on EOF or on a
//! read error (an aborted socket). It keeps running when its listener is destroyed. The clients
//! ([`Conn`]) are sockets of the calling process, created inside the namespace (see
//! [`crate::in_netns`]), so a test can see what happens to the peer of a treated socket (a reset,
//! an EOF) and check that a treated connection still carries data.
//!
//! What the kernel does to these sockets (Linux 6.18, observed with `ss -K` and `pidfd_getfd`):
//! * SOCK_DESTROY on an ESTABLISHED server end: the socket is closed at once (gone from ss), its
//!   owner reads ECONNABORTED, an RST goes out and the client end is closed too (gone from ss, its
//!   reads fail with ECONNRESET). On a LISTEN socket: the listener is gone, `accept` fails with
//!   EINVAL, new connections are refused.
//! * shutdown(SHUT_RDWR) on a server end: FIN out, the client ACKs and reads EOF (CLOSE-WAIT);
//!   the server end goes to FIN-WAIT-2. The echo server then reads EOF and closes its fd, and the
//!   socket stays FIN-WAIT-2 as a timewait entry (`timer:(timewait,60sec,0)`, `ino:0`) with the
//!   same cookie.
//! * SO_KEEPALIVE + TCP_KEEPIDLE=I on an idle ESTABLISHED socket: `timer:(keepalive,I-idle,0)`.
//!   On a listener: every connection accepted afterwards starts with `timer:(keepalive,I,0)`.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::doctor::{wait_sockets, Proc, Workdir};
use crate::enter::in_netns;
use crate::netns::Netns;
use crate::ss::{self, SsSocket};
use crate::state::SockState;

/// `/proc/PID/comm` of the echo server.
pub const ECHO_NAME: &str = "echod";

/// How long the server and its connections may take to appear.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Read timeout of the client sockets.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Debian's interpreter (not a pyenv shim: the PID `ip netns exec` hands back must be Python's).
const PYTHON: &str = "/usr/bin/python3";

const ECHO_SERVER: &str = r#"
import ctypes, selectors, socket, sys

name, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(15, name.encode()[:15], 0, 0, 0) != 0:
    raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((host, port))
l.listen(64)
sel = selectors.DefaultSelector()
sel.register(l, selectors.EVENT_READ, None)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        if key.data is None:
            try:
                c, _ = l.accept()
            except OSError as e:
                print("listener gone:", e, flush=True)
                sel.unregister(l)
                continue
            sel.register(c, selectors.EVENT_READ, "conn")
            continue
        c = key.fileobj
        try:
            data = c.recv(65536)
        except OSError as e:
            print("recv:", e, flush=True)
            data = b""
        if data:
            try:
                c.sendall(data)
                continue
            except OSError as e:
                print("send:", e, flush=True)
        sel.unregister(c)
        c.close()
"#;

/// A Python echo server on `127.0.0.1:port` in its own namespace; no keepalive anywhere. Dropping
/// it kills the server, deletes the namespace and removes the temp directory.
#[derive(Debug)]
pub struct EchoServer {
    proc: Proc,
    pub ns: Netns,
    pub port: u16,
    /// PID of the server (the owner of the listener and of every server end).
    pub pid: u32,
    /// The listener as `ss -p` showed it once the server was up.
    pub listener: SsSocket,
    dir: Workdir,
}

/// One client connection: the client socket (held by the calling process) and the server end as
/// `ss -p` showed it once the server had accepted it.
#[derive(Debug)]
pub struct Conn {
    pub stream: TcpStream,
    /// The client's address (the server end's peer).
    pub client: SocketAddr,
    /// The server end: local `127.0.0.1:port`, peer [`Conn::client`], owned by the server.
    pub server_end: SsSocket,
}

impl Conn {
    /// Cookie of the server end.
    pub fn cookie(&self) -> u64 {
        self.server_end
            .cookie
            .expect("ss prints sk: for every full socket")
    }

    /// The server's fd for its end.
    pub fn server_fd(&self) -> i32 {
        self.server_end.users.first().map_or(-1, |u| u.fd)
    }

    /// Sends `msg` plus a newline and reads the echoed line back (without the newline).
    pub fn echo(&self, msg: &str) -> io::Result<String> {
        echo_on(&self.stream, msg)
    }

    /// `"client_ip client_port server_ip server_port"`: what `$SSH_CONNECTION` would say if this
    /// were the caller's SSH session.
    pub fn ssh_connection(&self) -> String {
        let server = self.server_end.local.socket_addr();
        format!(
            "{} {} {} {}",
            self.client.ip(),
            self.client.port(),
            server.ip(),
            server.port()
        )
    }

    /// Reads once: `Ok(0)` is EOF (the server closed or shut down its end), an error a reset.
    pub fn read_once(&self) -> io::Result<usize> {
        use std::io::Read;
        let mut buf = [0u8; 256];
        (&self.stream).read(&mut buf)
    }
}

fn echo_on(stream: &TcpStream, msg: &str) -> io::Result<String> {
    let mut w = stream;
    w.write_all(format!("{msg}\n").as_bytes())?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    if !line.ends_with('\n') {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("echo of {msg:?}: got {line:?}"),
        ));
    }
    line.pop();
    Ok(line)
}

impl EchoServer {
    /// Starts the server in a fresh namespace and waits until it listens.
    pub fn start() -> io::Result<EchoServer> {
        let dir = Workdir::new("treat")?;
        let ns = Netns::new()?;
        let port = ns.fresh_port();
        let script = dir.write("echod.py", ECHO_SERVER)?;
        let script = script.to_string_lossy().into_owned();
        let port_s = port.to_string();
        let mut proc = Proc::spawn(
            &ns,
            dir.path(),
            ECHO_NAME,
            PYTHON,
            &["-u", script.as_str(), ECHO_NAME, "127.0.0.1", &port_s],
        )?;
        proc.wait_line("ready", START_TIMEOUT)?;
        let pid = proc.pid();
        let listener = wait_sockets(
            &ns,
            &format!("{ECHO_NAME} to listen on {port}"),
            START_TIMEOUT,
            true,
            |snap| {
                snap.iter()
                    .find(|s| {
                        s.state == SockState::Listen
                            && s.local.port == port
                            && s.users.iter().any(|u| u.pid == pid)
                    })
                    .cloned()
                    .ok_or_else(|| format!("no listener on {port} owned by {pid}"))
            },
        )?;
        Ok(EchoServer {
            proc,
            ns,
            port,
            pid,
            listener,
            dir,
        })
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Opens `n` connections from the calling process and waits until the server has accepted
    /// every one (its server end is ESTAB and owned by the server).
    pub fn connect(&self, n: usize) -> io::Result<Vec<Conn>> {
        let addr = self.addr();
        let streams = in_netns(&self.ns, move || {
            (0..n)
                .map(|_| {
                    let s = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT)?;
                    s.set_read_timeout(Some(CLIENT_TIMEOUT))?;
                    s.set_write_timeout(Some(CLIENT_TIMEOUT))?;
                    Ok(s)
                })
                .collect::<io::Result<Vec<_>>>()
        })?;
        let clients = streams
            .iter()
            .map(TcpStream::local_addr)
            .collect::<io::Result<Vec<_>>>()?;
        let (port, pid) = (self.port, self.pid);
        let ends = wait_sockets(
            &self.ns,
            &format!("{ECHO_NAME} to accept {n} connections"),
            START_TIMEOUT,
            true,
            |snap| {
                clients
                    .iter()
                    .map(|c| {
                        snap.iter()
                            .find(|s| {
                                s.state == SockState::Established
                                    && s.local.port == port
                                    && s.peer.socket_addr() == *c
                                    && s.users.iter().any(|u| u.pid == pid)
                            })
                            .cloned()
                            .ok_or_else(|| format!("server end of {c} not accepted yet"))
                    })
                    .collect::<Result<Vec<_>, String>>()
            },
        )?;
        Ok(streams
            .into_iter()
            .zip(clients)
            .zip(ends)
            .map(|((stream, client), server_end)| Conn {
                stream,
                client,
                server_end,
            })
            .collect())
    }

    /// Connects once more and checks that the server echoes `msg`: it is alive and serving.
    pub fn serves(&self, msg: &str) -> io::Result<()> {
        let addr = self.addr();
        let stream = in_netns(&self.ns, move || {
            let s = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT)?;
            s.set_read_timeout(Some(CLIENT_TIMEOUT))?;
            Ok(s)
        })?;
        let got = echo_on(&stream, msg)?;
        if got == msg {
            Ok(())
        } else {
            Err(io::Error::other(format!("echoed {got:?} for {msg:?}")))
        }
    }

    /// A connection attempt from inside the namespace (for "is anything still listening").
    pub fn try_connect(&self) -> io::Result<TcpStream> {
        let addr = self.addr();
        in_netns(&self.ns, move || {
            TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT)
        })
    }

    /// Whether the server process still runs.
    pub fn running(&mut self) -> bool {
        self.proc.running()
    }

    /// What the server printed (`ready`, `recv: ...`, `listener gone: ...`).
    pub fn log(&self) -> String {
        self.proc.log()
    }

    /// Number of open descriptors of the server process.
    pub fn fd_count(&self) -> io::Result<usize> {
        Ok(std::fs::read_dir(format!("/proc/{}/fd", self.pid))?.count())
    }

    /// Every TCP socket with the server's port on either end (no owners: fast).
    pub fn sockets(&self) -> io::Result<Vec<SsSocket>> {
        let p = self.port.to_string();
        let (sport, dport) = (format!("sport = :{p}"), format!("dport = :{p}"));
        let filter = format!("( {sport} or {dport} )");
        Ok(ss::query_quick(&self.ns, &[filter.as_str()])?
            .into_iter()
            .filter(|s| s.proto == crate::state::Proto::Tcp)
            .collect())
    }

    /// The scenario's temp directory (server script and log; a good place for an audit log).
    pub fn workdir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// The socket with `cookie` in `snap`.
pub fn by_cookie(snap: &[SsSocket], cookie: u64) -> Option<&SsSocket> {
    snap.iter().find(|s| s.cookie == Some(cookie))
}

/// Polls ss in `ns` until no socket has any of `cookies`.
pub fn wait_cookies_gone(ns: &Netns, cookies: &[u64], timeout: Duration) -> io::Result<()> {
    wait_sockets(
        ns,
        &format!("sockets {cookies:x?} to disappear"),
        timeout,
        false,
        |snap| {
            let left: Vec<&str> = cookies
                .iter()
                .filter_map(|c| by_cookie(snap, *c))
                .map(|s| s.line.as_str())
                .collect();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("still there: {left:?}"))
            }
        },
    )
}
