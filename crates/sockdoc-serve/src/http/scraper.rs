//! [`Scraper`]: runs the caller's blocking render one scrape at a time, off the network thread, and
//! shares a running scrape's result with the requests that waited for it (never a result older than
//! the request).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hyper::body::Bytes;

use super::Render;

/// A scrape's number and its result.
type Scraped = (u64, Result<Bytes, String>);

/// Runs the blocking `render` one at a time, off the async thread. A request that arrived while a
/// scrape was running takes the result of the next scrape to start, which may be its own or one that
/// began after it arrived: never a result older than the request.
pub(super) struct Scraper {
    render: Render,
    /// Scrapes started so far; a result is fresh for a request when its number is higher than this
    /// count was when the request arrived.
    started: AtomicU64,
    last: Arc<tokio::sync::Mutex<Option<Scraped>>>,
}

impl Scraper {
    pub(super) fn new(render: Render) -> Scraper {
        Scraper {
            render,
            started: AtomicU64::new(0),
            last: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    pub(super) async fn scrape(&self) -> Result<Bytes, String> {
        let arrived = self.started.load(Ordering::SeqCst);
        let mut last = self.last.clone().lock_owned().await;
        if let Some((seq, r)) = last.as_ref() {
            if *seq > arrived {
                return r.clone();
            }
        }
        let seq = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let render = self.render.clone();
        // The lock goes with the work into a task of its own: a client hanging up mid-scrape drops
        // this future, not the lock, so two scrapes never overlap.
        tokio::spawn(async move {
            let r = tokio::task::spawn_blocking(move || render())
                .await
                .unwrap_or_else(|e| Err(format!("the scrape failed: {e}")))
                .map(Bytes::from);
            *last = Some((seq, r.clone()));
            r
        })
        .await
        .unwrap_or_else(|e| Err(format!("the scrape failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[test]
    fn scrapes_never_overlap_and_waiters_share_a_result_no_older_than_them() {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let renders = Arc::new(AtomicUsize::new(0));
        let render: Render = {
            let (in_flight, most, renders) = (in_flight.clone(), most.clone(), renders.clone());
            Arc::new(move || {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let n = renders.fetch_add(1, Ordering::SeqCst) + 1;
                std::thread::sleep(Duration::from_millis(200));
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Ok(format!("scrape {n}"))
            })
        };
        let scraper = Arc::new(Scraper::new(render));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            // Ten requests at once: the first runs a scrape; the others arrived after it began, so
            // the next one runs a second scrape and the rest share that one.
            let tasks: Vec<_> = (0..10)
                .map(|_| {
                    let s = scraper.clone();
                    tokio::spawn(async move { s.scrape().await })
                })
                .collect();
            let mut got = Vec::new();
            for t in tasks {
                got.push(t.await.expect("task").expect("scrape"));
            }
            assert_eq!(most.load(Ordering::SeqCst), 1, "two scrapes overlapped");
            assert_eq!(renders.load(Ordering::SeqCst), 2, "{got:?}");
            assert_eq!(got.iter().filter(|b| **b == "scrape 1").count(), 1);
            assert_eq!(got.iter().filter(|b| **b == "scrape 2").count(), 9);
            // A request after the last scrape ended never gets its result: it runs its own.
            assert_eq!(scraper.scrape().await.expect("scrape"), "scrape 3");
        });
    }
}
