//! Many requests about single sockets in one `sendmsg`, one answer each: `SOCK_DESTROY` in bulk
//! ([`DiagSocket::destroy_all`]) and the kernel asked again about exactly those sockets
//! ([`DiagSocket::lookup_all`]); both shared out to several sockets of one namespace, a thread each
//! ([`destroy_spread`], [`lookup_spread`]).
//!
//! The kernel's netlink input (`netlink_rcv_skb`) walks every message of a datagram in order, so one
//! send carries [`PER_SEND`] requests and the answers come back in the same order, matched here by
//! sequence number. Hand-written because measured speed demands it: one send per socket (as
//! [`DiagSocket::destroy`] does) costs two syscalls per socket, and `kill` has to close sockets at
//! least as fast as `ss -K`. A lookup asks for a socket by its 4-tuple and cookie: a hash lookup per
//! socket, where a dump would walk every socket of the namespace again.

use std::io;
use std::os::fd::AsRawFd;

use crate::{encode_destroy, encode_lookup, wire, DiagError, DiagSocket, Socket, State};

/// Requests per send. Every acknowledgement waits in the socket's receive queue until it is read:
/// this many small answers fit well within the kernel's default netlink receive buffer.
pub const PER_SEND: usize = 128;

/// Sequence numbers of bulk requests start here, far from those of single requests.
const SEQ_BASE: u32 = 0x5d00_0000;

/// `NETLINK_CAP_ACK`: acknowledgements without the request echoed back (Linux 4.3+).
const NETLINK_CAP_ACK: libc::c_int = 10;

impl DiagSocket {
    /// Destroy every socket of `sockets`; the answer of each, in order: `Ok(())`, or the errno the
    /// kernel answered (or the error of the send or receive that failed for it).
    pub fn destroy_all(&mut self, sockets: &[Socket]) -> Vec<io::Result<()>> {
        self.bulk(sockets, encode_destroy, |a| match a {
            Answer::Ack(0) => Ok(()),
            Answer::Ack(errno) => Err(io::Error::from_raw_os_error(errno)),
            Answer::Found(_) => Err(io::Error::other("unexpected answer to SOCK_DESTROY")),
        })
    }

    /// Where each of `sockets` is now, in order: `Ok(Some(state))` while the kernel still has it,
    /// `Ok(None)` once it is gone (no such socket, or another one holds its 4-tuple now), or the
    /// error.
    pub fn lookup_all(&mut self, sockets: &[Socket]) -> Vec<io::Result<Option<State>>> {
        self.bulk(sockets, encode_lookup, |a| match a {
            Answer::Found(state) => Ok(State::from_kernel(state)),
            Answer::Ack(libc::ENOENT) | Answer::Ack(libc::ESTALE) => Ok(None),
            Answer::Ack(0) => Err(io::Error::other("an empty answer to a socket lookup")),
            Answer::Ack(errno) => Err(io::Error::from_raw_os_error(errno)),
        })
    }

    /// Send one request per socket, [`PER_SEND`] per datagram, and read one answer for each.
    fn bulk<T>(
        &mut self,
        sockets: &[Socket],
        encode: fn(&Socket, u32) -> Vec<u8>,
        read: impl Fn(Answer) -> io::Result<T>,
    ) -> Vec<io::Result<T>> {
        self.cap_acks();
        let mut out: Vec<Option<io::Result<T>>> = Vec::with_capacity(sockets.len());
        out.resize_with(sockets.len(), || None);
        for (c, chunk) in sockets.chunks(PER_SEND).enumerate() {
            let first = c * PER_SEND;
            let mut msg = Vec::with_capacity(chunk.len() * 96);
            for (k, s) in chunk.iter().enumerate() {
                msg.extend_from_slice(&encode(s, SEQ_BASE.wrapping_add(k as u32)));
            }
            let slots = &mut out[first..first + chunk.len()];
            if let Err(e) = self.send(&msg) {
                let e = io_error(e);
                for slot in slots.iter_mut() {
                    *slot = Some(Err(io::Error::new(e.kind(), e.to_string())));
                }
                continue;
            }
            let mut answered = 0;
            while answered < chunk.len() {
                let n = match self.recv_flags(0) {
                    Ok(n) => n,
                    Err(e) => {
                        // Answers lost (a full receive queue): what was not answered failed with it.
                        let e = io_error(e);
                        for slot in slots.iter_mut().filter(|s| s.is_none()) {
                            *slot = Some(Err(io::Error::new(e.kind(), e.to_string())));
                        }
                        self.drain();
                        break;
                    }
                };
                for (seq, answer) in answers(&self.buf[..n]) {
                    let k = seq.wrapping_sub(SEQ_BASE) as usize;
                    if let Some(slot) = slots.get_mut(k) {
                        if slot.is_none() {
                            answered += 1;
                        }
                        *slot = Some(read(answer));
                    }
                }
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(io::Error::other("no answer from the kernel"))))
            .collect()
    }

