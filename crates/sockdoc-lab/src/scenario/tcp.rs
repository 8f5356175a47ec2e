//! TCP scenario builders: each returns the sockets it made and what ss must show for them.
//!
//! Packet loss comes from nftables rules in the namespace that match one exact flow (addresses
//! and ports), so scenarios can share a namespace without disturbing each other.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};

use super::{settle, Expected, Parts};
use crate::enter::in_netns;
use crate::netns::{Hook, Netns};
use crate::state::{Family, Proto, SockState};
use crate::sys;
use crate::wait::SETTLE_TIMEOUT;

/// A listener on the family's loopback address, kernel-chosen port.
fn listener(ns: &Netns, family: Family) -> io::Result<TcpListener> {
    in_netns(ns, move || TcpListener::bind((family.loopback(), 0)))
}

/// `unspecified:0`, the peer of a listener.
fn nobody(family: Family) -> SocketAddr {
    SocketAddr::new(family.unspecified(), 0)
}

/// A connected `(client, server)` pair on loopback; the listener is closed again.
fn pair(ns: &Netns, family: Family) -> io::Result<(TcpStream, TcpStream)> {
    let l = listener(ns, family)?;
    let addr = l.local_addr()?;
    let client = in_netns(ns, move || TcpStream::connect(addr))?;
    let (server, _) = l.accept()?;
    Ok((client, server))
}

/// Local and peer address of a connected socket.
fn ends(s: &TcpStream) -> io::Result<(SocketAddr, SocketAddr)> {
    Ok((s.local_addr()?, s.peer_addr()?))
}

/// nft match for the packets of one flow that arrive at the socket `local` (sent by `peer`).
fn arriving_at(local: SocketAddr, peer: SocketAddr) -> String {
    let kw = Family::of(local.ip()).nft_keyword();
    format!(
        "{kw} saddr {} {kw} daddr {} tcp sport {} tcp dport {}",
        peer.ip(),
        local.ip(),
        peer.port(),
        local.port()
    )
}

fn estab(local: SocketAddr, peer: SocketAddr) -> Expected {
    Expected::new(Proto::Tcp, SockState::Established, local, peer)
}

fn tcp(state: SockState, local: SocketAddr, peer: SocketAddr) -> Expected {
    Expected::new(Proto::Tcp, state, local, peer)
}

fn fds<const N: usize>(items: [OwnedFd; N]) -> Vec<OwnedFd> {
    items.into()
}

pub(super) fn listen(ns: &Netns, family: Family) -> io::Result<Parts> {
    let l = listener(ns, family)?;
    Ok(Parts {
        expected: vec![tcp(SockState::Listen, l.local_addr()?, nobody(family))],
        gone: vec![],
        fds: fds([l.into()]),
    })
}

pub(super) fn established(ns: &Netns, family: Family) -> io::Result<Parts> {
    let (c, s) = pair(ns, family)?;
    let ((cl, cp), (sl, sp)) = (ends(&c)?, ends(&s)?);
    Ok(Parts {
        expected: vec![estab(cl, cp), estab(sl, sp)],
        gone: vec![],
        fds: fds([c.into(), s.into()]),
    })
}

pub(super) fn syn_sent(ns: &Netns, family: Family) -> io::Result<Parts> {
    let target = SocketAddr::new(family.blackhole(), ns.fresh_port());
    if family == Family::V6 {
        // 127.0.0.0/8 is local already; ::2 needs an address on lo to be routable at all.
        ns.add_loopback_addr(family.blackhole())?;
    }
    let kw = family.nft_keyword();
    ns.drop_packets(
        Hook::Output,
        &format!(
            "{kw} daddr {} tcp dport {} tcp flags & (syn|ack) == syn",
            target.ip(),
            target.port()
        ),
    )?;
    let c = in_netns(ns, move || sys::connect_nonblocking(target))?;
    Ok(Parts {
        expected: vec![tcp(SockState::SynSent, c.local_addr()?, target).timer("on")],
        gone: vec![],
        fds: fds([c.into()]),
    })
}

pub(super) fn syn_recv(ns: &Netns, family: Family) -> io::Result<Parts> {
    let l = listener(ns, family)?;
    let laddr = l.local_addr()?;
    let kw = family.nft_keyword();
    ns.drop_packets(
        Hook::Input,
        &format!(
            "{kw} daddr {} tcp dport {} tcp flags & (syn|ack) == ack",
            laddr.ip(),
            laddr.port()
        ),
    )?;
    // The client gets the SYN-ACK, so its connect() succeeds; its ACK never arrives.
    let c = in_netns(ns, move || TcpStream::connect(laddr))?;
    let caddr = c.local_addr()?;
    Ok(Parts {
        expected: vec![
            tcp(SockState::Listen, laddr, nobody(family)),
            tcp(SockState::SynRecv, laddr, caddr).unowned().timer("on"),
            estab(caddr, laddr),
        ],
        gone: vec![],
        fds: fds([l.into(), c.into()]),
    })
}

pub(super) fn fin_wait_1(ns: &Netns, family: Family) -> io::Result<Parts> {
    let (c, s) = pair(ns, family)?;
    let ((cl, cp), (sl, sp)) = (ends(&c)?, ends(&s)?);
    ns.drop_packets(Hook::Input, &arriving_at(cl, cp))?;
    c.shutdown(Shutdown::Write)?;
    Ok(Parts {
        expected: vec![
            tcp(SockState::FinWait1, cl, cp).timer("on"),
            tcp(SockState::CloseWait, sl, sp),
        ],
        gone: vec![],
        fds: fds([c.into(), s.into()]),
    })
}

