//! The queue from the listener threads to the reader of a watch: bounded, never blocking a listener.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// The queue from the listeners to the writer: bounded (a full queue refuses, it never blocks a
/// listener) and allocated as it fills, so an idle stream costs nothing and a drained one gives the
/// memory of a burst back.
pub struct Queue<T> {
    items: Mutex<VecDeque<T>>,
    ready: Condvar,
    cap: usize,
    /// Listeners still running; none left and nothing queued = closed.
    senders: AtomicU64,
}

/// What [`Queue::recv_timeout`] got.
pub enum Received<T> {
    Item(T),
    Timeout,
    Closed,
}

impl<T> Queue<T> {
    pub fn new(cap: usize, senders: usize) -> Queue<T> {
        Queue {
            items: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            cap,
            senders: AtomicU64::new(senders as u64),
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<T>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue `item`; false (and `item` dropped) when full.
    pub fn try_push(&self, item: T) -> bool {
        let mut q = self.lock();
        if q.len() >= self.cap {
            return false;
        }
        q.push_back(item);
        drop(q);
        self.ready.notify_one();
        true
    }

    /// A listener ended.
    pub fn sender_done(&self) {
        self.senders.fetch_sub(1, Ordering::SeqCst);
        self.ready.notify_all();
    }

    pub fn recv_timeout(&self, wait: Duration) -> Received<T> {
        let mut q = self.lock();
        if q.is_empty() && self.senders.load(Ordering::SeqCst) > 0 {
            q = self
                .ready
                .wait_timeout(q, wait)
                .map(|(q, _)| q)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        match q.pop_front() {
            Some(item) => {
                // A burst drained: give its memory back.
                if q.is_empty() && q.capacity() > 4096 {
                    q.shrink_to(1024);
                }
                Received::Item(item)
            }
            None if self.senders.load(Ordering::SeqCst) == 0 => Received::Closed,
            None => Received::Timeout,
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_refuses_when_full_closes_when_its_listeners_end_and_shrinks_when_drained() {
        let q = Queue::new(10_000, 1);
        assert_eq!(
            q.lock().capacity(),
            0,
            "nothing allocated before the first end"
        );
        for i in 0..10_000 {
            assert!(q.try_push(i));
        }
        assert!(!q.try_push(10_000), "full: refused, never blocking");
        assert_eq!(q.len(), 10_000);
        for i in 0..10_000 {
            assert!(matches!(q.recv_timeout(Duration::ZERO), Received::Item(n) if n == i));
        }
        assert!(
            q.lock().capacity() <= 4096,
            "a drained burst gives its memory back"
        );
        assert!(matches!(
            q.recv_timeout(Duration::from_millis(1)),
            Received::Timeout
        ));
        q.try_push(7);
        q.sender_done();
        assert!(matches!(q.recv_timeout(Duration::ZERO), Received::Item(7)));
        assert!(matches!(q.recv_timeout(Duration::ZERO), Received::Closed));
    }
}
