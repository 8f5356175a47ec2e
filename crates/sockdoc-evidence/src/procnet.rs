//! `/proc/net/{tcp,tcp6,udp,udp6}` (hex addresses in the kernel's byte order, `st`, queues,
//! `tr tm->when retrnsmt`, uid, inode) and the counter files beside them: `/proc/net/netstat` and
//! `/proc/net/snmp` (`Group: names` / `Group: values` pairs), `snmp6` (`Name value`) and
//! `sockstat` (`TCP: inuse 5 orphan 0 tw 7 ...`). The table header (`sl local_address ...`) tells
//! TCP from UDP (UDP's ends in `drops`); the address length tells IPv4 from IPv6.

use sockdoc_diag::{Family, Proto, Socket, State, Timer, TimerKind};
use sockdoc_proc::sockstat::SockStat;

use crate::addr::{dec, hex, proc_endpoint};
use crate::collect::Batch;

/// `tm->when` is in clock ticks (`USER_HZ`, 100 on Linux).
const MS_PER_TICK: u64 = 10;

/// Whether a line is the header of a socket table; `Some(true)` for UDP's.
pub(crate) fn header(line: &str) -> Option<bool> {
    let t = line.trim_start();
    (t.starts_with("sl ")
        && t.contains("local_address")
        && (t.contains("rem_address") || t.contains("remote_address")))
    .then(|| t.contains("drops"))
}

/// Read one table line (`   0: 0100007F:0016 00000000:0000 0A ...`) into `batch`.
pub(crate) fn line(b: &[u8], udp: Option<bool>, batch: &mut Batch) -> Option<()> {
    let mut it = b
        .split(|&c| c == b' ' || c == b'\t')
        .filter(|w| !w.is_empty());
    let sl = it.next()?;
    dec(sl.strip_suffix(b":")?)?;
    let (lip, lport) = proc_endpoint(it.next()?)?;
    let (rip, rport) = proc_endpoint(it.next()?)?;
    let st = hex(it.next()?)? as u8;
    let queues = it.next()?;
    let colon = memchr::memchr(b':', queues)?;
    let tx = hex(&queues[..colon])?;
    let rx = hex(&queues[colon + 1..])?;
    let timer = it.next()?;
    let colon = memchr::memchr(b':', timer)?;
    let tr = hex(&timer[..colon])? as u8;
    let when = hex(&timer[colon + 1..])?;
    let retr = hex(it.next()?)?;
    let uid = dec(it.next()?)?;
    let _timeout = dec(it.next()?)?;
    let inode = dec(it.next()?)?;
    let rest = it.count();
    // TCP lines go on (refcount, pointer, rto, ato, ...: 17 words); UDP's end after `drops`.
    let udp = udp.unwrap_or(rest < 4 && st != 6);
    let proto = if udp { Proto::Udp } else { Proto::Tcp };
    let state = State::from_kernel(st)?;
    let local = std::net::SocketAddr::new(lip, lport);
    let remote = std::net::SocketAddr::new(rip, rport);
    let mut s = Socket::tcp(state, local, remote);
    s.proto = proto;
    s.family = if lip.is_ipv6() {
        Family::V6
    } else {
        Family::V4
    };
    if proto == Proto::Tcp && state == State::Listen {
        // For a listener the kernel prints the accept queue as rx_queue, as ss's Recv-Q.
        s.recv_q = rx.min(u64::from(u32::MAX)) as u32;
    } else {
        s.send_q = tx.min(u64::from(u32::MAX)) as u32;
        s.recv_q = rx.min(u64::from(u32::MAX)) as u32;
    }
    let kind = match tr {
        1 => TimerKind::On,
        2 => TimerKind::Keepalive,
        3 => TimerKind::TimeWait,
        4 => TimerKind::Persist,
        _ => TimerKind::Off,
    };
    if kind != TimerKind::Off {
        s.timer = Timer {
            kind,
            expires_ms: (when * MS_PER_TICK).min(u64::from(u32::MAX)) as u32,
            count: retr.min(255) as u8,
        };
    }
    s.uid = uid as u32;
    s.inode = inode as u32;
    batch.sockets.push(s);
    Some(())
}

/// Counter tables (`/proc/net/netstat`, `/proc/net/snmp`): a `Group: names` line waits for its
/// `Group: values` line.
#[derive(Default)]
pub(crate) struct Tables {
    header: Option<String>,
    pub counters: sockdoc_proc::counters::Counters,
}

/// Whether a line starts a counter table (`TcpExt: SyncookiesSent ...`, `Ip: Forwarding ...`).
pub(crate) fn is_table_header(line: &str) -> bool {
    let Some((group, rest)) = line.split_once(':') else {
        return false;
    };
    !group.is_empty()
        && group.bytes().all(|c| c.is_ascii_alphanumeric())
        && group.as_bytes()[0].is_ascii_uppercase()
        && rest.starts_with(' ')
        && rest
            .split_whitespace()
            .next()
            .is_some_and(|w| w.as_bytes()[0].is_ascii_uppercase())
}

