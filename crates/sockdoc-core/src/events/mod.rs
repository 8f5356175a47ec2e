//! Connection ends as they happen in one network namespace: the engine of `sockdoc events`.
//!
//! A [`Watch`] subscribes to the kernel's sock_diag destroy broadcasts (TCP and/or UDP, IPv4 and
//! IPv6, as the filter allows), one listener thread per protocol. The broadcast carries no start
//! time and always says CLOSE, so a scanner thread dumps the namespace every [`Options::scan`]
//! through a census [`Session`] (no tcp_info) into a lifetime [`Tracker`]: each end is resolved
//! against it at arrival, with the state the scans last saw, a lifetime known to within one scan
//! interval, and the owner seen. Owners, when asked for, are walked on a thread of their own at
//! most every scan interval and attached to the latest scan's sockets: a walk of /proc is far
//! slower than a dump and must not space the scans out.
//!
//! Nothing is lost silently and memory stays bounded: ends wait for the reader in a queue of
//! [`Options::buffer`] (a full queue drops and counts), ENOBUFS (the kernel's buffer overflowed) is
//! counted, and connections the scans saw that vanish without an end event are counted too: see
//! [`Losses`].
//!
//! It never prints: problems a running watch meets are handed to the caller's [`Warn`] callback
//! as [`Warning`] values. It never changes the system.

mod listen;
mod losses;
mod queue;
mod scan;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sockdoc_diag::{DiagError, DiagSocket, Proto, Socket};
use sockdoc_proc::{Netns, NetnsError};

use crate::collect::CensusError;
use crate::filter::Filter;
use crate::lifetimes::{Ended, Tracker};
use crate::session::{scope, Refresh, Scope, Session};

pub use losses::{LossCounts, Losses};
use queue::Queue;
pub use queue::Received;

/// What to watch and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Which ends to report, judged on the socket as it ended with the state the scans last saw it
    /// in. It may not name processes: an owner is gone by the time its socket ends.
    pub filter: Filter,
    /// Time between two scans; zero: no scans (no lifetimes, states or owners, and no count of
    /// what vanished unreported).
    pub scan: Duration,
    /// Read owners (the processes owning the sockets the scans saw, with their names), at most
    /// every scan interval; needs scans.
    pub owners: bool,
    /// Ends held for a slow reader; more are dropped and counted.
    pub buffer: usize,
    /// Receive buffer of each subscription, bytes.
    pub kernel_buffer: usize,
}

/// One connection end.
#[derive(Clone, Debug)]
pub struct End {
    /// The socket as the kernel broadcast it, its state the one the scans last saw (when they saw it).
    pub socket: Socket,
    pub ended: Ended,
    /// The name of the owning process the scans saw.
    pub owner: Option<String>,
}

/// Why a watch could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// A sock_diag socket could not be opened in the namespace.
    #[error(transparent)]
    Open(DiagError),
    #[error("cannot subscribe to {} destroy events: {err}", proto.name())]
    Subscribe { proto: Proto, err: DiagError },
    /// The owner reader could not start.
    #[error("cannot start the owner reader: {0}")]
    Owners(std::io::Error),
    /// The first scan failed.
    #[error(transparent)]
    Scan(CensusError),
}

/// What a running watch met, for the caller to say (one line each).
#[derive(Debug, thiserror::Error)]
pub enum Warning {
    /// A scan failed; the next one is tried at the next interval.
    #[error("events scan failed (lifetimes may be less precise): {0}")]
    ScanFailed(CensusError),
    /// A protocol's broadcasts can no longer be read: its listener stopped.
    #[error("{} events stopped: {err}", proto.name())]
    Stopped { proto: Proto, err: DiagError },
}

/// Where a running watch's warnings go.
pub type Warn = Arc<dyn Fn(&Warning) + Send + Sync>;

/// What the scanner and listener threads share with the reader.
struct Shared {
    tracker: Tracker,
    /// Names of the processes the scans saw owning sockets.
    names: HashMap<u32, String>,
    /// Per listener: the last time it had taken in every broadcast queued for it.
    caught_up: Vec<Option<Instant>>,
    /// The latest scan's sockets with an inode (cookie, inode), for the next owner walk.
    last_scan: Vec<(u64, u32)>,
}

