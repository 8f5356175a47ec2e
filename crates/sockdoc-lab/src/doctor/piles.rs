//! Piles that are not one process's leak: connection attempts hanging in SYN-SENT (one dead
//! upstream, or a scanner fanning out to many hosts), connections stuck closing (FIN-WAIT-2 held
//! by a server whose clients never close, FIN-WAIT-1 orphans whose FIN is never acknowledged), and
//! UDP in trouble (a receiver that drops datagrams for lack of buffer, a process hoarding
//! sockets).
//!
//! The helpers here run a small Python script of their own (`piles.py`, standard library only,
//! written next to the scenario's logs); like the shared helper it names itself after its label
//! (`/proc/PID/comm`) and prints `ready ...` once its sockets are in place.
//!
//! Kernel facts these scenarios rely on (Linux 6.18):
//!
//! * A SYN dropped by nftables in the output hook leaves the socket in SYN-SENT, retransmitting
//!   for `tcp_syn_retries` (about two minutes at the default 6); the connect itself succeeds
//!   (`EINPROGRESS`).
//! * A FIN-WAIT-2 socket still held by its process has no timer: it stays until the peer closes
//!   (`tcp_fin_timeout` applies to orphans only).
//! * `/proc/net/sockstat`'s `orphan` count is host-wide (the kernel keeps one counter for every
//!   namespace), and `net.ipv4.tcp_max_orphans` exists only in the initial namespace: inside a
//!   lab namespace `sysctl net.ipv4.tcp_max_orphans` fails.
//! * A UDP socket whose receive queue is over its `SO_RCVBUF` drops every further datagram
//!   (`Udp: RcvbufErrors` and `InErrors` grow by one each); with no reader it stays over.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};

use super::net::{counter, link, sysctl_set, wait_sockets, Link};
use super::proc::Proc;
use super::scripts::PYTHON;
use super::services::{helper_ready, helper_server, Service, START_TIMEOUT};
use super::workdir::Workdir;
use crate::netns::{Hook, Netns};
use crate::ss::SsSocket;
use crate::state::{Proto, SockState};

/// Port of the upstream whose SYNs are dropped.
pub const DEAD_UPSTREAM_PORT: u16 = 7501;
/// Port of the upstream that answers (the healthy neighbour's).
pub const LIVE_UPSTREAM_PORT: u16 = 7502;
/// Port the scanner probes on every host.
pub const SCAN_PORT: u16 = 7503;
/// The /24 the scanner probes (`.1`, `.2`, ...): routed over the scenario's link, outside the
/// 10.200-10.249 range of lab links, and never answered (SYNs dropped on output).
pub const SCAN_NET: [u8; 3] = [10, 250, 9];
/// Port of the server that half-closes every connection (FIN-WAIT-2 pile).
pub const HALF_CLOSE_PORT: u16 = 7511;
/// Port of the server whose connections become FIN-WAIT-1 orphans.
pub const ORPHAN_PORT: u16 = 7512;
/// Port of the UDP receiver that never reads.
pub const UDP_SINK_PORT: u16 = 7521;
/// Port of the UDP receiver that reads everything.
pub const UDP_READER_PORT: u16 = 7522;

/// The scenario's own Python helper (see the module documentation).
///
/// `piles.py NAME MODE ARGS...`:
///
/// * `connect IP:PORT...`: one non-blocking connect to each target, held open.
/// * `halfclose HOST PORT BACKLOG`: a listener that accepts, `shutdown(SHUT_WR)`s and holds every
///   connection (FIN-WAIT-2 once the client acknowledges the FIN, for as long as the client
///   keeps its end open).
/// * `udpsink HOST PORT RCVBUF`: a UDP socket with `SO_RCVBUF` RCVBUF that never reads; prints
///   `ready <effective rcvbuf>`.
/// * `udpread HOST PORT`: a UDP socket that reads everything.
/// * `udpblast HOST PORT PREFILL N`: a UDP socket connected to HOST:PORT; sends PREFILL
///   datagrams, prints `ready`, then on every SIGUSR1 sends N more and prints `blasted ROUND N`.
/// * `udphoard HOST N`: N UDP sockets bound to HOST (each its own port), held; raises its
///   RLIMIT_NOFILE soft limit to at least 2N + 64 (within the hard limit), so that holding them
///   is not also an fd-limit finding; prints `ready N`.
const PILES_PY: &str = r#"
import ctypes, resource, signal, socket, sys, time

