//! One worker process: a listener plus its share of every sub-population.
//!
//! Source addresses: worker `w` uses 127.(16+w).C.D, where the third octet
//! selects the kind of connection (see [`Kind`]) and at most
//! [`CONNS_PER_ADDR`] connections share one source address, so ephemeral
//! ports never run out and port selection in connect() stays cheap.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::sys::{self, V4};

/// Connections (or UDP sockets) per source address.
const CONNS_PER_ADDR: u64 = 256;
/// TIME-WAIT connections use explicit source ports from here on (below the
/// ephemeral range), so a refresh can recreate exactly the same 4-tuple.
const TW_PORT_BASE: u16 = 10_000;
/// How long to wait for the kernel to finish a handshake or a FIN.
const KERNEL_TIMEOUT_MS: libc::c_int = 10_000;

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Established,
    CloseWait,
    TimeWait,
    Udp,
}

impl Kind {
    /// (first third-octet, number of third-octet values) for this kind.
    fn octet_range(self) -> (u64, u64) {
        match self {
            Kind::Established => (0, 100),
            Kind::CloseWait => (100, 50),
            Kind::TimeWait => (150, 50),
            Kind::Udp => (200, 50),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Established => "established",
            Kind::CloseWait => "close-wait",
            Kind::TimeWait => "time-wait",
            Kind::Udp => "udp",
        }
    }
}

/// What one worker must build.
#[derive(Clone, Debug, Default)]
pub struct WorkerPlan {
    pub index: u32,
    /// ESTABLISHED connections (2 sockets, 2 fds each).
    pub established: u64,
    /// CLOSE-WAIT sockets, each with a held half-closed FIN-WAIT-2 peer.
    pub close_wait: u64,
    /// Client-side TIME-WAIT sockets (no fd held).
    pub time_wait: u64,
    /// UDP sockets, every other one connected.
    pub udp: u64,
}

