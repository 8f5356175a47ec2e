//! sockdoc-diag: the kernel's socket table over NETLINK_SOCK_DIAG.
//!
//! Builds dump requests (state masks, tcp_info on demand, bytecode filters), walks the replies in place
//! into [`Socket`] records and hands them to a callback. It knows nothing of processes, filters in the
//! user's language, or findings: callers decide what to keep.
//!
//! Layers: [`wire`] (layouts) and [`parse`] (bytes → records) never touch a socket, so they are tested and
//! fuzzed on bytes alone; [`DiagSocket`] is the transport.
//!
//! - [`wire`]: message types, flags, sizes and byte offsets from the kernel headers; pure data;
//! - [`parse`]: the in-place reply parser, one `recv`'s bytes → [`Socket`] records, no allocation per
//!   socket (hand-written for speed: see the crate's README for what it was measured against);
//! - [`record`]: the compact, `Copy` socket record ([`Socket`], [`TcpInfo`], [`Timer`], [`State`]);
//! - [`bytecode`]: kernel-side filter programs ([`BcExpr`]) compiled to `INET_DIAG_REQ_BYTECODE`, and an
//!   emulator of the kernel's interpreter for tests;
//! - [`bulk`]: many single-socket requests per send — `SOCK_DESTROY` in bulk and lookups by cookie
//!   ([`DiagSocket::destroy_all`], [`DiagSocket::lookup_all`]);
//! - this file: [`DumpRequest`], [`DiagSocket`] (dumps, `SOCK_DESTROY`, destroy broadcasts) and
//!   [`DiagError`].
//!
//! It never reads /proc, never prints and never enters a namespace: a [`DiagSocket`] belongs to the
//! namespace of the thread that opened it.

pub mod bulk;
pub mod bytecode;
pub mod parse;
pub mod record;
pub mod wire;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub use bytecode::{BcExpr, HostCond};
pub use parse::{parse_replies, Batch};
pub use record::{
    Addr, CaState, Family, Proto, Socket, State, TcpInfo, Timer, TimerKind, ALL_STATES_MASK,
    TCP_NEW_SYN_RECV,
};

/// Errors from the diag layer.
#[derive(Debug, thiserror::Error)]
pub enum DiagError {
    #[error("cannot open a NETLINK_SOCK_DIAG socket: {0} (is this Linux with CONFIG_INET_DIAG?)")]
    Open(io::Error),
    #[error("netlink {op} failed: {err}")]
    Io { op: &'static str, err: io::Error },
    #[error("the kernel refused the socket dump: {}", io::Error::from_raw_os_error(*.0))]
    Kernel(i32),
    #[error("malformed netlink reply at byte {offset}: {what}")]
    Malformed { offset: usize, what: &'static str },
    #[error("netlink receive buffer overrun; retry")]
    Overrun,
    #[error("the kernel kept changing its socket tables during the dump ({0} attempts); retry")]
    Inconsistent(u32),
}

impl DiagError {
    /// The errno behind a kernel refusal, if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            DiagError::Kernel(e) => Some(*e),
            DiagError::Io { err, .. } | DiagError::Open(err) => err.raw_os_error(),
            _ => None,
        }
    }
}

/// What to dump.
#[derive(Clone, Debug)]
pub struct DumpRequest {
    pub proto: Proto,
    pub family: Family,
    /// `idiag_states` mask; see [`State::mask_bit`] and [`ALL_STATES_MASK`].
    pub states: u32,
    /// Ask for `struct tcp_info` (TCP only; costs ~20% more kernel time).
    pub tcp_info: bool,
    /// A kernel-side filter, compiled.
    pub bytecode: Option<Vec<u8>>,
    /// TCP of both families in one dump, `family` ignored. The kernel keeps the sockets of both in
    /// one table and walks all of it for a dump of either, skipping the other family's: at 300k
    /// IPv4 connections the walk of an IPv6 dump that finds nothing costs ~75 ms of CPU. Asked
    /// with the older request (`TCPDIAG_GETSOCK`, `AF_UNSPEC`), which the newer one refuses; a
    /// kernel that refuses it too answers [`DiagError::Kernel`]: dump each family then.
    pub both_families: bool,
}

impl DumpRequest {
    /// Every socket of one protocol and family.
    pub fn all(proto: Proto, family: Family) -> DumpRequest {
        DumpRequest {
            proto,
            family,
            states: ALL_STATES_MASK,
            tcp_info: false,
            bytecode: None,
            both_families: false,
        }
    }