def setname(name):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(15, name.encode()[:15], 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")

def ready(extra=""):
    print(("ready " + str(extra)).strip(), flush=True)

def forever():
    while True:
        time.sleep(3600)

def main():
    name, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    setname(name)
    if mode == "connect":
        held = []
        for target in args:
            host, port = target.rsplit(":", 1)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((host, int(port)))
            held.append(s)
        ready(len(held))
        forever()
    elif mode == "halfclose":
        l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        l.bind((args[0], int(args[1])))
        l.listen(int(args[2]))
        ready()
        held = []
        while True:
            c, _ = l.accept()
            c.shutdown(socket.SHUT_WR)
            held.append(c)
    elif mode == "udpsink":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(args[2]))
        s.bind((args[0], int(args[1])))
        ready(s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        forever()
    elif mode == "udpread":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((args[0], int(args[1])))
        ready()
        while True:
            s.recv(65536)
    elif mode == "udpblast":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((args[0], int(args[1])))
        payload = b"x" * 100
        for _ in range(int(args[2])):
            s.send(payload)
        n = int(args[3])
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        ready()
        rounds = 0
        while True:
            signal.sigwait({signal.SIGUSR1})
            rounds += 1
            for _ in range(n):
                s.send(payload)
            print("blasted %d %d" % (rounds, n), flush=True)
    elif mode == "udphoard":
        n = int(args[1])
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 2 * n + 64
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        held = []
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((args[0], 0))
            held.append(s)
        ready(len(held))
        forever()
    else:
        sys.exit("unknown mode " + mode)

main()
"#;

/// Runs `piles.py` as `label` in `ns` and waits for its `ready` line (returned).
fn piles_ready(
    ns: &Netns,
    dir: &Workdir,
    label: &str,
    args: &[&str],
) -> io::Result<(Proc, String)> {
    let script = dir.join("piles.py");
    if !script.exists() {
        std::fs::write(&script, PILES_PY)?;
    }
    let script = script.to_string_lossy().into_owned();
    let mut argv = vec!["-u", script.as_str(), label];
    argv.extend_from_slice(args);
    let mut p = Proc::spawn(ns, dir.path(), label, PYTHON, &argv)?;
    let line = p.wait_line("ready", START_TIMEOUT)?;
    Ok((p, line))
}

/// A process of a scenario and the destinations it connects to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// `/proc/PID/comm` (the label it was started under).
    pub process: String,
    pub pid: u32,
    /// One entry per connection attempt.
    pub targets: Vec<SocketAddr>,
}

/// What the SYN-SENT caller connects to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fanout {
    /// N connects to one upstream address and port (`DEAD_UPSTREAM_PORT` on the upstream
    /// namespace's address), all SYNs dropped: one unreachable upstream.
    Upstream(usize),
    /// One connect to each of N hosts (`10.250.9.1` ..= `10.250.9.N`, port `SCAN_PORT`), all
    /// SYNs dropped: a scanner. N is at most 254.
    Scan(usize),
}

/// The diagnosed namespace `ns` is joined to `upstream` by a veth link. In `ns`:
///
/// * `syn-caller` (upstream) or `syn-scanner` (scan) holds the SYN-SENT sockets of the chosen
///   [`Fanout`]; nftables drops their SYNs in `ns`'s output hook, so nothing of them leaves it;
/// * `syn-ok`, the healthy neighbour, holds 2 established connections to `up-live` on
///   `LIVE_UPSTREAM_PORT` in `upstream`.
///
/// The scan's /24 is routed via the upstream's address (it needs a route for `connect` to start).
#[derive(Debug)]
pub struct SynSentFanout {
    procs: Vec<Proc>,
    pub ns: Netns,
    pub upstream: Netns,
    pub link: Link,
    /// The process with the SYN-SENT sockets.
    pub caller: Caller,
    /// The neighbour with established connections.
    pub neighbour: Caller,
    pub live: Service,
    _dir: Workdir,
}

