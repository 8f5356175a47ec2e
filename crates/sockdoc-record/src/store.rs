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
    let mut p = Pruned::default();
    for sub in [SNAPSHOTS, MINUTES] {
        for e in std::fs::read_dir(dir.join(sub))?.flatten() {
            if e.file_name().to_str().is_some_and(|n| n.ends_with(".tmp")) {
                p.bytes += e.metadata().map_or(0, |m| m.len());
                if std::fs::remove_file(e.path()).is_ok() {
                    p.files += 1;
                }
            }
        }
    }
    let mut files = list(dir)?;
    let cutoff = now_ms.saturating_sub(keep_ms);
    let remove = |e: &Entry, p: &mut Pruned| match std::fs::remove_file(&e.path) {
        Ok(()) => {
            p.files += 1;
            p.bytes += e.bytes;
            Ok(())
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    };
    let mut kept = Vec::with_capacity(files.len());
    for e in files.drain(..) {
        if e.taken_ms < cutoff {
            remove(&e, &mut p)?;
        } else {
            kept.push(e);
        }
    }
    let index = std::fs::metadata(dir.join(index::FILE)).map_or(0, |m| m.len());
    let mut total: u64 = index + kept.iter().map(|e| e.bytes).sum::<u64>();
    let snapshots = kept.iter().filter(|e| e.kind == Kind::Snapshot).count();
    // Oldest snapshots first (all but the newest), then oldest minutes, then the newest snapshot.
    let mut order: Vec<&Entry> = kept
        .iter()
        .filter(|e| e.kind == Kind::Snapshot)
        .take(snapshots.saturating_sub(1))
        .collect();
    order.extend(kept.iter().filter(|e| e.kind == Kind::Minute));
    order.extend(
        kept.iter()
            .filter(|e| e.kind == Kind::Snapshot)
            .skip(snapshots.saturating_sub(1)),
    );
    for e in order {
        if total <= max_bytes {
            break;
        }
        remove(e, &mut p)?;
        total = total.saturating_sub(e.bytes);
    }
    p.left = total;
    Ok(p)
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
}