    /// The request message's bytes.
    pub fn encode(&self, seq: u32) -> Vec<u8> {
        let both = self.both_families && self.proto == Proto::Tcp;
        let (kind, req_len) = match both {
            true => (wire::TCPDIAG_GETSOCK, wire::INET_DIAG_REQ_LEN),
            false => (wire::SOCK_DIAG_BY_FAMILY, wire::INET_DIAG_REQ_V2_LEN),
        };
        let bc_len = self.bytecode.as_ref().map_or(0, |b| 4 + b.len());
        let total = wire::NLMSG_HDRLEN + req_len + wire::align4(bc_len);
        let mut m = Vec::with_capacity(total);
        m.extend_from_slice(&(total as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&(wire::NLM_F_REQUEST | wire::NLM_F_DUMP).to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        // inet_diag_req_v2: family, protocol, ext, pad, states, id; inet_diag_req: family,
        // src_len, dst_len, ext, id, states, dbs (the protocol is the message type).
        match both {
            true => m.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0]),
            false => m.extend_from_slice(&[self.family as u8, self.proto as u8]),
        }
        let ext = if self.tcp_info && self.proto == Proto::Tcp {
            1u8 << (wire::INET_DIAG_INFO - 1)
        } else {
            0
        };
        m.push(ext);
        let mut states = self.states;
        if states & State::SynRecv.mask_bit() != 0 {
            states |= 1 << TCP_NEW_SYN_RECV;
        }
        if !both {
            m.push(0);
            m.extend_from_slice(&states.to_ne_bytes());
        }
        // inet_diag_sockid: zero, cookie "none".
        m.extend_from_slice(&[0u8; wire::SOCKID_LEN - 8]);
        m.extend_from_slice(&u32::MAX.to_ne_bytes());
        m.extend_from_slice(&u32::MAX.to_ne_bytes());
        if both {
            m.extend_from_slice(&states.to_ne_bytes());
            m.extend_from_slice(&0u32.to_ne_bytes());
        }
        if let Some(code) = &self.bytecode {
            m.extend_from_slice(&((4 + code.len()) as u16).to_ne_bytes());
            m.extend_from_slice(&wire::INET_DIAG_REQ_BYTECODE.to_ne_bytes());
            m.extend_from_slice(code);
            m.resize(total, 0);
        }
        m
    }
}

/// What a dump hands its caller.
#[derive(Debug)]
pub enum DumpEvent<'a> {
    Socket(&'a Socket),
    /// The kernel's tables changed under the dump; discard what was received and start again.
    Restart,
}

/// A SOCK_DESTROY request for exactly this socket (acknowledged).
pub fn encode_destroy(s: &Socket, seq: u32) -> Vec<u8> {
    encode_one(
        s,
        seq,
        wire::SOCK_DESTROY,
        wire::NLM_F_REQUEST | wire::NLM_F_ACK,
    )
}

/// A request for exactly this socket, found by its 4-tuple, interface and cookie (no dump): the
/// answer is one [`SOCK_DIAG_BY_FAMILY`](wire::SOCK_DIAG_BY_FAMILY) message (family, state, ...),
/// or an error (`ENOENT` when it is gone, `ESTALE` when another socket now has its 4-tuple).
pub fn encode_lookup(s: &Socket, seq: u32) -> Vec<u8> {
    encode_one(s, seq, wire::SOCK_DIAG_BY_FAMILY, wire::NLM_F_REQUEST)
}

fn encode_one(s: &Socket, seq: u32, kind: u16, flags: u16) -> Vec<u8> {
    let total = wire::NLMSG_HDRLEN + wire::INET_DIAG_REQ_V2_LEN;
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.push(s.family as u8);
    m.push(s.proto as u8);
    m.push(0);
    m.push(0);
    m.extend_from_slice(&(1u32 << (s.state as u8)).to_ne_bytes());
    m.extend_from_slice(&s.local_port.to_be_bytes());
    m.extend_from_slice(&s.remote_port.to_be_bytes());
    m.extend_from_slice(&s.local.bytes);
    m.extend_from_slice(&s.remote.bytes);
    m.extend_from_slice(&s.ifindex.to_ne_bytes());
    m.extend_from_slice(&(s.cookie as u32).to_ne_bytes());
    m.extend_from_slice(&((s.cookie >> 32) as u32).to_ne_bytes());
    m
}

/// Totals of one dump.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DumpStats {
    pub sockets: usize,
    pub skipped: usize,
    /// Times the dump was restarted because the kernel flagged it inconsistent.
    pub restarts: u32,
    pub bytes: usize,
}

/// The largest datagram the kernel builds for a dump (it caps its buffers at 32 KiB); ours is larger so a
/// reply is never truncated.
const RECV_BUF: usize = 64 * 1024;
const MAX_RESTARTS: u32 = 4;

/// A NETLINK_SOCK_DIAG socket in the network namespace of the thread that opened it.
pub struct DiagSocket {
    fd: OwnedFd,
    buf: Vec<u8>,
    seq: u32,
    /// The last [`DiagSocket::next_broadcast`] left nothing queued.
    drained: bool,
}

