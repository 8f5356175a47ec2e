//! The audit log: one JSON line per record, appended with O_APPEND (lines from concurrent runs never
//! interleave inside a line).
//!
//! Acting on sockets goes through [`WriteAhead`]: for each batch ([`BATCH`] items first, each next
//! batch four times the one before, at most [`BATCH_MAX`]), the intent records (`"phase":"intent"`) are
//! written and synced to disk *before* anything of the batch is acted on, and the outcome records
//! (`"phase":"outcome"`) follow in the write and sync of a later batch's intents. On the audit file
//! those writes run on a second thread while the batch before is acted on, so the disk's latency
//! hides behind the act. Every record of a run carries the run's id (`"run"`), so an intent without
//! an outcome is recognisable after a crash. A record that cannot be written stops the run before
//! its next act. Batching keeps a 100k-socket kill at ~30 syncs instead of 100k.
//!
//! [`AuditLog::append`] and [`AuditLog::sync`] remain for records that are not acts (a probe's
//! start and end): appended as they come, synced every [`SYNC_EVERY`] records and when the log is
//! closed.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where actions are recorded unless told otherwise.
pub const DEFAULT_PATH: &str = "/var/log/sockdoc/audit.jsonl";

/// Records written between two syncs by [`AuditLog::append`].
pub const SYNC_EVERY: usize = 1024;

/// Items of the first write-ahead batch. Each later batch is four times the one before, up to
/// [`BATCH_MAX`]: a log that cannot be written is found after at most 512 acts, and a long run syncs
/// a few times, not once per 512 sockets (each sync costs milliseconds on a real disk).
pub const BATCH: usize = 512;

/// The largest write-ahead batch: a crash leaves at most this many intents without an outcome.
pub const BATCH_MAX: usize = 8 * BATCH;

/// An open audit log. Dropping it syncs what was written.
pub struct AuditLog {
    file: File,
    path: PathBuf,
    unsynced: usize,
}

impl AuditLog {
    /// Open (creating it and its directory, mode 0600) for appending. A log whose last line was torn
    /// (a run killed in the middle of a write) gets the line ended first, so the next record starts
    /// on a line of its own.
    pub fn open(path: &Path) -> io::Result<AuditLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(0o600)
            .open(path)?;
        let mut log = AuditLog {
            file,
            path: path.to_path_buf(),
            unsynced: 0,
        };
        if log.ends_torn()? {
            log.file.write_all(b"\n")?;
            log.unsynced += 1;
        }
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file is not empty and its last byte is not a newline.
    fn ends_torn(&self) -> io::Result<bool> {
        use std::os::unix::fs::FileExt;
        let len = self.file.metadata()?.len();
        if len == 0 {
            return Ok(false);
        }
        let mut last = [0u8; 1];
        self.file.read_exact_at(&mut last, len - 1)?;
        Ok(last[0] != b'\n')
    }

    /// Append one record (a single-line JSON object); it reaches the disk within [`SYNC_EVERY`] records
    /// or at [`AuditLog::sync`]. For records of acts, use [`WriteAhead`].
    pub fn append(&mut self, json_line: &str) -> io::Result<()> {
        if json_line.contains('\n') {
            return Err(single_lines());
        }
        let mut line = Vec::with_capacity(json_line.len() + 1);
        line.extend_from_slice(json_line.as_bytes());
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.unsynced += 1;
        if self.unsynced >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Force what was appended to disk.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.unsynced > 0 {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(())
    }

    /// Append `records` (single-line JSON objects) in one write and sync them to disk before
    /// returning. All or none: when the write fails part-way (a full disk), the bytes it wrote are cut
    /// off again, so the log holds none of these records and never ends in a torn line.
    pub fn append_durable(&mut self, records: &[String]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let size = records.iter().map(|r| r.len() + 1).sum();
        let mut buf = Vec::with_capacity(size);
        for r in records {
            if r.contains('\n') {
                return Err(single_lines());
            }
            buf.extend_from_slice(r.as_bytes());
            buf.push(b'\n');
        }
        let mut written = 0;
        while written < buf.len() {
            match self.file.write(&buf[written..]) {
                Ok(0) => {
                    self.cut(written);
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the audit log accepted no more bytes",
                    ));
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.cut(written);
                    return Err(e);
                }
            }
        }
        self.file.sync_data()?;
        self.unsynced = 0;
        Ok(())
    }

    /// Take back the last `n` bytes this log appended (best effort: with O_APPEND they are the file's
    /// last bytes unless another run appended in between).
    fn cut(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        if let Ok(m) = self.file.metadata() {
            let _ = self.file.set_len(m.len().saturating_sub(n as u64));
        }
    }
}

fn single_lines() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "audit records are single lines",
    )
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

/// Where write-ahead records go: the audit log (synced to disk), or a stream such as a daemon's
/// standard output under journald (flushed).
pub trait Journal {
    /// Append `records` (single-line JSON objects) and make them durable before returning.
    fn commit(&mut self, records: &[String]) -> io::Result<()>;

    /// This journal, when it can commit on another thread while the caller acts (a file can; a
    /// borrowed output stream may not): [`WriteAhead::act`] then writes and syncs one batch's records
    /// while the batch before is acted on. `None`: every commit happens in line.
    fn concurrent(&mut self) -> Option<&mut (dyn Journal + Send)> {
        None
    }
}

impl Journal for AuditLog {
    fn commit(&mut self, records: &[String]) -> io::Result<()> {
        self.append_durable(records)
    }

    fn concurrent(&mut self) -> Option<&mut (dyn Journal + Send)> {
        Some(self)
    }
}

/// Now as RFC 3339 UTC (`2026-11-26T17:04:05Z`), the time of every record.
pub fn now_rfc3339() -> String {
    thread_local! {
        /// The last second formatted: a run writes thousands of records a second.
        static LAST: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((0, String::new())) };
    }
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != secs || last.1.is_empty() {
            *last = (secs, rfc3339(secs));
        }
        last.1.clone()
    })
}

/// `secs` since the epoch as RFC 3339 UTC.
fn rfc3339(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The caller's uid, for the records.
pub fn uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

/// A fresh run id: `<pid>-<start time in ns since the epoch>`.
pub fn run_id() -> String {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{ns}", std::process::id())
}

mod write_ahead;

pub use write_ahead::{Stopped, WriteAhead};

#[cfg(test)]
mod tests;