impl WorkerPlan {
    /// fds held once the population is in place (excluding stdio).
    pub fn held_fds(&self) -> u64 {
        1 + 2 * self.established + 2 * self.close_wait + self.udp
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub base_port: u16,
    /// Connections opened per connect/accept round.
    pub batch: usize,
    /// TIME-WAIT connections per batch (also the refresh unit).
    pub tw_batch: usize,
    /// Age at which a TIME-WAIT batch is recreated (kernel expiry is 60 s).
    pub tw_refresh: Duration,
}

/// Everything a worker holds open.
pub struct Held {
    index: u32,
    listener: OwnedFd,
    listen_addr: V4,
    _sockets: Vec<OwnedFd>,
    tw_batches: Vec<TwBatch>,
    pub established: u64,
    pub close_wait: u64,
    pub time_wait: u64,
    pub udp: u64,
    pub setup: Duration,
}

struct TwBatch {
    first: u64,
    len: u64,
    created: Instant,
}

fn src_addr(worker: u32, kind: Kind, n: u64, port: u16) -> Result<V4, String> {
    let (base, range) = kind.octet_range();
    let k = n / CONNS_PER_ADDR;
    if k / 250 >= range {
        return Err(format!(
            "worker {worker}: too many {} sockets for the source address plan",
            kind.name()
        ));
    }
    let second = 16 + worker;
    if second > 255 {
        return Err(format!("worker index {worker} too large (max 239)"));
    }
    Ok(V4::new(
        [
            127,
            second as u8,
            (base + k / 250) as u8,
            (1 + k % 250) as u8,
        ],
        port,
    ))
}

fn ctx<T>(r: io::Result<T>, what: impl FnOnce() -> String) -> Result<T, String> {
    r.map_err(|e| format!("{}: {e}", what()))
}

impl Held {
    /// Opens `n` loopback connections to our listener; returns (clients, servers).
    ///
    /// `kind` and `first` pick source addresses; TIME-WAIT connections bind an
    /// explicit port (with SO_REUSEADDR), the others let connect() choose one
    /// (IP_BIND_ADDRESS_NO_PORT).
    fn open_pairs(
        index: u32,
        listener: &OwnedFd,
        listen_addr: V4,
        kind: Kind,
        first: u64,
        n: u64,
    ) -> Result<(Vec<OwnedFd>, Vec<OwnedFd>), String> {
        let mut clients = Vec::with_capacity(n as usize);
        for i in first..first + n {
            let src = if let Kind::TimeWait = kind {
                let port = TW_PORT_BASE + (i % CONNS_PER_ADDR) as u16;
                src_addr(index, kind, i, port)?
            } else {
                src_addr(index, kind, i, 0)?
            };
            let s = ctx(sys::socket(libc::SOCK_STREAM | libc::SOCK_NONBLOCK), || {
                format!("socket() for {} connection", kind.name())
            })?;
            let opt = if src.port != 0 {
                libc::SO_REUSEADDR
            } else {
                sys::IP_BIND_ADDRESS_NO_PORT
            };
            let level = if src.port != 0 {
                libc::SOL_SOCKET
            } else {
                libc::IPPROTO_IP
            };
            ctx(sys::set_int_opt(&s, level, opt, 1), || {
                format!("setsockopt on {} client", kind.name())
            })?;
            ctx(sys::bind(&s, src), || format!("bind {src}"))?;
            ctx(sys::connect(&s, listen_addr), || {
                format!("connect {src} -> {listen_addr}")
            })?;
            clients.push(s);
        }
        let mut servers = Vec::with_capacity(n as usize);
        while (servers.len() as u64) < n {
            match ctx(sys::accept(listener), || format!("accept on {listen_addr}"))? {
                Some(fd) => servers.push(fd),
                None => {
                    let ready = ctx(
                        sys::poll_readable(listener.as_raw_fd(), KERNEL_TIMEOUT_MS),
                        || format!("poll on {listen_addr}"),
                    )?;
                    if !ready {
                        return Err(format!(
                            "timed out accepting {} connections on {listen_addr} ({} of {n} accepted); \
                             check net.core.somaxconn and net.ipv4.tcp_max_syn_backlog",
                            kind.name(),
                            servers.len()
                        ));
                    }
                }
            }
        }
        Ok((clients, servers))
    }

