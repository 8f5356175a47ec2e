//! When a walk has read enough: an act needs one holder of each socket it takes, not every holder,
//! so its walk ends as soon as each of those sockets has one. The set is given while the walk runs
//! (the census it runs beside ends after the walk has started); until then the walk reads on.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The socket inodes a walk may stop at, and how many of them it has found a holder of.
#[derive(Default)]
pub struct Enough {
    wanted: OnceLock<Wanted>,
    found: AtomicUsize,
}

struct Wanted {
    /// Sorted, without repeats or 0 (sockets with no inode have no holder to find).
    inodes: Vec<u32>,
    hit: Vec<AtomicBool>,
}

impl Enough {
    pub fn new() -> Enough {
        Enough::default()
    }

    /// The sockets to find a holder of; the first call sets them, later ones are ignored.
    pub fn want(&self, inodes: impl IntoIterator<Item = u32>) {
        let mut inodes: Vec<u32> = inodes.into_iter().filter(|&i| i != 0).collect();
        inodes.sort_unstable();
        inodes.dedup();
        let hit = inodes.iter().map(|_| AtomicBool::new(false)).collect();
        let _ = self.wanted.set(Wanted { inodes, hit });
    }

    /// The same sockets, none found yet (for a second walk that starts over).
    pub fn again(&self) -> Enough {
        let again = Enough::new();
        if let Some(w) = self.wanted.get() {
            again.want(w.inodes.iter().copied());
        }
        again
    }

    /// Whether the sockets are known yet.
    pub(super) fn is_set(&self) -> bool {
        self.wanted.get().is_some()
    }

    /// A holder of `inode` was found.
    pub(super) fn note(&self, inode: u32) {
        let Some(w) = self.wanted.get() else { return };
        if let Ok(i) = w.inodes.binary_search(&inode) {
            if !w.hit[i].swap(true, Ordering::Relaxed) {
                self.found.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Every socket wanted has a holder.
    pub fn reached(&self) -> bool {
        self.wanted
            .get()
            .is_some_and(|w| self.found.load(Ordering::Relaxed) >= w.inodes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reached_once_every_wanted_inode_is_noted() {
        let e = Enough::new();
        e.note(5);
        assert!(!e.reached(), "nothing is wanted yet: the walk reads on");
        e.want([5, 0, 7, 5]);
        assert!(!e.reached());
        e.note(5);
        e.note(5);
        e.note(9);
        assert!(!e.reached(), "7 has no holder yet");
        e.note(7);
        assert!(e.reached());
        let again = e.again();
        assert!(!again.reached());
        let none = Enough::new();
        none.want([0, 0]);
        assert!(
            none.reached(),
            "sockets without an inode have no holder to wait for"
        );
    }
}
