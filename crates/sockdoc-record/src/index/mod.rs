//! The first-seen index: when the recorder first saw each socket, by the kernel's socket cookie
//! (`Socket::cookie`, never reused within a boot). The kernel keeps no creation time; a socket's age
//! is at least the time since the scan that first saw it.
//!
//! - [`Index`] (`memory.rs`): the recorder's memory, cookie → first-seen time (wall clock, ms) and
//!   the last tcp_info read ([`crate::carry`]), of the sockets the last scan saw: a cookie missing
//!   from a scan is forgotten, so memory follows the live sockets, not the churn.
//! - [`IndexFile`]: its one file on disk, `first-seen.idx` ([`file`]): each scan appends a block of
//!   the cookies new at that scan; a compaction rewrites it (tmp, fsync, rename) with the live ones
//!   only, at each full snapshot and whenever the appended blocks outgrow the last compaction.
//! - [`read`]: what `list -o age`, `ghosts`, `reap` and a restarted recorder read: one file, no daemon.
//!
//! Indexed: full sockets (every state but TIME-WAIT and SYN-RECV). A TIME-WAIT socket is no longer
//! a connection and lives at most a minute; a request socket (SYN-RECV) lives for a handshake and its
//! connection gets a socket of its own once accepted. Both are shown as having no age (`-`).
//! Cookies count from zero again at every boot: the file names its boot, and one of another boot
//! is not believed.

pub mod file;
mod memory;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use sockdoc_diag::{Socket, State};

use file::Group;
pub use memory::Index;

/// The file's name in the recorder's directory.
pub const FILE: &str = "first-seen.idx";

/// Appended blocks may grow to this before a compaction, however small the last one was.
const MIN_COMPACT: u64 = 256 * 1024;