impl SynSentFanout {
    /// Builds the scenario; returns once ss shows every connection attempt of the caller in
    /// SYN-SENT (held by it) and the neighbour's 2 connections established.
    pub fn build(fanout: Fanout) -> io::Result<SynSentFanout> {
        let dir = Workdir::new("syn-sent")?;
        let ns = Netns::new()?;
        let upstream = Netns::new()?;
        let link = link(&upstream, &ns)?;
        let up = link.server_ip;
        let mut procs = Vec::new();
        let (p, live) = helper_server(
            &upstream,
            &dir,
            "up-live",
            (up, LIVE_UPSTREAM_PORT),
            128,
            &["hold"],
        )?;
        procs.push(p);
        let scan_net = format!("{}.{}.{}.0/24", SCAN_NET[0], SCAN_NET[1], SCAN_NET[2]);
        ns.exec(&["ip", "route", "add", &scan_net, "via", &up.to_string()])?;
        ns.drop_packets(
            Hook::Output,
            &format!("ip daddr {up} tcp dport {DEAD_UPSTREAM_PORT} tcp flags & (syn|ack) == syn"),
        )?;
        ns.drop_packets(
            Hook::Output,
            &format!("ip daddr {scan_net} tcp flags & (syn|ack) == syn"),
        )?;

        let (p, _) = helper_ready(
            &ns,
            &dir,
            "syn-ok",
            &[
                "idle",
                &up.to_string(),
                &LIVE_UPSTREAM_PORT.to_string(),
                "2",
            ],
        )?;
        let neighbour = Caller {
            process: "syn-ok".into(),
            pid: p.pid(),
            targets: vec![SocketAddr::new(up.into(), LIVE_UPSTREAM_PORT); 2],
        };
        procs.push(p);

        let (label, targets) = match fanout {
            Fanout::Upstream(n) => (
                "syn-caller",
                vec![SocketAddr::new(up.into(), DEAD_UPSTREAM_PORT); n],
            ),
            Fanout::Scan(n) => {
                if n > 254 {
                    return Err(io::Error::other(format!("{n} hosts do not fit a /24")));
                }
                let hosts = (1..=n as u8).map(|h| {
                    let ip = Ipv4Addr::new(SCAN_NET[0], SCAN_NET[1], SCAN_NET[2], h);
                    SocketAddr::new(ip.into(), SCAN_PORT)
                });
                ("syn-scanner", hosts.collect())
            }
        };
        let args: Vec<String> = std::iter::once("connect".to_string())
            .chain(targets.iter().map(SocketAddr::to_string))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (p, _) = piles_ready(&ns, &dir, label, &args)?;
        let caller = Caller {
            process: label.into(),
            pid: p.pid(),
            targets,
        };
        procs.push(p);

        let me = SynSentFanout {
            procs,
            ns,
            upstream,
            link,
            caller,
            neighbour,
            live,
            _dir: dir,
        };
        wait_sockets(
            &me.ns,
            "the caller's SYN-SENT sockets",
            START_TIMEOUT,
            false,
            |snap| {
                let n = me.syn_sent_in(snap).len();
                let estab = snap
                    .iter()
                    .filter(|s| {
                        s.state == SockState::Established
                            && s.peer.port == LIVE_UPSTREAM_PORT
                            && s.ino != 0
                    })
                    .count();
                if n == me.caller.targets.len() && estab == 2 {
                    Ok(())
                } else {
                    Err(format!(
                        "{n}/{} SYN-SENT, {estab}/2 established",
                        me.caller.targets.len()
                    ))
                }
            },
        )?;
        Ok(me)
    }

    /// The SYN-SENT sockets (held by a process) towards the caller's targets in `snap`.
    pub fn syn_sent_in<'a>(&self, snap: &'a [SsSocket]) -> Vec<&'a SsSocket> {
        snap.iter()
            .filter(|s| {
                s.state == SockState::SynSent
                    && s.ino != 0
                    && self.caller.targets.contains(&s.peer.socket_addr())
            })
            .collect()
    }

    /// Distinct destination hosts of the caller.
    pub fn hosts(&self) -> usize {
        let mut ips: Vec<IpAddr> = self.caller.targets.iter().map(SocketAddr::ip).collect();
        ips.sort();
        ips.dedup();
        ips.len()
    }

    /// PIDs of the scenario's processes.
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Proc::pid).collect()
    }
}

