//! `netstat` socket tables: `-an`, `-antp`, `-tulpn`, `-neopa`, `-W` (wide, untruncated
//! addresses). The header (`Proto Recv-Q Send-Q Local Address Foreign Address State ...`) says
//! which columns follow (`User`, `Inode`, `PID/Program name`, `Timer`); lines without a header
//! are read as `-an`. Protocols `tcp`, `tcp6`, `udp`, `udp6`; `raw`, `unix` and the UNIX-socket
//! section are left aside. A truncated address (no `-W`) cannot be read: the line is unread.
//!
//! Hand-written on bytes for the same reason as the `ss` reader: measured speed demands it.

use sockdoc_diag::{Proto, State, Timer, TimerKind};

use crate::addr::{dec, endpoint, thousandths};
use crate::collect::Batch;
use crate::ss::socket;
use crate::words::{netstat_state, timer_kind};

/// The columns a netstat header announced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Columns {
    /// `User` and `Inode` (`-e`).
    pub user_inode: bool,
    /// `PID/Program name` (`-p`).
    pub program: bool,
    /// `Timer` (`-o`).
    pub timer: bool,
}

/// The columns of a header line, or `None` when it is not a netstat socket header.
pub(crate) fn header(line: &str) -> Option<Columns> {
    if !(line.starts_with("Proto ") && line.contains("Local Address") && line.contains("Foreign")) {
        return None;
    }
    Some(Columns {
        user_inode: line.contains(" Inode"),
        program: line.contains("PID/Program"),
        timer: line.contains("Timer"),
    })
}

/// What one line was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    Socket,
    /// A socket of another kind (`raw`, `unix`): read, left aside.
    Other,
}

fn words(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    b.split(|&c| c == b' ' || c == b'\t')
        .filter(|w| !w.is_empty())
}

/// Read one netstat socket line into `batch`; `None` when it is not one.
pub(crate) fn line(b: &[u8], cols: &Columns, batch: &mut Batch) -> Option<Line> {
    let mut it = words(b).peekable();
    let (proto, v6) = match it.next()? {
        b"tcp" => (Proto::Tcp, false),
        b"tcp6" => (Proto::Tcp, true),
        b"udp" => (Proto::Udp, false),
        b"udp6" => (Proto::Udp, true),
        b"raw" | b"raw6" | b"unix" | b"udpl" | b"udpl6" => return Some(Line::Other),
        _ => return None,
    };
    let recv_q = dec(it.next()?)?;
    let send_q = dec(it.next()?)?;
    let mut local = endpoint(it.next()?)?;
    let mut peer = endpoint(it.next()?)?;
    if v6 != local.ip.is_ipv6() {
        // `tcp6 ... 0.0.0.0:*` never happens; `*` does not either: netstat prints `:::*`.
        local.any = local.ip.is_unspecified();
        peer.any = peer.ip.is_unspecified();
    }
    let state = match it.peek().and_then(|w| netstat_state(w)) {
        Some(s) => {
            it.next();
            s
        }
        // UDP prints no state for an unconnected socket (and `ESTABLISHED` for a connected one).
        None if proto == Proto::Udp => State::Close,
        None => return None,
    };
    let mut s = socket(proto, state, local, peer);
    s.recv_q = recv_q.min(u64::from(u32::MAX)) as u32;
    s.send_q = send_q.min(u64::from(u32::MAX)) as u32;
    if cols.user_inode {
        s.uid = it.next().and_then(dec).unwrap_or(0) as u32;
        s.inode = it.next().and_then(dec).unwrap_or(0) as u32;
    }
    let rest: Vec<&[u8]> = it.collect();
    let mut rest = &rest[..];
    if cols.timer && rest.len() >= 2 {
        s.timer = timer(rest[rest.len() - 2], rest[rest.len() - 1])?;
        rest = &rest[..rest.len() - 2];
    }
    let idx = batch.sockets.len() as u32;
    if cols.program {
        if let Some(first) = rest.first() {
            owner(first, rest, idx, batch);
        }
    }
    batch.sockets.push(s);
    Some(Line::Socket)
}

