//! Socket buffers handed back by a daemon after each census, for the next one to fill.

use sockdoc_diag::Socket;

use super::owners::lock;
use super::{Sample, Session};

impl Session {
    /// Give the socket buffers of `samples` back for the next census of this session to fill.
    /// A daemon's census of 300k sockets is 40 MB: a buffer the kernel must map and zero again
    /// at each scan costs ~10 ms of CPU in page faults; one kept is filled where it is.
    pub fn recycle(&self, samples: Vec<Sample>) {
        for s in samples {
            self.recycle_sockets(s.sockets);
        }
    }

    /// [`Session::recycle`] of one sample's sockets, taken out of it.
    pub fn recycle_sockets(&self, mut sockets: Vec<Socket>) {
        sockets.clear();
        let mut spare = lock(&self.spare);
        spare.push(sockets);
        // The largest first, one a namespace (a census joins its dumps into one buffer each).
        spare.sort_by_key(|v| std::cmp::Reverse(v.capacity()));
        spare.truncate(self.scope.namespaces.len().max(1));
    }

    /// A buffer for `estimate` sockets: a spare one of about that size (the dumps run at once:
    /// a small one must not take the big one from the large), grown to it if need be, or a new
    /// one. A spare left unused is dropped at the next hand-back: they never pile up.
    pub(super) fn buffer(&self, estimate: usize) -> Vec<Socket> {
        let fits =
            |v: &Vec<Socket>| (estimate / 2..=estimate.max(1024) * 4).contains(&v.capacity());
        let mut spare = lock(&self.spare);
        match spare.iter().rposition(fits) {
            Some(i) => {
                let mut v = spare.swap_remove(i);
                v.reserve_exact(estimate);
                v
            }
            None => Vec::with_capacity(estimate),
        }
    }
}
