//! `ss` output: `-tan`, `-tanp`, `-tanoi`, `-aoen`, `-tupna`, `-peaonmi`, with or without the
//! header (`-H`), with or without the Netid column, and without the State column when a `state`
//! filter selected one state. A socket line gives the columns; its details (`users:((...))`,
//! `timer:(...)`, `uid:`/`ino:`/`sk:`/`cgroup:`, the `-i` words) may follow on the same line or on
//! indented continuation lines, which [`continuation`] adds to the socket before them. Lines of
//! other socket families (`u_str`, `nl`, `p_raw`, ...) and `-m`'s `skmem:(...)` are left aside.
//!
//! Hand-written on bytes, no regex and no allocation per line: a million-line `ss -tan` dump must
//! read faster than `awk | sort | uniq -c` on it, and measured speed demands it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use sockdoc_diag::{Family, Proto, Socket, State, TcpInfo, Timer};

use crate::addr::{dec, endpoint, hex, thousandths, Endpoint};
use crate::collect::Batch;
use crate::words::{ss_state, ss_time_ms, timer_kind};

/// What the section's command line or header told about the lines.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SsHints {
    /// The one state a `state` filter selected: the state of lines without a State column.
    pub state: Option<State>,
    /// Only `-u` was given: lines without a Netid column are UDP.
    pub udp_only: bool,
}

/// What one line was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A TCP or UDP socket, pushed on the batch.
    Socket,
    /// A socket of another family: read, left aside (with its continuation lines).
    Other,
}

/// Whitespace-separated words of `b`, from `*at` on.
#[inline]
fn word<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let mut i = *at;
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    let start = i;
    while i < b.len() && b[i] != b' ' && b[i] != b'\t' {
        i += 1;
    }
    *at = i;
    (i > start).then(|| &b[start..i])
}

fn netid(w: &[u8]) -> Option<Option<Proto>> {
    Some(match w {
        b"tcp" => Some(Proto::Tcp),
        b"udp" => Some(Proto::Udp),
        b"u_str" | b"u_dgr" | b"u_seq" | b"nl" | b"p_raw" | b"p_dgr" | b"raw" | b"icmp6"
        | b"mptcp" | b"sctp" | b"tipc" | b"v_str" | b"v_dgr" | b"xdp" | b"dccp" | b"udplite" => {
            None
        }
        _ => return None,
    })
}

/// Read one `ss` socket line into `batch`; `None` when it is not one.
pub(crate) fn line(b: &[u8], hints: &SsHints, batch: &mut Batch) -> Option<Line> {
    let mut at = 0;
    let mut w = word(b, &mut at)?;
    let mut proto = None;
    if let Some(p) = netid(w) {
        match p {
            Some(p) => proto = Some(p),
            None => return Some(Line::Other),
        }
        w = word(b, &mut at)?;
    }
    let state = match ss_state(w) {
        Some(s) => {
            w = word(b, &mut at)?;
            Some(s)
        }
        None => None,
    };
    let recv_q = dec(w)?;
    let send_q = dec(word(b, &mut at)?)?;
    let local = endpoint(word(b, &mut at)?)?;
    let peer = endpoint(word(b, &mut at)?)?;
    let proto = proto.unwrap_or(if hints.udp_only || state == Some(State::Close) {
        Proto::Udp
    } else {
        Proto::Tcp
    });
    let state = match state.or(hints.state) {
        Some(s) => s,
        None => {
            batch.known.states = false;
            State::Established
        }
    };
    let mut s = socket(proto, state, local, peer);
    s.recv_q = recv_q.min(u64::from(u32::MAX)) as u32;
    s.send_q = send_q.min(u64::from(u32::MAX)) as u32;
    batch.sockets.push(s);
    if at < b.len() {
        details(&b[at..], batch);
    }
    Some(Line::Socket)
}

/// A socket from its two ends; `*` takes the family of the other end (IPv6 when both are `*`).
pub(crate) fn socket(proto: Proto, state: State, local: Endpoint, peer: Endpoint) -> Socket {
    let v6 = match (local.any, peer.any) {
        (false, _) => local.ip.is_ipv6(),
        (true, false) => peer.ip.is_ipv6(),
        (true, true) => true,
    };
    let fix = |e: Endpoint| -> SocketAddr {
        let ip = match (e.any, v6) {
            (true, true) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            (true, false) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (false, _) => e.ip,
        };
        SocketAddr::new(ip, e.port)
    };
    let (l, r) = (fix(local), fix(peer));
    let mut s = Socket::tcp(state, l, r);
    s.proto = proto;
    // A v4 peer of a v6 socket (never printed by ss, but by hand-edited dumps) is left as given.
    s.family = if v6 { Family::V6 } else { Family::V4 };
    s
}

/// An indented line of details (`-i`, `-m`, `-e` on their own line) for the socket before it.
pub(crate) fn continuation(b: &[u8], batch: &mut Batch) {
    if !batch.sockets.is_empty() {
        details(b, batch);
    }
}

