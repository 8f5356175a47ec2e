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
