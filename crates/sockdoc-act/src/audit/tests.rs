//! The audit log and write-ahead batches, on files and on a journal in memory.

use super::write_ahead::stamp;
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
fn acts_on(fail_at: usize, concurrent: bool) -> (Mem, Vec<u32>, Result<Vec<u32>, Stopped<u32>>) {
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
    // The second outcomes, written while the last batch is acted on, cannot be written.
    let (_, acted, r) = acts_on(3, true);
    assert_eq!((acted.len(), r.expect_err("stopped").unrecorded), (5, 3));
    // The last outcomes, on their own at the end, cannot be written.
    let (_, acted, r) = acts_on(4, true);
    assert_eq!((acted.len(), r.expect_err("stopped").unrecorded), (5, 1));
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
fn records_built_on_several_threads_keep_the_items_order() {
    // 3000 items: batches of 512 and 2048 are built on every core, the rest on this thread.
    for concurrent in [false, true] {
        let mut j = Mem::new(usize::MAX, concurrent);
        let items: Vec<u64> = (0..3000).collect();
        let done = WriteAhead::new(&mut j, "7-3")
            .act(
                &items,
                |i| json!({ "item": i }),
                |batch| batch.iter().map(|i| i * 10).collect(),
                |i, o| json!({ "item": i, "o": o }),
            )
            .expect("ok");
        assert_eq!(done, items.iter().map(|i| i * 10).collect::<Vec<_>>());
        let lines: Vec<(String, u64)> = j.phases().into_iter().flatten().collect();
        for phase in ["intent", "outcome"] {
            let order: Vec<u64> = lines
                .iter()
                .filter(|(p, _)| p == phase)
                .map(|(_, i)| *i)
                .collect();
            assert_eq!(order, items, "{phase}s, concurrent: {concurrent}");
        }
    }
}

#[test]
fn intents_are_committed_before_each_batch_and_outcomes_after() {
    // In line: each batch's outcomes go with the next batch's intents. Pipelined: the next
    // batch's intents are written while this one is acted on, the outcomes one batch later,
    // the last batch's on their own.
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
        p("outcome", &[2, 3]),
        p("outcome", &[4]),
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
