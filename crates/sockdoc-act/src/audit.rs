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
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

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
    /// The first batch's size, and the largest (batches grow fourfold between the two).
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

    /// Act on exactly `n` items between two syncs (default: [`BATCH`], growing fourfold up to
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
    /// `act(batch)` (one outcome per item, in order), then `outcome(item, &outcome)` for each. The
    /// records serialize as JSON objects (a `serde_json::Value` or a struct); `"phase"` and `"run"` are
    /// added here. When a commit fails, nothing more is acted on: [`Stopped`] holds what was done.
    ///
    /// A batch is never acted on before its intents are durable. When the journal can commit
    /// concurrently ([`Journal::concurrent`]: the audit file), the next batch's intents, with the
    /// outcomes of the batch before, are written and synced on a second thread while this batch is
    /// acted on: the disk's latency hides behind the act (an outcome reaches the disk one batch
    /// later than in line). Otherwise a batch's outcomes go to disk in the same commit as the next
    /// batch's intents, before the next batch is acted on. The last outcomes are committed on their
    /// own.
    pub fn act<T, O, I, R>(
        &mut self,
        items: &[T],
        mut intent: impl FnMut(&T) -> I,
        mut act: impl FnMut(&[T]) -> Vec<O>,
        mut outcome: impl FnMut(&T, &O) -> R,
    ) -> Result<Vec<O>, Stopped<O>>
    where
        I: Serialize,
        R: Serialize,
    {
        let chunks = self.chunks(items);
        let run = self.run.as_str();
        let steps = Steps {
            intents: &mut |c: &[T]| c.iter().map(&mut intent).collect(),
            act: &mut act,
            outcomes: &mut |c: &[T], outs: &[O]| {
                c.iter().zip(outs).map(|(t, o)| outcome(t, o)).collect()
            },
        };
        match self.journal.concurrent() {
            Some(journal) => pipelined(journal, run, &chunks, steps),
            None => in_line(self.journal, run, &chunks, steps),
        }
    }

    /// `items` cut into the write-ahead batches: the first of `self.batch`, each next four times the one
    /// before, at most `self.max`.
    fn chunks<'t, T>(&self, items: &'t [T]) -> Vec<&'t [T]> {
        let (mut at, mut size, mut out) = (0, self.batch, Vec::new());
        while at < items.len() {
            let end = items.len().min(at + size);
            out.push(&items[at..end]);
            at = end;
            size = (size * 4).min(self.max);
        }
        out
    }
}

/// The caller's three steps of [`WriteAhead::act`], batch by batch: the intent records (built, not
/// yet serialized), the act, the outcome records.
struct Steps<'s, T, O, I, R> {
    intents: &'s mut dyn FnMut(&[T]) -> Vec<I>,
    act: &'s mut dyn FnMut(&[T]) -> Vec<O>,
    outcomes: &'s mut Outcomes<'s, T, O, R>,
}

/// A batch and what acting on it gave → its outcome records.
type Outcomes<'s, T, O, R> = dyn FnMut(&[T], &[O]) -> Vec<R> + 's;

/// A batch's records as lines: the outcomes of one batch, then the intents of another.
fn lines<I: Serialize, R: Serialize>(run: &str, outcomes: &[R], intents: &[I]) -> Vec<String> {
    let o = outcomes.iter().map(|r| stamp(run, r, "outcome"));
    o.chain(intents.iter().map(|r| stamp(run, r, "intent")))
        .collect()
}

fn stopped<O>(done: Vec<O>, unrecorded: usize, error: io::Error) -> Result<Vec<O>, Stopped<O>> {
    Err(Stopped {
        done,
        unrecorded,
        error,
    })
}

