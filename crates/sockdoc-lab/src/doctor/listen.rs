//! Listeners in trouble: a full accept queue ([`ListenOverflow`]) and a SYN queue filling with
//! half-open connections ([`SynFlood`]).

use std::io;
use std::sync::{Mutex, PoisonError};

use super::net::{link, wait_sockets, Link};
use super::proc::Proc;
use super::services::{helper_ready, helper_server, Service, START_TIMEOUT};
use super::workdir::Workdir;
use crate::netns::{Hook, Netns};
use crate::ss::SsSocket;
use crate::state::SockState;

/// Port of the listener that never accepts.
pub const STUCK_PORT: u16 = 7101;
/// Port of the accepting neighbour.
pub const ACCEPTING_PORT: u16 = 7102;
/// Backlog of the stuck listener.
pub const STUCK_BACKLOG: u32 = 4;

/// The server namespace holds `lq-stuck`, listening on :7101 with backlog 4 and never calling
/// accept(), and `lq-ok` on :7102 (backlog 128), which accepts and holds its 3 connections.
/// `clients` clients connected to the stuck one: with 20, its accept queue is full (Recv-Q 5 >
/// Send-Q 4, the kernel queues backlog + 1) and the other clients' SYNs are dropped
/// (ListenOverflows grows with each retransmission); with 0 it is empty until
/// [`ListenOverflow::add_clients`]. [`ListenOverflow::start_spam`] adds a client that keeps connecting, so
/// the counters grow steadily.
#[derive(Debug)]
pub struct ListenOverflow {
    procs: Mutex<Vec<Proc>>,
    pub server: Netns,
    pub client: Netns,
    pub link: Link,
    pub stuck: Service,
    pub accepting: Service,
    /// The stuck listener as ss showed it once its queue was full.
    pub stuck_listener: SsSocket,
    dir: Workdir,
}

impl ListenOverflow {
    /// Builds the scenario with `clients` connects to the stuck listener.
    pub fn build(clients: usize) -> io::Result<ListenOverflow> {
        let dir = Workdir::new("listen-overflow")?;
        let server = Netns::new()?;
        let client = Netns::new()?;
        let link = link(&server, &client)?;
        let ip = link.server_ip;
        let sip = ip.to_string();
        let mut procs = Vec::new();
        let (p, stuck) = helper_server(
            &server,
            &dir,
            "lq-stuck",
            (ip, STUCK_PORT),
            STUCK_BACKLOG,
            &["noaccept"],
        )?;
        procs.push(p);
        let (p, accepting) =
            helper_server(&server, &dir, "lq-ok", (ip, ACCEPTING_PORT), 128, &["hold"])?;
        procs.push(p);
        let (p, _) = helper_ready(
            &client,
            &dir,
            "lq-clients-ok",
            &["idle", &sip, &ACCEPTING_PORT.to_string(), "3"],
        )?;
        procs.push(p);
        let (p, _) = helper_ready(
            &client,
            &dir,
            "lq-clients",
            &[
                "nbconnect",
                &sip,
                &STUCK_PORT.to_string(),
                &clients.to_string(),
            ],
        )?;
        procs.push(p);
        let full = STUCK_BACKLOG as u64 + 1;
        let stuck_listener = wait_sockets(
            &server,
            "the stuck listener's accept queue to fill",
            START_TIMEOUT,
            false,
            |snap| {
                let l = listener(snap, STUCK_PORT)?;
                let held = snap
                    .iter()
                    .filter(|s| {
                        s.local.port == ACCEPTING_PORT
                            && s.state == SockState::Established
                            && s.ino != 0
                    })
                    .count();
                if l.recv_q >= full.min(clients as u64) && held == 3 {
                    Ok(l.clone())
                } else {
                    Err(format!(
                        "queue {} of {}, accepted {held}/3",
                        l.recv_q, l.send_q
                    ))
                }
            },
        )?;
        Ok(ListenOverflow {
            procs: Mutex::new(procs),
            server,
            client,
            link,
            stuck,
            accepting,
            stuck_listener,
            dir,
        })
    }

    /// Starts `n` more non-blocking connects to the stuck listener (a new client process) and
    /// returns at once, without waiting for any state: for overflows that must happen at a chosen
    /// moment.
    pub fn add_clients(&self, n: usize) -> io::Result<()> {
        let (p, _) = helper_ready(
            &self.client,
            &self.dir,
            &format!("lq-clients{}", self.lock_procs().len()),
            &[
                "nbconnect",
                &self.link.server_ip.to_string(),
                &STUCK_PORT.to_string(),
                &n.to_string(),
            ],
        )?;
        self.lock_procs().push(p);
        Ok(())
    }

