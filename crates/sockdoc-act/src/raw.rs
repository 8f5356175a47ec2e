//! Raw TCP segments: building IPv4/IPv6 packets with their checksums, sending them with a forged
//! source address (raw sockets with a header we write), and capturing what the kernel sends and
//! receives with an `AF_PACKET` socket (which sees outgoing packets too), filtered to TCP by a
//! classic BPF program and matched by 4-tuple in user space.
//!
//! Raw and packet sockets belong to the network namespace they were created in: open [`RawIo`] on a
//! thread inside the target namespace (see `challenge::Challenger::open_like`), then use it from anywhere.
//! This module decides nothing about connections; [`crate::challenge`] does. Needs CAP_NET_RAW.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

const TCP_HDR: usize = 20;
const IPV4_HDR: usize = 20;
const IPV6_HDR: usize = 40;
const IPPROTO_TCP: u8 = 6;
/// Bytes of each captured packet handed to us: the largest IPv6 + TCP headers with options.
const SNAPLEN: u32 = 40 + 60;
/// Receive buffer of the capture socket: room for a burst of a few thousand answers.
const CAPTURE_RCVBUF: libc::c_int = 32 << 20;

/// One TCP segment without options, as built or as captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// Payload bytes (captured segments; built segments carry none).
    pub payload: u32,
}

impl Segment {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The sequence space the segment occupies: payload, plus one for SYN and for FIN.
    pub fn seq_len(&self) -> u32 {
        self.payload + u32::from(self.has(SYN)) + u32::from(self.has(FIN))
    }

    /// `S.A` style flag letters, for messages.
    pub fn flag_text(&self) -> String {
        [(SYN, 'S'), (FIN, 'F'), (RST, 'R'), (PSH, 'P'), (ACK, '.')]
            .iter()
            .filter(|(f, _)| self.has(*f))
            .map(|(_, c)| *c)
            .collect()
    }
}

/// An address as it travels on the wire: IPv4-mapped IPv6 (`::ffff:a.b.c.d`, a dual-stack socket
/// talking IPv4) becomes plain IPv4.
pub fn wire_addr(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => a,
        },
        SocketAddr::V4(_) => a,
    }
}

/// Ones' complement sum of `data` (big-endian 16-bit words, odd tail padded), not yet folded.
fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    fold(sum16(data, 0))
}

/// The TCP checksum of `tcp` (header with a zero checksum field, and payload) between `src` and `dst`.
pub fn tcp_checksum(src: IpAddr, dst: IpAddr, tcp: &[u8]) -> u16 {
    let len = tcp.len() as u32;
    let mut acc = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let acc = sum16(&s.octets(), 0);
            let acc = sum16(&d.octets(), acc);
            acc + u32::from(IPPROTO_TCP) + len
        }
        (s, d) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V6(a) => a,
                IpAddr::V4(a) => a.to_ipv6_mapped(),
            };
            let acc = sum16(&v6(s).octets(), 0);
            let acc = sum16(&v6(d).octets(), acc);
            acc + (len >> 16) + (len & 0xffff) + u32::from(IPPROTO_TCP)
        }
    };
    acc = sum16(tcp, acc);
    fold(acc)
}

/// The IP packet (IPv4 or IPv6 header, then TCP) carrying `seg`, checksums filled in.
pub fn build(seg: &Segment) -> io::Result<Vec<u8>> {
    let (src, dst) = (wire_addr(seg.src), wire_addr(seg.dst));
    let mut tcp = [0u8; TCP_HDR];
    tcp[0..2].copy_from_slice(&src.port().to_be_bytes());
    tcp[2..4].copy_from_slice(&dst.port().to_be_bytes());
    tcp[4..8].copy_from_slice(&seg.seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&seg.ack.to_be_bytes());
    tcp[12] = ((TCP_HDR / 4) as u8) << 4;
    tcp[13] = seg.flags;
    tcp[14..16].copy_from_slice(&seg.window.to_be_bytes());
    let sum = tcp_checksum(src.ip(), dst.ip(), &tcp);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut p = Vec::with_capacity(IPV4_HDR + TCP_HDR);
            p.extend_from_slice(&[0x45, 0]);
            p.extend_from_slice(&((IPV4_HDR + TCP_HDR) as u16).to_be_bytes());
            // id 0 (the kernel fills it in), don't fragment, TTL 64.
            p.extend_from_slice(&[0, 0, 0x40, 0, 64, IPPROTO_TCP, 0, 0]);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            let sum = checksum(&p);
            p[10..12].copy_from_slice(&sum.to_be_bytes());
            p.extend_from_slice(&tcp);
            Ok(p)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut p = Vec::with_capacity(IPV6_HDR + TCP_HDR);
            p.extend_from_slice(&[0x60, 0, 0, 0]);
            p.extend_from_slice(&(TCP_HDR as u16).to_be_bytes());
            p.extend_from_slice(&[IPPROTO_TCP, 64]);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&tcp);
            Ok(p)
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{src} and {dst} are of different address families"),
        )),
    }
}

