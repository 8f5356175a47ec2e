//! Which processes own a socket, behind one trait: an [`OwnerSource`] does the expensive read (the
//! /proc fd walk), and an [`OwnerCache`] decides when to read again by an explicit [`Refresh`]
//! policy. Commands pick a policy; none of them reads owners itself. (Services, from the sockets'
//! cgroup ids, need no such walk: [`super::ServiceCache`] reads the cgroup tree again only when a
//! census brings an id it has not seen.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sockdoc_diag::Socket;
use sockdoc_proc::owners::Enough;
use sockdoc_proc::SocketOwners;

/// A way to learn socket owners. The read is the expensive part; caching is the cache's business.
pub trait OwnerSource: Send + Sync + 'static {
    /// What one read yields.
    type Map: Send + Sync + 'static;
    /// Read the owners of every socket now, with up to `threads` threads.
    fn read(&self, threads: usize) -> std::io::Result<Self::Map>;

    /// Read what the sockets of the namespace with inode `netns` most likely need, when the source
    /// can do that for less (default: everything).
    fn read_for(&self, threads: usize, netns: u64) -> std::io::Result<Self::Map> {
        let _ = netns;
        self.read(threads)
    }

    /// Read until `enough` says each socket it wants has a holder (an act needs one holder of each
    /// socket, not all of them), only in the namespace `netns` when given; default: the whole read.
    fn read_until(
        &self,
        threads: usize,
        netns: Option<u64>,
        enough: &Enough,
    ) -> std::io::Result<Self::Map> {
        let _ = enough;
        match netns {
            Some(n) => self.read_for(threads, n),
            None => self.read(threads),
        }
    }

    /// Whether `map` from [`OwnerSource::read_for`] answers for every one of `sockets` that has an
    /// owner to find; when it does not, the session reads everything.
    fn covers(&self, map: &Self::Map, sockets: &[Socket]) -> bool {
        let _ = (map, sockets);
        true
    }

    /// Read again after `before`, for less when the source can tell what cannot have changed
    /// (`alive`: whether a socket inode is in the census since); default: everything.
    fn read_again(
        &self,
        before: &Self::Map,
        threads: usize,
        alive: &(dyn Fn(u32) -> bool + Sync),
    ) -> std::io::Result<Self::Map> {
        let _ = (before, alive);
        self.read(threads)
    }
}

/// The socket inodes of the latest census, asked for when a background walk starts (see
/// [`OwnerCache::census_inodes`]).
pub type CensusInodes = Box<dyn Fn() -> Vec<u32> + Send + Sync>;

/// A background reader walks everything at least every this many reads; in between it reads again
/// only what may have changed ([`OwnerSource::read_again`]), when the census is known.
pub const FULL_READ_EVERY: u32 = 6;

/// Socket inode → processes, from one walk of /proc/*/fd: the only place sockdoc walks it.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcFds;

impl OwnerSource for ProcFds {
    type Map = SocketOwners;
    fn read(&self, threads: usize) -> std::io::Result<SocketOwners> {
        SocketOwners::walk("/proc", threads)
    }

    /// Only the processes of that namespace: on a host with many containers, a census of one reads
    /// the fds of its own processes, not of every process on the host.
    fn read_for(&self, threads: usize, netns: u64) -> std::io::Result<SocketOwners> {
        SocketOwners::walk_in("/proc", threads, Some(netns))
    }

    /// Processes in /proc order until each wanted socket has a holder: see
    /// [`SocketOwners::walk_until`].
    fn read_until(
        &self,
        threads: usize,
        netns: Option<u64>,
        enough: &Enough,
    ) -> std::io::Result<SocketOwners> {
        SocketOwners::walk_until("/proc", threads, netns, enough)
    }

    /// Only the processes that may have changed: see [`SocketOwners::walk_again`].
    fn read_again(
        &self,
        before: &SocketOwners,
        threads: usize,
        alive: &(dyn Fn(u32) -> bool + Sync),
    ) -> std::io::Result<SocketOwners> {
        before.walk_again("/proc", threads, alive)
    }

    /// A socket with an inode is held by some fd (orphans have none); when such a socket has no
    /// owner among the namespace's processes, one outside it holds it (passed or inherited).
    fn covers(&self, map: &SocketOwners, sockets: &[Socket]) -> bool {
        map.netns.is_none()
            || sockets
                .iter()
                .all(|s| s.inode == 0 || map.owners(s.inode).next().is_some())
    }
}

