//! Borrowing another process's file descriptor: `pidfd_open` + `pidfd_getfd` (Linux ≥ 5.6, needs
//! ptrace access to the process — root, or CAP_SYS_PTRACE). Our copy refers to the same socket: options
//! set through it apply to the owner's socket; closing it leaves the owner's fd open.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A duplicate of `fd` of process `pid`.
pub fn dup_from(pid: u32, fd: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    let fd = libc::c_int::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: plain syscalls with integer arguments; results are checked before use.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pidfd is a fresh descriptor we own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as libc::c_int) };
    // SAFETY: as above.
    let dup = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: dup is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(dup as libc::c_int) })
}

/// Grow this process's descriptor table, once, to hold `n` more descriptors than it does now (at most
/// up to `RLIMIT_NOFILE`). The kernel doubles the table as it fills, and a process with more than one
/// thread waits for an RCU grace period (~10 ms) at each doubling: borrowing 4,000 sockets one by one
/// while the audit writer's thread runs cost 90 ms of waiting. Best effort: nothing happens when it
/// cannot be done.
pub fn make_room(n: usize) {
    let Ok(probe) = std::fs::File::open("/dev/null") else {
        return;
    };
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    let ceiling = usize::try_from(lim.rlim_cur)
        .unwrap_or(usize::MAX)
        .saturating_sub(1);
    let want = (probe.as_raw_fd() as usize).saturating_add(n).min(ceiling);
    let Ok(want) = libc::c_int::try_from(want) else {
        return;
    };
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd returns a new descriptor (≥ want) or -1.
    let high = unsafe { libc::fcntl(probe.as_raw_fd(), libc::F_DUPFD_CLOEXEC, want) };
    if high >= 0 {
        // SAFETY: high is a fresh descriptor we own; the table keeps its size once it is closed.
        drop(unsafe { OwnedFd::from_raw_fd(high) });
    }
}

/// The socket inode behind a descriptor of ours (to make sure we borrowed the socket we meant).
pub fn socket_inode(fd: &OwnedFd) -> io::Result<u64> {
    // SAFETY: fstat into a zeroed struct on a valid fd.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(io::Error::from_raw_os_error(libc::ENOTSOCK));
    }
    Ok(st.st_ino)
}

/// Borrow the owner's socket and check it is the one with inode `inode` (fds are reused).
pub fn borrow_socket(pid: u32, fd: u32, inode: u32) -> io::Result<OwnedFd> {
    let dup = dup_from(pid, fd)?;
    if socket_inode(&dup)? != u64::from(inode) {
        return Err(io::Error::other(format!(
            "fd {fd} of process {pid} is no longer socket {inode}"
        )));
    }
    Ok(dup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// `FDSize` of this process: the size of its descriptor table.
    fn fd_table_size() -> usize {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let line = status
            .lines()
            .find(|l| l.starts_with("FDSize:"))
            .expect("FDSize");
        line[7..].trim().parse().expect("a number")
    }

    #[test]
    fn make_room_grows_the_descriptor_table_once() {
        let before = fd_table_size();
        make_room(before + 3000);
        let after = fd_table_size();
        assert!(after >= before + 3000, "FDSize {before} -> {after}");
        // Asking for room that is there already changes nothing; asking past the limit is no error.
        make_room(10);
        make_room(usize::MAX / 2);
        assert!(fd_table_size() >= after);
    }

    #[test]
    fn borrows_our_own_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let me = std::process::id();
        let fd = u32::try_from(l.as_raw_fd()).expect("fd");
        let dup = dup_from(me, fd).expect("pidfd_getfd on ourselves");
        let ino = socket_inode(&dup).expect("a socket");
        assert!(ino > 0);
        assert!(borrow_socket(me, fd, u32::try_from(ino).expect("inode") + 1).is_err());
        assert!(dup_from(me, 99_999).is_err());
    }
}
