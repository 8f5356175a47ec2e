//! The socket record: one compact, `Copy`, heap-free value per kernel socket.
//!
//! This module only describes what the kernel said. It knows nothing of filters, processes or findings.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Transport protocol of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Proto {
    Tcp = 6,
    Udp = 17,
}

impl Proto {
    /// The `Netid` column of `ss`.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// Address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Family {
    V4 = libc::AF_INET as u8,
    V6 = libc::AF_INET6 as u8,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }
}

/// TCP state as the kernel numbers it (`include/net/tcp_states.h`). UDP uses `Established` for a connected
/// socket and `Close` for an unconnected one. The kernel's `NEW_SYN_RECV` (request sockets) is reported as
/// `SynRecv`, as `ss` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum State {
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
}

/// The kernel's number for request sockets; never stored, mapped to [`State::SynRecv`].
pub const TCP_NEW_SYN_RECV: u8 = 12;

impl State {
    /// Every state, in kernel order.
    pub const ALL: [State; 11] = [
        State::Established,
        State::SynSent,
        State::SynRecv,
        State::FinWait1,
        State::FinWait2,
        State::TimeWait,
        State::Close,
        State::CloseWait,
        State::LastAck,
        State::Listen,
        State::Closing,
    ];

    /// Map a kernel state number; `NEW_SYN_RECV` becomes `SynRecv`.
    pub fn from_kernel(n: u8) -> Option<State> {
        Some(match n {
            1 => State::Established,
            2 => State::SynSent,
            3 | TCP_NEW_SYN_RECV => State::SynRecv,
            4 => State::FinWait1,
            5 => State::FinWait2,
            6 => State::TimeWait,
            7 => State::Close,
            8 => State::CloseWait,
            9 => State::LastAck,
            10 => State::Listen,
            11 => State::Closing,
            _ => return None,
        })
    }

    /// Bit of this state in an `idiag_states` mask.
    pub fn mask_bit(self) -> u32 {
        1 << (self as u8)
    }

    /// The name `ss` prints in its `State` column (`UNCONN` for an unconnected socket).
    pub fn ss_name(self) -> &'static str {
        match self {
            State::Established => "ESTAB",
            State::SynSent => "SYN-SENT",
            State::SynRecv => "SYN-RECV",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::TimeWait => "TIME-WAIT",
            State::Close => "UNCONN",
            State::CloseWait => "CLOSE-WAIT",
            State::LastAck => "LAST-ACK",
            State::Listen => "LISTEN",
            State::Closing => "CLOSING",
        }
    }

    /// The lower-case name used in filters and JSON (`established`, `time-wait`, `unconn`, ...).
    pub fn key(self) -> &'static str {
        match self {
            State::Established => "established",
            State::SynSent => "syn-sent",
            State::SynRecv => "syn-recv",
            State::FinWait1 => "fin-wait-1",
            State::FinWait2 => "fin-wait-2",
            State::TimeWait => "time-wait",
            State::Close => "unconn",
            State::CloseWait => "close-wait",
            State::LastAck => "last-ack",
            State::Listen => "listen",
            State::Closing => "closing",
        }
    }
}

/// Mask with every state bit set, request sockets included.
pub const ALL_STATES_MASK: u32 = 0x1ffe | (1 << TCP_NEW_SYN_RECV);

/// Which kernel timer is pending on a socket (`idiag_timer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum TimerKind {
    #[default]
    Off = 0,
    /// Retransmit (or SYN-ACK retransmit for a request socket).
    On = 1,
    Keepalive = 2,
    TimeWait = 3,
    /// Zero-window probe.
    Persist = 4,
}

impl TimerKind {
    pub fn from_kernel(n: u8) -> TimerKind {
        match n {
            1 => TimerKind::On,
            2 => TimerKind::Keepalive,
            3 => TimerKind::TimeWait,
            4 => TimerKind::Persist,
            _ => TimerKind::Off,
        }
    }

    /// The word `ss -o` prints.
    pub fn name(self) -> &'static str {
        match self {
            TimerKind::Off => "off",
            TimerKind::On => "on",
            TimerKind::Keepalive => "keepalive",
            TimerKind::TimeWait => "timewait",
            TimerKind::Persist => "persist",
        }
    }
}

/// A pending timer: `timer:(keepalive,1min19sec,0)` in `ss -o`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Timer {
    pub kind: TimerKind,
    /// Time left, milliseconds.
    pub expires_ms: u32,
    /// Retransmissions so far (`on`, `persist`), keepalive probes sent (`keepalive`).
    pub count: u8,
}

/// Congestion-control state (`tcpi_ca_state`): `Loss` means the retransmission timer fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum CaState {
    #[default]
    Open = 0,
    Disorder = 1,
    Cwr = 2,
    Recovery = 3,
    Loss = 4,
    /// A value this build does not know.
    Other = 255,
}

impl CaState {
    pub fn from_kernel(n: u8) -> CaState {
        match n {
            0 => CaState::Open,
            1 => CaState::Disorder,
            2 => CaState::Cwr,
            3 => CaState::Recovery,
            4 => CaState::Loss,
            _ => CaState::Other,
        }
    }
}