/// Server-side connections stuck closing. The server namespace is joined to a client namespace
/// by a veth link.
///
/// * [`ClosingPile::fin_wait_2`]: `cp-halfclose` on `HALF_CLOSE_PORT` accepts and
///   half-closes (`shutdown(SHUT_WR)`) every connection; `cp-client` in the client namespace
///   opened N connections and never closes them. The server holds N FIN-WAIT-2 sockets (the
///   client's ends sit in CLOSE-WAIT in the client namespace).
/// * [`ClosingPile::fin_wait_1_orphans`]: `cp-holder` on `ORPHAN_PORT` accepted N connections
///   from `cp-peer`; then everything from the client is dropped in the server namespace's input
///   hook and `cp-holder` is killed. Its sockets become orphans in FIN-WAIT-1, retransmitting a
///   FIN that is never acknowledged. On drop the scenario sets `net.ipv4.tcp_orphan_retries=1` in
///   both namespaces, so these orphans (and the LAST-ACK ones of the killed `cp-peer`) die at
///   their next retransmissions instead of about 100 s later.
#[derive(Debug)]
pub struct ClosingPile {
    procs: Vec<Proc>,
    pub server: Netns,
    pub client: Netns,
    pub link: Link,
    /// The closing state the server's sockets are in.
    pub state: SockState,
    /// The server's port.
    pub port: u16,
    /// Server-side sockets in `state`.
    pub count: usize,
    /// PID of the server process (killed, for the orphans).
    pub server_pid: u32,
    /// PID of the client process, which holds its ends open.
    pub client_pid: u32,
    _dir: Workdir,
}

impl ClosingPile {
    /// N FIN-WAIT-2 sockets held by `cp-halfclose`; returns once ss shows them all, held.
    pub fn fin_wait_2(n: usize) -> io::Result<ClosingPile> {
        let dir = Workdir::new("fin-wait-2")?;
        let server = Netns::new()?;
        let client = Netns::new()?;
        let link = link(&server, &client)?;
        let sip = link.server_ip.to_string();
        let port = HALF_CLOSE_PORT.to_string();
        let mut procs = Vec::new();
        let (p, _) = piles_ready(
            &server,
            &dir,
            "cp-halfclose",
            &["halfclose", &sip, &port, "1024"],
        )?;
        let server_pid = p.pid();
        procs.push(p);
        let (p, _) = helper_ready(
            &client,
            &dir,
            "cp-client",
            &["idle", &sip, &port, &n.to_string()],
        )?;
        let client_pid = p.pid();
        procs.push(p);
        let me = ClosingPile {
            procs,
            server,
            client,
            link,
            state: SockState::FinWait2,
            port: HALF_CLOSE_PORT,
            count: n,
            server_pid,
            client_pid,
            _dir: dir,
        };
        me.wait("FIN-WAIT-2 sockets held by cp-halfclose", |s| s.ino != 0)?;
        Ok(me)
    }

    /// N FIN-WAIT-1 orphans of the killed `cp-holder`; returns once ss shows them all, owned by
    /// no process (inode 0), and nothing else on the port.
    pub fn fin_wait_1_orphans(n: usize) -> io::Result<ClosingPile> {
        let dir = Workdir::new("orphans")?;
        let server = Netns::new()?;
        let client = Netns::new()?;
        let link = link(&server, &client)?;
        let ip = link.server_ip;
        let sip = ip.to_string();
        let mut procs = Vec::new();
        let (mut holder, _) = helper_server(
            &server,
            &dir,
            "cp-holder",
            (ip, ORPHAN_PORT),
            1024,
            &["hold"],
        )?;
        let server_pid = holder.pid();
        let (p, _) = helper_ready(
            &client,
            &dir,
            "cp-peer",
            &["idle", &sip, &ORPHAN_PORT.to_string(), &n.to_string()],
        )?;
        let client_pid = p.pid();
        procs.push(p);
        wait_sockets(
            &server,
            "connections accepted by cp-holder",
            START_TIMEOUT,
            false,
            |snap| {
                let held = snap
                    .iter()
                    .filter(|s| {
                        s.state == SockState::Established
                            && s.local.port == ORPHAN_PORT
                            && s.ino != 0
                    })
                    .count();
                if held == n {
                    Ok(())
                } else {
                    Err(format!("{held}/{n} accepted"))
                }
            },
        )?;
        server.drop_packets(Hook::Input, &format!("ip saddr {}", link.client_ip))?;
        holder.kill();
        procs.push(holder);
        let me = ClosingPile {
            procs,
            server,
            client,
            link,
            state: SockState::FinWait1,
            port: ORPHAN_PORT,
            count: n,
            server_pid,
            client_pid,
            _dir: dir,
        };
        me.wait("FIN-WAIT-1 orphans of cp-holder", |s| s.ino == 0)?;
        Ok(me)
    }

