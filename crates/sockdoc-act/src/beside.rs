//! Work in the network namespace a socket lives in (a sock_diag socket opened there): found with
//! `SIOCGSKNS` and entered the one way sockdoc enters a namespace
//! (`sockdoc_core::session::scope::within`), on a thread of its own.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use sockdoc_core::session::scope::within;
use sockdoc_diag::bulk::PER_THREAD_MIN;
use sockdoc_diag::DiagSocket;
use sockdoc_proc::{Netns, NetnsError};

/// Run `f` in the namespace of the socket `like`.
pub fn within_ns_of<T: Send>(
    like: BorrowedFd<'_>,
    f: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    let ns = Netns::of_socket(like).map_err(io::Error::other)?;
    within(&ns, || f().map_err(Entered::Io)).map_err(|e| match e {
        Entered::Io(e) => e,
        Entered::Netns(e) => io::Error::other(e),
    })
}

/// The most threads a bulk act shares its sockets out to.
const THREADS_MAX: usize = 4;

/// More sock_diag sockets in `diag`'s namespace, so bulk work on `sockets` sockets can be shared out
/// to the machine's cores (`sockdoc_diag::bulk::destroy_spread`): one fewer than the cores, at
/// most three; none when the selection is too small to gain from threads, or when they cannot be
/// opened (the work then stays on `diag`, as fast as one thread goes).
pub fn diag_helpers(diag: &DiagSocket, sockets: usize) -> Vec<DiagSocket> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = cores
        .min(THREADS_MAX)
        .min(sockets / PER_THREAD_MIN)
        .saturating_sub(1);
    if n == 0 {
        return Vec::new();
    }
    // SAFETY: the fd is `diag`'s, open for as long as this borrow.
    let like = unsafe { BorrowedFd::borrow_raw(diag.as_raw_fd()) };
    within_ns_of(like, || {
        (0..n)
            .map(|_| DiagSocket::open().map_err(io::Error::other))
            .collect::<io::Result<Vec<_>>>()
    })
    .unwrap_or_default()
}

enum Entered {
    Io(io::Error),
    Netns(NetnsError),
}

impl From<NetnsError> for Entered {
    fn from(e: NetnsError) -> Entered {
        Entered::Netns(e)
    }
}
