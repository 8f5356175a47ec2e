//! Turning ghost suspects into verdicts. Each suspect is given fast keepalive probes for a moment
//! (idle 1 s, interval 1 s, and a probe count high enough that the kernel never gives up during the
//! test), through a borrowed fd; afterwards the caller reads the kernel again and the original options
//! are put back exactly. A peer that ACKs is alive; one whose probes pile up unanswered, or that answers
//! with a reset, is dead.
//!
//! Connections no process holds (waiting in a listener's accept queue, or owned by a process we
//! cannot reach) get raw probes instead ([`raw_probe`]): the same keepalive segment, forged from the
//! local address after the sequence numbers were learned from a challenge ACK, and the peer's answer
//! captured. They change nothing on the socket.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use sockdoc_diag::{Socket, State};

use crate::challenge::{not_applicable, Challenger, Learned, Target};
use crate::raw::{Segment, ACK, RST, SYN};

use crate::keepalive::{read, write, Keepalive};
use crate::pidfd::borrow_socket;

/// Probes the kernel may send before it would drop the connection itself; far more than a probe run
/// lasts, so probing never kills.
const PROBE_CNT: u32 = 120;

/// A socket being probed: our borrowed fd and what to restore.
pub struct Probing {
    fd: OwnedFd,
    pub original: Keepalive,
}

/// Start fast keepalive probes on socket `inode` held as `fd` by `pid`.
pub fn start(pid: u32, fd: u32, inode: u32) -> io::Result<Probing> {
    let dup = borrow_socket(pid, fd, inode)?;
    let original = read(&dup)?;
    let fast = Keepalive {
        enabled: true,
        idle: 1,
        intvl: 1,
        cnt: PROBE_CNT,
        user_timeout_ms: original.user_timeout_ms,
    };
    write(&dup, &fast)?;
    Ok(Probing { fd: dup, original })
}

impl Probing {
    /// Put the original options back (a no-op error if the socket is gone already).
    pub fn restore(self) -> io::Result<()> {
        write(&self.fd, &self.original)
    }
}

/// What a raw probe found out about one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawVerdict {
    /// The peer answered a probe (an ACK, or anything else but a RST) after this many ms.
    Alive { after_ms: u64 },
    /// The peer answered with a RST: it no longer knows the connection (and the RST, carrying the
    /// sequence number the socket expects, has reset it).
    Reset,
    /// No answer to this many probes.
    Silent { probes: u32 },
    /// The connection could not be probed, and why.
    Unknown(String),
}

/// How raw probes are paced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawProbeOptions {
    /// Total time, learning included.
    pub time: Duration,
    /// Between two probes of the same connection (the peer answers at most one out-of-window segment
    /// per its own tcp_invalid_ratelimit, 500 ms by default).
    pub interval: Duration,
    /// Challenge-ACK questions per socket before calling it unknown.
    pub tries: u32,
}

impl Default for RawProbeOptions {
    fn default() -> RawProbeOptions {
        RawProbeOptions {
            time: Duration::from_secs(5),
            interval: Duration::from_secs(1),
            tries: 3,
        }
    }
}