/// The part of `struct tcp_info` sockdoc uses. Fields the kernel did not send are zero.
///
/// Packed to 4-byte alignment (44 bytes, not 48): that keeps [`Socket`] at 128 bytes with its
/// cgroup id, and the parser measurably faster than at 136. The compiler refuses a reference to
/// a `u64` field of it: copy the field first (`format!("{}", { t.bytes_acked })`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C, packed(4))]
pub struct TcpInfo {
    pub ca_state: CaState,
    /// Consecutive retransmissions of the current segment (`icsk_retransmits`).
    pub retransmits: u8,
    /// Unanswered zero-window or keepalive probes.
    pub probes: u8,
    /// Exponential backoff of the retransmission timer.
    pub backoff: u8,
    /// Segments sent and not yet acknowledged.
    pub unacked: u32,
    pub last_data_sent_ms: u32,
    pub last_data_recv_ms: u32,
    pub last_ack_recv_ms: u32,
    /// Smoothed RTT, microseconds.
    pub rtt_us: u32,
    /// Retransmitted segments over the connection's life.
    pub total_retrans: u32,
    pub bytes_acked: u64,
    pub bytes_received: u64,
}

impl TcpInfo {
    /// Milliseconds since anything happened on the connection: data sent, data received or an ACK
    /// received, whichever is most recent.
    pub fn idle_ms(&self) -> u32 {
        self.last_data_sent_ms
            .min(self.last_data_recv_ms)
            .min(self.last_ack_recv_ms)
    }
}

/// An IP address stored in 16 bytes; IPv4 in the first four.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Addr {
    pub bytes: [u8; 16],
}

impl Addr {
    pub fn to_ip(self, family: Family) -> IpAddr {
        match family {
            Family::V4 => IpAddr::V4(Ipv4Addr::new(
                self.bytes[0],
                self.bytes[1],
                self.bytes[2],
                self.bytes[3],
            )),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(self.bytes)),
        }
    }

    pub fn from_ip(ip: IpAddr) -> Addr {
        let mut bytes = [0u8; 16];
        match ip {
            IpAddr::V4(v4) => bytes[..4].copy_from_slice(&v4.octets()),
            IpAddr::V6(v6) => bytes = v6.octets(),
        }
        Addr { bytes }
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x?}", self.bytes)
    }
}

/// One socket as the kernel reported it. 128 bytes; `tcp` is filled only when the dump asked for tcp_info.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Socket {
    pub local: Addr,
    pub remote: Addr,
    pub cookie: u64,
    pub local_port: u16,
    pub remote_port: u16,
    pub proto: Proto,
    pub family: Family,
    pub state: State,
    pub timer: Timer,
    pub ifindex: u32,
    /// 0 for sockets without a file (TIME-WAIT, request sockets, orphans).
    pub inode: u32,
    pub uid: u32,
    /// Recv-Q; for a listener, the accept queue length.
    pub recv_q: u32,
    /// Send-Q; for a listener, the accept backlog.
    pub send_q: u32,
    /// The cgroup v2 id of the socket (the inode number of its cgroup's directory): set by the
    /// kernel when the socket is made, from the making process's cgroup (an accepted socket gets
    /// its listener's). 0 for sockets without one (TIME-WAIT, request sockets) and on kernels
    /// before 5.7.
    pub cgroup_id: u64,
    pub tcp: Option<TcpInfo>,
}

impl Socket {
    /// A TCP socket from `local` to `remote` in `state`, with nothing else known (cookie, inode,
    /// uid, queues 0, no timer, no tcp_info); the family is `local`'s. For records built by hand
    /// (tests, recorded snapshots) rather than read from the kernel.
    pub fn tcp(state: State, local: SocketAddr, remote: SocketAddr) -> Socket {
        Socket {
            local: Addr::from_ip(local.ip()),
            remote: Addr::from_ip(remote.ip()),
            cookie: 0,
            local_port: local.port(),
            remote_port: remote.port(),
            proto: Proto::Tcp,
            family: if local.is_ipv4() {
                Family::V4
            } else {
                Family::V6
            },
            state,
            timer: Timer::default(),
            ifindex: 0,
            inode: 0,
            uid: 0,
            recv_q: 0,
            send_q: 0,
            cgroup_id: 0,
            tcp: None,
        }
    }

    pub fn local_ip(&self) -> IpAddr {
        self.local.to_ip(self.family)
    }
    pub fn remote_ip(&self) -> IpAddr {
        self.remote.to_ip(self.family)
    }
    pub fn local_addr(&self) -> SocketAddr {
        SocketAddr::new(self.local_ip(), self.local_port)
    }
    pub fn remote_addr(&self) -> SocketAddr {
        SocketAddr::new(self.remote_ip(), self.remote_port)
    }
    /// Milliseconds since the last activity, for connected TCP sockets with tcp_info.
    pub fn idle_ms(&self) -> Option<u32> {
        match self.state {
            State::Listen | State::Close | State::TimeWait | State::SynRecv => None,
            _ => self.tcp.as_ref().map(TcpInfo::idle_ms),
        }
    }
    /// True when a keepalive timer is pending.
    pub fn has_keepalive_timer(&self) -> bool {
        self.timer.kind == TimerKind::Keepalive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_stay_small() {
        // Memory per socket is a design limit (<200 bytes at peak for `list -p`), and copying the
        // record is the parser's main cost: keep it compact (the cgroup id's 8 bytes included).
        assert!(
            std::mem::size_of::<Socket>() <= 128,
            "{}",
            std::mem::size_of::<Socket>()
        );
        assert_eq!(std::mem::size_of::<TcpInfo>(), 44);
        assert_eq!(std::mem::size_of::<Option<TcpInfo>>(), 44);
    }
}
