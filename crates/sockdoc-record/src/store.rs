//! The recorder's directory: what is in it, which file stands for a time, and what to drop to hold
//! the retention and the disk budget.
//!
//! ```text
//! DIR/first-seen.idx                       the first-seen index (crate::index)
//! DIR/snapshots/<YYYYMMDDTHHMMSSZ>.sdsnap  full snapshots (docs/snapshot.md), owners included
//! DIR/minutes/<YYYYMMDDTHHMMSSZ>.json.zst  one record per interval (crate::minute)
//! ```
//!
//! Files are found by name (the time is in it), never by reading them. Dropped first: whatever is
//! older than the retention; then, while over the budget, the oldest full snapshots (all but the
//! newest), then the oldest minute records, then the newest snapshot: findings of a week cost less
//! than one snapshot of a busy host, so they outlive the snapshots. `*.tmp` files are a write that never finished: removed.

use std::io;
use std::path::{Path, PathBuf};

use crate::index;
use crate::when;

pub const SNAPSHOTS: &str = "snapshots";
pub const MINUTES: &str = "minutes";
pub const SNAPSHOT_EXT: &str = ".sdsnap";
pub const MINUTE_EXT: &str = ".json.zst";

/// What a file of the directory holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Snapshot,
    Minute,
}

/// One recorded file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub path: PathBuf,
    /// The time its name says (ms since the epoch).
    pub taken_ms: u64,
    pub bytes: u64,
}

/// Where a file of `kind` taken at `ms` goes under `dir`.
pub fn path_for(dir: &Path, kind: Kind, ms: u64) -> PathBuf {
    match kind {
        Kind::Snapshot => dir
            .join(SNAPSHOTS)
            .join(format!("{}{SNAPSHOT_EXT}", when::stamp(ms))),
        Kind::Minute => dir
            .join(MINUTES)
            .join(format!("{}{MINUTE_EXT}", when::stamp(ms))),
    }
}

/// Make the directory and its parts (mode 0700: a census names every connection of the host).
pub fn create(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true).mode(0o700);
    b.create(dir.join(SNAPSHOTS))?;
    b.create(dir.join(MINUTES))
}

/// Whether `dir` looks like a recorder's directory.
pub fn is_record_dir(dir: &Path) -> bool {
    dir.join(MINUTES).is_dir() || dir.join(SNAPSHOTS).is_dir()
}

/// Every recorded file, oldest first; names that are not the recorder's are left alone.
pub fn list(dir: &Path) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (sub, kind, ext) in [
        (SNAPSHOTS, Kind::Snapshot, SNAPSHOT_EXT),
        (MINUTES, Kind::Minute, MINUTE_EXT),
    ] {
        let rd = match std::fs::read_dir(dir.join(sub)) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(stamp) = name.to_str().and_then(|n| n.strip_suffix(ext)) else {
                continue;
            };
            let Some(taken_ms) = when::parse_stamp(stamp) else {
                continue;
            };
            let bytes = e.metadata().map_or(0, |m| m.len());
            out.push(Entry {
                kind,
                path: e.path(),
                taken_ms,
                bytes,
            });
        }
    }
    out.sort_by(|a, b| a.taken_ms.cmp(&b.taken_ms).then(a.path.cmp(&b.path)));
    Ok(out)
}

/// What [`prune`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub files: usize,
    pub bytes: u64,
    /// Bytes the directory holds afterwards.
    pub left: u64,
}

/// Hold the retention (`keep_ms` before `now_ms`) and the budget (`max_bytes`, the index
/// included), as the module comment says. Leftover `*.tmp` files are removed too.
pub fn prune(dir: &Path, now_ms: u64, keep_ms: u64, max_bytes: u64) -> io::Result<Pruned> {
    Catalog::read(dir)?.prune(now_ms, keep_ms, max_bytes)
}