    /// Waits until the server's port has exactly `count` sockets, all in `state` and accepted by
    /// `held`, and nothing else but a listener.
    fn wait(&self, what: &str, held: impl Fn(&SsSocket) -> bool) -> io::Result<()> {
        wait_sockets(&self.server, what, START_TIMEOUT, false, |snap| {
            let on_port: Vec<&SsSocket> = snap
                .iter()
                .filter(|s| s.local.port == self.port && s.state != SockState::Listen)
                .collect();
            let good = on_port
                .iter()
                .filter(|s| s.state == self.state && held(s))
                .count();
            if good == self.count && on_port.len() == self.count {
                Ok(())
            } else {
                Err(format!(
                    "{good}/{} in {}, {} on the port",
                    self.count,
                    self.state.ss_name(),
                    on_port.len()
                ))
            }
        })
    }

    /// The server's sockets in the pile's state, as ss shows them now.
    pub fn pile(&self) -> io::Result<Vec<SsSocket>> {
        Ok(crate::ss::snapshot_quick(&self.server)?
            .into_iter()
            .filter(|s| s.state == self.state && s.local.port == self.port)
            .collect())
    }

    /// PIDs of the scenario's processes.
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Proc::pid).collect()
    }
}

impl Drop for ClosingPile {
    fn drop(&mut self) {
        if self.state == SockState::FinWait1 {
            // Orphans hold their namespace alive and count host-wide until they give up: the
            // server's FIN-WAIT-1 ones, and the LAST-ACK ones `cp-peer` leaves when it is killed
            // (its FIN is dropped on the server's input too). Before the processes go.
            for ns in [&self.server, &self.client] {
                let _ = sysctl_set(ns, "net.ipv4.tcp_orphan_retries", "1");
            }
        }
    }
}

/// `/proc/net/sockstat`'s `TCP: ... orphan N` as read inside `ns` (a host-wide number, see the
/// module documentation).
pub fn sockstat_orphans(ns: &Netns) -> io::Result<u64> {
    let text = ns.exec(&["cat", "/proc/net/sockstat"])?;
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix("TCP:")?;
            let mut words = rest.split_whitespace();
            while let Some(w) = words.next() {
                if w == "orphan" {
                    return words.next()?.parse().ok();
                }
            }
            None
        })
        .ok_or_else(|| io::Error::other(format!("no TCP orphan count in:\n{text}")))
}

/// One namespace with UDP receivers on 127.0.0.1:
///
/// * `udp-sink` on `UDP_SINK_PORT`, `SO_RCVBUF` as asked, never reads;
/// * `udp-reader` on `UDP_READER_PORT`, reads everything (the healthy neighbour);
/// * `udp-blaster`, a UDP socket connected to the sink: at start it sent datagrams until the
///   sink's queue was over its buffer (so from then on every datagram to the sink is dropped);
///   [`UdpDrops::blast`] makes it send more.
#[derive(Debug)]
pub struct UdpDrops {
    procs: Vec<Proc>,
    /// `udp-blaster` and the rounds it was asked to send so far.
    blaster: Mutex<(Proc, u32)>,
    pub ns: Netns,
    pub sink: Service,
    pub reader: Service,
    /// PID of `udp-blaster`.
    pub blaster_pid: u32,
    /// The sink's receive buffer as the kernel set it (`getsockopt(SO_RCVBUF)`: twice what was
    /// asked).
    pub rcvbuf: u64,
    /// The sink's Recv-Q (bytes) once full, as ss showed it.
    pub sink_recv_q: u64,
    _dir: Workdir,
}

