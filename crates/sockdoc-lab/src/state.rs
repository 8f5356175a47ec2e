//! Socket vocabulary shared by the lab: address families, transport protocols and socket states,
//! with the spellings used by `ss` (column text) and by sockdoc's JSON (`state`, `family`, `proto`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP address family of a lab socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// Both families, IPv4 first.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// The family of an address.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// 127.0.0.1 or ::1.
    pub fn loopback(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Family::V6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        }
    }

    /// 0.0.0.0 or ::.
    pub fn unspecified(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }

    /// A second loopback address (127.0.0.2 or ::2) that the lab uses as a peer whose SYNs are
    /// dropped, so connections to it stay in SYN-SENT.
    pub fn blackhole(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            Family::V6 => IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 2)),
        }
    }

    /// sockdoc's JSON spelling: `ipv4` / `ipv6`.
    pub fn sockdoc_name(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    /// The nftables payload keyword for addresses of this family: `ip` / `ip6`.
    pub fn nft_keyword(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sockdoc_name())
    }
}

/// Transport protocol of a lab socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// `tcp` / `udp`: both ss's Netid column and sockdoc's `proto`.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    /// Parses ss's Netid column (`tcp`, `udp`).
    pub fn from_name(s: &str) -> Option<Proto> {
        match s {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            _ => None,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A socket state as the kernel's sock_diag reports it.
///
/// `Unconn` is the kernel's TCP_CLOSE, which ss prints as `UNCONN` (unconnected UDP sockets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SockState {
    Established,
    SynSent,
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    Unconn,
    CloseWait,
    LastAck,
    Listen,
    Closing,
}

impl SockState {
    /// Every state, in kernel numbering order (TCP_ESTABLISHED = 1 .. TCP_CLOSING = 11).
    pub const ALL: [SockState; 11] = [
        SockState::Established,
        SockState::SynSent,
        SockState::SynRecv,
        SockState::FinWait1,
        SockState::FinWait2,
        SockState::TimeWait,
        SockState::Unconn,
        SockState::CloseWait,
        SockState::LastAck,
        SockState::Listen,
        SockState::Closing,
    ];

    /// The text of ss's State column (`ESTAB`, `SYN-SENT`, ..., `UNCONN`).
    pub fn ss_name(self) -> &'static str {
        match self {
            SockState::Established => "ESTAB",
            SockState::SynSent => "SYN-SENT",
            SockState::SynRecv => "SYN-RECV",
            SockState::FinWait1 => "FIN-WAIT-1",
            SockState::FinWait2 => "FIN-WAIT-2",
            SockState::TimeWait => "TIME-WAIT",
            SockState::Unconn => "UNCONN",
            SockState::CloseWait => "CLOSE-WAIT",
            SockState::LastAck => "LAST-ACK",
            SockState::Listen => "LISTEN",
            SockState::Closing => "CLOSING",
        }
    }

    /// sockdoc's JSON `state` (`established`, `syn-sent`, ..., `listen`, `unconn`).
    pub fn sockdoc_name(self) -> &'static str {
        match self {
            SockState::Established => "established",
            SockState::SynSent => "syn-sent",
            SockState::SynRecv => "syn-recv",
            SockState::FinWait1 => "fin-wait-1",
            SockState::FinWait2 => "fin-wait-2",
            SockState::TimeWait => "time-wait",
            SockState::Unconn => "unconn",
            SockState::CloseWait => "close-wait",
            SockState::LastAck => "last-ack",
            SockState::Listen => "listen",
            SockState::Closing => "closing",
        }
    }

    /// The word ss's filter uses for the state (`state listening`): sockdoc's name, except
    /// `listening` for LISTEN and `closed` for UNCONN (ss rejects `listen` and `unconn`).
    pub fn ss_filter_name(self) -> &'static str {
        match self {
            SockState::Listen => "listening",
            SockState::Unconn => "closed",
            other => other.sockdoc_name(),
        }
    }

    /// Parses ss's State column.
    pub fn from_ss_name(s: &str) -> Option<SockState> {
        SockState::ALL.into_iter().find(|st| st.ss_name() == s)
    }

    /// Parses sockdoc's JSON `state`.
    pub fn from_sockdoc_name(s: &str) -> Option<SockState> {
        SockState::ALL.into_iter().find(|st| st.sockdoc_name() == s)
    }

    /// Parses a state word of ss's filter (`listening`, `closed`, `established`, ...).
    pub fn from_ss_filter_name(s: &str) -> Option<SockState> {
        SockState::ALL
            .into_iter()
            .find(|st| st.ss_filter_name() == s)
    }
}

impl fmt::Display for SockState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ss_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_round_trip() {
        for st in SockState::ALL {
            assert_eq!(SockState::from_ss_name(st.ss_name()), Some(st));
            assert_eq!(SockState::from_sockdoc_name(st.sockdoc_name()), Some(st));
            assert_eq!(
                SockState::from_ss_filter_name(st.ss_filter_name()),
                Some(st)
            );
        }
        assert_eq!(SockState::from_ss_name("BOGUS"), None);
    }

    #[test]
    fn family_addresses() {
        assert_eq!(Family::V4.blackhole().to_string(), "127.0.0.2");
        assert_eq!(Family::V6.blackhole().to_string(), "::2");
        assert_eq!(Family::of(Family::V6.loopback()), Family::V6);
    }
}