/// `c` shuts down its sending side; waits for FIN-WAIT-2 / CLOSE-WAIT.
fn half_close(ns: &Netns, c: &TcpStream, s: &TcpStream) -> io::Result<[Expected; 2]> {
    let ((cl, cp), (sl, sp)) = (ends(c)?, ends(s)?);
    c.shutdown(Shutdown::Write)?;
    let expected = [
        tcp(SockState::FinWait2, cl, cp),
        tcp(SockState::CloseWait, sl, sp),
    ];
    settle(ns, &expected, &[], SETTLE_TIMEOUT)?;
    Ok(expected)
}

pub(super) fn half_closed(ns: &Netns, family: Family) -> io::Result<Parts> {
    let (c, s) = pair(ns, family)?;
    let expected = half_close(ns, &c, &s)?;
    Ok(Parts {
        expected: expected.into(),
        gone: vec![],
        fds: fds([c.into(), s.into()]),
    })
}

pub(super) fn last_ack(ns: &Netns, family: Family) -> io::Result<Parts> {
    let (c, s) = pair(ns, family)?;
    let ((cl, cp), (sl, sp)) = (ends(&c)?, ends(&s)?);
    half_close(ns, &c, &s)?;
    ns.drop_packets(Hook::Input, &arriving_at(sl, sp))?;
    // shutdown, not close: the LAST-ACK socket keeps its file and owner.
    s.shutdown(Shutdown::Write)?;
    // `c` receives the FIN and becomes a TIME-WAIT entry; its own file is now a closed socket.
    drop(c);
    Ok(Parts {
        expected: vec![
            tcp(SockState::LastAck, sl, sp).timer("on"),
            tcp(SockState::TimeWait, cl, cp).unowned().timer("timewait"),
        ],
        gone: vec![],
        fds: fds([s.into()]),
    })
}

pub(super) fn time_wait(ns: &Netns, family: Family) -> io::Result<Parts> {
    let (c, s) = pair(ns, family)?;
    let ((cl, cp), (sl, sp)) = (ends(&c)?, ends(&s)?);
    // Half-close first so the FINs cannot cross (that would be CLOSING).
    half_close(ns, &c, &s)?;
    drop(s);
    settle(
        ns,
        &[tcp(SockState::TimeWait, cl, cp).unowned().timer("timewait")],
        &[],
        SETTLE_TIMEOUT,
    )?;
    drop(c);
    Ok(Parts {
        expected: vec![tcp(SockState::TimeWait, cl, cp).unowned().timer("timewait")],
        gone: vec![(Proto::Tcp, sl, sp)],
        fds: vec![],
    })
}

/// Keepalive idle times: one rendered `9min59sec` (1 s precision), one `49min` (1 min).
const KEEPALIVE_IDLE_SECS: [u32; 2] = [600, 3000];

pub(super) fn keepalive(ns: &Netns, family: Family) -> io::Result<Parts> {
    let mut parts = Parts {
        expected: vec![],
        gone: vec![],
        fds: vec![],
    };
    for idle in KEEPALIVE_IDLE_SECS {
        let (c, s) = pair(ns, family)?;
        sys::set_keepalive(c.as_fd(), idle)?;
        let ((cl, cp), (sl, sp)) = (ends(&c)?, ends(&s)?);
        parts.expected.push(estab(cl, cp).timer("keepalive"));
        parts.expected.push(estab(sl, sp));
        parts.fds.push(c.into());
        parts.fds.push(s.into());
    }
    Ok(parts)
}

/// Receive buffer of the zero-window receiver (the kernel doubles it).
const TINY_BUFFER: i32 = 4096;
/// Give up filling the pipe after this many bytes.
const FILL_LIMIT: usize = 64 << 20;

pub(super) fn zero_window(ns: &Netns, family: Family) -> io::Result<Parts> {
    let l = listener(ns, family)?;
    // Accepted sockets inherit the listener's buffer, and the SYN-ACK already offers the
    // small window, so the receiver never has to drop data.
    sys::set_int_opt(l.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, TINY_BUFFER)?;
    let addr = l.local_addr()?;
    let mut sender = in_netns(ns, move || TcpStream::connect(addr))?;
    let (receiver, _) = l.accept()?;
    drop(l);
    sys::set_int_opt(
        sender.as_fd(),
        libc::SOL_SOCKET,
        libc::SO_SNDBUF,
        TINY_BUFFER,
    )?;
    sender.set_nonblocking(true)?;
    let chunk = [0u8; 8192];
    let mut total = 0usize;
    loop {
        match sender.write(&chunk) {
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
        if total > FILL_LIMIT {
            return Err(io::Error::other(
                "zero window: receiver never closed its window",
            ));
        }
    }
    let ((sl, sp), (rl, rp)) = (ends(&sender)?, ends(&receiver)?);
    Ok(Parts {
        expected: vec![estab(sl, sp).timer("persist"), estab(rl, rp)],
        gone: vec![],
        fds: fds([sender.into(), receiver.into()]),
    })
}

pub(super) fn bound_inactive(ns: &Netns, family: Family) -> io::Result<Parts> {
    let s = in_netns(ns, move || {
        sys::tcp_bind_only(SocketAddr::new(family.loopback(), 0))
    })?;
    Ok(Parts {
        expected: vec![],
        gone: vec![(Proto::Tcp, s.local_addr()?, nobody(family))],
        fds: fds([s.into()]),
    })
}