impl DiagSocket {
    /// Open a socket in the calling thread's network namespace.
    pub fn open() -> Result<DiagSocket, DiagError> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if raw < 0 {
            return Err(DiagError::Open(io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // Bind, so the kernel assigns a port id: broadcasts skip sockets whose port id is 0 (the kernel's).
        // SAFETY: an all-zero sockaddr_nl with the family set is valid for bind.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: valid fd and address of the given size.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(DiagError::Open(io::Error::last_os_error()));
        }
        // A larger receive buffer lets the kernel stay one reply ahead of us; failure only costs speed.
        let size: libc::c_int = 1 << 20;
        // SAFETY: valid fd and a pointer to a live c_int of the given size.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        Ok(DiagSocket {
            fd,
            buf: vec![0u8; RECV_BUF],
            seq: 0,
            drained: false,
        })
    }

    /// Dump the sockets `req` selects, calling `on` with each. If the kernel flags the dump as
    /// interrupted, `on` gets [`DumpEvent::Restart`] and the dump starts over: the sockets seen so far are
    /// void.
    pub fn dump(
        &mut self,
        req: &DumpRequest,
        on: &mut dyn FnMut(DumpEvent<'_>),
    ) -> Result<DumpStats, DiagError> {
        let mut stats = DumpStats::default();
        loop {
            match self.dump_once(req, on, &mut stats)? {
                true => return Ok(stats),
                false if stats.restarts < MAX_RESTARTS => {
                    stats.restarts += 1;
                    stats.sockets = 0;
                    stats.skipped = 0;
                    on(DumpEvent::Restart);
                }
                false => return Err(DiagError::Inconsistent(stats.restarts + 1)),
            }
        }
    }

    /// One pass; `Ok(false)` when the kernel marked it interrupted.
    fn dump_once(
        &mut self,
        req: &DumpRequest,
        on: &mut dyn FnMut(DumpEvent<'_>),
        stats: &mut DumpStats,
    ) -> Result<bool, DiagError> {
        self.seq = self.seq.wrapping_add(1);
        let msg = req.encode(self.seq);
        self.send(&msg)?;
        let mut interrupted = false;
        loop {
            let n = self.recv()?;
            stats.bytes += n;
            let batch =
                parse_replies(&self.buf[..n], req.proto, &mut |s| on(DumpEvent::Socket(s)))?;
            stats.sockets += batch.sockets;
            stats.skipped += batch.skipped;
            interrupted |= batch.interrupted;
            if batch.done {
                return Ok(!interrupted);
            }
        }
    }

    /// Destroy one socket (SOCK_DESTROY): the kernel aborts it (an RST to the peer for a connected
    /// TCP socket) and wakes its owner with ECONNABORTED. Needs CAP_NET_ADMIN and a kernel with
    /// CONFIG_INET_DIAG_DESTROY; the socket is named by its full identity, cookie included, so a
    /// recycled 4-tuple is never hit.
    pub fn destroy(&mut self, s: &Socket) -> Result<(), DiagError> {
        self.seq = self.seq.wrapping_add(1);
        let msg = encode_destroy(s, self.seq);
        self.send(&msg)?;
        let n = self.recv()?;
        let buf = &self.buf[..n];
        if buf.len() < wire::NLMSG_HDRLEN + 4 || wire::u16_ne(buf, 4) != wire::NLMSG_ERROR {
            return Err(DiagError::Malformed {
                offset: 0,
                what: "expected an acknowledgement",
            });
        }
        match wire::i32_ne(buf, wire::NLMSG_HDRLEN) {
            0 => Ok(()),
            e => Err(parse::status_error(e, 0)),
        }
    }

    /// Subscribe to the kernel's socket-destroy broadcasts of `proto` (IPv4 and IPv6): every socket of
    /// that protocol that goes away is then reported on this socket (needs CAP_NET_ADMIN). Use a
    /// dedicated socket: dumps and broadcasts do not mix.
    pub fn subscribe_destroy(&mut self, proto: Proto) -> Result<(), DiagError> {
        // SKNLGRP_INET_TCP_DESTROY = 1, INET_UDP = 2, INET6_TCP = 3, INET6_UDP = 4.
        let groups: [libc::c_int; 2] = match proto {
            Proto::Tcp => [1, 3],
            Proto::Udp => [2, 4],
        };
        for g in groups {
            // SAFETY: valid fd; pointer to a live c_int of the given size.
            let r = unsafe {
                libc::setsockopt(
                    self.fd.as_raw_fd(),
                    libc::SOL_NETLINK,
                    libc::NETLINK_ADD_MEMBERSHIP,
                    (&g as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if r != 0 {
                return Err(DiagError::Io {
                    op: "subscribe",
                    err: io::Error::last_os_error(),
                });
            }
        }
        Ok(())
    }

    /// Ask for a receive buffer of `bytes` for broadcasts, past `net.core.rmem_max` when allowed
    /// (SO_RCVBUFFORCE, CAP_NET_ADMIN), else as large as the limit lets; returns the size the kernel
    /// granted (it counts bookkeeping too: about half is for messages). A larger buffer rides out a
    /// longer burst of ends before the kernel drops them (ENOBUFS); memory is only used while backed up.
    pub fn set_recv_buffer(&mut self, bytes: usize) -> usize {
        let size = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            // SAFETY: valid fd; pointer to a live c_int of the given size.
            let r = unsafe {
                libc::setsockopt(
                    self.fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    (&size as *const libc::c_int).cast(),
                    len,
                )
            };
            if r == 0 {
                break;
            }
        }
        let mut got: libc::c_int = 0;
        let mut got_len = len;
        // SAFETY: valid fd; pointers to a live c_int and its length.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&mut got as *mut libc::c_int).cast(),
                &mut got_len,
            )
        };
        if r == 0 {
            usize::try_from(got).unwrap_or(0)
        } else {
            0
        }
    }

    /// Wait up to `timeout` for broadcast messages, then take every datagram already queued (up to
    /// a bound), handing each socket in them to `on`; returns how many arrived (0 on timeout).
    ///
    /// [`DiagError::Overrun`] means the kernel dropped messages because the receive buffer was full
    /// (ENOBUFS): at least one broadcast was lost. Sockets handed to `on` before it still count.
    pub fn next_broadcast(
        &mut self,
        proto: Proto,
        timeout: std::time::Duration,
        on: &mut dyn FnMut(&Socket),
    ) -> Result<usize, DiagError> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        self.drained = false;
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(DiagError::Io { op: "poll", err });
        }
        if r == 0 {
            self.drained = true;
            return Ok(0);
        }
        let n = self.recv()?;
        let mut sockets = parse_replies(&self.buf[..n], proto, on)?.sockets;
        // A burst: drain what is queued without waiting, a bounded number of datagrams per call.
        for _ in 0..255 {
            match self.recv_nowait()? {
                None => {
                    self.drained = true;
                    break;
                }
                Some(n) => sockets += parse_replies(&self.buf[..n], proto, on)?.sockets,
            }
        }
        Ok(sockets)
    }

    /// True when the last [`DiagSocket::next_broadcast`] took in everything that was queued (it
    /// timed out, or emptied the queue).
    pub fn drained(&self) -> bool {
        self.drained
    }

    /// One datagram if one is queued (`None` if not).
    fn recv_nowait(&mut self) -> Result<Option<usize>, DiagError> {
        match self.recv_flags(libc::MSG_DONTWAIT) {
            Ok(n) => Ok(Some(n)),
            Err(DiagError::Io { err, .. }) if err.raw_os_error() == Some(libc::EAGAIN) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Run one dump and return the raw bytes of each reply datagram, unparsed (for captures and tests).
    pub fn dump_raw(&mut self, req: &DumpRequest) -> Result<Vec<Vec<u8>>, DiagError> {
        self.seq = self.seq.wrapping_add(1);
        self.send(&req.encode(self.seq))?;
        let mut out = Vec::new();
        loop {
            let n = self.recv()?;
            let chunk = self.buf[..n].to_vec();
            let batch = parse_replies(&chunk, req.proto, &mut |_| {})?;
            out.push(chunk);
            if batch.done {
                return Ok(out);
            }
        }
    }

    fn send(&self, msg: &[u8]) -> Result<(), DiagError> {
        // SAFETY: an all-zero sockaddr_nl is valid; nl_family set below addresses the kernel (pid 0).
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        loop {
            // SAFETY: buffer and address pointers are valid for the lengths given.
            let r = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
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
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(DiagError::Io { op: "send", err });
            }
        }
    }

    /// One datagram, waiting for it.
    fn recv(&mut self) -> Result<usize, DiagError> {
        self.recv_flags(0)
    }

    /// `recv(2)` of one datagram into `buf` with `flags`, retried when interrupted; a full receive
    /// queue (ENOBUFS) is an overrun.
    fn recv_flags(&mut self, flags: libc::c_int) -> Result<usize, DiagError> {
        loop {
            // SAFETY: `buf` is a live, writable buffer of the length given.
            let r = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    flags,
                )
            };
            if r >= 0 {
                return Ok(r as usize);
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ENOBUFS) => return Err(DiagError::Overrun),
                _ => return Err(DiagError::Io { op: "recv", err }),
            }
        }
    }
}

impl AsRawFd for DiagSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests;
