//! What one line of `ss -tuanoeipHO` says about a socket, as typed values.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::state::{Family, Proto, SockState};

/// One socket as printed by ss.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsSocket {
    /// Netid column.
    pub proto: Proto,
    /// State column.
    pub state: SockState,
    /// Recv-Q column (LISTEN: current accept queue length).
    pub recv_q: u64,
    /// Send-Q column (LISTEN: backlog).
    pub send_q: u64,
    pub local: SsEndpoint,
    pub peer: SsEndpoint,
    /// `users:((...))`, empty when ss found no owner (or was not run with `-p`).
    pub users: Vec<SsUser>,
    /// `timer:(kind,time,count)`; `None` when ss printed none (kernel timer "off", and UDP).
    pub timer: Option<SsTimer>,
    /// `uid:N`; ss omits it when 0, so absent means 0.
    pub uid: u32,
    /// `ino:N` (0 for TIME-WAIT and SYN-RECV, which have no file).
    pub ino: u64,
    /// `sk:HEX`, the socket cookie.
    pub cookie: Option<u64>,
    /// Shutdown marker: `<->` open, `-->` we received a FIN, `<--` we sent one, `---` both.
    pub shutdown: Option<String>,
    /// Every other `key:value` token from `-e`/`-i` (e.g. `rto` → `204`, `rtt` → `0.1/0.05`,
    /// `bytes_acked` → `1`), plus `key value` pairs such as `send 10bps`.
    pub details: BTreeMap<String, String>,
    /// Bare words from `-i` such as `ts`, `sack`, `cubic`, `app_limited`.
    pub flags: Vec<String>,
    /// The line as ss printed it, for failure messages.
    pub line: String,
}

impl SsSocket {
    /// IPv4 or IPv6, from the local address (`*` is IPv6).
    pub fn family(&self) -> Family {
        Family::of(self.local.ip)
    }

    /// A `key:value` detail.
    pub fn detail(&self, key: &str) -> Option<&str> {
        self.details.get(key).map(String::as_str)
    }

    /// A numeric `key:value` detail (ss omits several counters when they are 0).
    pub fn detail_u64(&self, key: &str) -> Option<u64> {
        self.detail(key)?.parse().ok()
    }

    /// Smoothed RTT in microseconds, from `rtt:<ms>/<var ms>`.
    pub fn rtt_us(&self) -> Option<u64> {
        let ms: f64 = self.detail("rtt")?.split('/').next()?.parse().ok()?;
        Some((ms * 1000.0).round() as u64)
    }

    /// `retrans:<current>/<total>`.
    pub fn retrans(&self) -> Option<(u32, u32)> {
        let (cur, total) = self.detail("retrans")?.split_once('/')?;
        Some((cur.parse().ok()?, total.parse().ok()?))
    }

    /// Whether ss printed TCP_INFO fields (`-i`) for this socket (full TCP sockets only).
    pub fn has_tcp_info(&self) -> bool {
        self.details.contains_key("cwnd") || self.details.contains_key("rto")
    }

    /// `(proto, local, peer)`: with the state, identifies a socket in one snapshot.
    pub fn tuple(&self) -> (Proto, SocketAddr, SocketAddr) {
        (
            self.proto,
            self.local.socket_addr(),
            self.peer.socket_addr(),
        )
    }
}

/// A local or peer address column: `127.0.0.1:80`, `[::1]:80`, `*:*`, `[::1]%lo:53`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SsEndpoint {
    /// `*` (IPv6 wildcard of a dual-stack socket) is `::`.
    pub ip: IpAddr,
    /// `*` is 0.
    pub port: u16,
    /// `%ifname` suffix: the socket is bound to that device.
    pub iface: Option<String>,
}

impl SsEndpoint {
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }
}

impl fmt::Display for SsEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}")?,
            IpAddr::V6(ip) => write!(f, "[{ip}]")?,
        }
        if let Some(iface) = &self.iface {
            write!(f, "%{iface}")?;
        }
        write!(f, ":{}", self.port)
    }
}

/// `timer:(kind,time,count)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsTimer {
    /// `on` (retransmit; also SYN-ACK and loss-probe timers), `keepalive`, `timewait`,
    /// `persist` (zero-window probe) or `unknown`.
    pub kind: String,
    /// Remaining time, truncated by ss to the shown precision.
    pub remaining_ms: u64,
    /// ss's precision for this rendering: 1 ms below 10 s, 1 s up to 10 min, 1 min above. The
    /// true value lies in `remaining_ms .. remaining_ms + resolution_ms`.
    pub resolution_ms: u64,
    /// Retransmissions (`on`), probes sent (`keepalive`, `persist`); 0 for `timewait`.
    pub count: u32,
}

/// One `("name",pid=N,fd=M)` entry of `users:(...)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SsUser {
    /// The process's comm (at most 15 bytes).
    pub name: String,
    pub pid: u32,
    pub fd: i32,
}

/// A line ss printed that the parser does not understand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub reason: String,
    pub line: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot parse ss line ({}): {:?}", self.reason, self.line)
    }
}

impl std::error::Error for ParseError {}
