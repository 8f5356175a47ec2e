//! Retrofit TCP keepalive onto a running process's socket: through a borrowed fd, set SO_KEEPALIVE and
//! the per-socket idle/interval/count (and optionally TCP_USER_TIMEOUT). What was there before is read
//! first, for the audit log and for restoring it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::pidfd::borrow_socket;

/// Keepalive settings of one socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    pub enabled: bool,
    /// Seconds of idleness before the first probe.
    pub idle: u32,
    /// Seconds between probes.
    pub intvl: u32,
    /// Unanswered probes before the connection is dropped.
    pub cnt: u32,
    /// TCP_USER_TIMEOUT in ms (0 = the kernel's default behaviour).
    pub user_timeout_ms: u32,
}

fn getsockopt_int(fd: &OwnedFd, level: libc::c_int, name: libc::c_int) -> io::Result<u32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: valid fd, pointers to a live c_int and its length.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u32::try_from(v).unwrap_or(0))
}

fn setsockopt_int(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, v: u32) -> io::Result<()> {
    let v = libc::c_int::try_from(v).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: valid fd, pointer to a live c_int of the given size.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Read a socket's keepalive settings.
pub fn read(fd: &OwnedFd) -> io::Result<Keepalive> {
    Ok(Keepalive {
        enabled: getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE)? != 0,
        idle: getsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE)?,
        intvl: getsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL)?,
        cnt: getsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT)?,
        user_timeout_ms: getsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT)?,
    })
}

/// Write keepalive settings (the order makes the timer start with the new idle time).
pub fn write(fd: &OwnedFd, k: &Keepalive) -> io::Result<()> {
    setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, k.idle)?;
    setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, k.intvl)?;
    setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, k.cnt)?;
    setsockopt_int(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_USER_TIMEOUT,
        k.user_timeout_ms,
    )?;
    setsockopt_int(
        fd,
        libc::SOL_SOCKET,
        libc::SO_KEEPALIVE,
        u32::from(k.enabled),
    )
}

/// Apply `want` to socket `inode` held as `fd` by `pid`; returns the settings it had before.
pub fn retrofit(pid: u32, fd: u32, inode: u32, want: &Keepalive) -> io::Result<Keepalive> {
    let dup = borrow_socket(pid, fd, inode)?;
    let before = read(&dup)?;
    write(&dup, want)?;
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn retrofit_on_our_own_connection_and_back() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let me = std::process::id();
        let fd = u32::try_from(c.as_raw_fd()).expect("fd");
        let dup = dup_from_self(fd);
        let inode = u32::try_from(crate::pidfd::socket_inode(&dup).expect("inode")).expect("u32");
        let want = Keepalive {
            enabled: true,
            idle: 61,
            intvl: 7,
            cnt: 3,
            user_timeout_ms: 0,
        };
        let before = retrofit(me, fd, inode, &want).expect("retrofit");
        assert!(!before.enabled);
        assert_eq!(read(&dup).expect("read"), want);
        write(&dup, &before).expect("restore");
        assert_eq!(read(&dup).expect("read"), before);
    }

    fn dup_from_self(fd: u32) -> OwnedFd {
        crate::pidfd::dup_from(std::process::id(), fd).expect("dup")
    }
}
