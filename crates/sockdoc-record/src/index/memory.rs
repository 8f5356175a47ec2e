//! The index in the recorder's memory: cookie → first-seen time and the last tcp_info read, of
//! the sockets the last scan saw.
//!
//! Hand-written for speed: a hash lookup a socket was the recorder's largest cost of its own
//! (~17 ms a scan at 300k sockets, two cache misses each in a table of 33 MB). The kernel sends a
//! dump in the order of its socket hash table, which the next dump repeats but for the sockets
//! made and closed since. So the entries sit in a slab, the order of the last scan is kept as a
//! list of slab slots, and a socket is first compared with the entry that came next in that
//! order (and the few after it, the closed ones being skipped); only a socket the order does not
//! predict (a new one, or one the walk met elsewhere) is looked up in a map cookie → slot, and a
//! known one found so moves the place in the last order to just after where it was.

use rustc_hash::FxHashMap;
use sockdoc_diag::TcpInfo;

/// Entries of the last order looked at before the map is asked.
const AHEAD: usize = 4;

/// One socket's entry.
#[derive(Clone, Copy, Debug)]
struct Entry {
    cookie: u64,
    first_ms: u64,
    /// The socket's tcp_info at the last reading ([`crate::carry`]).
    tcp: Option<TcpInfo>,
    /// The scan that last saw it; [`FREE`] for a slot not in use.
    seen: u32,
    /// Where in that scan's order ([`NOWHERE`]: read from the file, not seen yet).
    at: u32,
}

const FREE: u32 = 0;
const NOWHERE: u32 = u32::MAX;

/// The recorder's memory: see the module comment.
#[derive(Debug)]
pub struct Index {
    slab: Vec<Entry>,
    free: Vec<u32>,
    slots: FxHashMap<u64, u32>,
    /// The last scan's slots in the order it saw them, and this scan's, being made.
    order: Vec<u32>,
    next: Vec<u32>,
    cursor: usize,
    /// This scan's number (never [`FREE`]).
    scan: u32,
    fresh: Vec<u64>,
}

impl Default for Index {
    fn default() -> Index {
        Index {
            slab: Vec::new(),
            free: Vec::new(),
            slots: FxHashMap::default(),
            order: Vec::new(),
            next: Vec::new(),
            cursor: 0,
            scan: 1,
            fresh: Vec::new(),
        }
    }
}

impl Index {
    /// An index of what a file held (a restarted recorder): every entry kept until its first scan.
    pub fn from_map(map: FxHashMap<u64, u64>) -> Index {
        let mut index = Index::default();
        index.slab.reserve(map.len());
        index.slots.reserve(map.len());
        for (cookie, first_ms) in map {
            index.insert(cookie, first_ms);
        }
        index
    }

    /// A new entry, seen at this scan.
    fn insert(&mut self, cookie: u64, first_ms: u64) -> u32 {
        let e = Entry {
            cookie,
            first_ms,
            tcp: None,
            seen: self.scan,
            at: NOWHERE,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = e;
                slot
            }
            None => {
                self.slab.push(e);
                (self.slab.len() - 1) as u32
            }
        };
        self.slots.insert(cookie, slot);
        slot
    }

    /// Start a scan.
    pub fn begin(&mut self) {
        self.scan = match self.scan.wrapping_add(1) {
            FREE => 1,
            n => n,
        };
        self.fresh.clear();
        self.next.clear();
        self.cursor = 0;
    }

    /// The scan saw `cookie`; first seen `now_ms` unless the index knew it. When it was first
    /// seen, and its tcp_info slot.
    pub fn observe(&mut self, cookie: u64, now_ms: u64) -> (u64, &mut Option<TcpInfo>) {
        let ahead = self.order.get(self.cursor..).unwrap_or_default();
        let predicted = ahead
            .iter()
            .take(AHEAD)
            .position(|&slot| self.slab[slot as usize].cookie == cookie);
        let (slot, new) = match predicted {
            Some(d) => {
                self.cursor += d + 1;
                (ahead[d], false)
            }
            // Not where the last order had it: the order goes on after where it was.
            None => match self.slots.get(&cookie) {
                Some(&slot) => {
                    let e = &self.slab[slot as usize];
                    if e.seen != self.scan && e.at != NOWHERE {
                        self.cursor = e.at as usize + 1;
                    }
                    (slot, false)
                }
                None => {
                    self.fresh.push(cookie);
                    (self.insert(cookie, now_ms), true)
                }
            },
        };
        let scan = self.scan;
        let e = &mut self.slab[slot as usize];
        // A socket a dump sends twice (moved in the table while it ran) is in the order once.
        if new || e.seen != scan {
            e.seen = scan;
            e.at = self.next.len() as u32;
            self.next.push(slot);
        }
        (e.first_ms, &mut e.tcp)
    }

    /// End a scan: forget what it did not see. The cookies it saw first, sorted, and how many
    /// were forgotten.
    pub fn end(&mut self) -> (Vec<u64>, usize) {
        std::mem::swap(&mut self.order, &mut self.next);
        let before = self.slots.len();
        // Every entry in use was seen by this scan but those now gone.
        if self.order.len() < before {
            let scan = self.scan;
            for (slot, e) in self.slab.iter_mut().enumerate() {
                if e.seen != FREE && e.seen != scan {
                    self.slots.remove(&e.cookie);
                    e.seen = FREE;
                    e.tcp = None;
                    self.free.push(slot as u32);
                }
            }
        }
        let gone = before - self.slots.len();
        // After a burst the slab may be far larger than what is live: give the memory back.
        if self.slab.len() > 4096 && self.slots.len() < self.slab.len() / 4 {
            self.shrink();
        }
        let mut fresh = std::mem::take(&mut self.fresh);
        fresh.sort_unstable();
        (fresh, gone)
    }

    /// The live entries in a slab of their own size, in the last scan's order.
    fn shrink(&mut self) {
        let mut slab = Vec::with_capacity(self.order.len());
        self.slots = FxHashMap::with_capacity_and_hasher(self.order.len(), Default::default());
        for (new, old) in self.order.iter_mut().enumerate() {
            let e = self.slab[*old as usize];
            slab.push(e);
            self.slots.insert(e.cookie, new as u32);
            *old = new as u32;
        }
        self.slab = slab;
        self.free = Vec::new();
        self.next = Vec::new();
    }

    /// When `cookie` was first seen (ms since the epoch).
    pub fn get(&self, cookie: u64) -> Option<u64> {
        let slot = *self.slots.get(&cookie)?;
        Some(self.slab[slot as usize].first_ms)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Every entry: (first seen, cookie).
    pub fn entries(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.slab
            .iter()
            .filter(|e| e.seen != FREE)
            .map(|e| (e.first_ms, e.cookie))
    }

    /// Slots the slab holds, in use or free.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.slab.len()
    }
}