/// Datagrams the blaster sends at start (far more than a small buffer holds).
const PREFILL: usize = 50;

impl UdpDrops {
    /// Builds the scenario with the sink's `SO_RCVBUF` set to `rcvbuf` and `per_blast` datagrams
    /// per [`UdpDrops::blast`]; returns once the sink's queue is full (ss shows a Recv-Q > 0 and
    /// `Udp: RcvbufErrors` grew) and the reader has nothing queued.
    pub fn build(rcvbuf: u32, per_blast: usize) -> io::Result<UdpDrops> {
        let dir = Workdir::new("udp-drops")?;
        let ns = Netns::new()?;
        let lo = Ipv4Addr::LOCALHOST;
        let mut procs = Vec::new();
        let (p, line) = piles_ready(
            &ns,
            &dir,
            "udp-sink",
            &[
                "udpsink",
                "127.0.0.1",
                &UDP_SINK_PORT.to_string(),
                &rcvbuf.to_string(),
            ],
        )?;
        let effective: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no rcvbuf in {line:?}")))?;
        let sink = Service {
            process: "udp-sink".into(),
            pid: p.pid(),
            ip: lo,
            port: UDP_SINK_PORT,
        };
        procs.push(p);
        let (p, _) = piles_ready(
            &ns,
            &dir,
            "udp-reader",
            &["udpread", "127.0.0.1", &UDP_READER_PORT.to_string()],
        )?;
        let reader = Service {
            process: "udp-reader".into(),
            pid: p.pid(),
            ip: lo,
            port: UDP_READER_PORT,
        };
        procs.push(p);
        let before = counter(&ns, "Udp", "RcvbufErrors")?;
        let (blaster, _) = piles_ready(
            &ns,
            &dir,
            "udp-blaster",
            &[
                "udpblast",
                "127.0.0.1",
                &UDP_SINK_PORT.to_string(),
                &PREFILL.to_string(),
                &per_blast.to_string(),
            ],
        )?;
        let dropped = counter(&ns, "Udp", "RcvbufErrors")? - before;
        if dropped == 0 {
            return Err(io::Error::other(format!(
                "{PREFILL} datagrams did not fill a {effective}-byte buffer"
            )));
        }
        let sink_recv_q = wait_sockets(&ns, "the sink's queue", START_TIMEOUT, false, |snap| {
            let sink = udp_on(snap, UDP_SINK_PORT)?;
            let reader = udp_on(snap, UDP_READER_PORT)?;
            if sink.recv_q > 0 && reader.recv_q == 0 {
                Ok(sink.recv_q)
            } else {
                Err(format!(
                    "sink Recv-Q {}, reader {}",
                    sink.recv_q, reader.recv_q
                ))
            }
        })?;
        Ok(UdpDrops {
            procs,
            blaster_pid: blaster.pid(),
            blaster: Mutex::new((blaster, 0)),
            ns,
            sink,
            reader,
            rcvbuf: effective,
            sink_recv_q,
            _dir: dir,
        })
    }

    /// Makes the blaster send its datagrams to the (full) sink and waits until it did; returns
    /// how many it sent. Takes `&self`, so a test can blast while sockdoc runs on [`UdpDrops::ns`].
    pub fn blast(&self) -> io::Result<u64> {
        let mut guard = self.blaster.lock().unwrap_or_else(PoisonError::into_inner);
        let (blaster, rounds) = &mut *guard;
        crate::sys::kill(self.blaster_pid, libc::SIGUSR1)?;
        *rounds += 1;
        let line = blaster.wait_line(&format!("blasted {rounds} "), START_TIMEOUT)?;
        line.split_whitespace()
            .nth(2)
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no count in {line:?}")))
    }

    /// PIDs of the scenario's processes.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.procs.iter().map(Proc::pid).collect();
        pids.push(self.blaster_pid);
        pids
    }
}

/// The UDP socket bound to local `port`.
fn udp_on(snap: &[SsSocket], port: u16) -> Result<&SsSocket, String> {
    snap.iter()
        .find(|s| s.proto == Proto::Udp && s.local.port == port)
        .ok_or_else(|| format!("no UDP socket on {port}"))
}