/// The TCP segment in an IP packet (network header first), if it is one: IPv4 (unfragmented) or
/// IPv6 with TCP as the first next header. The packet may be cut after the TCP header.
pub fn parse(p: &[u8]) -> Option<Segment> {
    let version = p.first()? >> 4;
    let (src, dst, l4, l4_len) = match version {
        4 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            if ihl < IPV4_HDR || p.len() < ihl || *p.get(9)? != IPPROTO_TCP {
                return None;
            }
            // A later fragment has no TCP header.
            if u16::from_be_bytes([p[6], p[7]]) & 0x1fff != 0 {
                return None;
            }
            let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
            let s = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
            let d = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
            (IpAddr::V4(s), IpAddr::V4(d), ihl, total.checked_sub(ihl)?)
        }
        6 => {
            if p.len() < IPV6_HDR || p[6] != IPPROTO_TCP {
                return None;
            }
            let plen = usize::from(u16::from_be_bytes([p[4], p[5]]));
            let s: [u8; 16] = p[8..24].try_into().ok()?;
            let d: [u8; 16] = p[24..40].try_into().ok()?;
            (
                IpAddr::V6(Ipv6Addr::from(s)),
                IpAddr::V6(Ipv6Addr::from(d)),
                IPV6_HDR,
                plen,
            )
        }
        _ => return None,
    };
    let t = p.get(l4..l4 + TCP_HDR)?;
    let doff = usize::from(t[12] >> 4) * 4;
    if doff < TCP_HDR {
        return None;
    }
    let u32_at = |i: usize| u32::from_be_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
    Some(Segment {
        src: SocketAddr::new(src, u16::from_be_bytes([t[0], t[1]])),
        dst: SocketAddr::new(dst, u16::from_be_bytes([t[2], t[3]])),
        seq: u32_at(4),
        ack: u32_at(8),
        flags: t[13],
        window: u16::from_be_bytes([t[14], t[15]]),
        payload: u32::try_from(l4_len.saturating_sub(doff)).unwrap_or(0),
    })
}

/// The classic BPF program of the capture socket (it sees the network header at offset 0): keep
/// IPv4 packets whose protocol is TCP and IPv6 packets whose next header is TCP, at most
/// [`SNAPLEN`] bytes of each; drop everything else in the kernel.
fn tcp_filter() -> [libc::sock_filter; 10] {
    const LD_B_ABS: u16 = 0x30;
    const RSH_K: u16 = 0x74;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    [
        op(LD_B_ABS, 0, 0, 0),    // 0: A = first byte
        op(RSH_K, 0, 0, 4),       // 1: A = IP version
        op(JEQ_K, 0, 2, 4),       // 2: v4 -> 3, else -> 5
        op(LD_B_ABS, 0, 0, 9),    // 3: A = IPv4 protocol
        op(JEQ_K, 3, 4, 6),       // 4: TCP -> 8, else -> 9
        op(JEQ_K, 0, 3, 6),       // 5: v6 -> 6, else -> 9
        op(LD_B_ABS, 0, 0, 6),    // 6: A = IPv6 next header
        op(JEQ_K, 0, 1, 6),       // 7: TCP -> 8, else -> 9
        op(RET_K, 0, 0, SNAPLEN), // 8: keep
        op(RET_K, 0, 0, 0),       // 9: drop
    ]
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn new_socket(domain: libc::c_int, ty: libc::c_int, proto: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked, then owned.
    let fd = check(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) })?;
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: valid fd; `v` is a live value of the size given.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// A sending socket for each family and one capturing socket, in one network namespace.
pub struct RawIo {
    send4: Option<OwnedFd>,
    send6: Option<OwnedFd>,
    capture: OwnedFd,
    buf: Vec<u8>,
}

