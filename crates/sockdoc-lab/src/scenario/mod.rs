//! Scenarios: real sockets, owned by the calling process, put into a chosen TCP/UDP state inside
//! a lab namespace, together with what ss must show for them.
//!
//! [`Kind::build`] creates the sockets (on a thread inside the namespace, see
//! [`in_netns`](crate::in_netns)), drives them into their state (with nftables drop rules where a
//! lost packet is needed) and then polls ss until every expected socket is visible in its state
//! (and with its timer kind), so the caller can compare immediately.
//!
//! CLOSING (both sides close at the same instant, each FIN crossing the other) is a race on
//! loopback and is not built; the other ten states are.

mod tcp;
mod udp;

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::Duration;

use crate::netns::Netns;
use crate::ss::{self, SsSocket};
use crate::state::{Family, Proto, SockState};
use crate::wait;

/// One socket a scenario guarantees ss shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub proto: Proto,
    pub state: SockState,
    pub local: SocketAddr,
    /// `unspecified:0` for listeners and unconnected UDP.
    pub peer: SocketAddr,
    /// The socket has a file (non-zero inode) held by this process; false for TIME-WAIT and
    /// SYN-RECV entries, which have neither.
    pub owned: bool,
    /// Timer kind ss prints (`on`, `keepalive`, `timewait`, `persist`); `None` for no timer.
    pub timer: Option<&'static str>,
    /// Device the socket is bound to (ss's `%ifname`).
    pub iface: Option<&'static str>,
}

impl Expected {
    fn new(proto: Proto, state: SockState, local: SocketAddr, peer: SocketAddr) -> Expected {
        Expected {
            proto,
            state,
            local,
            peer,
            owned: true,
            timer: None,
            iface: None,
        }
    }

    fn unowned(mut self) -> Expected {
        self.owned = false;
        self
    }

    fn timer(mut self, kind: &'static str) -> Expected {
        self.timer = Some(kind);
        self
    }

    /// Whether `s` is this socket (same protocol and addresses).
    pub fn is(&self, s: &SsSocket) -> bool {
        s.proto == self.proto
            && s.local.socket_addr() == self.local
            && s.peer.socket_addr() == self.peer
    }

    /// Whether `s` is this socket in the expected state with the expected timer kind.
    pub fn matches(&self, s: &SsSocket) -> bool {
        self.is(s)
            && s.state == self.state
            && s.timer.as_ref().map(|t| t.kind.as_str()) == self.timer
            && s.local.iface.as_deref() == self.iface
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} -> {}",
            self.proto, self.state, self.local, self.peer
        )?;
        if let Some(t) = self.timer {
            write!(f, " timer:{t}")?;
        }
        Ok(())
    }
}

/// The socket situations the lab can build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A listener.
    Listen,
    /// A connected pair, both ends ESTAB.
    Established,
    /// A connect whose SYNs are dropped (output hook) to the family's blackhole address.
    SynSent,
    /// A listener whose handshake-completing ACKs are dropped: the server's request socket stays
    /// SYN-RECV (retransmitting SYN-ACKs); the client is ESTAB.
    SynRecv,
    /// `shutdown(SHUT_WR)` while everything sent to us is dropped: our FIN is never ACKed
    /// (FIN-WAIT-1); the peer got it (CLOSE-WAIT).
    FinWait1,
    /// `shutdown(SHUT_WR)` acknowledged, the peer does not close: FIN-WAIT-2 and CLOSE-WAIT.
    HalfClosed,
    /// The CLOSE-WAIT side shuts down too while ACKs to it are dropped: LAST-ACK; the other side
    /// goes to TIME-WAIT. The LAST-ACK socket keeps its file (shutdown, not close).
    LastAck,
    /// The active closer after both sides closed: TIME-WAIT, no file; the passive side is gone.
    TimeWait,
    /// An established pair whose client has keepalive on (idle 600 s and 3000 s, so ss prints
    /// both its `9min59sec` and its whole-minute forms).
    Keepalive,
    /// A sender facing a zero receive window: `persist` timer.
    ZeroWindow,
    /// A bound UDP socket (UNCONN).
    UdpUnconn,
    /// A connected UDP socket (ESTAB) and the bound one it talks to (UNCONN).
    UdpConnected,
    /// A UDP socket with `SO_BINDTODEVICE lo`: ss prints `addr%lo:port`.
    UdpBoundToDevice,
    /// A TCP socket that is bound but neither listens nor connects. ss 6.1 does not show it
    /// (`-a` does not include the kernel's bound-inactive pseudo-state), so it is expected absent.
    TcpBoundInactive,
}

impl Kind {
    /// Every buildable kind.
    pub const ALL: [Kind; 14] = [
        Kind::Listen,
        Kind::Established,
        Kind::SynSent,
        Kind::SynRecv,
        Kind::FinWait1,
        Kind::HalfClosed,
        Kind::LastAck,
        Kind::TimeWait,
        Kind::Keepalive,
        Kind::ZeroWindow,
        Kind::UdpUnconn,
        Kind::UdpConnected,
        Kind::UdpBoundToDevice,
        Kind::TcpBoundInactive,
    ];