/// A process holding many UDP sockets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hoarder {
    /// `/proc/PID/comm`.
    pub process: String,
    pub pid: u32,
    /// UDP sockets it holds, each bound to its own port on 127.0.0.1.
    pub sockets: usize,
}

/// One namespace with processes holding bound UDP sockets (no traffic at all).
#[derive(Debug)]
pub struct UdpHoard {
    procs: Vec<Proc>,
    pub ns: Netns,
    pub hoarders: Vec<Hoarder>,
    dir: Workdir,
}

impl UdpHoard {
    /// Starts one process per `(label, sockets)`; returns once ss shows all the sockets.
    pub fn build(hoarders: &[(&str, usize)]) -> io::Result<UdpHoard> {
        let dir = Workdir::new("udp-hoard")?;
        let ns = Netns::new()?;
        let mut me = UdpHoard {
            procs: Vec::new(),
            ns,
            hoarders: Vec::new(),
            dir,
        };
        for (label, n) in hoarders {
            me.add(label, *n)?;
        }
        Ok(me)
    }

    /// Starts one more process holding `sockets` UDP sockets; returns once ss shows them.
    pub fn add(&mut self, label: &str, sockets: usize) -> io::Result<&Hoarder> {
        let (p, _) = piles_ready(
            &self.ns,
            &self.dir,
            label,
            &["udphoard", "127.0.0.1", &sockets.to_string()],
        )?;
        self.hoarders.push(Hoarder {
            process: label.into(),
            pid: p.pid(),
            sockets,
        });
        self.procs.push(p);
        let want: usize = self.hoarders.iter().map(|h| h.sockets).sum();
        wait_sockets(
            &self.ns,
            "the hoarded UDP sockets",
            START_TIMEOUT,
            false,
            |snap| {
                let n = snap.iter().filter(|s| s.proto == Proto::Udp).count();
                if n == want {
                    Ok(())
                } else {
                    Err(format!("{n}/{want} UDP sockets"))
                }
            },
        )?;
        Ok(&self.hoarders[self.hoarders.len() - 1])
    }

    /// The hoarder started as `label`.
    pub fn hoarder(&self, label: &str) -> &Hoarder {
        self.hoarders
            .iter()
            .find(|h| h.process == label)
            .unwrap_or_else(|| panic!("no hoarder {label}"))
    }