impl RawIo {
    /// Open in the calling thread's network namespace. Needs CAP_NET_RAW.
    pub fn open() -> io::Result<RawIo> {
        // IPPROTO_RAW implies a header we write (IP_HDRINCL for IPv4, its IPv6 equivalent).
        let send4 = new_socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW)?;
        // IPv6 may be disabled in the namespace; IPv4 is enough then.
        let send6 = new_socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_RAW).ok();
        // Protocol 0 first: nothing is queued before the filter is attached and we bind.
        let capture = new_socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK, 0)?;
        let mut code = tcp_filter();
        let prog = libc::sock_fprog {
            len: code.len() as u16,
            filter: code.as_mut_ptr(),
        };
        setsockopt(&capture, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)?;
        if setsockopt(
            &capture,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &CAPTURE_RCVBUF,
        )
        .is_err()
        {
            let _ = setsockopt(&capture, libc::SOL_SOCKET, libc::SO_RCVBUF, &CAPTURE_RCVBUF);
        }
        // SAFETY: an all-zero sockaddr_ll is valid; family and protocol set below, ifindex 0 = all.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: valid fd and address of the size given.
        check(unsafe {
            libc::bind(
                capture.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        Ok(RawIo {
            send4: Some(send4),
            send6,
            capture,
            buf: vec![0u8; 2048],
        })
    }

    /// Send `seg` as built by [`build`]. `scope` is the interface of a link-local IPv6 destination.
    pub fn send(&self, seg: &Segment, scope: u32) -> io::Result<()> {
        let pkt = build(seg)?;
        let dst = wire_addr(seg.dst);
        let r = match dst {
            SocketAddr::V4(d) => {
                let fd = self.send4.as_ref().ok_or_else(no_family)?;
                let sa = sockaddr_in(&d);
                // SAFETY: valid fd, buffer and address of the sizes given.
                unsafe {
                    libc::sendto(
                        fd.as_raw_fd(),
                        pkt.as_ptr().cast(),
                        pkt.len(),
                        0,
                        (&sa as *const libc::sockaddr_in).cast(),
                        std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    )
                }
            }
            SocketAddr::V6(d) => {
                let fd = self.send6.as_ref().ok_or_else(no_family)?;
                let sa = sockaddr_in6(&d, scope);
                // SAFETY: as above.
                unsafe {
                    libc::sendto(
                        fd.as_raw_fd(),
                        pkt.as_ptr().cast(),
                        pkt.len(),
                        0,
                        (&sa as *const libc::sockaddr_in6).cast(),
                        std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                    )
                }
            }
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Hand every captured TCP segment to `on` until it returns `true` or `deadline` passes. Returns
    /// whether `on` was satisfied. Packets already queued are read first, without waiting.
    pub fn capture_until(
        &mut self,
        deadline: Instant,
        on: &mut dyn FnMut(&Segment) -> bool,
    ) -> io::Result<bool> {
        let mut read = 0u32;
        loop {
            // A steady stream of packets must not keep us past the deadline.
            read = read.wrapping_add(1);
            if read & 0xff == 0 && Instant::now() >= deadline {
                return Ok(false);
            }
            // SAFETY: valid fd and buffer of the given length.
            let n = unsafe {
                libc::recv(
                    self.capture.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n >= 0 {
                let len = (n as usize).min(self.buf.len());
                if let Some(seg) = parse(&self.buf[..len]) {
                    if on(&seg) {
                        return Ok(true);
                    }
                }
                continue;
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => {}
                _ => return Err(err),
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let ms = (deadline - now).as_millis().clamp(1, 1000) as libc::c_int;
            let mut pfd = libc::pollfd {
                fd: self.capture.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r < 0 {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }

    /// Discard what was captured so far.
    pub fn drain(&mut self) -> io::Result<()> {
        self.capture_until(Instant::now(), &mut |_| false).map(drop)
    }
}

fn no_family() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "no raw socket for this address family in the namespace (IPv6 disabled?)",
    )
}

fn sockaddr_in(a: &SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: all-zero is a valid sockaddr_in; fields set below.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
    sa
}

fn sockaddr_in6(a: &SocketAddrV6, scope: u32) -> libc::sockaddr_in6 {
    // SAFETY: all-zero is a valid sockaddr_in6; fields set below.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr.s6_addr = a.ip().octets();
    // Only a link-local destination needs to say which interface.
    if a.ip().segments()[0] & 0xffc0 == 0xfe80 {
        sa.sin6_scope_id = if a.scope_id() != 0 {
            a.scope_id()
        } else {
            scope
        };
    }
    sa
}

#[cfg(test)]
pub(crate) mod testing {
    /// On this thread: a fresh network namespace (unshare) with `lo` up. Needs root.
    pub(crate) fn private_netns() {
        // SAFETY: unshare affects only this thread's namespaces.
        assert_eq!(
            unsafe { libc::unshare(libc::CLONE_NEWNET) },
            0,
            "unshare (root?)"
        );
        // SAFETY: ioctl on a fresh datagram socket with a zeroed, named ifreq.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
            assert!(fd >= 0);
            let mut ifr: libc::ifreq = std::mem::zeroed();
            for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
                *d = *s as libc::c_char;
            }
            assert_eq!(libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut ifr), 0);
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            assert_eq!(libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &mut ifr), 0);
            libc::close(fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(src: &str, dst: &str, flags: u8) -> Segment {
        Segment {
            src: src.parse().expect("addr"),
            dst: dst.parse().expect("addr"),
            seq: 0x0102_0304,
            ack: 0xa0b0_c0d0,
            flags,
            window: 512,
            payload: 0,
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2, checksum 220d.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        assert_eq!(checksum(&[0xff]), 0x00ff);
    }

    #[test]
    fn ipv4_round_trip_with_valid_checksums() {
        let s = seg("10.0.0.2:40000", "10.0.0.1:21", RST | ACK);
        let p = build(&s).expect("build");
        assert_eq!(p.len(), 40);
        assert_eq!(checksum(&p[..20]), 0, "IPv4 header checksum verifies");
        assert_eq!(
            tcp_checksum(s.src.ip(), s.dst.ip(), &p[20..]),
            0,
            "TCP checksum verifies"
        );
        assert_eq!(parse(&p), Some(s));
        assert_eq!(s.flag_text(), "R.");
    }

    #[test]
    fn ipv6_and_mapped_addresses() {
        let s = seg("[fd00::2]:40000", "[fd00::1]:443", SYN);
        let p = build(&s).expect("build");
        assert_eq!(p.len(), 60);
        assert_eq!(p[0] >> 4, 6);
        assert_eq!(tcp_checksum(s.src.ip(), s.dst.ip(), &p[40..]), 0);
        assert_eq!(parse(&p), Some(s));
        assert_eq!(s.seq_len(), 1);
        // A dual-stack socket's mapped address goes out as IPv4.
        let m = seg("[::ffff:10.0.0.2]:1", "[::ffff:10.0.0.1]:2", ACK);
        let p = build(&m).expect("build");
        assert_eq!(p[0] >> 4, 4);
        let back = parse(&p).expect("parse");
        assert_eq!(back.src, "10.0.0.2:1".parse().expect("addr"));
        assert!(build(&seg("10.0.0.2:1", "[fd00::1]:2", ACK)).is_err());
    }

    #[test]
    fn parse_refuses_what_is_not_tcp() {
        let mut p = build(&seg("10.0.0.2:1", "10.0.0.1:2", ACK)).expect("build");
        assert!(parse(&p[..30]).is_none(), "cut inside the TCP header");
        p[9] = 17;
        assert!(parse(&p).is_none(), "UDP");
        assert!(parse(&[]).is_none());
        let mut frag = build(&seg("10.0.0.2:1", "10.0.0.1:2", ACK)).expect("build");
        frag[7] = 1;
        assert!(parse(&frag).is_none(), "a later fragment");
    }
}