/// Whether the index keeps `s` (see the module comment).
pub fn indexed(s: &Socket) -> bool {
    !matches!(s.state, State::TimeWait | State::SynRecv)
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`), or empty when it cannot be read.
pub fn boot_id() -> String {
    sockdoc_proc::sysctl::read("kernel.random.boot_id")
        .ok()
        .flatten()
        .unwrap_or_default()
}

impl Index {
    /// Every entry, grouped by first-seen time (the compacted file's one block).
    fn groups(&self) -> Vec<Group> {
        let mut all: Vec<(u64, u64)> = self.entries().collect();
        all.sort_unstable();
        let mut out: Vec<Group> = Vec::new();
        for (t, c) in all {
            match out.last_mut() {
                Some(g) if g.time_ms == t => g.cookies.push(c),
                _ => out.push(Group {
                    time_ms: t,
                    cookies: vec![c],
                }),
            }
        }
        out
    }
}

/// What a reader got from the file.
#[derive(Debug, Default)]
pub struct Loaded {
    map: FxHashMap<u64, u64>,
    /// The time of the last scan the file records.
    pub last_scan_ms: Option<u64>,
    /// The blocks after a damaged one (a crash while appending) were left out: why.
    pub damaged: Option<String>,
}

impl Loaded {
    /// First-seen times known otherwise (a recorder's snapshot), cookie → time.
    pub fn from_map(map: FxHashMap<u64, u64>) -> Loaded {
        Loaded {
            map,
            ..Loaded::default()
        }
    }

    /// When `cookie` was first seen (ms since the epoch).
    pub fn first_seen(&self, cookie: u64) -> Option<u64> {
        self.map.get(&cookie).copied()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn into_map(self) -> FxHashMap<u64, u64> {
        self.map
    }
}

/// Why the index could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {bad}")]
    Bad { path: PathBuf, bad: file::Bad },
    /// Written in another boot: its cookies name other sockets.
    #[error(
        "{path} was written before the last reboot: its socket cookies name other sockets now"
    )]
    OtherBoot { path: PathBuf },
}

/// The index in `dir`, if there is one (`Ok(None)`: no file). Its blocks are read up to the first
/// damaged one (`Loaded::damaged` says so); a file of another boot is refused.
pub fn read(dir: &Path) -> Result<Option<Loaded>, ReadError> {
    read_for(dir, &boot_id())
}

fn read_for(dir: &Path, boot: &str) -> Result<Option<Loaded>, ReadError> {
    let path = dir.join(FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ReadError::Io { path, source }),
    };
    let (their, mut at) = match file::read_preamble(&bytes) {
        Ok(p) => p,
        Err(bad) => return Err(ReadError::Bad { path, bad }),
    };
    if their != boot {
        return Err(ReadError::OtherBoot { path });
    }
    let mut loaded = Loaded::default();
    let map = &mut loaded.map;
    while at < bytes.len() {
        let scan = file::next_block(&bytes, &mut at, &mut |c, t| {
            map.entry(c).or_insert(t);
        });
        match scan {
            Some(s) => loaded.last_scan_ms = loaded.last_scan_ms.max(Some(s)),
            None => {
                loaded.damaged = Some(format!(
                    "{}: the last {} bytes are cut short or damaged (left out)",
                    path.display(),
                    bytes.len() - at
                ));
                break;
            }
        }
    }
    Ok(Some(loaded))
}

/// The index's file, written by the recorder: see the module comment.
pub struct IndexFile {
    path: PathBuf,
    file: File,
    boot: String,
    /// Bytes of the last compaction, and appended since.
    base: u64,
    appended: u64,
}

impl IndexFile {
    /// Open (or start) the index in `dir`: what it holds, and lines to log about what could not be
    /// believed (a damaged tail, another boot, not an index). The file is compacted at once, so a
    /// damaged tail never stands before new blocks.
    pub fn open(dir: &Path) -> io::Result<(IndexFile, Index, Vec<String>)> {
        let boot = boot_id();
        let mut warnings = Vec::new();
        let (map, last) = match read_for(dir, &boot) {
            Ok(Some(l)) => {
                warnings.extend(l.damaged.clone());
                let last = l.last_scan_ms.unwrap_or(0);
                (l.into_map(), last)
            }
            Ok(None) => (FxHashMap::default(), 0),
            Err(ReadError::Io { source, .. }) => return Err(source),
            Err(e) => {
                warnings.push(format!("{e}: started again"));
                (FxHashMap::default(), 0)
            }
        };
        let index = Index::from_map(map);
        let path = dir.join(FILE);
        let (file, base) = rewrite(&path, &boot, last, &index)?;
        let f = IndexFile {
            path,
            file,
            boot,
            base,
            appended: 0,
        };
        Ok((f, index, warnings))
    }

    /// Append the scan at `scan_ms` and the cookies it saw first (sorted), made durable.
    pub fn append(&mut self, scan_ms: u64, fresh: Vec<u64>) -> io::Result<()> {
        let b = file::block(
            scan_ms,
            &[Group {
                time_ms: scan_ms,
                cookies: fresh,
            }],
        );
        self.file.write_all(&b)?;
        self.file.sync_data()?;
        self.appended += b.len() as u64;
        Ok(())
    }

    /// Whether the appended blocks have outgrown the last compaction.
    pub fn due(&self) -> bool {
        self.appended > self.base.max(MIN_COMPACT)
    }

    /// Rewrite the file with `index`'s live entries only, atomically.
    pub fn compact(&mut self, scan_ms: u64, index: &Index) -> io::Result<()> {
        let (file, base) = rewrite(&self.path, &self.boot, scan_ms, index)?;
        self.file = file;
        self.base = base;
        self.appended = 0;
        Ok(())
    }

    /// Bytes on disk.
    pub fn size(&self) -> u64 {
        self.base + self.appended
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Write `path` anew with `index`'s entries (atomically), opened for appending; its size.
fn rewrite(path: &Path, boot: &str, scan_ms: u64, index: &Index) -> io::Result<(File, u64)> {
    let mut bytes = file::preamble(boot);
    bytes.extend(file::block(scan_ms, &index.groups()));
    sockdoc_evidence::snapshot::write_atomic(path, |w| w.write_all(&bytes))?;
    let f = OpenOptions::new().append(true).open(path)?;
    Ok((f, bytes.len() as u64))
}

#[cfg(test)]
mod tests;