/// Every commit in line: [intents 0], [outcomes 0 + intents 1], …, [outcomes last].
fn in_line<J, T, O, I, R>(
    journal: &mut J,
    run: &str,
    chunks: &[&[T]],
    steps: Steps<T, O, I, R>,
) -> Result<Vec<O>, Stopped<O>>
where
    J: Journal + ?Sized,
    I: Serialize,
    R: Serialize,
{
    let mut done: Vec<O> = Vec::new();
    let mut pending: Vec<R> = Vec::new();
    for chunk in chunks {
        let recs = lines(run, &pending, &(steps.intents)(chunk));
        if let Err(error) = journal.commit(&recs) {
            return stopped(done, pending.len(), error);
        }
        let outs = (steps.act)(chunk);
        debug_assert_eq!(outs.len(), chunk.len(), "one outcome per item");
        pending = (steps.outcomes)(chunk, &outs);
        done.extend(outs);
    }
    match journal.commit(&lines::<R, R>(run, &pending, &[])) {
        Ok(()) => Ok(done),
        Err(error) => stopped(done, pending.len(), error),
    }
}

/// Commits on a second thread, which only writes and syncs: [intents 0], then while batch k is acted
/// on, [outcomes k-1 + intents k+1]; the last batch's outcomes go with the ones before it, at the
/// end. This thread builds and serializes every record, the next batch's intents while the writer
/// syncs and the first batch's while the writer syncs the very first commit, so the disk's latency
/// hides behind work.
fn pipelined<T, O, I, R>(
    journal: &mut (dyn Journal + Send),
    run: &str,
    chunks: &[&[T]],
    steps: Steps<T, O, I, R>,
) -> Result<Vec<O>, Stopped<O>>
where
    I: Serialize,
    R: Serialize,
{
    let mut done: Vec<O> = Vec::new();
    if chunks.is_empty() {
        return Ok(done);
    }
    let Steps {
        intents,
        act,
        outcomes,
    } = steps;
    let mut intent_lines = |k: usize| -> Vec<String> {
        match chunks.get(k) {
            Some(c) => lines::<I, R>(run, &[], &intents(c)),
            None => Vec::new(),
        }
    };
    std::thread::scope(|s| {
        let (to_writer, jobs) = mpsc::channel::<Vec<String>>();
        let (acks, from_writer) = mpsc::channel::<io::Result<()>>();
        s.spawn(move || {
            for lines in jobs {
                if acks.send(journal.commit(&lines)).is_err() {
                    break;
                }
            }
        });
        let commit = |lines: Vec<String>| -> io::Result<()> {
            to_writer.send(lines).map_err(|_| writer_gone())?;
            from_writer.recv().map_err(|_| writer_gone())?
        };
        let sent = |lines: Vec<String>| to_writer.send(lines).map_err(|_| writer_gone());
        let acked = || from_writer.recv().map_err(|_| writer_gone())?;
        if let Err(error) = sent(intent_lines(0)) {
            return stopped(done, 0, error);
        }
        let mut next = intent_lines(1);
        if let Err(error) = acked() {
            return stopped(done, 0, error);
        }
        // Outcome lines not yet sent to the writer.
        let mut pending: Vec<String> = Vec::new();
        for (k, chunk) in chunks.iter().enumerate() {
            let last = k + 1 == chunks.len();
            let unrecorded = pending.len();
            let on_its_way = if last {
                Ok(())
            } else {
                let mut batch = std::mem::take(&mut pending);
                batch.append(&mut next);
                sent(batch)
            };
            if let Err(error) = on_its_way {
                return stopped(done, unrecorded, error);
            }
            let outs = act(chunk);
            debug_assert_eq!(outs.len(), chunk.len(), "one outcome per item");
            pending.extend(lines::<R, R>(run, &outcomes(chunk, &outs), &[]));
            done.extend(outs);
            if !last {
                next = intent_lines(k + 2);
                if let Err(error) = acked() {
                    // This batch was acted on (its intents were durable); the next one is not.
                    return stopped(done, unrecorded + chunk.len(), error);
                }
            }
        }
        let n = pending.len();
        match commit(pending) {
            Ok(()) => Ok(done),
            Err(error) => stopped(done, n, error),
        }
    })
}

