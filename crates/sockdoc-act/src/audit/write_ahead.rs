//! Acts recorded ahead ([`WriteAhead`]): the batches, the two ways of committing them (in line, or on a
//! writer thread beside the act), and the one JSON line each record becomes.

use std::io;
use std::sync::mpsc;

use serde::Serialize;

use super::{Journal, BATCH, BATCH_MAX};

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
    ///
    /// The records of a batch are built on every core ([`spread`]): a bulk act (kill, keepalive)
    /// writes two records per socket, and building them one after the other is what held the next
    /// batch back.
    pub fn act<T, O, I, R>(
        &mut self,
        items: &[T],
        intent: impl Fn(&T) -> I + Sync,
        mut act: impl FnMut(&[T]) -> Vec<O>,
        outcome: impl Fn(&T, &O) -> R + Sync,
    ) -> Result<Vec<O>, Stopped<O>>
    where
        T: Sync,
        O: Sync,
        I: Serialize,
        R: Serialize,
    {
        let run = self.run.clone();
        let run = run.as_str();
        self.steps(
            items,
            Steps {
                intents: &mut |c: &[T]| spread(c.len(), &|j| stamp(run, &intent(&c[j]), "intent")),
                act: &mut act,
                outcomes: &mut |c: &[T], outs: &[O]| {
                    spread(c.len(), &|j| {
                        stamp(run, &outcome(&c[j], &outs[j]), "outcome")
                    })
                },
            },
        )
    }

    fn steps<T, O>(&mut self, items: &[T], steps: Steps<T, O>) -> Result<Vec<O>, Stopped<O>> {
        let chunks = self.chunks(items);
        match self.journal.concurrent() {
            Some(journal) => pipelined(journal, &chunks, steps),
            None => in_line(self.journal, &chunks, steps),
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

/// The caller's three steps of [`WriteAhead::act`], batch by batch: a batch's intent records as
/// lines, the act, its outcome records as lines.
struct Steps<'s, T, O> {
    intents: &'s mut dyn FnMut(&[T]) -> Vec<String>,
    act: &'s mut dyn FnMut(&[T]) -> Vec<O>,
    outcomes: &'s mut Outcomes<'s, T, O>,
}

/// A batch and what acting on it gave → its outcome records as lines.
type Outcomes<'s, T, O> = dyn FnMut(&[T], &[O]) -> Vec<String> + 's;

/// Fewer records than this per thread are built on the calling thread alone.
const SPREAD_MIN: usize = 256;

/// `line(0..n)`, in order, built on up to as many threads as there are cores.
fn spread(n: usize, line: &(dyn Fn(usize) -> String + Sync)) -> Vec<String> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let threads = cores.min(n / SPREAD_MIN).max(1);
    if threads == 1 {
        return (0..n).map(line).collect();
    }
    let per = n.div_ceil(threads);
    std::thread::scope(|s| {
        let rest: Vec<_> = (1..threads)
            .map(|t| {
                s.spawn(move || {
                    (t * per..n.min((t + 1) * per))
                        .map(line)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out: Vec<String> = Vec::with_capacity(n);
        out.extend((0..per).map(line));
        for part in rest {
            match part.join() {
                Ok(mut lines) => out.append(&mut lines),
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        out
    })
}

fn stopped<O>(done: Vec<O>, unrecorded: usize, error: io::Error) -> Result<Vec<O>, Stopped<O>> {
    Err(Stopped {
        done,
        unrecorded,
        error,
    })
}

/// Every commit in line: [intents 0], [outcomes 0 + intents 1], …, [outcomes last].
fn in_line<J, T, O>(
    journal: &mut J,
    chunks: &[&[T]],
    steps: Steps<T, O>,
) -> Result<Vec<O>, Stopped<O>>
where
    J: Journal + ?Sized,
{
    let mut done: Vec<O> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    for chunk in chunks {
        let unrecorded = pending.len();
        let mut recs = std::mem::take(&mut pending);
        recs.append(&mut (steps.intents)(chunk));
        if let Err(error) = journal.commit(&recs) {
            return stopped(done, unrecorded, error);
        }
        let outs = (steps.act)(chunk);
        debug_assert_eq!(outs.len(), chunk.len(), "one outcome per item");
        pending = (steps.outcomes)(chunk, &outs);
        done.extend(outs);
    }
    match journal.commit(&pending) {
        Ok(()) => Ok(done),
        Err(error) => stopped(done, pending.len(), error),
    }
}

/// Commits on a second thread, which only writes and syncs: [intents 0], then while batch k is acted
/// on, [outcomes k-1 + intents k+1] (the last batch's outcomes on their own, at the end). This thread
/// builds and serializes every record, the next batch's intents while the writer syncs and the first
/// batch's while the writer syncs the very first commit, so the disk's latency hides behind work.
fn pipelined<T, O>(
    journal: &mut (dyn Journal + Send),
    chunks: &[&[T]],
    steps: Steps<T, O>,
) -> Result<Vec<O>, Stopped<O>> {
    let mut done: Vec<O> = Vec::new();
    if chunks.is_empty() {
        return Ok(done);
    }
    let Steps {
        intents,
        act,
        outcomes,
    } = steps;
    let mut intent_lines = |k: usize| chunks.get(k).map_or_else(Vec::new, |c| intents(c));
    std::thread::scope(|s| {
        let (to_writer, jobs) = mpsc::channel::<Vec<String>>();
        let (acks, from_writer) = mpsc::channel::<io::Result<()>>();
        s.spawn(move || {
            for lines in jobs {
                let r = journal.commit(&lines);
                if acks.send(r).is_err() {
                    break;
                }
            }
        });
        let sent = |lines: Vec<String>| to_writer.send(lines).map_err(|_| writer_gone());
        let acked = || from_writer.recv().map_err(|_| writer_gone())?;
        let l0 = intent_lines(0);
        if let Err(error) = sent(l0) {
            return stopped(done, 0, error);
        }
        let mut next = intent_lines(1);
        if let Err(error) = acked() {
            return stopped(done, 0, error);
        }
        // Outcome lines not yet sent to the writer.
        let mut pending: Vec<String> = Vec::new();
        for (k, chunk) in chunks.iter().enumerate() {
            let unrecorded = pending.len();
            let mut batch = std::mem::take(&mut pending);
            batch.append(&mut next);
            let on_its_way = !batch.is_empty();
            if on_its_way {
                if let Err(error) = sent(batch) {
                    return stopped(done, unrecorded, error);
                }
            }
            let outs = act(chunk);
            debug_assert_eq!(outs.len(), chunk.len(), "one outcome per item");
            pending = outcomes(chunk, &outs);
            done.extend(outs);
            next = intent_lines(k + 2);
            if on_its_way {
                if let Err(error) = acked() {
                    // This batch was acted on (its intents were durable); the next one is not.
                    return stopped(done, unrecorded + chunk.len(), error);
                }
            }
        }
        let n = pending.len();
        let last = sent(pending).and_then(|()| acked());
        match last {
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
pub(super) fn stamp<R: Serialize + ?Sized>(run: &str, record: &R, phase: &str) -> String {
    let mut line = Vec::with_capacity(1024);
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
