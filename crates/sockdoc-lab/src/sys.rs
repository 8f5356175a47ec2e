//! Thin, checked wrappers around the few system calls std does not offer: `setns`, `flock`,
//! `kill`, non-blocking `connect`, bind-only TCP sockets, device-bound UDP sockets and socket
//! options.
//!
//! Every wrapper turns a `-1` return into `io::Error::last_os_error()`; nothing here panics.

use std::fs::File;
use std::io;
use std::mem;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Moves the calling thread into the network namespace behind `ns_file` (`/run/netns/NAME`).
pub(crate) fn setns_net(ns_file: &File) -> io::Result<()> {
    // SAFETY: plain syscall on a valid descriptor.
    check(unsafe { libc::setns(ns_file.as_raw_fd(), libc::CLONE_NEWNET) }).map(drop)
}

/// `flock(fd, op)`, blocking.
pub(crate) fn flock(file: &File, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: plain syscall on a valid descriptor.
        match check(unsafe { libc::flock(file.as_raw_fd(), op) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other.map(drop),
        }
    }
}

/// Sends `sig` to process `pid`.
pub(crate) fn kill(pid: u32, sig: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::other("pid out of range"))?;
    // SAFETY: plain syscall.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// Encodes a std socket address as a `sockaddr_storage` plus its length.
fn encode(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and suitably aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is large enough and suitably aligned for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// A new close-on-exec socket of `addr`'s family and type `ty` (`SOCK_STREAM`, `SOCK_DGRAM`).
fn new_socket(addr: SocketAddr, ty: libc::c_int, nonblocking: bool) -> io::Result<OwnedFd> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let mut ty = ty | libc::SOCK_CLOEXEC;
    if nonblocking {
        ty |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: plain syscall; on success we own the new descriptor.
    let fd = check(unsafe { libc::socket(domain, ty, 0) })?;
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `bind(fd, local)`.
fn bind(fd: &OwnedFd, local: SocketAddr) -> io::Result<()> {
    let (sa, len) = encode(local);
    // SAFETY: sa/len describe a valid sockaddr of the socket's family.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const _ as *const libc::sockaddr,
            len,
        )
    })
    .map(drop)
}

/// Starts a non-blocking TCP connect to `peer` and returns without waiting: the socket stays in
/// SYN-SENT until the handshake completes (or forever, if its SYNs are dropped).
pub(crate) fn connect_nonblocking(peer: SocketAddr) -> io::Result<TcpStream> {
    let fd = new_socket(peer, libc::SOCK_STREAM, true)?;
    let (sa, len) = encode(peer);
    // SAFETY: sa/len describe a valid sockaddr of the socket's family.
    let ret = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            &sa as *const _ as *const libc::sockaddr,
            len,
        )
    };
    if ret == -1 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(err);
        }
    }
    Ok(TcpStream::from(fd))
}

/// A TCP socket bound to `local` that never listens nor connects ("bound-inactive").
pub(crate) fn tcp_bind_only(local: SocketAddr) -> io::Result<TcpStream> {
    let fd = new_socket(local, libc::SOCK_STREAM, false)?;
    bind(&fd, local)?;
    Ok(TcpStream::from(fd))
}

/// A UDP socket restricted to interface `ifname` (`SO_BINDTODEVICE`) and then bound to `local`.
pub(crate) fn udp_bind_to_device(local: SocketAddr, ifname: &str) -> io::Result<UdpSocket> {
    let fd = new_socket(local, libc::SOCK_DGRAM, false)?;
    bind_to_device(fd.as_fd(), ifname)?;
    bind(&fd, local)?;
    Ok(UdpSocket::from(fd))
}

/// `setsockopt(fd, level, name, &int)`.
pub(crate) fn set_int_opt(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: value outlives the call and its size is passed.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            &value as *const _ as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Enables keepalive on a TCP socket with the first probe after `idle_secs` of idleness.
pub(crate) fn set_keepalive(fd: BorrowedFd<'_>, idle_secs: u32) -> io::Result<()> {
    let idle = libc::c_int::try_from(idle_secs).map_err(|_| io::Error::other("idle too large"))?;
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, idle)
}

/// `SO_BINDTODEVICE`: restricts the socket to interface `ifname`.
pub(crate) fn bind_to_device(fd: BorrowedFd<'_>, ifname: &str) -> io::Result<()> {
    // SAFETY: the name bytes outlive the call and their length is passed.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            ifname.as_ptr() as *const libc::c_void,
            ifname.len() as libc::socklen_t,
        )
    })
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn nonblocking_connect_to_listener_completes() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let s = connect_nonblocking(l.local_addr().expect("addr")).expect("connect");
        let (_a, peer) = l.accept().expect("accept");
        assert_eq!(peer, s.local_addr().expect("local"));
    }

    #[test]
    fn bind_only_has_local_port() {
        let s = tcp_bind_only("[::1]:0".parse().expect("addr")).expect("bind");
        assert_ne!(s.local_addr().expect("local").port(), 0);
    }

    #[test]
    fn udp_bound_to_lo() {
        let s = udp_bind_to_device("127.0.0.1:0".parse().expect("addr"), "lo").expect("bind");
        assert_ne!(s.local_addr().expect("local").port(), 0);
    }
}
