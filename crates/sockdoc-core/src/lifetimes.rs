//! Connection lifetimes from periodic scans and end events. The kernel says when a socket ends (the
//! sock_diag destroy broadcast) but never when it began, so a [`Tracker`] remembers, by socket cookie,
//! the scan that first saw each socket, its last state and its owner. When the end event comes, the
//! lifetime is known within the scan interval: the socket was absent from one scan and present in the
//! next. Cookies are never reused, so an entry is forgotten as soon as it ends or misses two scans
//! (TIME-WAIT expiry and request sockets end without a broadcast): memory follows the live sockets.
//!
//! A socket the caller marks as watched (a full socket, whose end the kernel always broadcasts) that
//! misses two scans without an end event becomes a suspect; once the reader of the broadcasts has
//! caught up with everything sent since, a suspect whose end still did not come was a lost end (the
//! broadcast was dropped): [`Tracker::confirm_lost`] counts those, so a stream can say how many ends
//! it missed among the sockets the scans saw.

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use sockdoc_diag::State;

/// What is known of a connection's lifetime when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// Seen starting: it lived between `min` and `max`.
    Between { min: Duration, max: Duration },
    /// Already open when tracking began: it lived at least this long.
    AtLeast(Duration),
    /// Never seen by a scan: it began after the last scan started, at most this long ago.
    Under(Duration),
    /// No scan had finished yet.
    Unknown,
}

/// A connection's end, with what the scans knew of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ended {
    pub lifetime: Lifetime,
    /// The state the last scan saw it in (the end event itself always says CLOSE).
    pub last_state: Option<State>,
    /// The owning process the scans saw, when they looked for owners.
    pub pid: Option<u32>,
}

/// Milliseconds since the tracker began; compact (entries are 16 bytes).
type Ms = u32;
const BEFORE: Ms = Ms::MAX;

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The end of the first scan that saw it (`BEFORE` = open when tracking began).
    seen_by: Ms,
    /// The start of the scan before that one: it was not there then.
    absent_at: Ms,
    pid: u32,
    state: State,
    /// Consecutive scans that missed it.
    missed: u8,
    /// Its end would be broadcast and the caller wants it: vanishing unreported is a loss.
    watched: bool,
}

/// One socket as a scan saw it.
#[derive(Clone, Copy, Debug)]
pub struct Seen {
    pub cookie: u64,
    pub state: State,
    /// 0 when unknown.
    pub pid: u32,
    /// A full socket (not TIME-WAIT, not a request socket: those end without a broadcast) whose end
    /// the caller would report: if it vanishes without an end event, it was lost (see
    /// [`Tracker::confirm_lost`]).
    pub watched: bool,
    /// A TIME-WAIT structure (state TIME-WAIT, or FIN-WAIT-2 with a TIME-WAIT timer) or a request
    /// socket. A TIME-WAIT structure keeps the cookie of the full socket it replaced, whose end
    /// was broadcast when it was made.
    pub minisock: bool,
}

/// Remembers live sockets across scans; see the module comment.
pub struct Tracker {
    epoch: Instant,
    entries: FxHashMap<u64, Entry>,
    /// Cookies that ended while a scan may still have been running, with the time of the end.
    ended: FxHashMap<u64, Ms>,
    /// Start of the last merged scan; `None` before the first one.
    last_start: Option<Ms>,
    /// Watched sockets that missed two scans with no end event yet, with when that was decided.
    suspects: FxHashMap<u64, (Entry, Ms)>,
}

impl Tracker {
    pub fn new(epoch: Instant) -> Tracker {
        Tracker {
            epoch,
            entries: FxHashMap::default(),
            ended: FxHashMap::default(),
            last_start: None,
            suspects: FxHashMap::default(),
        }
    }

    fn ms(&self, t: Instant) -> Ms {
        let ms = t.saturating_duration_since(self.epoch).as_millis();
        Ms::try_from(ms).unwrap_or(BEFORE - 1).min(BEFORE - 1)
    }

    fn span(&self, from: Ms, to: Ms) -> Duration {
        Duration::from_millis(u64::from(to.saturating_sub(from)))
    }