/// The writer thread ended before its work did (it panicked).
fn writer_gone() -> io::Error {
    io::Error::other("the audit writer stopped")
}

/// The record as one JSON line with `"phase"` and `"run"` first (a record that is not an object goes
/// under `"record"`). Serialized once, straight into the line: a large kill writes a line per socket
/// and phase, and this is where its audit time goes.
fn stamp<R: Serialize + ?Sized>(run: &str, record: &R, phase: &str) -> String {
    let mut line = Vec::with_capacity(512);
    line.extend_from_slice(b"{\"phase\":");
    let _ = serde_json::to_writer(&mut line, phase);
    line.extend_from_slice(b",\"run\":");
    let _ = serde_json::to_writer(&mut line, run);
    let head = line.len();
    if let Err(e) = serde_json::to_writer(&mut line, record) {
        line.truncate(head);
        line.extend_from_slice(b",\"record\":");
        let _ = serde_json::to_writer(&mut line, &format!("unserializable record: {e}"));
        line.push(b'}');
    } else {
        match &line[head..] {
            b"{}" => {
                line.truncate(head);
                line.push(b'}');
            }
            [b'{', ..] => line[head] = b',',
            _ => {
                line.splice(head..head, b",\"record\":".iter().copied());
                line.push(b'}');
            }
        }
    }
    // serde_json writes UTF-8 only.
    String::from_utf8(line).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

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

    /// A journal that records what it was given (shared, so an act can look at what is durable) and
    /// fails its `fail_at`-th commit; `concurrent` lets [`WriteAhead::act`] commit on its own thread.
    #[derive(Default)]
    struct Mem {
        commits: std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>,
        fail_at: usize,
        concurrent: bool,
    }

    impl Mem {
        fn new(fail_at: usize, concurrent: bool) -> Mem {
            Mem {
                fail_at,
                concurrent,
                ..Mem::default()
            }
        }

        fn commits(&self) -> Vec<Vec<String>> {
            self.commits.lock().expect("lock").clone()
        }

        /// (phase, item) of every committed line, commit by commit.
        fn phases(&self) -> Vec<Vec<(String, u64)>> {
            let line = |l: &String| {
                let v: Value = serde_json::from_str(l).expect("json");
                let phase = v["phase"].as_str().expect("phase").to_string();
                (phase, v["item"].as_u64().expect("item"))
            };
            let c = self.commits();
            c.iter().map(|c| c.iter().map(line).collect()).collect()
        }
    }

    impl Journal for Mem {
        fn commit(&mut self, records: &[String]) -> io::Result<()> {
            let mut commits = self.commits.lock().expect("lock");
            if commits.len() == self.fail_at {
                return Err(io::Error::other("full"));
            }
            commits.push(records.to_vec());
            Ok(())
        }

        fn concurrent(&mut self) -> Option<&mut (dyn Journal + Send)> {
            self.concurrent.then_some(self as &mut (dyn Journal + Send))
        }
    }

    /// Five items in batches of two through a journal failing its `fail_at`-th commit. Every act
    /// checks that the intents of its batch are durable already.
    fn acts_on(
        fail_at: usize,
        concurrent: bool,
    ) -> (Mem, Vec<u32>, Result<Vec<u32>, Stopped<u32>>) {
        let mut j = Mem::new(fail_at, concurrent);
        let seen = j.commits.clone();
        let mut acted = Vec::new();
        let items: Vec<u32> = (0..5).collect();
        let r = WriteAhead::new(&mut j, "7-1").batch(2).act(
            &items,
            |i| json!({"item": i}),
            |batch| {
                let durable = seen.lock().expect("lock").concat();
                for i in batch {
                    let intent = format!("{{\"phase\":\"intent\",\"run\":\"7-1\",\"item\":{i}}}");
                    assert!(
                        durable.contains(&intent),
                        "item {i} acted on before its intent"
                    );
                }
                acted.extend_from_slice(batch);
                batch.iter().map(|i| i * 10).collect()
            },
            |i, o| json!({"item": i, "out": o}),
        );
        (j, acted, r)
    }

    fn acts(fail_at: usize) -> (Mem, Vec<u32>, Result<Vec<u32>, Stopped<u32>>) {
        acts_on(fail_at, false)
    }

    fn p(phase: &str, items: &[u64]) -> Vec<(String, u64)> {
        items.iter().map(|&i| (phase.to_string(), i)).collect()
    }

    fn both(outcomes: &[u64], intents: &[u64]) -> Vec<(String, u64)> {
        [p("outcome", outcomes), p("intent", intents)].concat()
    }

    #[test]
    fn a_failed_pipelined_commit_stops_after_the_batch_in_hand() {
        // The second batch's intents cannot be written while the first is acted on: the first is
        // done without outcome records, the second never acted on.
        let (_, acted, r) = acts_on(1, true);
        let s = r.expect_err("stopped");
        assert_eq!((acted, s.done, s.unrecorded), (vec![0, 1], vec![0, 10], 2));
        // The first outcomes (with the third intents) fail while the second batch is acted on.
        let (_, acted, r) = acts_on(2, true);
        let s = r.expect_err("stopped");
        assert_eq!((acted.len(), s.done.len(), s.unrecorded), (4, 4, 4));
        // The last outcomes (the second and third batch's, at the end) cannot be written.
        let (_, acted, r) = acts_on(3, true);
        assert_eq!((acted.len(), r.expect_err("stopped").unrecorded), (5, 3));
        // Nothing can be written: nothing is acted on.
        let (_, acted, r) = acts_on(0, true);
        assert!(acted.is_empty() && r.expect_err("stopped").done.is_empty());
    }

    #[test]
    fn batches_grow_fourfold_up_to_the_largest() {
        let mut j = Mem::new(usize::MAX, false);
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
        assert_eq!(sizes, [512, 2048, 4096, 4096, 1248]);
        // One commit per batch (its intents with the outcomes before it), and the last outcomes.
        assert_eq!(j.commits().len(), sizes.len() + 1);
    }

    #[test]
    fn intents_are_committed_before_each_batch_and_outcomes_after() {
        // In line: each batch's outcomes go with the next batch's intents. Pipelined: the next
        // batch's intents are written while this one is acted on, the outcomes one batch later,
        // the last batch's with the ones before it.
        let in_line = vec![
            p("intent", &[0, 1]),
            both(&[0, 1], &[2, 3]),
            both(&[2, 3], &[4]),
            p("outcome", &[4]),
        ];
        let pipelined = vec![
            p("intent", &[0, 1]),
            p("intent", &[2, 3]),
            both(&[0, 1], &[4]),
            p("outcome", &[2, 3, 4]),
        ];
        for (concurrent, want) in [(false, in_line), (true, pipelined)] {
            let (j, acted, r) = acts_on(usize::MAX, concurrent);
            assert_eq!(r.expect("ok"), vec![0, 10, 20, 30, 40]);
            assert_eq!(acted, vec![0, 1, 2, 3, 4]);
            assert_eq!(j.phases(), want, "concurrent: {concurrent}");
        }
    }

    #[test]
    fn records_get_phase_and_run_whatever_their_shape() {
        let lines: Vec<Value> = [json!({"a": 1}), json!({}), json!([1]), json!("x\ny")]
            .iter()
            .map(|r| serde_json::from_str(&stamp("1-2", r, "outcome")).expect("json"))
            .collect();
        assert_eq!(
            lines,
            vec![
                json!({"phase": "outcome", "run": "1-2", "a": 1}),
                json!({"phase": "outcome", "run": "1-2"}),
                json!({"phase": "outcome", "run": "1-2", "record": [1]}),
                json!({"phase": "outcome", "run": "1-2", "record": "x\ny"}),
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