    /// Waits until every socket in `fds` has received a FIN.
    fn await_fin(fds: &[OwnedFd], what: &str) -> Result<(), String> {
        for fd in fds {
            loop {
                match ctx(sys::peek_eof(fd), || {
                    format!("recv on {what} server socket")
                })? {
                    Some(true) => break,
                    Some(false) => {
                        return Err(format!("unexpected data on {what} server socket"));
                    }
                    None => {
                        let ready = ctx(
                            sys::poll_readable(fd.as_raw_fd(), KERNEL_TIMEOUT_MS),
                            || format!("poll on {what} server socket"),
                        )?;
                        if !ready {
                            return Err(format!(
                                "timed out waiting for FIN on {what} server socket"
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Creates (or recreates) TIME-WAIT connections `first..first+n`.
    fn make_time_wait(&self, first: u64, n: u64) -> Result<(), String> {
        let (clients, servers) = Self::open_pairs(
            self.index,
            &self.listener,
            self.listen_addr,
            Kind::TimeWait,
            first,
            n,
        )?;
        // Client closes first (FIN-WAIT), server sees EOF, then the server
        // closes: the client end ends up in TIME-WAIT, the server end is gone.
        drop(clients);
        Self::await_fin(&servers, "time-wait")?;
        drop(servers);
        Ok(())
    }

    /// Builds the worker's whole population.
    pub fn build(plan: &WorkerPlan, s: &Settings) -> Result<Held, String> {
        let start = Instant::now();
        let index = plan.index;
        let port = s
            .base_port
            .checked_add(index as u16)
            .ok_or_else(|| format!("listener port {} + {index} overflows", s.base_port))?;
        let listen_addr = V4::new([127, 0, 0, 1], port);
        let listener = ctx(sys::socket(libc::SOCK_STREAM | libc::SOCK_NONBLOCK), || {
            "socket() for listener".to_string()
        })?;
        ctx(
            sys::set_int_opt(&listener, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1),
            || "setsockopt(SO_REUSEADDR) on listener".to_string(),
        )?;
        ctx(sys::bind(&listener, listen_addr), || {
            format!("bind listener {listen_addr}")
        })?;
        ctx(sys::listen(&listener, 65_535), || {
            format!("listen on {listen_addr}")
        })?;

        let mut sockets = Vec::with_capacity(plan.held_fds() as usize);

        // UDP: bound to a distinct loopback address, every other one connected.
        for i in 0..plan.udp {
            let src = src_addr(index, Kind::Udp, i, 0)?;
            let u = ctx(sys::socket(libc::SOCK_DGRAM | libc::SOCK_NONBLOCK), || {
                "socket() for udp".to_string()
            })?;
            ctx(sys::bind(&u, src), || format!("bind udp {src}"))?;
            if i % 2 == 1 {
                ctx(sys::connect(&u, listen_addr), || {
                    format!("connect udp {src} -> {listen_addr}")
                })?;
            }
            sockets.push(u);
        }

        // CLOSE-WAIT: client shuts down its write side (stays FIN-WAIT-2 with
        // its fd held, so it never times out), server keeps its end open.
        let mut done = 0;
        while done < plan.close_wait {
            let n = (plan.close_wait - done).min(s.batch as u64);
            let (clients, servers) =
                Self::open_pairs(index, &listener, listen_addr, Kind::CloseWait, done, n)?;
            for c in &clients {
                ctx(sys::shutdown_write(c), || "shutdown(SHUT_WR)".to_string())?;
            }
            Self::await_fin(&servers, "close-wait")?;
            sockets.extend(clients);
            sockets.extend(servers);
            done += n;
        }

        // ESTABLISHED: hold both ends.
        let mut done = 0;
        while done < plan.established {
            let n = (plan.established - done).min(s.batch as u64);
            let (clients, servers) =
                Self::open_pairs(index, &listener, listen_addr, Kind::Established, done, n)?;
            sockets.extend(clients);
            sockets.extend(servers);
            done += n;
        }

        let mut held = Held {
            index,
            listener,
            listen_addr,
            _sockets: sockets,
            tw_batches: Vec::new(),
            established: plan.established,
            close_wait: plan.close_wait,
            time_wait: plan.time_wait,
            udp: plan.udp,
            setup: Duration::ZERO,
        };

        // TIME-WAIT last, so they are as fresh as possible at "ready".
        let mut done = 0;
        while done < plan.time_wait {
            let n = (plan.time_wait - done).min(s.tw_batch as u64);
            held.make_time_wait(done, n)?;
            held.tw_batches.push(TwBatch {
                first: done,
                len: n,
                created: Instant::now(),
            });
            done += n;
        }
        held.setup = start.elapsed();
        Ok(held)
    }

    /// Holds everything forever, recreating TIME-WAIT batches before the
    /// kernel expires them (60 s). Recreating binds the same source
    /// address and port, and connect() then takes over the old TIME-WAIT
    /// entry for that 4-tuple (timestamps on), so the count stays stable.
    /// Only returns on error.
    pub fn hold(mut self, s: &Settings) -> String {
        loop {
            let Some(oldest) = self.tw_batches.iter().map(|b| b.created).min() else {
                // Nothing to refresh: sleep until a signal ends us.
                unsafe { libc::pause() };
                continue;
            };
            let due = oldest + s.tw_refresh;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
                continue;
            }
            let Some(pos) = self.tw_batches.iter().position(|b| b.created == oldest) else {
                continue;
            };
            let (first, len) = (self.tw_batches[pos].first, self.tw_batches[pos].len);
            if let Err(e) = self.make_time_wait(first, len) {
                return format!("time-wait refresh failed: {e}");
            }
            self.tw_batches[pos].created = Instant::now();
        }
    }
}
