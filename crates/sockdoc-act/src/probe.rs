//! Turning ghost suspects into verdicts. Each suspect is given fast keepalive probes for a moment
//! (idle 1 s, interval 1 s, and a probe count high enough that the kernel never gives up during the
//! test), through a borrowed fd; afterwards the caller reads the kernel again and the original options
//! are put back exactly. A peer that ACKs is alive; one whose probes pile up unanswered, or that answers
//! with a reset, is dead.

use std::io;
use std::os::fd::OwnedFd;

use crate::keepalive::{read, write, Keepalive};
use crate::pidfd::borrow_socket;

/// Probes the kernel may send before it would drop the connection itself; far more than a probe run
/// lasts, so probing never kills.
const PROBE_CNT: u32 = 120;

/// A socket being probed: our borrowed fd and what to restore.
pub struct Probing {
    fd: OwnedFd,
    pub original: Keepalive,
}

/// Start fast keepalive probes on socket `inode` held as `fd` by `pid`.
pub fn start(pid: u32, fd: u32, inode: u32) -> io::Result<Probing> {
    let dup = borrow_socket(pid, fd, inode)?;
    let original = read(&dup)?;
    let fast = Keepalive {
        enabled: true,
        idle: 1,
        intvl: 1,
        cnt: PROBE_CNT,
        user_timeout_ms: original.user_timeout_ms,
    };
    write(&dup, &fast)?;
    Ok(Probing { fd: dup, original })
}

impl Probing {
    /// Put the original options back (a no-op error if the socket is gone already).
    pub fn restore(self) -> io::Result<()> {
        write(&self.fd, &self.original)
    }
}