    /// PIDs of the scenario's processes.
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Proc::pid).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ss;

    #[test]
    fn syn_sent_to_a_dead_upstream_stays_syn_sent() {
        let s = SynSentFanout::build(Fanout::Upstream(20)).expect("build");
        let snap = ss::snapshot(&s.ns).expect("ss");
        let pending = s.syn_sent_in(&snap);
        assert_eq!(pending.len(), 20);
        let dest = SocketAddr::new(s.link.server_ip.into(), DEAD_UPSTREAM_PORT);
        for x in &pending {
            assert_eq!(x.peer.socket_addr(), dest, "{}", x.line);
            assert!(
                x.users
                    .iter()
                    .any(|u| u.pid == s.caller.pid && u.name == "syn-caller"),
                "{}",
                x.line
            );
            assert_eq!(
                x.timer.as_ref().map(|t| t.kind.as_str()),
                Some("on"),
                "{}",
                x.line
            );
        }
        assert_eq!(s.hosts(), 1);
        let states: Vec<SockState> = snap.iter().map(|x| x.state).collect();
        assert_eq!(
            states
                .iter()
                .filter(|st| **st == SockState::SynSent)
                .count(),
            20,
            "only the caller's"
        );
        assert_eq!(
            states
                .iter()
                .filter(|st| **st == SockState::Established)
                .count(),
            2,
            "the neighbour's"
        );
    }

    #[test]
    fn a_scan_leaves_one_syn_sent_per_host() {
        let s = SynSentFanout::build(Fanout::Scan(20)).expect("build");
        let snap = ss::snapshot(&s.ns).expect("ss");
        let pending = s.syn_sent_in(&snap);
        assert_eq!(pending.len(), 20);
        assert_eq!(s.hosts(), 20);
        let mut peers: Vec<SocketAddr> = pending.iter().map(|x| x.peer.socket_addr()).collect();
        peers.sort();
        peers.dedup();
        assert_eq!(peers.len(), 20);
        assert!(pending
            .iter()
            .all(|x| x.users.iter().any(|u| u.name == "syn-scanner")));
    }

    #[test]
    fn half_closing_server_holds_fin_wait_2() {
        let c = ClosingPile::fin_wait_2(30).expect("build");
        let snap = ss::snapshot(&c.server).expect("ss");
        let pile: Vec<&SsSocket> = snap
            .iter()
            .filter(|s| s.state == SockState::FinWait2)
            .collect();
        assert_eq!(pile.len(), 30);
        for s in &pile {
            assert_eq!(s.local.port, HALF_CLOSE_PORT, "{}", s.line);
            assert_eq!(s.peer.ip, IpAddr::from(c.link.client_ip), "{}", s.line);
            assert!(s.timer.is_none(), "held: no FIN-WAIT-2 timer: {}", s.line);
            assert!(
                s.users
                    .iter()
                    .any(|u| u.pid == c.server_pid && u.name == "cp-halfclose"),
                "{}",
                s.line
            );
        }
        let far = ss::snapshot_quick(&c.client).expect("ss");
        assert_eq!(
            far.iter()
                .filter(|s| s.state == SockState::CloseWait && s.peer.port == HALF_CLOSE_PORT)
                .count(),
            30,
            "the client's ends"
        );
    }

    #[test]
    fn killed_holder_leaves_fin_wait_1_orphans() {
        // Not per namespace on this kernel: the limit is the initial namespace's only.
        let c = ClosingPile::fin_wait_1_orphans(20).expect("build");
        assert!(
            super::super::net::sysctl(&c.server, "net.ipv4.tcp_max_orphans").is_err(),
            "tcp_max_orphans exists inside a namespace"
        );
        let pile = c.pile().expect("ss");
        assert_eq!(pile.len(), 20);
        for s in &pile {
            assert_eq!(s.ino, 0, "orphan: {}", s.line);
            assert_eq!(
                s.timer.as_ref().map(|t| t.kind.as_str()),
                Some("on"),
                "{}",
                s.line
            );
        }
        assert!(sockstat_orphans(&c.server).expect("sockstat") >= 20);
    }

    #[test]
    fn a_full_udp_sink_drops_every_datagram() {
        let u = UdpDrops::build(2048, 500).expect("build");
        assert!(u.rcvbuf >= 2048, "{}", u.rcvbuf);
        let before = counter(&u.ns, "Udp", "RcvbufErrors").expect("counter");
        let in_before = counter(&u.ns, "Udp", "InErrors").expect("counter");
        assert_eq!(u.blast().expect("blast"), 500);
        let after = counter(&u.ns, "Udp", "RcvbufErrors").expect("counter");
        let in_after = counter(&u.ns, "Udp", "InErrors").expect("counter");
        assert_eq!(after - before, 500);
        assert_eq!(in_after - in_before, 500);
        let snap = ss::snapshot_quick(&u.ns).expect("ss");
        assert_eq!(
            udp_on(&snap, UDP_SINK_PORT).expect("sink").recv_q,
            u.sink_recv_q
        );
        assert_eq!(udp_on(&snap, UDP_READER_PORT).expect("reader").recv_q, 0);
        assert_eq!(u.blast().expect("again"), 500);
    }

    #[test]
    fn hoarders_hold_their_udp_sockets() {
        let mut h = UdpHoard::build(&[("udp-calm", 10)]).expect("build");
        h.add("udp-hoarder", 1200).expect("add");
        let snap = ss::snapshot(&h.ns).expect("ss");
        let held_by = |pid: u32| {
            snap.iter()
                .filter(|s| s.proto == Proto::Udp && s.users.iter().any(|u| u.pid == pid))
                .count()
        };
        assert_eq!(held_by(h.hoarder("udp-hoarder").pid), 1200);
        assert_eq!(held_by(h.hoarder("udp-calm").pid), 10);
        let mut ports: Vec<u16> = snap.iter().map(|s| s.local.port).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 1210, "one port each");
    }
}
