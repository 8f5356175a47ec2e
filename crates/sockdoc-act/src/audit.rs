//! The audit log: one JSON line per record, appended with O_APPEND (lines from concurrent runs never
//! interleave inside a line).
//!
//! Acting on sockets goes through [`WriteAhead`]: for each batch ([`BATCH`] items first, each next
//! batch twice the one before, at most [`BATCH_MAX`]), the intent records (`"phase":"intent"`) are
//! written and synced to disk *before* anything of the batch is acted on, and the outcome records
//! (`"phase":"outcome"`) are written and synced before the next batch starts (in the same write and
//! sync as the next batch's intents). Every record of a run carries the run's id (`"run"`), so an
//! intent without an outcome is recognisable after a crash. A record that cannot be written stops
//! the run before its next act. Batching keeps a 100k-socket kill at ~30 syncs instead of 100k.
//!
//! [`AuditLog::append`] and [`AuditLog::sync`] remain for records that are not acts (a probe's
//! start and end): appended as they come, synced every [`SYNC_EVERY`] records and when the log is
//! closed.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

/// Where actions are recorded unless told otherwise.
pub const DEFAULT_PATH: &str = "/var/log/sockdoc/audit.jsonl";

/// Records written between two syncs by [`AuditLog::append`].
pub const SYNC_EVERY: usize = 1024;

/// Items of the first write-ahead batch. Each later batch is twice the one before, up to
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
}

impl Journal for AuditLog {
    fn commit(&mut self, records: &[String]) -> io::Result<()> {
        self.append_durable(records)
    }
}

/// Now as RFC 3339 UTC (`2026-11-26T17:04:05Z`), the time of every record.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
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

/// A run stopped because a record could not be written.
#[derive(Debug)]
pub struct Stopped<O> {
    /// The outcomes of the items acted on, in order: a prefix of the items.
    pub done: Vec<O>,
    /// The last `unrecorded` of `done` were acted on but their outcome records could not be written
    /// (their intent records are in the log).
    pub unrecorded: usize,
    pub error: io::Error,
}

/// Acts recorded ahead: see the module documentation.
pub struct WriteAhead<'a, J: Journal + ?Sized> {
    journal: &'a mut J,
    run: String,
    /// The first batch's size, and the largest (batches double between the two).
    batch: usize,
    max: usize,
}

impl<'a, J: Journal + ?Sized> WriteAhead<'a, J> {
    /// Records go to `journal`, tagged with `run` (see [`run_id`]).
    pub fn new(journal: &'a mut J, run: impl Into<String>) -> WriteAhead<'a, J> {
        WriteAhead {
            journal,
            run: run.into(),
            batch: BATCH,
            max: BATCH_MAX,
        }
    }

    /// Act on exactly `n` items between two syncs (default: [`BATCH`], doubling up to
    /// [`BATCH_MAX`]).
    pub fn batch(mut self, n: usize) -> WriteAhead<'a, J> {
        self.batch = n.max(1);
        self.max = self.batch;
        self
    }

    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// Act on `items`, batch by batch: commit `intent(item)` for each item of the batch, then
    /// `act(batch)` (one outcome per item, in order), then `outcome(item, &outcome)` for each. A batch's
    /// outcome records go to disk in the same commit as the next batch's intents (one sync between two
    /// batches: the outcomes are still on disk before the next batch is acted on), the last batch's
    /// on their own. The records serialize as JSON objects (a `serde_json::Value` or a struct);
    /// `"phase"` and `"run"` are added here. When a commit fails, nothing more is acted on:
    /// [`Stopped`] holds what was done.
    pub fn act<T, O, I: Serialize, R: Serialize>(
        &mut self,
        items: &[T],
        mut intent: impl FnMut(&T) -> I,
        mut act: impl FnMut(&[T]) -> Vec<O>,
        mut outcome: impl FnMut(&T, &O) -> R,
    ) -> Result<Vec<O>, Stopped<O>> {
        let mut done: Vec<O> = Vec::with_capacity(items.len());
        // The outcome records of the last batch acted on, not yet committed.
        let mut pending: Vec<String> = Vec::new();
        let (mut at, mut size) = (0, self.batch);
        while at < items.len() {
            let chunk = &items[at..items.len().min(at + size)];
            at += chunk.len();
            size = (size * 2).min(self.max);
            let unrecorded = pending.len();
            let mut lines = std::mem::take(&mut pending);
            lines.extend(chunk.iter().map(|t| self.stamp(&intent(t), "intent")));
            if let Err(error) = self.journal.commit(&lines) {
                return Err(Stopped {
                    done,
                    unrecorded,
                    error,
                });
            }
            let outs = act(chunk);
            debug_assert_eq!(outs.len(), chunk.len(), "one outcome per item");
            pending = chunk
                .iter()
                .zip(&outs)
                .map(|(t, o)| self.stamp(&outcome(t, o), "outcome"))
                .collect();
            done.extend(outs);
        }
        if let Err(error) = self.journal.commit(&pending) {
            return Err(Stopped {
                done,
                unrecorded: pending.len(),
                error,
            });
        }
        Ok(done)
    }