/// The recorded files of a directory as the recorder knows them: read from the disk now and then
/// ([`Catalog::read`]), kept up to date between as it writes ([`Catalog::add`]) and prunes. A week
/// of minute records is 10,000 files: listing them with their sizes at every scan cost ~30 ms of
/// CPU, a tenth of a scan at 300k sockets.
#[derive(Debug)]
pub struct Catalog {
    dir: PathBuf,
    /// Oldest first, as [`list`] gives them.
    entries: Vec<Entry>,
    /// The `*.tmp` files removed when it was read, for the next prune to count.
    leftover: Pruned,
}

impl Catalog {
    /// What `dir` holds now; leftover `*.tmp` files (writes that never finished) are removed.
    pub fn read(dir: &Path) -> io::Result<Catalog> {
        let mut leftover = Pruned::default();
        for sub in [SNAPSHOTS, MINUTES] {
            for e in std::fs::read_dir(dir.join(sub))?.flatten() {
                if e.file_name().to_str().is_some_and(|n| n.ends_with(".tmp")) {
                    let bytes = e.metadata().map_or(0, |m| m.len());
                    if std::fs::remove_file(e.path()).is_ok() {
                        leftover.files += 1;
                        leftover.bytes += bytes;
                    }
                }
            }
        }
        Ok(Catalog {
            dir: dir.to_path_buf(),
            entries: list(dir)?,
            leftover,
        })
    }

    /// A file just written: `bytes` long, at `path` ([`path_for`] of `kind` and `taken_ms`).
    pub fn add(&mut self, kind: Kind, taken_ms: u64, bytes: u64) {
        let e = Entry {
            kind,
            path: path_for(&self.dir, kind, taken_ms),
            taken_ms,
            bytes,
        };
        // Written in time order: nearly always the newest.
        let key = |x: &Entry| (x.taken_ms, x.path.clone());
        match self.entries.last() {
            Some(last) if key(last) > key(&e) => {
                let at = self.entries.partition_point(|x| key(x) <= key(&e));
                self.entries.insert(at, e);
            }
            _ => self.entries.push(e),
        }
    }

    /// [`prune`] on what the catalog knows (the index's size read from the disk). After an
    /// error the catalog may be behind the disk: read it again.
    pub fn prune(&mut self, now_ms: u64, keep_ms: u64, max_bytes: u64) -> io::Result<Pruned> {
        let mut p = std::mem::take(&mut self.leftover);
        let cutoff = now_ms.saturating_sub(keep_ms);
        let (old, kept): (Vec<Entry>, Vec<Entry>) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|e| e.taken_ms < cutoff);
        for e in &old {
            remove(e, &mut p)?;
        }
        let index = std::fs::metadata(self.dir.join(index::FILE)).map_or(0, |m| m.len());
        let mut total: u64 = index + kept.iter().map(|e| e.bytes).sum::<u64>();
        // Oldest snapshots first (all but the newest), then oldest minutes, then the newest snapshot.
        let of = |kind: Kind| -> Vec<usize> {
            (0..kept.len()).filter(|&i| kept[i].kind == kind).collect()
        };
        let snaps = of(Kind::Snapshot);
        let (older, newest) = snaps.split_at(snaps.len().saturating_sub(1));
        let order: Vec<usize> = [older, &of(Kind::Minute), newest].concat();
        let mut gone = vec![false; kept.len()];
        for i in order {
            if total <= max_bytes {
                break;
            }
            remove(&kept[i], &mut p)?;
            total = total.saturating_sub(kept[i].bytes);
            gone[i] = true;
        }
        self.entries = kept
            .into_iter()
            .zip(gone)
            .filter_map(|(e, gone)| (!gone).then_some(e))
            .collect();
        p.left = total;
        Ok(p)
    }
}

