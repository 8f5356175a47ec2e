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
pub(super) fn stamp<R: Serialize + ?Sized>(run: &str, record: &R, phase: &str) -> String {
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
