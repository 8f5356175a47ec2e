//! Learning a connection's sequence numbers from outside it (the killcx method). A segment the local
//! socket must refuse is forged from the peer's address — a SYN for a synchronized socket (RFC 5961
//! answers any SYN with a challenge ACK, whatever its sequence number), a SYN with a random sequence
//! number for a request socket (SYN-RECV answers an out-of-window segment with an ACK), an ACK with a
//! random sequence number for a TIME-WAIT entry (a SYN could open a new connection there) — and the
//! kernel's answer to the peer is captured: its `seq` is the socket's `snd_nxt`, its `ack` the
//! socket's `rcv_nxt`. The answer goes to the real peer too, as a harmless duplicate ACK.
//!
//! The kernel limits these answers: per socket, at most one every `net.ipv4.tcp_invalid_ratelimit` ms
//! (500 by default), and per namespace `net.ipv4.tcp_challenge_ack_limit` challenge ACKs a second
//! (unlimited by default since Linux 6.0). A socket that stays silent is asked again after the
//! per-socket interval, a bounded number of times, by the callers ([`crate::kill`], [`crate::probe`]).

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;

use std::time::{Duration, Instant};

use sockdoc_diag::{Proto, Socket, State};

use crate::beside::within_ns_of;
use crate::raw::{wire_addr, RawIo, Segment, ACK, RST, SYN};

/// Sockets asked at once before the answers are read (keeps the capture buffer from overflowing).
const BURST: usize = 512;

/// The kernel settings that decide whether and how often a socket answers, read in its namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpLimits {
    /// `net.ipv4.tcp_invalid_ratelimit`: at most one answer per socket in this many ms.
    pub invalid_ratelimit_ms: u64,
    /// `net.ipv4.tcp_challenge_ack_limit`: challenge ACKs per second in the namespace.
    pub challenge_ack_limit: u64,
    /// `net.ipv4.tcp_rfc1337`: when true, TIME-WAIT ignores RSTs.
    pub rfc1337: bool,
}

impl Default for TcpLimits {
    /// The kernel's defaults.
    fn default() -> TcpLimits {
        TcpLimits {
            invalid_ratelimit_ms: 500,
            challenge_ack_limit: i32::MAX as u64,
            rfc1337: false,
        }
    }
}

impl TcpLimits {
    /// Read in the calling thread's namespace; a missing file keeps the kernel default.
    pub fn read() -> TcpLimits {
        let get = |name: &str| -> Option<u64> {
            std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
                .ok()?
                .trim()
                .parse()
                .ok()
        };
        let d = TcpLimits::default();
        TcpLimits {
            invalid_ratelimit_ms: get("tcp_invalid_ratelimit").unwrap_or(d.invalid_ratelimit_ms),
            challenge_ack_limit: get("tcp_challenge_ack_limit").unwrap_or(d.challenge_ack_limit),
            rfc1337: get("tcp_rfc1337").map_or(d.rfc1337, |v| v != 0),
        }
    }

    /// How long to wait before asking the same socket again.
    pub fn retry_after(&self) -> Duration {
        Duration::from_millis(self.invalid_ratelimit_ms + 50)
    }

    /// The limits in one phrase, for messages.
    pub fn describe(&self) -> String {
        let global = if self.challenge_ack_limit >= i32::MAX as u64 {
            "unlimited".to_string()
        } else {
            format!("{}/s", self.challenge_ack_limit)
        };
        format!(
            "net.ipv4.tcp_invalid_ratelimit = {} ms per socket, net.ipv4.tcp_challenge_ack_limit = {global}",
            self.invalid_ratelimit_ms
        )
    }
}

/// A connection seen from the local socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: State,
    /// Interface the socket is bound to (for link-local IPv6 peers), 0 when none.
    pub ifindex: u32,
}

impl Target {
    pub fn of(s: &Socket) -> Target {
        Target {
            local: wire_addr(s.local_addr()),
            remote: wire_addr(s.remote_addr()),
            state: s.state,
            ifindex: s.ifindex,
        }
    }
}

/// Why the method cannot be used on a socket at all, or `None` when it can. `rfc1337` is that
/// sysctl's value in the socket's namespace.
pub fn not_applicable(s: &Socket, rfc1337: bool) -> Option<String> {
    if s.proto == Proto::Udp {
        return Some(
            "does not apply to UDP: there is no connection state to reset (use destroy)"
                .to_string(),
        );
    }
    match s.state {
        State::Listen => Some("does not apply to a listener: it has no peer".to_string()),
        State::SynSent => Some(
            "does not apply to SYN-SENT: the peer has not answered, there is nothing to reset (use destroy)"
                .to_string(),
        ),
        State::Close => Some("the socket is closed already".to_string()),
        State::TimeWait if rfc1337 => Some(
            "net.ipv4.tcp_rfc1337 = 1 in this namespace: TIME-WAIT ignores RSTs (RFC 1337); use destroy"
                .to_string(),
        ),
        _ if s.remote_port == 0 => Some("the socket has no peer".to_string()),
        _ => None,
    }
}

/// What a captured answer told about a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Learned {
    /// The next sequence number the local socket will send (the peer's `rcv_nxt` if all arrived).
    pub snd_nxt: u32,
    /// The next sequence number the local socket expects from the peer.
    pub rcv_nxt: u32,
    /// The window the local socket advertises.
    pub window: u16,
}