/// The words after the columns, for the last socket of the batch. Unknown words are left aside.
fn details(b: &[u8], batch: &mut Batch) {
    let idx = batch.sockets.len() - 1;
    let mut at = 0;
    while let Some(w) = group_word(b, &mut at) {
        let (key, val) = match memchr::memchr(b':', w) {
            Some(i) => (&w[..i], &w[i + 1..]),
            None => (w, &b""[..]),
        };
        let s = &mut batch.sockets[idx];
        match key {
            b"users" => users(val, idx as u32, batch),
            b"timer" => {
                if let Some(t) = timer(val) {
                    s.timer = t;
                }
                batch.known.timers = true;
            }
            b"ino" => {
                if let Some(n) = dec(val) {
                    s.inode = n as u32;
                    batch.inodes = true;
                    batch.known.inodes = true;
                    batch.known.uids = true;
                }
            }
            b"uid" => s.uid = dec(val).unwrap_or(0) as u32,
            // ss prints the socket cookie (`idiag_cookie`) as `sk:`.
            b"sk" => s.cookie = hex(val).unwrap_or(0),
            b"cgroup" => {
                let path = String::from_utf8_lossy(val).into_owned();
                batch.cgroups.push((idx as u32, path));
                batch.known.cgroups = true;
            }
            _ => {
                if tcp_info_word(key, val, s) {
                    batch.known.tcp_info = true;
                }
            }
        }
    }
}

/// The next word, keeping parenthesised groups and quoted names (`users:(("a b",pid=1,fd=3))`)
/// whole.
fn group_word<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let mut i = *at;
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    let start = i;
    let mut depth = 0u32;
    let mut quoted = false;
    while i < b.len() {
        let c = b[i];
        if quoted {
            // A name ends at a quote followed by `,` or `)`; other quotes belong to it.
            if c == b'"' && matches!(b.get(i + 1), Some(b',') | Some(b')')) {
                quoted = false;
            }
        } else {
            match c {
                b'"' => quoted = true,
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                b' ' | b'\t' if depth == 0 => break,
                _ => {}
            }
        }
        i += 1;
    }
    *at = i;
    (i > start).then(|| &b[start..i])
}

/// `(("sshd",pid=812,fd=3),("sshd",pid=900,fd=3))`.
fn users(val: &[u8], idx: u32, batch: &mut Batch) {
    batch.known.owners = true;
    let mut rest = val;
    while let Some(q) = memchr::memmem::find(rest, b"(\"") {
        rest = &rest[q + 2..];
        let Some(end) = memchr::memmem::find(rest, b"\",pid=") else {
            return;
        };
        let name = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 6..];
        let num = |r: &[u8]| -> (Option<u64>, usize) {
            let n = r.iter().take_while(|c| c.is_ascii_digit()).count();
            (dec(&r[..n]), n)
        };
        let (pid, n) = num(rest);
        rest = &rest[n..];
        let fd = match rest.strip_prefix(b",fd=") {
            Some(r) => {
                let (fd, n) = num(r);
                rest = &r[n..];
                fd
            }
            None => None,
        };
        if let Some(pid) = pid {
            let pid = pid as u32;
            let fd = fd.map_or(sockdoc_proc::owners::UNKNOWN_FD, |f| f as u32);
            batch.owners.push((idx, pid, fd));
            batch.names.entry(pid).or_insert(name);
        }
    }
}

/// `(keepalive,1min19sec,0)`.
fn timer(val: &[u8]) -> Option<Timer> {
    let inner = val.strip_prefix(b"(")?.strip_suffix(b")")?;
    let mut parts = inner.split(|&c| c == b',');
    let kind = timer_kind(parts.next()?)?;
    let ms = ss_time_ms(parts.next().unwrap_or(b""))?;
    let count = parts.next().and_then(dec).unwrap_or(0);
    Some(Timer {
        kind,
        expires_ms: ms.min(u64::from(u32::MAX)) as u32,
        count: count.min(255) as u8,
    })
}

/// One `-i` word into tcp_info; whether it was one.
fn tcp_info_word(key: &[u8], val: &[u8], s: &mut Socket) -> bool {
    let used = matches!(
        key,
        b"rtt"
            | b"retrans"
            | b"unacked"
            | b"backoff"
            | b"bytes_acked"
            | b"bytes_received"
            | b"lastsnd"
            | b"lastrcv"
            | b"lastack"
    );
    let marker = matches!(
        key,
        b"rto"
            | b"ato"
            | b"mss"
            | b"pmtu"
            | b"rcvmss"
            | b"advmss"
            | b"cwnd"
            | b"ssthresh"
            | b"segs_out"
            | b"segs_in"
            | b"bytes_sent"
            | b"minrtt"
            | b"rcv_space"
            | b"snd_wnd"
            | b"wscale"
    );
    if !used && !marker {
        return false;
    }
    let n = || dec(val).map_or(0, |v| v.min(u64::from(u32::MAX)) as u32);
    let t = s.tcp.get_or_insert_with(TcpInfo::default);
    match key {
        b"rtt" => {
            // `rtt:0.031/0.015`: smoothed and mean deviation, milliseconds.
            let sm = val.split(|&c| c == b'/').next().unwrap_or(b"");
            t.rtt_us = ms_to_us(sm).unwrap_or(0);
        }
        b"retrans" => {
            // `retrans:0/3`: current run / total.
            let mut it = val.split(|&c| c == b'/');
            t.retransmits = it.next().and_then(dec).unwrap_or(0).min(255) as u8;
            t.total_retrans = it.next().and_then(dec).unwrap_or(0) as u32;
        }
        b"unacked" => t.unacked = n(),
        b"backoff" => t.backoff = n().min(255) as u8,
        b"bytes_acked" => t.bytes_acked = dec(val).unwrap_or(0),
        b"bytes_received" => t.bytes_received = dec(val).unwrap_or(0),
        b"lastsnd" => t.last_data_sent_ms = n(),
        b"lastrcv" => t.last_data_recv_ms = n(),
        b"lastack" => t.last_ack_recv_ms = n(),
        _ => {}
    }
    true
}

/// `0.031` ms → 31 µs.
fn ms_to_us(b: &[u8]) -> Option<u32> {
    thousandths(b).map(|us| us.min(u64::from(u32::MAX)) as u32)
}

#[cfg(test)]
mod tests;