    /// Builds the scenario in `ns` and waits (up to [`wait::SETTLE_TIMEOUT`]) until ss shows it.
    pub fn build(self, ns: &Netns, family: Family) -> io::Result<Scenario> {
        let parts = match self {
            Kind::Listen => tcp::listen(ns, family)?,
            Kind::Established => tcp::established(ns, family)?,
            Kind::SynSent => tcp::syn_sent(ns, family)?,
            Kind::SynRecv => tcp::syn_recv(ns, family)?,
            Kind::FinWait1 => tcp::fin_wait_1(ns, family)?,
            Kind::HalfClosed => tcp::half_closed(ns, family)?,
            Kind::LastAck => tcp::last_ack(ns, family)?,
            Kind::TimeWait => tcp::time_wait(ns, family)?,
            Kind::Keepalive => tcp::keepalive(ns, family)?,
            Kind::ZeroWindow => tcp::zero_window(ns, family)?,
            Kind::UdpUnconn => udp::unconn_socket(ns, family)?,
            Kind::UdpConnected => udp::connected(ns, family)?,
            Kind::UdpBoundToDevice => udp::bound_to_device(ns, family)?,
            Kind::TcpBoundInactive => tcp::bound_inactive(ns, family)?,
        };
        let scenario = Scenario {
            kind: self,
            family,
            expected: parts.expected,
            gone: parts.gone,
            fds: parts.fds,
        };
        settle(ns, &scenario.expected, &scenario.gone, wait::SETTLE_TIMEOUT)
            .map_err(|e| io::Error::new(e.kind(), format!("{self} ({family}): {e}")))?;
        Ok(scenario)
    }

    /// The states ss shows for this scenario.
    pub fn states(self) -> BTreeSet<SockState> {
        use SockState::*;
        let states: &[SockState] = match self {
            Kind::Listen => &[Listen],
            Kind::Established | Kind::Keepalive | Kind::ZeroWindow => &[Established],
            Kind::SynSent => &[SynSent],
            Kind::SynRecv => &[Listen, SynRecv, Established],
            Kind::FinWait1 => &[FinWait1, CloseWait],
            Kind::HalfClosed => &[FinWait2, CloseWait],
            Kind::LastAck => &[LastAck, TimeWait],
            Kind::TimeWait => &[TimeWait],
            Kind::UdpUnconn | Kind::UdpBoundToDevice => &[Unconn],
            Kind::UdpConnected => &[Unconn, Established],
            Kind::TcpBoundInactive => &[],
        };
        states.iter().copied().collect()
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What a builder hands back before settling.
struct Parts {
    expected: Vec<Expected>,
    gone: Vec<(Proto, SocketAddr, SocketAddr)>,
    fds: Vec<OwnedFd>,
}

/// Built sockets. Dropping it closes the sockets that still have files (TIME-WAIT entries stay
/// until their timer fires or the namespace is deleted).
#[derive(Debug)]
pub struct Scenario {
    pub kind: Kind,
    pub family: Family,
    /// Sockets ss shows for this scenario (at the moment it settled).
    pub expected: Vec<Expected>,
    /// `(proto, local, peer)` tuples ss must not show (closed peers, bound-inactive sockets).
    pub gone: Vec<(Proto, SocketAddr, SocketAddr)>,
    fds: Vec<OwnedFd>,
}

impl Scenario {
    /// The files this scenario holds (listeners, connected sockets, ...).
    pub fn fds(&self) -> &[OwnedFd] {
        &self.fds
    }

    /// Local ports of every expected socket (for ss/sockdoc `sport` filters).
    pub fn local_ports(&self) -> BTreeSet<u16> {
        self.expected.iter().map(|e| e.local.port()).collect()
    }
}

/// Polls ss in `ns` until every `expected` socket is shown as expected and no `gone` tuple is
/// shown at all. Returns the final snapshot (taken without `-p`: `users` are empty).
pub fn settle(
    ns: &Netns,
    expected: &[Expected],
    gone: &[(Proto, SocketAddr, SocketAddr)],
    timeout: Duration,
) -> io::Result<Vec<SsSocket>> {
    wait::poll(timeout, "sockets to reach their states", || {
        let snap = ss::snapshot_quick(ns)?;
        let missing: Vec<String> = expected
            .iter()
            .filter(|e| !snap.iter().any(|s| e.matches(s)))
            .map(|e| e.to_string())
            .collect();
        let lingering: Vec<String> = snap
            .iter()
            .filter(|s| gone.contains(&s.tuple()))
            .map(|s| s.line.trim().to_string())
            .collect();
        if missing.is_empty() && lingering.is_empty() {
            Ok(Ok(snap))
        } else {
            Ok(Err(format!(
                "missing {missing:?}, still present {lingering:?}; ss shows {:?}",
                snap.iter().map(|s| s.line.trim()).collect::<Vec<_>>()
            )))
        }
    })
}