    /// Sockets being tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Take in one scan that ran from `started` to `finished` and saw `sockets`. Watched sockets
    /// that missed two scans with no end event become suspects (see [`Tracker::confirm_lost`]).
    pub fn merge(&mut self, started: Instant, finished: Instant, sockets: &[Seen]) {
        let (start, end) = (self.ms(started), self.ms(finished));
        let first = self.last_start.is_none();
        let absent_at = self.last_start.unwrap_or(BEFORE);
        for e in self.entries.values_mut() {
            e.missed = e.missed.saturating_add(1);
        }
        for s in sockets {
            // A scan that began before the end may still list the socket: it stays ended.
            if self.ended.contains_key(&s.cookie) {
                continue;
            }
            // A watched socket now a TIME-WAIT structure: its full socket ended, and that end has not
            // come (yet).
            if s.minisock && self.entries.get(&s.cookie).is_some_and(|e| e.watched) {
                if let Some(e) = self.entries.remove(&s.cookie) {
                    self.suspects.insert(s.cookie, (e, end));
                }
                continue;
            }
            let e = self.entries.entry(s.cookie).or_insert(Entry {
                seen_by: if first { BEFORE } else { end },
                absent_at,
                pid: 0,
                state: s.state,
                missed: 0,
                watched: s.watched,
            });
            e.state = s.state;
            e.missed = 0;
            e.watched = s.watched;
            if s.pid != 0 {
                e.pid = s.pid;
            }
        }
        // Missed twice: it ended without a broadcast (TIME-WAIT expiry, a request socket), or its
        // broadcast is late or lost (a watched socket: a suspect).
        let suspects = &mut self.suspects;
        self.entries.retain(|cookie, e| {
            let keep = e.missed < 2;
            if !keep && e.watched {
                suspects.insert(*cookie, (*e, end));
            }
            keep
        });
        // Every later scan starts after this one: ends before its start cannot show up again.
        self.ended.retain(|_, t| *t >= start);
        self.last_start = Some(start);
    }

    /// The owner of `cookie`, learned after its scan was merged (owners are read alongside the dump
    /// and may land later). Ignored for a socket that already ended or is no longer tracked.
    pub fn set_owner(&mut self, cookie: u64, pid: u32) {
        if pid == 0 {
            return;
        }
        if let Some(e) = self.entries.get_mut(&cookie) {
            e.pid = pid;
        } else if let Some((e, _)) = self.suspects.get_mut(&cookie) {
            e.pid = pid;
        }
    }

    /// The reader of the broadcasts had taken in everything the kernel sent before `caught_up`:
    /// suspects decided before then whose end did not come are lost ends. Returns how many, and
    /// forgets them.
    pub fn confirm_lost(&mut self, caught_up: Instant) -> usize {
        let t = self.ms(caught_up);
        let before = self.suspects.len();
        self.suspects.retain(|_, (_, decided)| *decided >= t);
        before - self.suspects.len()
    }

