//! What the reaper remembers between scans, by socket cookie. The kernel keeps no creation time, so a
//! socket's age is learned here: the scan that first saw it (sockets already there when the daemon
//! started have an age that is a lower bound). A cookie missing from a scan is forgotten at the end of
//! that scan — cookies are never reused — so memory follows the live sockets the rules select.

use rustc_hash::FxHashMap;
use sockdoc_diag::State;

/// Flags kept per socket.
pub mod flag {
    /// Keepalive was set (or tried, or reported in a dry run): not again.
    pub const KEEPALIVE_DONE: u8 = 1;
    /// Its sparing (never-kill, own SSH) was logged.
    pub const SPARE_LOGGED: u8 = 2;
    /// A dry run reported "would kill" for it.
    pub const WOULD_KILL_LOGGED: u8 = 4;
    /// A kill failed: logged once and left alone afterwards.
    pub const KILL_FAILED: u8 = 8;
    /// Already present in the daemon's first scan: its age is a lower bound.
    pub const BEFORE_START: u8 = 16;
}

/// One socket's memory. 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Clock value (ms) of the scan that first saw it.
    pub first_seen_ms: u64,
    /// Clock value (ms) of the scan that first saw it in its current state.
    pub state_since_ms: u64,
    pub state: State,
    pub flags: u8,
    /// Scan parity: an entry whose mark differs from the tracker's after a scan was not seen.
    mark: bool,
}

impl Entry {
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// Sockets seen by the last scan; see the module comment.
#[derive(Debug, Default)]
pub struct Tracker {
    entries: FxHashMap<u64, Entry>,
    /// First-seen times learnt before the first scan (the recorder's index), on the daemon's
    /// clock: a socket found here is not "already there at start"; cleared after the first scan.
    known: FxHashMap<u64, u64>,
    mark: bool,
    scans: u64,
    forgotten: u64,
}

impl Tracker {
    pub fn new() -> Tracker {
        Tracker::default()
    }

    /// `cookie` was first seen at `first_seen_ms` (the daemon's clock) by someone who watched
    /// before the daemon started: its age is counted from then.
    pub fn know(&mut self, cookie: u64, first_seen_ms: u64) {
        self.known.insert(cookie, first_seen_ms);
    }

    /// Start a scan.
    pub fn begin(&mut self) {
        self.mark = !self.mark;
        self.scans += 1;
    }

    /// Record that the current scan saw `cookie` in `state` at clock `now_ms`.
    pub fn observe(&mut self, cookie: u64, state: State, now_ms: u64) -> &mut Entry {
        let first = self.scans <= 1;
        let mark = self.mark;
        let known = self.known.get(&cookie).copied();
        let e = self.entries.entry(cookie).or_insert(Entry {
            first_seen_ms: known.map_or(now_ms, |k| k.min(now_ms)),
            state_since_ms: now_ms,
            state,
            flags: if first && known.is_none() {
                flag::BEFORE_START
            } else {
                0
            },
            mark,
        });
        if e.state != state {
            e.state = state;
            e.state_since_ms = now_ms;
        }
        e.mark = mark;
        e
    }

    /// End a scan: forget every socket it did not see. Returns how many were forgotten.
    pub fn end(&mut self) -> usize {
        let before = self.entries.len();
        let mark = self.mark;
        self.entries.retain(|_, e| e.mark == mark);
        let gone = before - self.entries.len();
        self.forgotten += gone as u64;
        // Every live socket the rules select was seen by the first scan.
        self.known = FxHashMap::default();
        // After a burst the table may be far larger than what is live: give the memory back.
        if self.entries.capacity() > 1024 && self.entries.len() < self.entries.capacity() / 4 {
            self.entries.shrink_to(self.entries.len() * 2);
        }
        gone
    }

    pub fn get(&self, cookie: u64) -> Option<&Entry> {
        self.entries.get(&cookie)
    }

    /// Set `f` on `cookie` (if tracked).
    pub fn set_flag(&mut self, cookie: u64, f: u8) {
        if let Some(e) = self.entries.get_mut(&cookie) {
            e.flags |= f;
        }
    }

    /// Sockets tracked now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Slots allocated (for the memory metric).
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Sockets forgotten since the start (they vanished).
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }

    /// Scans begun.
    pub fn scans(&self) -> u64 {
        self.scans
    }
}
