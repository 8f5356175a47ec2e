//! Thin, error-returning wrappers around the few syscalls the holder needs.
//!
//! Every wrapper returns `io::Result`; nothing here panics on syscall failure.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `IP_BIND_ADDRESS_NO_PORT` (linux/in.h); not exported by the libc crate.
pub const IP_BIND_ADDRESS_NO_PORT: libc::c_int = 24;

pub fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// An IPv4 socket address, kept in host form for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V4 {
    pub ip: [u8; 4],
    pub port: u16,
}

impl V4 {
    pub const fn new(ip: [u8; 4], port: u16) -> Self {
        V4 { ip, port }
    }

    fn raw(&self) -> libc::sockaddr_in {
        libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: self.port.to_be(),
            sin_addr: libc::in_addr {
                // s_addr is in network byte order, i.e. the bytes in order.
                s_addr: u32::from_ne_bytes(self.ip),
            },
            sin_zero: [0; 8],
        }
    }
}

impl fmt::Display for V4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.ip;
        write!(f, "{a}.{b}.{c}.{d}:{}", self.port)
    }
}

/// `socket(AF_INET, ty | SOCK_CLOEXEC, 0)`.
pub fn socket(ty: libc::c_int) -> io::Result<OwnedFd> {
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, ty | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: fd was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn set_int_opt(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

pub fn bind(fd: &OwnedFd, addr: V4) -> io::Result<()> {
    let sa = addr.raw();
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// `connect()`; for a non-blocking socket EINPROGRESS counts as success.
pub fn connect(fd: &OwnedFd, addr: V4) -> io::Result<()> {
    let sa = addr.raw();
    loop {
        let r = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINPROGRESS) => return Ok(()),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

pub fn listen(fd: &OwnedFd, backlog: libc::c_int) -> io::Result<()> {
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(())
}

/// Non-blocking accept: `Ok(None)` when the queue is empty.
pub fn accept(fd: &OwnedFd) -> io::Result<Option<OwnedFd>> {
    loop {
        let r = unsafe {
            libc::accept4(
                fd.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if r >= 0 {
            // SAFETY: fresh fd from accept4.
            return Ok(Some(unsafe { OwnedFd::from_raw_fd(r) }));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(None),
            Some(libc::EINTR) | Some(libc::ECONNABORTED) => continue,
            _ => return Err(e),
        }
    }
}

/// Waits until `fd` is readable; `Ok(false)` on timeout.
pub fn poll_readable(fd: RawFd, timeout_ms: libc::c_int) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r >= 0 {
            return Ok(r > 0);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

pub fn shutdown_write(fd: &OwnedFd) -> io::Result<()> {
    cvt(unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_WR) })?;
    Ok(())
}

/// Peeks for end-of-stream: `Some(true)` = FIN received, `Some(false)` =
/// unexpected data, `None` = nothing yet.
pub fn peek_eof(fd: &OwnedFd) -> io::Result<Option<bool>> {
    let mut b = [0u8; 1];
    loop {
        let r = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                b.as_mut_ptr().cast(),
                1,
                libc::MSG_DONTWAIT | libc::MSG_PEEK,
            )
        };
        if r >= 0 {
            return Ok(Some(r == 0));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(None),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

/// Raises the RLIMIT_NOFILE soft limit to the hard limit; returns it.
pub fn raise_nofile() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
    }
    Ok(lim.rlim_max)
}

/// Writes all of `buf` to a raw fd (used for pipes to/from workers).
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let r = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        buf = &buf[r as usize..];
    }
    Ok(())
}

/// One `read()` into `buf`; returns bytes read (0 = EOF).
pub fn read_some(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// `pipe2(O_CLOEXEC)` → (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both fds are fresh from pipe2.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A signal set containing `sigs`.
pub fn sigset(sigs: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in sigs {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

pub fn set_sigmask(how: libc::c_int, set: &libc::sigset_t) -> io::Result<()> {
    let r = unsafe { libc::sigprocmask(how, set, std::ptr::null_mut()) };
    cvt(r)?;
    Ok(())
}

/// A CLOEXEC signalfd for `set` (the signals must already be blocked).
pub fn signalfd(set: &libc::sigset_t) -> io::Result<OwnedFd> {
    let fd = cvt(unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
    // SAFETY: fresh fd from signalfd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Drains a signalfd, returning the signal numbers read.
pub fn read_signals(fd: &OwnedFd) -> io::Result<Vec<libc::c_int>> {
    let mut out = Vec::new();
    loop {
        // SAFETY: signalfd_siginfo is plain data.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        let r = unsafe {
            libc::read(
                fd.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                size,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => return Ok(out),
                Some(libc::EINTR) => continue,
                _ => return Err(e),
            }
        }
        if r as usize != size {
            return Ok(out);
        }
        out.push(info.ssi_signo as libc::c_int);
    }
}

/// Redirects `target` (e.g. stdout) to /dev/null.
pub fn redirect_to_devnull(target: RawFd) -> io::Result<()> {
    let fd = cvt(unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) })?;
    let r = cvt(unsafe { libc::dup2(fd, target) });
    unsafe { libc::close(fd) };
    r.map(|_| ())
}

/// Human-readable description of a `waitpid` status.
pub fn describe_status(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status:#x}")
    }
}
