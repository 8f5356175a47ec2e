//! SOCK_DESTROY in bulk, and the kernel asked again about exactly those sockets: many requests in one
//! `sendmsg`, one answer each.
//!
//! The kernel's netlink input (`netlink_rcv_skb`) walks every message of a datagram in order, so one
//! send carries [`PER_SEND`] requests and the answers come back in the same order, matched here by
//! sequence number. Hand-written over the diag socket's descriptor because measured speed demands it:
//! one send per socket (as `DiagSocket::destroy` does) costs two syscalls per socket, and `kill` has to
//! close sockets at least as fast as `ss -K`. The proof after a kill ([`lookup_all`]) asks for each
//! socket by its 4-tuple and cookie: a hash lookup per socket, where a dump would walk every socket of
//! the namespace again.

use std::io;
use std::os::fd::AsRawFd;

use sockdoc_diag::{encode_destroy, encode_lookup, DiagSocket, Socket, State, LOOKUP_ANSWER};

/// Requests per send. Every acknowledgement waits in the socket's receive queue until it is read:
/// this many small answers fit well within the kernel's default netlink receive buffer.
pub const PER_SEND: usize = 128;

/// Sequence numbers of bulk requests start here, far from those `DiagSocket` uses itself.
const SEQ_BASE: u32 = 0x5d00_0000;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
/// `NETLINK_CAP_ACK`: acknowledgements without the request echoed back (Linux 4.3+).
const NETLINK_CAP_ACK: libc::c_int = 10;

/// Destroy every socket of `sockets`; the answer of each, in order: `Ok(())`, or the errno the
/// kernel answered (or the error of the send or receive that failed for it).
pub fn destroy_all(diag: &mut DiagSocket, sockets: &[Socket]) -> Vec<Result<(), io::Error>> {
    bulk(diag, sockets, encode_destroy, |a| match a {
        Answer::Ack(0) => Ok(()),
        Answer::Ack(errno) => Err(io::Error::from_raw_os_error(errno)),
        Answer::Found(_) => Err(io::Error::other("unexpected answer to SOCK_DESTROY")),
    })
}

/// Where each of `sockets` is now, in order: `Ok(Some(state))` while the kernel still has it,
/// `Ok(None)` once it is gone (no such socket, or another one holds its 4-tuple now), or the error.
pub fn lookup_all(diag: &mut DiagSocket, sockets: &[Socket]) -> Vec<io::Result<Option<State>>> {
    bulk(diag, sockets, encode_lookup, |a| match a {
        Answer::Found(state) => Ok(State::from_kernel(state)),
        Answer::Ack(libc::ENOENT) | Answer::Ack(libc::ESTALE) => Ok(None),
        Answer::Ack(0) => Err(io::Error::other("an empty answer to a socket lookup")),
        Answer::Ack(errno) => Err(io::Error::from_raw_os_error(errno)),
    })
}

/// One answer: an acknowledgement or error (errno, 0 for success), or a socket found (its state).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Ack(i32),
    Found(u8),
}

/// Send one request per socket, [`PER_SEND`] per datagram, and read one answer for each.
fn bulk<T>(
    diag: &mut DiagSocket,
    sockets: &[Socket],
    encode: fn(&Socket, u32) -> Vec<u8>,
    read: impl Fn(Answer) -> io::Result<T>,
) -> Vec<io::Result<T>> {
    let fd = diag.as_raw_fd();
    cap_acks(fd);
    let mut out: Vec<Option<io::Result<T>>> = Vec::with_capacity(sockets.len());
    out.resize_with(sockets.len(), || None);
    let mut rbuf = vec![0u8; 64 * 1024];
    for (c, chunk) in sockets.chunks(PER_SEND).enumerate() {
        let first = c * PER_SEND;
        let mut msg = Vec::with_capacity(chunk.len() * 96);
        for (k, s) in chunk.iter().enumerate() {
            msg.extend_from_slice(&encode(s, SEQ_BASE.wrapping_add(k as u32)));
        }
        let slots = &mut out[first..first + chunk.len()];
        if let Err(e) = send(fd, &msg) {
            for slot in slots.iter_mut() {
                *slot = Some(Err(io::Error::new(e.kind(), e.to_string())));
            }
            continue;
        }
        let mut answered = 0;
        while answered < chunk.len() {
            let n = match recv(fd, &mut rbuf) {
                Ok(n) => n,
                Err(e) => {
                    // Answers lost (a full receive queue): what was not answered failed with it.
                    for slot in slots.iter_mut().filter(|s| s.is_none()) {
                        *slot = Some(Err(io::Error::new(e.kind(), e.to_string())));
                    }
                    drain(fd, &mut rbuf);
                    break;
                }
            };
            for (seq, answer) in answers(&rbuf[..n]) {
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
fn cap_acks(fd: libc::c_int) {
    let one: libc::c_int = 1;
    // SAFETY: valid fd, pointer to a live c_int of the given size.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_NETLINK,
            NETLINK_CAP_ACK,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// (sequence number, answer) of every acknowledgement or found socket in one datagram.
fn answers(buf: &[u8]) -> Vec<(u32, Answer)> {
    let mut v = Vec::new();
    let mut at = 0;
    while at + NLMSG_HDRLEN + 4 <= buf.len() {
        let word = |o: usize| [buf[o], buf[o + 1], buf[o + 2], buf[o + 3]];
        let len = u32::from_ne_bytes(word(at)) as usize;
        if len < NLMSG_HDRLEN || at + len > buf.len() {
            break;
        }
        let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        let seq = u32::from_ne_bytes(word(at + 8));
        if kind == NLMSG_ERROR {
            let err = i32::from_ne_bytes(word(at + NLMSG_HDRLEN));
            v.push((seq, Answer::Ack(err.saturating_neg())));
        } else if kind == LOOKUP_ANSWER {
            // inet_diag_msg: family, then state.
            v.push((seq, Answer::Found(buf[at + NLMSG_HDRLEN + 1])));
        }
        at += (len + 3) & !3;
    }
    v
}

fn send(fd: libc::c_int, msg: &[u8]) -> io::Result<()> {
    // SAFETY: an all-zero sockaddr_nl is valid; the family set below addresses the kernel.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    loop {
        // SAFETY: buffer and address pointers are valid for the lengths given.
        let r = unsafe {
            libc::sendto(
                fd,
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn recv_flags(fd: libc::c_int, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is live and writable for its length.
        let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn recv(fd: libc::c_int, buf: &mut [u8]) -> io::Result<usize> {
    recv_flags(fd, buf, 0)
}

/// Throw away whatever answers are still queued, so the next request reads its own.
fn drain(fd: libc::c_int, buf: &mut [u8]) {
    while recv_flags(fd, buf, libc::MSG_DONTWAIT).is_ok_and(|n| n > 0) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_reads_every_answer_of_a_datagram() {
        let ack = |seq: u32, err: i32| {
            let mut m = Vec::new();
            m.extend_from_slice(&36u32.to_ne_bytes());
            m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
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