/// Remove `e`'s file (one already gone counts as removed).
fn remove(e: &Entry, p: &mut Pruned) -> io::Result<()> {
    match std::fs::remove_file(&e.path) {
        Ok(()) => {
            p.files += 1;
            p.bytes += e.bytes;
            Ok(())
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// The newest file of `kind` taken at or before `at_ms`, and the ones before it (newest first):
/// a reader takes the first it can read.
pub fn at_or_before(entries: &[Entry], kind: Kind, at_ms: u64) -> Vec<&Entry> {
    entries
        .iter()
        .rev()
        .filter(|e| e.kind == kind && e.taken_ms <= at_ms)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(dir: &Path, kind: Kind, ms: u64, bytes: usize) {
        std::fs::write(path_for(dir, kind, ms), vec![0u8; bytes]).expect("write");
    }

    #[test]
    fn retention_then_budget_drop_the_oldest_snapshots_before_minutes() {
        let d = tempfile::tempdir().expect("tempdir");
        let dir = d.path();
        create(dir).expect("create");
        let s = 1_000;
        for i in 0..10u64 {
            put(dir, Kind::Minute, (100 + i) * s, 100);
        }
        for i in [0u64, 5, 9] {
            put(dir, Kind::Snapshot, (100 + i) * s, 1_000);
        }
        std::fs::write(dir.join("minutes/x.json.zst.tmp"), b"half").expect("tmp");
        std::fs::write(dir.join("minutes/notes.txt"), b"mine").expect("other");
        assert_eq!(list(dir).expect("list").len(), 13);
        // Retention: the first two seconds go (a minute and a snapshot at 100 s, a minute at 101 s).
        let p = prune(dir, 110 * s, 8 * s, u64::MAX).expect("prune");
        assert_eq!(p.files, 4, "{p:?}");
        assert!(dir.join("minutes/notes.txt").exists());
        // Budget: 8 minutes (800) + 2 snapshots (2,000) = 2,800; at 1,900 the older snapshot goes.
        let p = prune(dir, 110 * s, 8 * s, 1_900).expect("prune");
        assert_eq!((p.files, p.left), (1, 1_800), "{p:?}");
        let left = list(dir).expect("list");
        let snaps: Vec<u64> = left
            .iter()
            .filter(|e| e.kind == Kind::Snapshot)
            .map(|e| e.taken_ms)
            .collect();
        assert_eq!(snaps, [109 * s]);
        // Then minutes, oldest first, and the newest snapshot last of all.
        let p = prune(dir, 110 * s, 8 * s, 1_300).expect("prune");
        assert_eq!(p.left, 1_300, "{p:?}");
        assert_eq!(list(dir).expect("list").len(), 4);
        let p = prune(dir, 110 * s, 8 * s, 250).expect("prune");
        assert_eq!(p.left, 0, "{p:?}");
        let found = at_or_before(&left, Kind::Minute, 104 * s + 500);
        assert_eq!(found.first().map(|e| e.taken_ms), Some(104 * s));
    }

    #[test]
    fn the_catalog_prunes_what_was_added_without_listing_again() {
        let d = tempfile::tempdir().expect("tempdir");
        let dir = d.path();
        create(dir).expect("create");
        let s = 1_000;
        put(dir, Kind::Snapshot, 100 * s, 1_000);
        let mut c = Catalog::read(dir).expect("read");
        for i in 1..=10u64 {
            put(dir, Kind::Minute, (100 + i) * s, 100);
            c.add(Kind::Minute, (100 + i) * s, 100);
        }
        put(dir, Kind::Snapshot, 105 * s, 1_000);
        c.add(Kind::Snapshot, 105 * s, 1_000);
        // Gone behind its back: no error, not counted.
        std::fs::remove_file(path_for(dir, Kind::Minute, 110 * s)).expect("rm");
        let p = c.prune(111 * s, 100 * s, 1_500).expect("prune");
        // The older snapshot, then the oldest minutes until 1,500 (the file gone counts 100).
        assert_eq!(p.left, 1_500, "{p:?}");
        assert_eq!(p.files, 6, "{p:?}");
        let on_disk: u64 = list(dir).expect("list").iter().map(|e| e.bytes).sum();
        assert_eq!(on_disk, 1_400);
        assert!(path_for(dir, Kind::Snapshot, 105 * s).exists());
        // Added out of order: kept in time order.
        c.add(Kind::Minute, 50 * s, 10);
        assert_eq!(c.entries.first().map(|e| e.taken_ms), Some(50 * s));
    }
}
