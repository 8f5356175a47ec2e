//! The loop every target shares: worker threads, each with its own seeded generator, try inputs until
//! the time budget (or the input cap) runs out; a panic is caught, its input saved and reported; the
//! counts are summed and printed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_xorshift::XorShiftRng;

pub type Rng = XorShiftRng;

/// Failures after which a target stops early (one is enough to fail the run).
const MAX_FAILURES: u64 = 10;

/// How long and how wide to fuzz.
pub struct Budget {
    pub time: Duration,
    pub max_inputs: Option<u64>,
    pub threads: usize,
    pub seed: u64,
    pub crash_dir: PathBuf,
}

/// Outcome counters a target keeps, by index into its `STATS` names.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats(pub [u64; 8]);

impl Stats {
    pub fn bump(&mut self, i: usize) {
        self.0[i] += 1;
    }
}

/// One parser under test.
pub trait Target {
    const NAME: &'static str;
    /// Names of the counters in [`Stats`].
    const STATS: &'static [&'static str];
    type Input;
    /// Per-thread state: seed corpus, sample sockets.
    fn new() -> Self;
    fn generate(&mut self, rng: &mut Rng) -> Self::Input;
    /// Run the parser on `input` and check its properties; `Err` names a broken one.
    fn check(&mut self, input: &Self::Input, stats: &mut Stats) -> Result<(), String>;
    /// The input as bytes, to save it.
    fn to_bytes(input: &Self::Input) -> Vec<u8>;
    /// A short printable form of the input for the report.
    fn describe(input: &Self::Input) -> String;
}

/// What a target's run added up to.
pub struct Report {
    pub inputs: u64,
    pub failures: u64,
}

pub fn run<T: Target>(b: &Budget) -> Report {
    let start = Instant::now();
    let deadline = start + b.time;
    let inputs = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let stats = Mutex::new(Stats::default());
    // The default hook prints each panic's message and place; keep it, the report adds the input.
    std::thread::scope(|scope| {
        for t in 0..b.threads {
            let (inputs, failures, stats) = (&inputs, &failures, &stats);
            scope.spawn(move || {
                let seed = b.seed ^ (t as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let mut rng = Rng::seed_from_u64(seed);
                let mut target = T::new();
                let mut mine = Stats::default();
                let mut n = 0u64;
                let mut counted = 0u64;
                loop {
                    if n.is_multiple_of(64) {
                        inputs.fetch_add(n - counted, Ordering::Relaxed);
                        counted = n;
                        if Instant::now() >= deadline
                            || failures.load(Ordering::Relaxed) >= MAX_FAILURES
                        {
                            break;
                        }
                    }
                    let input = target.generate(&mut rng);
                    let result = catch_unwind(AssertUnwindSafe(|| target.check(&input, &mut mine)));
                    let what = match result {
                        Ok(Ok(())) => None,
                        Ok(Err(broken)) => Some(broken),
                        Err(payload) => Some(format!("panic: {}", panic_message(&*payload))),
                    };
                    n += 1;
                    if let Some(what) = what {
                        let k = failures.fetch_add(1, Ordering::Relaxed);
                        save::<T>(b, t, k, &input, &what);
                    }
                    if b.max_inputs
                        .is_some_and(|m| n >= m.div_ceil(b.threads as u64))
                    {
                        break;
                    }
                }
                inputs.fetch_add(n - counted, Ordering::Relaxed);
                let mut all = stats.lock().unwrap_or_else(|p| p.into_inner());
                for (a, m) in all.0.iter_mut().zip(mine.0) {
                    *a += m;
                }
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let n = inputs.load(Ordering::Relaxed);
    let f = failures.load(Ordering::Relaxed);
    let stats = stats.into_inner().unwrap_or_else(|p| p.into_inner());
    let counts: Vec<String> = T::STATS
        .iter()
        .zip(stats.0)
        .map(|(name, c)| format!("{name} {c}"))
        .collect();
    println!(
        "{}: {n} inputs in {elapsed:.1} s ({:.0}/s) on {} thread(s), seed {}: {f} failure(s); {}",
        T::NAME,
        n as f64 / elapsed.max(1e-9),
        b.threads,
        b.seed,
        counts.join(", ")
    );
    Report {
        inputs: n,
        failures: f,
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

fn save<T: Target>(b: &Budget, thread: usize, k: u64, input: &T::Input, what: &str) {
    let path = b
        .crash_dir
        .join(format!("{}-{}-{thread}-{k}.bin", T::NAME, b.seed));
    let saved = std::fs::create_dir_all(&b.crash_dir)
        .and_then(|()| std::fs::write(&path, T::to_bytes(input)));
    let place = match saved {
        Ok(()) => format!("saved to {}", path.display()),
        Err(e) => format!("not saved ({e})"),
    };
    eprintln!(
        "{} FAILURE: {what}\n  input: {}\n  {place}",
        T::NAME,
        T::describe(input)
    );
}
