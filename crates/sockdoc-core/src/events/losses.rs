//! What a watch lost: counters kept by the threads that see a loss (the listeners, the scanner, the
//! queue), read as one set of totals by whoever reports them.

use std::sync::atomic::{AtomicU64, Ordering};

/// Losses, counted by the threads that see them. One set may span several watches (a recreated
/// namespace followed): the totals are the stream's.
#[derive(Debug, Default)]
pub struct Losses {
    /// Ends dropped because the queue to the reader was full (exact).
    pub slow: AtomicU64,
    /// ENOBUFS on a subscription socket: the kernel dropped at least one broadcast each time.
    pub overflows: AtomicU64,
    /// Connections the scans saw that vanished with no end event (exact, for what scans saw).
    pub unreported: AtomicU64,
}

/// Loss totals at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossCounts {
    pub slow: u64,
    pub overflows: u64,
    pub unreported: u64,
}

impl Losses {
    /// The totals now.
    pub fn counts(&self) -> LossCounts {
        LossCounts {
            slow: self.slow.load(Ordering::SeqCst),
            overflows: self.overflows.load(Ordering::SeqCst),
            unreported: self.unreported.load(Ordering::SeqCst),
        }
    }

    pub(super) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::SeqCst);
    }
}