/// When owners are read again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// Once per run, alongside the first sample that needs them; later samples of the run (the other
    /// namespaces of `--all-netns`) share that read: socket inodes are host-wide.
    PerRun,
    /// At most once per sample, and only when asked for (the reaper reads owners only when a rule's
    /// decision needs them).
    Lazy,
    /// Alongside a sample when the last read is older than this (the exporter's `--owners-every`).
    Every(Duration),
    /// On a thread of its own, every interval and never more than a twentieth of the time (a live view
    /// stays light: at 300k sockets a walk costs ~0.4 s of CPU); samples take
    /// the latest read and never wait, except for the very first (the live view).
    Background(Duration),
}

/// One read and when it finished.
pub struct Fresh<M> {
    pub map: Arc<M>,
    pub at: Instant,
}

impl<M> Clone for Fresh<M> {
    fn clone(&self) -> Self {
        Fresh {
            map: self.map.clone(),
            at: self.at,
        }
    }
}

struct Shared<S: OwnerSource> {
    source: S,
    latest: Mutex<Option<Fresh<S::Map>>>,
    /// Signalled when a background read lands.
    landed: Condvar,
    /// A background reader does not read while paused.
    paused: AtomicBool,
    /// A read was tried (it may have failed): first waiters stop waiting.
    tried: AtomicBool,
    /// The latest census's socket inodes, for reads again.
    census: Mutex<Option<CensusInodes>>,
}