    fn lock_procs(&self) -> std::sync::MutexGuard<'_, Vec<Proc>> {
        self.procs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the stuck listener's accept queue holds exactly `n` connections; returns the
    /// listener as ss shows it then.
    pub fn wait_queue(&self, n: u64) -> io::Result<SsSocket> {
        wait_sockets(
            &self.server,
            "the stuck listener's accept queue",
            START_TIMEOUT,
            false,
            |snap| {
                let l = listener(snap, STUCK_PORT)?;
                if l.recv_q == n {
                    Ok(l.clone())
                } else {
                    Err(format!("queue {} of {}", l.recv_q, l.send_q))
                }
            },
        )
    }

    /// Starts a client that connects to the stuck listener every `interval_ms` (non-blocking,
    /// keeping the last 64 attempts), so ListenOverflows keeps growing.
    pub fn start_spam(&self, interval_ms: u32) -> io::Result<()> {
        let (p, _) = helper_ready(
            &self.client,
            &self.dir,
            "lq-spam",
            &[
                "spam",
                &self.link.server_ip.to_string(),
                &STUCK_PORT.to_string(),
                &interval_ms.to_string(),
            ],
        )?;
        self.lock_procs().push(p);
        Ok(())
    }
}

/// Port of the SYN-flooded listener.
pub const FLOODED_PORT: u16 = 7201;

/// The server namespace holds `syn-target` listening on :7201 with the given backlog. Every
/// handshake-completing ACK (and anything else from the clients but SYNs) to it is dropped, and
/// the client namespace opened `syns` connections: the server keeps one SYN-RECV request per
/// client (retransmitting SYN-ACKs) up to the SYN queue's limit (the backlog); beyond it the
/// kernel answers with SYN cookies and keeps nothing.
#[derive(Debug)]
pub struct SynFlood {
    procs: Vec<Proc>,
    pub server: Netns,
    pub client: Netns,
    pub link: Link,
    pub target: Service,
    pub backlog: u32,
    /// SYN-RECV sockets on the target port once the flood settled.
    pub syn_recv: usize,
    _dir: Workdir,
}

impl SynFlood {
    /// Floods a listener of backlog `backlog` with `syns` connects; returns once the SYN-RECV
    /// count is stable (the same in two readings 200 ms apart, and at least `min(syns,
    /// backlog)`).
    pub fn build(syns: usize, backlog: u32) -> io::Result<SynFlood> {
        let dir = Workdir::new("syn-flood")?;
        let server = Netns::new()?;
        let client = Netns::new()?;
        let link = link(&server, &client)?;
        let ip = link.server_ip;
        let mut procs = Vec::new();
        let (p, target) = helper_server(
            &server,
            &dir,
            "syn-target",
            (ip, FLOODED_PORT),
            backlog,
            &["hold"],
        )?;
        procs.push(p);
        server.drop_packets(
            Hook::Input,
            &format!("ip daddr {ip} tcp dport {FLOODED_PORT} tcp flags & (syn|ack) == ack"),
        )?;
        let (p, _) = helper_ready(
            &client,
            &dir,
            "syn-clients",
            &[
                "nbconnect",
                &ip.to_string(),
                &FLOODED_PORT.to_string(),
                &syns.to_string(),
            ],
        )?;
        procs.push(p);
        let floor = syns.min(backlog as usize);
        let mut last = usize::MAX;
        let syn_recv = wait_sockets(
            &server,
            "SYN-RECV sockets to pile up",
            START_TIMEOUT,
            false,
            |snap| {
                let n = snap
                    .iter()
                    .filter(|s| s.state == SockState::SynRecv && s.local.port == FLOODED_PORT)
                    .count();
                let stable = n == last;
                last = n;
                if n >= floor && stable {
                    Ok(n)
                } else {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    Err(format!("{n} SYN-RECV"))
                }
            },
        )?;
        Ok(SynFlood {
            procs,
            server,
            client,
            link,
            target,
            backlog,
            syn_recv,
            _dir: dir,
        })
    }

    /// The flooded listener as ss shows it now.
    pub fn listener(&self) -> io::Result<SsSocket> {
        let snap = crate::ss::snapshot_quick(&self.server)?;
        listener(&snap, FLOODED_PORT)
            .cloned()
            .map_err(io::Error::other)
    }

    /// PIDs of the scenario's processes.
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Proc::pid).collect()
    }
}

/// The LISTEN socket on `port`.
fn listener(snap: &[SsSocket], port: u16) -> Result<&SsSocket, String> {
    snap.iter()
        .find(|s| s.state == SockState::Listen && s.local.port == port)
        .ok_or_else(|| format!("no listener on {port}"))
}
