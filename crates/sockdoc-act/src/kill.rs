//! The kill ladder. Rung 1, `destroy`: SOCK_DESTROY over sock_diag (needs CONFIG_INET_DIAG_DESTROY and
//! CAP_NET_ADMIN; works on sockets no process holds). Rung 2, `shutdown`: borrow the owner's fd and
//! shutdown(SHUT_RDWR), for kernels without SOCK_DESTROY. Every attempt is recorded with its error, so
//! the caller can say which rung worked and why the others did not — `ss -K` fails silently; we never do.

use std::io;
use std::os::fd::AsRawFd;

use sockdoc_diag::{DiagError, DiagSocket, Socket};

use crate::pidfd::borrow_socket;

/// A way to kill a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Destroy,
    Shutdown,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Destroy => "destroy",
            Method::Shutdown => "shutdown",
        }
    }
}

/// One rung tried on one socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub method: Method,
    /// `None` when the rung worked.
    pub error: Option<String>,
}

/// Explain a SOCK_DESTROY failure in the user's terms.
fn destroy_error(e: &DiagError) -> String {
    match e.errno() {
        Some(libc::EOPNOTSUPP) => {
            "the kernel was built without CONFIG_INET_DIAG_DESTROY".to_string()
        }
        Some(libc::EPERM) | Some(libc::EACCES) => "needs CAP_NET_ADMIN (run as root)".to_string(),
        Some(libc::ENOENT) => "the socket is already gone".to_string(),
        _ => e.to_string(),
    }
}

/// Try `methods` in order on `s` until one works. `diag` must be open in the socket's namespace;
/// `owner` is a (pid, fd) holding it, when one is known.
pub fn kill(
    diag: &mut DiagSocket,
    s: &Socket,
    owner: Option<(u32, u32)>,
    methods: &[Method],
) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    for &method in methods {
        let error = match method {
            Method::Destroy => diag.destroy(s).err().map(|e| destroy_error(&e)),
            Method::Shutdown => match owner {
                None => {
                    Some("no process holds this socket (TIME-WAIT, request or orphan)".to_string())
                }
                Some((pid, fd)) => {
                    shutdown(pid, fd, s.inode)
                        .err()
                        .map(|e| match e.raw_os_error() {
                            Some(libc::EPERM) => {
                                "borrowing the owner's fd needs root (ptrace access)".to_string()
                            }
                            Some(libc::ENOSYS) => {
                                "pidfd_getfd needs Linux 5.6 or newer".to_string()
                            }
                            _ => e.to_string(),
                        })
                }
            },
        };
        let done = error.is_none();
        attempts.push(Attempt { method, error });
        if done {
            break;
        }
    }
    attempts
}

/// shutdown(SHUT_RDWR) on the owner's socket: FIN to the peer, EOF to the owner.
fn shutdown(pid: u32, fd: u32, inode: u32) -> io::Result<()> {
    let dup = borrow_socket(pid, fd, inode)?;
    // SAFETY: valid socket fd.
    if unsafe { libc::shutdown(dup.as_raw_fd(), libc::SHUT_RDWR) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