    /// Ask for short acknowledgements; an older kernel sends the long ones, which fit as well.
    fn cap_acks(&self) {
        let one: libc::c_int = 1;
        // SAFETY: valid fd, pointer to a live c_int of the given size.
        unsafe {
            libc::setsockopt(
                self.as_raw_fd(),
                libc::SOL_NETLINK,
                NETLINK_CAP_ACK,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }

    /// Throw away whatever answers are still queued, so the next request reads its own.
    fn drain(&mut self) {
        while self.recv_flags(libc::MSG_DONTWAIT).is_ok_and(|n| n > 0) {}
    }
}

/// Sockets per thread below which [`destroy_spread`] and [`lookup_spread`] keep work on fewer
/// threads: a thread costs tens of microseconds, a destroy about ten.
pub const PER_THREAD_MIN: usize = 2 * PER_SEND;

/// [`DiagSocket::destroy_all`] with `sockets` shared out, in contiguous parts, to `diags` (open in
/// the sockets' namespace), a thread each; the answers in order. SOCK_DESTROY's kernel work (the
/// socket torn down, the RST sent to the peer) is per socket and scales with cores: two threads close
/// a selection in about half the time one takes (`ss -K` uses one).
pub fn destroy_spread(diags: &mut [&mut DiagSocket], sockets: &[Socket]) -> Vec<io::Result<()>> {
    spread(diags, sockets, DiagSocket::destroy_all)
}

/// [`DiagSocket::lookup_all`] shared out like [`destroy_spread`].
pub fn lookup_spread(
    diags: &mut [&mut DiagSocket],
    sockets: &[Socket],
) -> Vec<io::Result<Option<State>>> {
    spread(diags, sockets, DiagSocket::lookup_all)
}

fn spread<T: Send>(
    diags: &mut [&mut DiagSocket],
    sockets: &[Socket],
    each: fn(&mut DiagSocket, &[Socket]) -> Vec<io::Result<T>>,
) -> Vec<io::Result<T>> {
    let threads = diags.len().min(sockets.len() / PER_THREAD_MIN).max(1);
    match diags {
        [] => {
            let none = || Err(io::Error::other("no sock_diag socket to ask"));
            return sockets.iter().map(|_| none()).collect();
        }
        [d, ..] if threads == 1 => return each(d, sockets),
        _ => {}
    }
    let part = sockets.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = diags
            .iter_mut()
            .zip(sockets.chunks(part))
            .map(|(d, chunk)| s.spawn(move || each(d, chunk)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// The `io::Error` behind a transport failure (the send or receive itself).
fn io_error(e: DiagError) -> io::Error {
    match e {
        DiagError::Io { err, .. } | DiagError::Open(err) => err,
        DiagError::Overrun => io::Error::from_raw_os_error(libc::ENOBUFS),
        other => io::Error::other(other.to_string()),
    }
}

/// One answer: an acknowledgement or error (errno, 0 for success), or a socket found (its state).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Ack(i32),
    Found(u8),
}

/// (sequence number, answer) of every acknowledgement or found socket in one datagram.
fn answers(buf: &[u8]) -> Vec<(u32, Answer)> {
    let mut v = Vec::new();
    let mut at = 0;
    while at + wire::NLMSG_HDRLEN + 4 <= buf.len() {
        let word = |o: usize| [buf[o], buf[o + 1], buf[o + 2], buf[o + 3]];
        let len = u32::from_ne_bytes(word(at)) as usize;
        if len < wire::NLMSG_HDRLEN || at + len > buf.len() {
            break;
        }
        let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        let seq = u32::from_ne_bytes(word(at + 8));
        if kind == wire::NLMSG_ERROR {
            let err = i32::from_ne_bytes(word(at + wire::NLMSG_HDRLEN));
            v.push((seq, Answer::Ack(err.saturating_neg())));
        } else if kind == wire::SOCK_DIAG_BY_FAMILY {
            // inet_diag_msg: family, then state.
            v.push((seq, Answer::Found(buf[at + wire::NLMSG_HDRLEN + 1])));
        }
        at += (len + 3) & !3;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_reads_every_answer_of_a_datagram() {
        let ack = |seq: u32, err: i32| {
            let mut m = Vec::new();
            m.extend_from_slice(&36u32.to_ne_bytes());
            m.extend_from_slice(&wire::NLMSG_ERROR.to_ne_bytes());
            m.extend_from_slice(&0u16.to_ne_bytes());
            m.extend_from_slice(&seq.to_ne_bytes());
            m.extend_from_slice(&0u32.to_ne_bytes());
            m.extend_from_slice(&err.to_ne_bytes());
            m.extend_from_slice(&[0u8; 16]);
            m
        };
        let mut buf = ack(7, 0);
        buf.extend(ack(8, -libc::ENOENT));
        assert_eq!(
            answers(&buf),
            vec![(7, Answer::Ack(0)), (8, Answer::Ack(libc::ENOENT))]
        );
        assert_eq!(answers(&buf[..20]), vec![]);
    }
}
