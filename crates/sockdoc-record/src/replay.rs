//! A recorded minute, found again (`--from DIR --at TIME`): the nearest full snapshot taken at or
//! before TIME, read (the census the views judge), and the minute record at or before TIME (the
//! findings of that minute, exactly as recorded). A file that cannot be read is skipped with a
//! warning and the one before it taken, never fatal.

use std::path::{Path, PathBuf};

use sockdoc_evidence::Evidence;

use crate::minute::{self, Minute};
use crate::store::{self, Kind};

/// What `--at` found.
pub struct Replay {
    pub dir: PathBuf,
    pub at_ms: u64,
    /// The snapshot read, where it is and when it was taken.
    pub snapshot: PathBuf,
    pub snapshot_ms: u64,
    pub evidence: Evidence,
    /// The minute record at or before the time, if one could be read.
    pub minute: Option<Minute>,
    /// Files skipped on the way, one line each (what and why).
    pub skipped: Vec<(PathBuf, String)>,
}

/// Why nothing can be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// No readable snapshot at or before the time; the oldest file's time, if any.
    #[error("no full snapshot at or before the time asked for")]
    NoSnapshot {
        oldest_ms: Option<u64>,
        skipped: Vec<(PathBuf, String)>,
    },
}

/// The recorded minute of `dir` at `at_ms`.
pub fn find(dir: &Path, at_ms: u64) -> Result<Replay, ReplayError> {
    let entries = store::list(dir).map_err(|source| ReplayError::Io {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut skipped = Vec::new();
    let mut found = None;
    for e in store::at_or_before(&entries, Kind::Snapshot, at_ms) {
        match sockdoc_evidence::snapshot::read(&e.path) {
            Ok(ev) => {
                found = Some((e.path.clone(), e.taken_ms, ev));
                break;
            }
            Err(err) => skipped.push((e.path.clone(), err.to_string())),
        }
    }
    let Some((snapshot, snapshot_ms, evidence)) = found else {
        let oldest_ms = entries
            .iter()
            .find(|e| e.kind == Kind::Snapshot)
            .map(|e| e.taken_ms);
        return Err(ReplayError::NoSnapshot { oldest_ms, skipped });
    };
    let mut minute = None;
    for e in store::at_or_before(&entries, Kind::Minute, at_ms) {
        match minute::read(&e.path) {
            Ok(m) => {
                minute = Some(m);
                break;
            }
            Err(err) => skipped.push((e.path.clone(), err.to_string())),
        }
    }
    Ok(Replay {
        dir: dir.to_path_buf(),
        at_ms,
        snapshot,
        snapshot_ms,
        evidence,
        minute,
        skipped,
    })
}