/// Probe `sockets` (ESTABLISHED connections of `session`'s namespace) without any owner: learn each
/// one's sequence numbers from a challenge ACK, then send the peer what the kernel's keepalive
/// would (an ACK with seq = snd_nxt - 1, which the peer must answer with an ACK), from the local
/// address, every `interval`, until it answers or `time` runs out. Nothing of the local socket is
/// changed, so there is nothing to restore. Blocks for up to `opts.time`.
pub fn raw_probe(
    session: &mut Challenger,
    sockets: &[Socket],
    opts: &RawProbeOptions,
) -> Vec<RawVerdict> {
    let start = Instant::now();
    let end = start + opts.time;
    let mut out: Vec<Option<RawVerdict>> = sockets
        .iter()
        .map(|s| {
            if let Some(why) = not_applicable(s, false) {
                Some(RawVerdict::Unknown(why))
            } else if s.state != State::Established && s.state != State::CloseWait {
                Some(RawVerdict::Unknown(format!(
                    "raw probes are for ESTABLISHED connections, not {}",
                    s.state.ss_name()
                )))
            } else {
                None
            }
        })
        .collect();
    let targets: Vec<Target> = sockets.iter().map(Target::of).collect();
    // Learn the sequence numbers, asking again after the per-socket rate-limit interval.
    let mut learned: HashMap<usize, Learned> = HashMap::new();
    let mut remaining: Vec<usize> = (0..sockets.len()).filter(|&i| out[i].is_none()).collect();
    let wait = Duration::from_millis(200);
    for round in 1..=opts.tries.max(1) {
        if remaining.is_empty() {
            break;
        }
        if round > 1 {
            let next = Instant::now() + session.limits.retry_after();
            if next + wait >= end {
                break;
            }
            std::thread::sleep(session.limits.retry_after());
        }
        let answers = session.learn_round(&targets, &remaining, wait);
        remaining.retain(|i| match answers.get(i) {
            Some(Ok(l)) => {
                learned.insert(*i, *l);
                false
            }
            Some(Err(e)) => {
                out[*i] = Some(RawVerdict::Unknown(e.clone()));
                false
            }
            None => true,
        });
    }
    for i in remaining {
        out[i] = Some(RawVerdict::Unknown(format!(
            "cannot learn the sequence numbers: {}",
            session.silent(opts.tries)
        )));
    }
    // Probe every learned connection each interval until it answers or time runs out.
    let mut waiting: HashMap<(SocketAddr, SocketAddr), usize> = learned
        .keys()
        .map(|&i| ((targets[i].remote, targets[i].local), i))
        .collect();
    let mut sent: HashMap<usize, u32> = HashMap::new();
    let mut first_sent: HashMap<usize, Instant> = HashMap::new();
    let mut next_round = Instant::now();
    while !waiting.is_empty() {
        let now = Instant::now();
        if now >= end && !sent.is_empty() {
            break;
        }
        if now >= next_round {
            for &i in waiting.values() {
                let (t, l) = (&targets[i], &learned[&i]);
                let probe = Segment {
                    src: t.local,
                    dst: t.remote,
                    seq: l.snd_nxt.wrapping_sub(1),
                    ack: l.rcv_nxt,
                    flags: ACK,
                    window: l.window,
                    payload: 0,
                };
                match session.send(t, &probe) {
                    Ok(()) => {
                        *sent.entry(i).or_insert(0) += 1;
                        first_sent.entry(i).or_insert_with(Instant::now);
                    }
                    Err(e) => {
                        out[i] = Some(RawVerdict::Unknown(format!("cannot send a probe: {e}")));
                    }
                }
            }
            waiting.retain(|_, i| out[*i].is_none());
            next_round += opts.interval;
        }
        let until = next_round.min(end);
        let mut on = |seg: &Segment| {
            // Our own questions to the socket are SYNs from the peer's address: never an answer.
            if seg.has(SYN) {
                return waiting.is_empty();
            }
            if let Some(i) = waiting.remove(&(seg.src, seg.dst)) {
                out[i] = Some(if seg.has(RST) {
                    RawVerdict::Reset
                } else {
                    let since = first_sent.get(&i).copied().unwrap_or(start);
                    RawVerdict::Alive {
                        after_ms: since.elapsed().as_millis() as u64,
                    }
                });
            }
            waiting.is_empty()
        };
        if let Err(e) = session.io.capture_until(until, &mut on) {
            for &i in waiting.values() {
                out[i] = Some(RawVerdict::Unknown(format!("capture failed: {e}")));
            }
            break;
        }
        if Instant::now() >= end {
            break;
        }
    }
    for (_, i) in waiting {
        if out[i].is_none() {
            out[i] = Some(RawVerdict::Silent {
                probes: sent.get(&i).copied().unwrap_or(0),
            });
        }
    }
    out.into_iter()
        .map(|v| v.unwrap_or_else(|| RawVerdict::Unknown("not probed".to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    use sockdoc_diag::DiagSocket;

    use crate::kill::tests::find;
    use crate::kill::{challenger_like, kill, Method};

    #[test]
    fn raw_probe_tells_an_answering_peer_from_one_that_forgot() {
        std::thread::spawn(|| {
            crate::raw::testing::private_netns();
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = l.local_addr().expect("addr").port();
            // Two connections waiting in the accept queue: no process holds their server ends.
            let c1 = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
            let c2 = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
            let (p1, p2) = (
                c1.local_addr().expect("addr").port(),
                c2.local_addr().expect("addr").port(),
            );
            let mut diag = DiagSocket::open().expect("diag");
            let s1 = find(&mut diag, port, p1).expect("server end 1");
            let s2 = find(&mut diag, port, p2).expect("server end 2");
            assert_eq!(s1.inode, 0, "in the accept queue");
            // The client end of the second one vanishes without a word (a forged RST, no peer told).
            let cl2 = find(&mut diag, p2, port).expect("client end 2");
            let k = kill(&mut diag, &cl2, None, &[Method::Rst]);
            assert_eq!(k[0].error, None, "{k:?}");
            let mut session = challenger_like(&diag).expect("raw session");
            let opts = RawProbeOptions {
                time: Duration::from_secs(3),
                ..RawProbeOptions::default()
            };
            let v = raw_probe(&mut session, &[s1, s2], &opts);
            assert!(matches!(v[0], RawVerdict::Alive { .. }), "{v:?}");
            assert_eq!(v[1], RawVerdict::Reset, "{v:?}");
            assert!(
                find(&mut diag, port, p1).is_some(),
                "the alive one is untouched"
            );
            assert!(
                find(&mut diag, port, p2).is_none(),
                "the peer's RST reset it"
            );
            drop((c1, c2));
        })
        .join()
        .expect("test thread");
    }
}