impl Tables {
    /// Take one line; whether it belonged to a table.
    pub(crate) fn line(&mut self, line: &str) -> bool {
        if is_table_header(line) {
            self.header = Some(line.to_string());
            return true;
        }
        let Some(h) = self.header.take() else {
            return false;
        };
        let (hg, _) = h.split_once(':').unwrap_or(("", ""));
        let (g, _) = line.split_once(':').unwrap_or(("", ""));
        if g != hg {
            return false;
        }
        self.counters.add_table(&format!("{h}\n{line}\n"));
        true
    }
}

/// Whether a line is one of `snmp6`'s (`Ip6InReceives   1234`).
pub(crate) fn is_snmp6(line: &str) -> bool {
    let mut it = line.split_whitespace();
    matches!((it.next(), it.next(), it.next()), (Some(n), Some(v), None)
        if (n.starts_with("Ip6") || n.starts_with("Icmp6") || n.starts_with("Udp6") || n.starts_with("UdpLite6"))
            && v.parse::<i64>().is_ok())
}

/// A `sockstat` or `sockstat6` line into `s`; whether it was one.
pub(crate) fn sockstat(line: &str, s: &mut SockStat) -> bool {
    let Some((group, rest)) = line.split_once(':') else {
        return false;
    };
    let field = |key: &str| -> Option<u64> {
        let mut it = rest.split_whitespace();
        while let Some(w) = it.next() {
            if w == key {
                return it.next()?.parse().ok();
            }
        }
        None
    };
    match group {
        "sockets" => field("used").is_some(),
        "TCP" => {
            s.tcp_inuse = field("inuse").unwrap_or(0);
            s.tcp_orphan = field("orphan").unwrap_or(0);
            s.tcp_tw = field("tw").unwrap_or(0);
            s.read_v4 = true;
            true
        }
        "UDP" => {
            s.udp_inuse = field("inuse").unwrap_or(0);
            true
        }
        "TCP6" => {
            s.tcp6_inuse = field("inuse").unwrap_or(0);
            s.read_v6 = true;
            true
        }
        "UDP6" => {
            s.udp6_inuse = field("inuse").unwrap_or(0);
            s.read_v6 = true;
            true
        }
        "UDPLITE" | "RAW" | "FRAG" | "UDPLITE6" | "RAW6" | "FRAG6" => field("inuse").is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::Rank;

    #[test]
    fn tcp_and_udp_tables() {
        let mut b = Batch::new(Rank::ProcNet);
        let h = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
        assert_eq!(header(h), Some(false));
        line(b"   0: 0100007F:0016 0100007F:C350 01 00000000:00000000 02:000AFC80 00000000  1000        0 4242 1 0000000000000000 20 4 30 10 -1", Some(false), &mut b).unwrap();
        line(b"   1: 00000000:0015 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 4243 1 0000000000000000 100 0 0 10 0", None, &mut b).unwrap();
        let uh = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops";
        assert_eq!(header(uh), Some(true));
        line(b"  5: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 77 2 0000000000000000 0", Some(true), &mut b).unwrap();
        let s = &b.sockets;
        assert_eq!(s[0].local_addr().to_string(), "127.0.0.1:22");
        assert_eq!(s[0].remote_port, 50000);
        assert_eq!(s[0].timer.kind, TimerKind::Keepalive);
        assert_eq!(s[0].timer.expires_ms, 720_000 * 10);
        assert_eq!((s[0].uid, s[0].inode), (1000, 4242));
        assert_eq!((s[1].state, s[1].recv_q), (State::Listen, 3));
        assert_eq!((s[2].proto, s[2].state), (Proto::Udp, State::Close));
        assert_eq!(s[2].local_addr().to_string(), "[::1]:53");
        assert!(line(b"   2: zz", Some(false), &mut b).is_none());
    }

    #[test]
    fn counter_tables_and_sockstat() {
        let mut t = Tables::default();
        assert!(t.line("TcpExt: SyncookiesSent ListenOverflows ListenDrops"));
        assert!(t.line("TcpExt: 1 22 23"));
        assert!(t.line("Udp: InDatagrams RcvbufErrors"));
        assert!(!t.line("Tcp: 5 6"));
        assert_eq!(t.counters.get("TcpExt", "ListenOverflows"), Some(22));
        let mut s = SockStat::default();
        assert!(sockstat("TCP: inuse 5 orphan 2 tw 7 alloc 9 mem 1", &mut s));
        assert!(sockstat("sockets: used 10", &mut s));
        assert!(!sockstat("tcp 0 0 1.2.3.4:5", &mut s));
        assert_eq!((s.tcp_inuse, s.tcp_orphan, s.tcp_tw), (5, 2, 7));
        assert!(is_snmp6("Udp6RcvbufErrors                	3"));
        assert!(!is_snmp6("Udp6RcvbufErrors 3 4"));
    }
}