    /// Commit more outcome records of this run: a correction after a later re-read of the kernel
    /// (the last outcome record of a socket in a run is the one that counts).
    pub fn outcomes<R: Serialize>(&mut self, records: &[R]) -> io::Result<()> {
        let lines: Vec<String> = records.iter().map(|r| self.stamp(r, "outcome")).collect();
        self.journal.commit(&lines)
    }

    /// The record as one JSON line with `"phase"` and `"run"` first (a record that is not an object
    /// goes under `"record"`).
    fn stamp<R: Serialize + ?Sized>(&self, record: &R, phase: &str) -> String {
        let body = serde_json::to_string(record)
            .unwrap_or_else(|e| Value::from(format!("unserializable record: {e}")).to_string());
        let head = format!(
            "{{\"phase\":{},\"run\":{}",
            Value::from(phase),
            Value::from(self.run.as_str())
        );
        match body.strip_prefix('{') {
            Some("}") => format!("{head}}}"),
            Some(rest) => format!("{head},{rest}"),
            None => format!("{head},\"record\":{body}}}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("sockdoc-audit-{}-{name}", std::process::id()))
    }

    #[test]
    fn rfc3339_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }

    #[test]
    fn appends_lines_and_refuses_multiline() {
        let dir = temp("lines");
        let path = dir.join("sub").join("audit.jsonl");
        let mut log = AuditLog::open(&path).expect("open");
        log.append(r#"{"a":1}"#).expect("append");
        log.append(r#"{"a":2}"#).expect("append");
        assert!(log.append("{\n}").is_err());
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "{\"a\":1}\n{\"a\":2}\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_last_line_is_ended_at_open() {
        let dir = temp("torn");
        let path = dir.join("audit.jsonl");
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(&path, "{\"a\":1}\n{\"a\":").expect("write");
        let mut log = AuditLog::open(&path).expect("open");
        log.append_durable(&[r#"{"b":2}"#.to_string()])
            .expect("append");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "{\"a\":1}\n{\"a\":\n{\"b\":2}\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A journal that records what it was given and fails its `fail_at`-th commit.
    struct Mem {
        commits: Vec<Vec<String>>,
        fail_at: usize,
    }

    impl Journal for Mem {
        fn commit(&mut self, records: &[String]) -> io::Result<()> {
            if self.commits.len() == self.fail_at {
                return Err(io::Error::other("full"));
            }
            self.commits.push(records.to_vec());
            Ok(())
        }
    }

    fn acts(fail_at: usize) -> (Mem, Vec<u32>, Result<Vec<u32>, Stopped<u32>>) {
        let mut j = Mem {
            commits: Vec::new(),
            fail_at,
        };
        let mut acted = Vec::new();
        let items: Vec<u32> = (0..5).collect();
        let r = WriteAhead::new(&mut j, "7-1").batch(2).act(
            &items,
            |i| json!({"item": i}),
            |batch| {
                acted.extend_from_slice(batch);
                batch.iter().map(|i| i * 10).collect()
            },
            |i, o| json!({"item": i, "out": o}),
        );
        (j, acted, r)
    }

    #[test]
    fn batches_double_up_to_the_largest() {
        let mut j = Mem {
            commits: Vec::new(),
            fail_at: usize::MAX,
        };
        let items: Vec<u32> = (0..12_000).collect();
        let mut sizes = Vec::new();
        WriteAhead::new(&mut j, "7-2")
            .act(
                &items,
                |i| json!({ "item": i }),
                |batch| {
                    sizes.push(batch.len());
                    batch.to_vec()
                },
                |i, _| json!({ "item": i }),
            )
            .expect("ok");
        assert_eq!(sizes, [512, 1024, 2048, 4096, 4096, 224]);
        // One commit per batch (its intents with the outcomes before it), and the last outcomes.
        assert_eq!(j.commits.len(), sizes.len() + 1);
    }

    #[test]
    fn intents_are_committed_before_each_batch_and_outcomes_after() {
        let (j, acted, r) = acts(usize::MAX);
        assert_eq!(r.expect("ok"), vec![0, 10, 20, 30, 40]);
        assert_eq!(acted, vec![0, 1, 2, 3, 4]);
        let phases: Vec<Vec<(String, u64)>> = j
            .commits
            .iter()
            .map(|c| {
                c.iter()
                    .map(|l| {
                        let v: Value = serde_json::from_str(l).expect("json");
                        assert_eq!(v["run"], "7-1");
                        (
                            v["phase"].as_str().expect("phase").to_string(),
                            v["item"].as_u64().expect("item"),
                        )
                    })
                    .collect()
            })
            .collect();
        let p = |s: &str, items: &[u64]| -> Vec<(String, u64)> {
            items.iter().map(|&i| (s.to_string(), i)).collect()
        };
        let both = |a: &[u64], b: &[u64]| [p("outcome", a), p("intent", b)].concat();
        assert_eq!(
            phases,
            vec![
                p("intent", &[0, 1]),
                both(&[0, 1], &[2, 3]),
                both(&[2, 3], &[4]),
                p("outcome", &[4]),
            ]
        );
    }

    #[test]
    fn records_get_phase_and_run_whatever_their_shape() {
        let mut j = Mem {
            commits: Vec::new(),
            fail_at: usize::MAX,
        };
        let mut wa = WriteAhead::new(&mut j, "1-2");
        wa.outcomes(&[json!({"a": 1}), json!({}), json!([1])])
            .expect("commit");
        let lines: Vec<Value> = j.commits[0]
            .iter()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(
            lines,
            vec![
                json!({"phase": "outcome", "run": "1-2", "a": 1}),
                json!({"phase": "outcome", "run": "1-2"}),
                json!({"phase": "outcome", "run": "1-2", "record": [1]}),
            ]
        );
    }

    #[test]
    fn a_failed_commit_stops_before_the_next_act() {
        // The first batch's outcomes (with the second's intents) cannot be written: acted on,
        // outcome unrecorded, no more acts.
        let (_, acted, r) = acts(1);
        let s = r.expect_err("stopped");
        assert_eq!((acted, s.done, s.unrecorded), (vec![0, 1], vec![0, 10], 2));
        // The last batch's outcomes cannot be written: all acted on, the last one unrecorded.
        let (_, acted, r) = acts(3);
        let s = r.expect_err("stopped");
        assert_eq!(s.done, vec![0, 10, 20, 30, 40]);
        assert_eq!((acted.len(), s.unrecorded), (5, 1));
        // Nothing can be written: nothing is acted on.
        let (_, acted, r) = acts(0);
        assert!(acted.is_empty() && r.expect_err("stopped").done.is_empty());
    }
}