/// `812/sshd: /usr/sbin` (the name may hold spaces) or `-`.
fn owner(first: &[u8], rest: &[&[u8]], idx: u32, batch: &mut Batch) {
    let Some(slash) = memchr::memchr(b'/', first) else {
        return;
    };
    let Some(pid) = dec(&first[..slash]) else {
        return;
    };
    let mut name = String::from_utf8_lossy(&first[slash + 1..]).into_owned();
    for w in &rest[1..] {
        name.push(' ');
        name.push_str(&String::from_utf8_lossy(w));
    }
    // netstat -p shows the command name (up to `:` for sshd's retitled processes).
    let name = name.split(':').next().unwrap_or("").trim().to_string();
    let pid = pid as u32;
    batch
        .owners
        .push((idx, pid, sockdoc_proc::owners::UNKNOWN_FD));
    batch.names.entry(pid).or_insert(name);
}

/// `keepalive (7176.08/0/0)`, `off (0.00/0/0)`, `on (0.20/3/0)`, `timewait (59.78/0/0)`:
/// seconds left / retransmissions or probes / backoff.
fn timer(kind: &[u8], val: &[u8]) -> Option<Timer> {
    let kind = timer_kind(kind)?;
    let inner = val.strip_prefix(b"(")?.strip_suffix(b")")?;
    let mut parts = inner.split(|&c| c == b'/');
    let ms = thousandths(parts.next()?)?;
    let count = parts.next().and_then(dec).unwrap_or(0);
    if kind == TimerKind::Off {
        return Some(Timer::default());
    }
    Some(Timer {
        kind,
        expires_ms: ms.min(u64::from(u32::MAX)) as u32,
        count: count.min(255) as u8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::Rank;

    fn read(lines: &[&str], cols: Columns) -> Batch {
        let mut b = Batch::new(Rank::Netstat);
        for l in lines {
            assert_eq!(line(l.as_bytes(), &cols, &mut b), Some(Line::Socket), "{l}");
        }
        b
    }

    #[test]
    fn neopa_lines_give_timers_inodes_and_owners() {
        let cols = header("Proto Recv-Q Send-Q Local Address           Foreign Address         State       User       Inode      PID/Program name     Timer").unwrap();
        assert_eq!(
            cols,
            Columns {
                user_inode: true,
                program: true,
                timer: true
            }
        );
        let b = read(
            &[
                "tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN      0          12345      812/sshd: /usr/sbin  off (0.00/0/0)",
                "tcp        0      0 10.0.0.1:22             10.0.0.2:5000           ESTABLISHED 1000       23456      900/sshd: bob [priv] keepalive (7176.08/0/0)",
                "tcp6       0      0 :::80                   :::*                    LISTEN      33         34567      -                    off (0.00/0/0)",
                "udp        0      0 0.0.0.0:68              0.0.0.0:*                           0          4567       77/dhclient          off (0.00/0/0)",
                "tcp        0      0 10.0.0.1:22             10.0.0.3:5001           TIME_WAIT   0          0          -                    timewait (59.78/0/0)",
            ],
            cols,
        );
        let s = &b.sockets;
        assert_eq!(s[0].state, State::Listen);
        assert_eq!((s[1].uid, s[1].inode), (1000, 23456));
        assert_eq!(s[1].timer.kind, TimerKind::Keepalive);
        assert_eq!(s[1].timer.expires_ms, 7_176_080);
        assert_eq!(s[2].family, sockdoc_diag::Family::V6);
        assert_eq!((s[3].proto, s[3].state), (Proto::Udp, State::Close));
        assert_eq!(s[4].timer.kind, TimerKind::TimeWait);
        assert_eq!(
            b.owners,
            vec![(0, 812, u32::MAX), (1, 900, u32::MAX), (3, 77, u32::MAX)]
        );
        assert_eq!(b.names[&812], "sshd");
    }

    #[test]
    fn an_lines_and_what_is_not_one() {
        let cols =
            header("Proto Recv-Q Send-Q Local Address           Foreign Address         State")
                .unwrap();
        let b = read(
            &["tcp        0     36 192.168.12.32:21        192.168.70.16:55360     ESTABLISHED"],
            cols,
        );
        assert_eq!(b.sockets[0].send_q, 36);
        let mut b = Batch::new(Rank::Netstat);
        assert_eq!(
            line(
                b"unix  2      [ ACC ]     STREAM     LISTENING     1234     /run/x",
                &cols,
                &mut b
            ),
            Some(Line::Other)
        );
        assert_eq!(
            line(
                b"tcp 0 0 2001:db8:1:2:3:4:5:6:7:22 :::* LISTEN",
                &cols,
                &mut b
            ),
            None
        );
        assert_eq!(line(b"tcp 0 0 10.0.0.1:22", &cols, &mut b), None);
    }
}