    /// The kernel reported `cookie` gone at `at`.
    pub fn end(&mut self, cookie: u64, at: Instant) -> Ended {
        let now = self.ms(at);
        self.ended.insert(cookie, now);
        // A late end of a suspect: not lost after all (a TIME-WAIT entry under its cookie says less).
        let suspect = self.suspects.remove(&cookie).map(|(e, _)| e);
        let entry = self.entries.remove(&cookie);
        let known = suspect.or(entry);
        match known {
            Some(e) => Ended {
                lifetime: if e.seen_by == BEFORE {
                    Lifetime::AtLeast(self.span(0, now))
                } else {
                    Lifetime::Between {
                        min: self.span(e.seen_by, now),
                        max: self.span(e.absent_at, now),
                    }
                },
                last_state: Some(e.state),
                pid: (e.pid != 0).then_some(e.pid),
            },
            None => Ended {
                lifetime: match self.last_start {
                    Some(s) => Lifetime::Under(self.span(s, now)),
                    None => Lifetime::Unknown,
                },
                last_state: None,
                pid: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(cookie: u64, state: State) -> Seen {
        Seen {
            cookie,
            state,
            pid: 0,
            watched: false,
            minisock: state == State::TimeWait,
        }
    }

    fn at(epoch: Instant, ms: u64) -> Instant {
        epoch + Duration::from_millis(ms)
    }

    #[test]
    fn lifetimes_are_bounded_by_the_scans_around_the_start() {
        let t0 = Instant::now();
        let mut t = Tracker::new(t0);
        t.merge(at(t0, 0), at(t0, 100), &[seen(1, State::Established)]);
        t.merge(
            at(t0, 1000),
            at(t0, 1100),
            &[seen(1, State::Established), seen(2, State::SynSent)],
        );
        t.merge(
            at(t0, 2000),
            at(t0, 2100),
            &[seen(1, State::CloseWait), seen(2, State::Established)],
        );
        // 2 was absent from the scan at 0 and present by 1100.
        let e = t.end(2, at(t0, 5000));
        assert_eq!(
            e.lifetime,
            Lifetime::Between {
                min: Duration::from_millis(3900),
                max: Duration::from_millis(5000)
            }
        );
        assert_eq!(e.last_state, Some(State::Established));
        // 1 was there when tracking began.
        let e = t.end(1, at(t0, 6000));
        assert_eq!(e.lifetime, Lifetime::AtLeast(Duration::from_millis(6000)));
        assert_eq!(e.last_state, Some(State::CloseWait));
        // 3 began and ended between scans.
        let e = t.end(3, at(t0, 2500));
        assert_eq!(e.lifetime, Lifetime::Under(Duration::from_millis(500)));
        assert_eq!(e.last_state, None);
        assert!(t.is_empty());
    }

    #[test]
    fn an_end_during_a_scan_is_not_undone_by_it_and_memory_follows_live_sockets() {
        let t0 = Instant::now();
        let mut t = Tracker::new(t0);
        assert_eq!(t.end(9, at(t0, 1)).lifetime, Lifetime::Unknown);
        t.merge(at(t0, 0), at(t0, 100), &[seen(1, State::Established)]);
        // 1 ends at 1050, but the scan that started at 1000 still listed it.
        t.end(1, at(t0, 1050));
        t.merge(at(t0, 1000), at(t0, 1100), &[seen(1, State::Established)]);
        assert_eq!(t.len(), 0);
        // Churn: sockets that vanish without an end event are forgotten after two missed scans.
        let batch: Vec<Seen> = (100..200).map(|c| seen(c, State::TimeWait)).collect();
        t.merge(at(t0, 2000), at(t0, 2100), &batch);
        assert_eq!(t.len(), 100);
        t.merge(at(t0, 3000), at(t0, 3100), &[]);
        assert_eq!(t.len(), 100);
        t.merge(at(t0, 4000), at(t0, 4100), &[]);
        assert_eq!(t.len(), 0);
        assert!(
            t.ended.is_empty(),
            "ends older than the last scan are forgotten"
        );
    }

    #[test]
    fn owners_stick_once_seen() {
        let t0 = Instant::now();
        let mut t = Tracker::new(t0);
        let s = Seen {
            cookie: 5,
            state: State::Established,
            pid: 42,
            watched: true,
            minisock: false,
        };
        t.merge(at(t0, 0), at(t0, 10), &[s]);
        t.merge(at(t0, 100), at(t0, 110), &[seen(5, State::FinWait1)]);
        let e = t.end(5, at(t0, 200));
        assert_eq!(e.pid, Some(42));
        assert_eq!(e.last_state, Some(State::FinWait1));
    }

    #[test]
    fn owners_that_land_after_the_merge_stick_unless_the_socket_ended() {
        let t0 = Instant::now();
        let mut t = Tracker::new(t0);
        t.merge(
            at(t0, 0),
            at(t0, 10),
            &[seen(1, State::Established), seen(2, State::CloseWait)],
        );
        t.end(2, at(t0, 20));
        t.set_owner(1, 42);
        t.set_owner(2, 43);
        assert_eq!(t.end(1, at(t0, 30)).pid, Some(42));
        assert_eq!(
            t.end(2, at(t0, 40)).pid,
            None,
            "ended before its owner landed"
        );
    }

    #[test]
    fn watched_sockets_gone_without_an_end_are_counted_lost_once_the_reader_caught_up() {
        let t0 = Instant::now();
        let mut t = Tracker::new(t0);
        let w = |cookie| Seen {
            cookie,
            state: State::Established,
            pid: 0,
            watched: true,
            minisock: false,
        };
        t.merge(
            at(t0, 0),
            at(t0, 100),
            &[w(1), w(2), w(3), w(5), seen(4, State::TimeWait)],
        );
        // 1 ends with its broadcast; 2, 3, 5 (watched) and 4 (TIME-WAIT) vanish without one.
        t.end(1, at(t0, 500));
        t.merge(at(t0, 1000), at(t0, 1100), &[]);
        assert_eq!(t.confirm_lost(at(t0, 1500)), 0, "one miss is not sure");
        t.merge(at(t0, 2000), at(t0, 2100), &[]);
        // The reader has not caught up since: nothing is decided yet.
        assert_eq!(t.confirm_lost(at(t0, 2050)), 0);
        // 5's end was only late: reported with what the scans knew, and not lost.
        let e = t.end(5, at(t0, 2200));
        assert_eq!(e.last_state, Some(State::Established));
        assert_eq!(t.confirm_lost(at(t0, 2300)), 2);
        assert_eq!(t.confirm_lost(at(t0, 9000)), 0, "counted once");
        assert!(t.is_empty() && t.suspects.is_empty());
        // A watched connection seen next as TIME-WAIT under its cookie: its end is due.
        t.merge(at(t0, 10_000), at(t0, 10_100), &[w(7)]);
        t.merge(at(t0, 11_000), at(t0, 11_100), &[seen(7, State::TimeWait)]);
        assert_eq!(t.confirm_lost(at(t0, 11_200)), 1);
        // The same, with the end coming late (after a scan listed the TIME-WAIT entry): reported
        // from what the scans knew of the connection, and not lost.
        t.merge(at(t0, 12_000), at(t0, 12_100), &[w(8)]);
        t.merge(at(t0, 13_000), at(t0, 13_100), &[seen(8, State::TimeWait)]);
        t.merge(at(t0, 14_000), at(t0, 14_100), &[seen(8, State::TimeWait)]);
        let e = t.end(8, at(t0, 14_200));
        assert_eq!(e.last_state, Some(State::Established));
        assert_eq!(t.confirm_lost(at(t0, 20_000)), 0);
    }
}