/// A small pseudo-random generator for forged sequence numbers (xorshift, seeded by the kernel).
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Rng {
        let mut seed = [0u8; 8];
        // SAFETY: getrandom into a live buffer of the given length.
        let n = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
        let mut s = u64::from_ne_bytes(seed);
        if n != 8 || s == 0 {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64);
            s = t ^ (u64::from(std::process::id()) << 32) | 1;
        }
        Rng(s)
    }

    pub fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }
}

impl Default for Rng {
    fn default() -> Rng {
        Rng::new()
    }
}

/// Raw sockets in one namespace and that namespace's limits.
pub struct Challenger {
    pub io: RawIo,
    pub limits: TcpLimits,
    pub rng: Rng,
}

impl Challenger {
    /// Open in the calling thread's namespace.
    pub fn open() -> io::Result<Challenger> {
        let io = RawIo::open().map_err(|e| {
            if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) {
                io::Error::new(
                    e.kind(),
                    "raw sockets need CAP_NET_RAW (run as root)".to_string(),
                )
            } else {
                io::Error::new(e.kind(), format!("cannot open raw sockets: {e}"))
            }
        })?;
        Ok(Challenger {
            io,
            limits: TcpLimits::read(),
            rng: Rng::new(),
        })
    }

    /// Open in the namespace the socket `like` belongs to (e.g. a sock_diag socket opened there),
    /// entered the one way sockdoc enters a namespace (`sockdoc_core::session::scope::within`).
    pub fn open_like(like: BorrowedFd<'_>) -> io::Result<Challenger> {
        within_ns_of(like, Challenger::open)
    }

    /// The segment that makes the local socket of `t` answer, from the peer's address.
    fn trigger(&mut self, t: &Target) -> Segment {
        let (flags, ack) = match t.state {
            State::TimeWait => (ACK, self.rng.next_u32()),
            _ => (SYN, 0),
        };
        Segment {
            src: t.remote,
            dst: t.local,
            seq: self.rng.next_u32(),
            ack,
            flags,
            window: 0,
            payload: 0,
        }
    }

    /// Send `seg` towards the local socket or the peer of `t`.
    pub fn send(&self, t: &Target, seg: &Segment) -> io::Result<()> {
        self.io.send(seg, t.ifindex)
    }

    /// One round: ask each of `targets[i]` for `i` in `which` once, and collect the answers that
    /// arrive within `wait` after the last question. Sockets whose question could not be sent get
    /// the error instead.
    pub fn learn_round(
        &mut self,
        targets: &[Target],
        which: &[usize],
        wait: Duration,
    ) -> HashMap<usize, Result<Learned, String>> {
        let mut out: HashMap<usize, Result<Learned, String>> = HashMap::new();
        let _ = self.io.drain();
        for chunk in which.chunks(BURST) {
            let mut waiting: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
            // What we forged, so that it is never taken for an answer (both ends of a loopback
            // connection may be targets).
            let mut forged: HashSet<(SocketAddr, SocketAddr, u32)> = HashSet::new();
            for &i in chunk {
                let t = &targets[i];
                let seg = self.trigger(t);
                match self.send(t, &seg) {
                    Ok(()) => {
                        waiting.insert((t.local, t.remote), i);
                        forged.insert((seg.src, seg.dst, seg.seq));
                    }
                    Err(e) => {
                        out.insert(i, Err(format!("cannot send the forged segment: {e}")));
                    }
                }
            }
            let deadline = Instant::now() + wait;
            let mut on = |seg: &Segment| {
                if seg.has(RST) || !seg.has(ACK) || forged.contains(&(seg.src, seg.dst, seg.seq)) {
                    return waiting.is_empty();
                }
                if let Some(i) = waiting.remove(&(seg.src, seg.dst)) {
                    // SYN-RECV may answer with its SYN-ACK again: it counts in the sequence space.
                    let snd_nxt = seg.seq.wrapping_add(seg.seq_len());
                    out.insert(
                        i,
                        Ok(Learned {
                            snd_nxt,
                            rcv_nxt: seg.ack,
                            window: seg.window,
                        }),
                    );
                }
                waiting.is_empty()
            };
            if let Err(e) = self.io.capture_until(deadline, &mut on) {
                for &i in chunk {
                    out.entry(i)
                        .or_insert_with(|| Err(format!("capture failed: {e}")));
                }
            }
        }
        out
    }

    /// Why a socket stayed silent after `tries` questions, in the user's terms.
    pub fn silent(&self, tries: u32) -> String {
        format!(
            "no challenge ACK after {tries} tries ({}); is traffic to this socket filtered?",
            self.limits.describe()
        )
    }
}

/// Why opening raw sockets in another namespace failed.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_describe_and_retry() {
        let l = TcpLimits::default();
        assert_eq!(l.retry_after(), Duration::from_millis(550));
        assert!(l.describe().contains("unlimited"), "{}", l.describe());
        let l = TcpLimits {
            challenge_ack_limit: 1000,
            ..l
        };
        assert!(l.describe().contains("1000/s"));
    }

    #[test]
    fn rng_moves() {
        let mut r = Rng::new();
        let a = r.next_u32();
        let b = r.next_u32();
        let c = r.next_u32();
        assert!(a != b || b != c);
    }
}
