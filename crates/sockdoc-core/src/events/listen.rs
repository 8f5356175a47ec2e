//! The listener side of a watch: one subscription to the destroy broadcasts per protocol, read as
//! fast as they come; each end is resolved against the scans at once, filtered, and queued.

use std::time::{Duration, Instant};

use sockdoc_diag::{DiagError, DiagSocket, Proto};
use sockdoc_proc::Netns;

use super::{diag_socket, Inner, Losses, Warning, WatchError};
use crate::filter::Filter;
use crate::NoOwners;

/// A subscribed socket for each protocol the filter can match, with `kernel_buffer` bytes to
/// receive into.
pub(super) fn subscribe(
    ns: &Netns,
    filter: &Filter,
    kernel_buffer: usize,
) -> Result<Vec<(Proto, DiagSocket)>, WatchError> {
    let (tcp, udp) = filter.protocols();
    let mut subs = Vec::new();
    for (proto, on) in [(Proto::Tcp, tcp), (Proto::Udp, udp)] {
        if on {
            let mut sock = diag_socket(ns)?;
            sock.subscribe_destroy(proto)
                .map_err(|err| WatchError::Subscribe { proto, err })?;
            sock.set_recv_buffer(kernel_buffer);
            subs.push((proto, sock));
        }
    }
    Ok(subs)
}

/// Read broadcasts until stopped: each end is resolved against the scans at once (its lifetime is
/// measured at arrival), filtered, and queued for the reader; a full queue drops and counts it, an
/// overflowing kernel buffer (ENOBUFS) is counted. Any other error stops this listener (warned).
pub(super) fn listen(inner: &Inner, index: usize, proto: Proto, mut sock: DiagSocket) {
    let mut batch = Vec::new();
    let mut ready = Vec::new();
    while !inner.stopped() {
        batch.clear();
        let asked = Instant::now();
        let r = sock.next_broadcast(proto, Duration::from_millis(100), &mut |s| batch.push(*s));
        if !batch.is_empty() || sock.drained() {
            let at = Instant::now();
            let mut sh = inner.shared();
            if sock.drained() {
                // Everything the kernel had queued before this call is now taken in.
                sh.caught_up[index] = Some(asked);
            }
            for s in batch.iter_mut() {
                let ended = sh.tracker.end(s.cookie, at);
                // Filters on state mean the state it ended from.
                if let Some(st) = ended.last_state {
                    s.state = st;
                }
                if inner.filter.matches(s, &NoOwners) {
                    ready.push((*s, ended));
                }
            }
        }
        for e in ready.drain(..) {
            if !inner.queue.try_push(e) {
                Losses::add(&inner.losses.slow, 1);
            }
        }
        match r {
            Ok(_) => {}
            // The kernel dropped broadcasts (the buffer was full): at least one end is lost.
            Err(DiagError::Overrun) => Losses::add(&inner.losses.overflows, 1),
            Err(err) => {
                (inner.warn)(&Warning::Stopped { proto, err });
                break;
            }
        }
    }
    inner.queue.sender_done();
}