/// What every thread of a watch holds.
struct Inner {
    ns: Netns,
    filter: Filter,
    /// Each scan reads owners.
    owners: bool,
    shared: Mutex<Shared>,
    queue: Queue<(Socket, Ended)>,
    losses: Arc<Losses>,
    stop: AtomicBool,
    warn: Warn,
}

impl Inner {
    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// A running watch of one namespace; see the module comment. Dropping it stops it.
pub struct Watch {
    inner: Arc<Inner>,
    threads: Vec<JoinHandle<()>>,
}

impl Watch {
    /// Subscribe in `ns`, run the first scan, and start the listener and scanner threads. Losses
    /// are added to `losses`.
    pub fn start(
        ns: &Netns,
        opts: &Options,
        losses: Arc<Losses>,
        warn: Warn,
    ) -> Result<Watch, WatchError> {
        let subs = listen::subscribe(ns, &opts.filter, opts.kernel_buffer)?;
        let session = Session::new(
            Scope::one(ns.clone()),
            scan::plan(&opts.filter),
            Refresh::Lazy,
        )
        .map_err(WatchError::Owners)?;
        let inner = Arc::new(Inner {
            ns: ns.clone(),
            filter: opts.filter.clone(),
            owners: opts.owners,
            shared: Mutex::new(Shared {
                tracker: Tracker::new(Instant::now()),
                names: HashMap::new(),
                caught_up: vec![None; subs.len()],
                last_scan: Vec::new(),
            }),
            // Bounded: a slow reader holds at most `buffer` ends; the rest are counted as lost.
            queue: Queue::new(opts.buffer, subs.len()),
            losses,
            stop: AtomicBool::new(false),
            warn,
        });
        let mut watch = Watch {
            inner,
            threads: Vec::new(),
        };
        for (i, (proto, sock)) in subs.into_iter().enumerate() {
            watch.spawn(move |inner| listen::listen(inner, i, proto, sock));
        }
        if !opts.scan.is_zero() {
            // A failed first scan stops the watch (dropped here).
            scan::scan_once(&watch.inner, &session).map_err(WatchError::Scan)?;
            let every = opts.scan;
            let session = Arc::new(session);
            if opts.owners {
                scan::walk_owners(&watch.inner, &session).map_err(WatchError::Scan)?;
                let session = session.clone();
                watch.spawn(move |inner| scan::owner_walker(inner, &session, every));
            }
            watch.spawn(move |inner| scan::scanner(inner, &session, every));
        }
        Ok(watch)
    }

    fn spawn(&mut self, f: impl FnOnce(&Inner) + Send + 'static) {
        let inner = self.inner.clone();
        self.threads.push(std::thread::spawn(move || f(&inner)));
    }

    /// The next end, waiting at most `wait`; [`Received::Closed`] once every listener stopped on an
    /// error (each was handed to the warn callback).
    pub fn next(&self, wait: Duration) -> Received<End> {
        match self.inner.queue.recv_timeout(wait) {
            Received::Item((socket, ended)) => {
                let owner = ended
                    .pid
                    .and_then(|p| self.inner.shared().names.get(&p).cloned());
                Received::Item(End {
                    socket,
                    ended,
                    owner,
                })
            }
            Received::Timeout => Received::Timeout,
            Received::Closed => Received::Closed,
        }
    }

    /// The losses this watch adds to.
    pub fn losses(&self) -> &Losses {
        &self.inner.losses
    }

    /// Stop the threads. With `queued_are_lost`, ends still queued (never read) are counted as lost
    /// to a slow reader; without, they were not asked for (the caller had all it wanted).
    pub fn stop(mut self, queued_are_lost: bool) {
        self.halt();
        if queued_are_lost {
            let left = self.inner.queue.len() as u64;
            Losses::add(&self.inner.losses.slow, left);
        }
    }

    fn halt(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            // A thread that panicked has nothing more to give; the watch is over either way.
            let _ = t.join();
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.halt();
    }
}

/// A sock_diag socket opened inside `ns`.
fn diag_socket(ns: &Netns) -> Result<DiagSocket, WatchError> {
    scope::within(ns, || DiagSocket::open().map_err(WatchError::Open))
}