/// A source with its refresh policy and its latest read.
pub struct OwnerCache<S: OwnerSource> {
    shared: Arc<Shared<S>>,
    policy: Refresh,
    /// Dropped to stop the background reader.
    stop: Option<Sender<()>>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl<S: OwnerSource> OwnerCache<S> {
    /// A cache of `source` under `policy`. A background policy starts its reader thread at once (the
    /// first read uses every core: the first screen waits for it; later ones use one).
    pub fn new(source: S, policy: Refresh) -> std::io::Result<OwnerCache<S>> {
        let shared = Arc::new(Shared {
            source,
            latest: Mutex::new(None),
            landed: Condvar::new(),
            paused: AtomicBool::new(false),
            tried: AtomicBool::new(false),
            census: Mutex::new(None),
        });
        let stop = match policy {
            Refresh::Background(every) => {
                let (tx, rx) = mpsc::channel();
                let s = shared.clone();
                std::thread::Builder::new()
                    .name("owners".into())
                    .spawn(move || background(&s, every, &rx))?;
                Some(tx)
            }
            _ => None,
        };
        Ok(OwnerCache {
            shared,
            policy,
            stop,
        })
    }

    pub fn policy(&self) -> Refresh {
        self.policy
    }

    /// Whether a sample that `needs` owners should read them alongside its dumps.
    pub fn due(&self, needs: bool) -> bool {
        let latest = lock(&self.shared.latest);
        match self.policy {
            Refresh::PerRun => needs && latest.is_none(),
            Refresh::Lazy => needs,
            Refresh::Every(every) => {
                needs && latest.as_ref().is_none_or(|f| f.at.elapsed() >= every)
            }
            Refresh::Background(_) => false,
        }
    }

    /// Read now (on the calling thread) and keep the result as the latest (a lazy cache keeps
    /// nothing: each sample reads its own).
    pub fn read_now(&self) -> std::io::Result<Fresh<S::Map>> {
        self.read_with(true, |s, t| s.read(t))
    }

    /// Like [`OwnerCache::read_now`], with [`OwnerSource::read_for`] the namespace `netns`.
    pub fn read_now_for(&self, netns: u64) -> std::io::Result<Fresh<S::Map>> {
        self.read_with(true, |s, t| s.read_for(t, netns))
    }

    /// Like [`OwnerCache::read_now`], with [`OwnerSource::read_until`]. The read answers only for
    /// the sockets `enough` wants, so it is not kept for later samples.
    pub fn read_now_until(
        &self,
        netns: Option<u64>,
        enough: &Enough,
    ) -> std::io::Result<Fresh<S::Map>> {
        self.read_with(false, |s, t| s.read_until(t, netns, enough))
    }

    /// Read again after `before` (see [`OwnerSource::read_again`]: only what may have changed,
    /// `alive` telling the sockets in the census since), on the calling thread; not kept.
    pub fn read_again_now(
        &self,
        before: &S::Map,
        alive: &(dyn Fn(u32) -> bool + Sync),
    ) -> std::io::Result<Fresh<S::Map>> {
        self.read_with(false, |s, t| s.read_again(before, t, alive))
    }

    /// Whether `fresh` answers for `sockets` (see [`OwnerSource::covers`]).
    pub fn covers(&self, fresh: &Fresh<S::Map>, sockets: &[Socket]) -> bool {
        self.shared.source.covers(&fresh.map, sockets)
    }

    fn read_with(
        &self,
        keep: bool,
        read: impl FnOnce(&S, usize) -> std::io::Result<S::Map>,
    ) -> std::io::Result<Fresh<S::Map>> {
        // The old map goes first: two host-wide maps at once would only raise the peak.
        if !matches!(self.policy, Refresh::Background(_)) {
            *lock(&self.shared.latest) = None;
        }
        let map = Arc::new(read(&self.shared.source, threads())?);
        let fresh = Fresh {
            map,
            at: Instant::now(),
        };
        if keep && self.policy != Refresh::Lazy {
            *lock(&self.shared.latest) = Some(fresh.clone());
        }
        Ok(fresh)
    }

    /// The latest read, if any.
    pub fn latest(&self) -> Option<Fresh<S::Map>> {
        lock(&self.shared.latest).clone()
    }

    /// Forget the latest read (the namespace changed, or a lazy sample ended).
    pub fn forget(&self) {
        if !matches!(self.policy, Refresh::Background(_)) {
            *lock(&self.shared.latest) = None;
        }
    }

    /// Wait (at most `limit`) for the background reader's first read.
    pub fn wait_first(&self, limit: Duration) -> Option<Fresh<S::Map>> {
        let latest = lock(&self.shared.latest);
        let (latest, _) = self
            .shared
            .landed
            .wait_timeout_while(latest, limit, |l| {
                l.is_none() && !self.shared.tried.load(Ordering::SeqCst)
            })
            .unwrap_or_else(PoisonError::into_inner);
        latest.clone()
    }

    /// Pause or resume a background reader (a paused screen needs no fresh owners).
    pub fn pause(&self, paused: bool) {
        self.shared.paused.store(paused, Ordering::Relaxed);
    }

    /// Where a background reader learns which sockets the census shows now, so that it reads again
    /// only the processes that may have changed (a full read every [`FULL_READ_EVERY`]).
    pub fn census_inodes(&self, inodes: CensusInodes) {
        *lock(&self.shared.census) = Some(inodes);
    }
}

impl<S: OwnerSource> Drop for OwnerCache<S> {
    fn drop(&mut self) {
        self.stop.take();
    }
}

/// The latest read and the census's inodes, when both are there for a read again.
fn again_inputs<S: OwnerSource>(shared: &Shared<S>) -> Option<(Arc<S::Map>, Vec<u32>)> {
    let before = lock(&shared.latest).as_ref().map(|f| f.map.clone())?;
    let inodes = lock(&shared.census).as_ref().map(|f| f())?;
    Some((before, inodes))
}

/// The background reader: read, keep, wait `every` (or twenty times the read's cost, if longer), until
/// the cache is dropped. A failed read keeps the previous map.
fn background<S: OwnerSource>(shared: &Shared<S>, every: Duration, stop: &Receiver<()>) {
    let mut first = true;
    let mut reads: u32 = 0;
    loop {
        let wait = if shared.paused.load(Ordering::Relaxed) {
            Duration::from_millis(200)
        } else {
            let t = Instant::now();
            let read = match (reads % FULL_READ_EVERY, again_inputs(shared)) {
                (n, Some((before, mut alive))) if n != 0 => {
                    alive.sort_unstable();
                    let alive = |i: u32| alive.binary_search(&i).is_ok();
                    shared.source.read_again(&before, 1, &alive)
                }
                _ => shared.source.read(if first { threads() } else { 1 }),
            };
            reads = reads.wrapping_add(1);
            let cost = t.elapsed();
            first = false;
            // A failed read keeps the last map; a first waiter is woken either way.
            if let Ok(map) = read {
                *lock(&shared.latest) = Some(Fresh {
                    map: Arc::new(map),
                    at: Instant::now(),
                });
            }
            shared.tried.store(true, Ordering::SeqCst);
            shared.landed.notify_all();
            every.max(cost * 20)
        };
        match stop.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}
