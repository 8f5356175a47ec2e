//! `sockdoc-fuzz`: a fuzzer for sockdoc's two parsers of untrusted input that runs on stable Rust.
//!
//! `reply` feeds the netlink reply parser (`sockdoc_diag::parse_replies`) mutations of real captured
//! dumps (bit flips, cuts, edited message and attribute lengths, status words set to extremes such as
//! `i32::MIN`, random message types and flags) and random bytes. `filter` feeds the filter parser
//! (`sockdoc_core::filter::Filter::parse`) token sequences drawn from the language's vocabulary,
//! well-formed filters built from its grammar, mutations of those, random unicode and bytes, and very
//! long or deep inputs; every filter that parses is also evaluated, pushed down, compiled to kernel
//! bytecode and run, and printed and parsed back.
//!
//! Each target runs for a time budget (`--secs`, or `SOCKDOC_FUZZ_SECS`), prints how many inputs it
//! tried, and exits 1 on any panic or broken property, with the input saved under `--crash-dir`.
//! Build it with the `fuzz` profile (release speed, overflow checks and debug assertions on, panics
//! caught): `cargo run --profile fuzz -p sockdoc-fuzz -- all --secs 40`.
//!
//! Modules:
//! - `reply`: the reply parser target (`Reply`): captured dumps mutated, messages built from scratch,
//!   random bytes;
//! - `filter`: the filter language target (`FilterTarget`), its properties; `filter::gen` draws its
//!   inputs (vocabulary, grammar-built filters, mutations, random sockets to evaluate them on);
//! - `runner`: the loop every target shares (the `Target` trait, `Budget`, seeded worker threads,
//!   panics caught and their inputs saved, counts summed into a `Report`).

mod filter;
mod reply;
mod runner;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Which {
    /// The netlink reply parser.
    Reply,
    /// The filter language parser (and evaluation, pushdown, bytecode of what parses).
    Filter,
    /// Both, one after the other, each for the whole budget.
    All,
}

/// Fuzz sockdoc's parsers for a time budget; exit 1 on a panic or a broken property.
#[derive(Debug, Parser)]
#[command(name = "sockdoc-fuzz", version)]
struct Args {
    /// Which parser.
    #[arg(value_enum, default_value = "all")]
    which: Which,
    /// Seconds per target [default: $SOCKDOC_FUZZ_SECS, else 10].
    #[arg(long)]
    secs: Option<f64>,
    /// Stop a target after this many inputs (whichever comes first with --secs).
    #[arg(long)]
    max_inputs: Option<u64>,
    /// Seed of the random generator [default: from the clock]; printed so a run can be repeated.
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads per target [default: the available cores, at most 2].
    #[arg(long)]
    threads: Option<usize>,
    /// Where inputs that failed are written.
    #[arg(long, default_value = "target/fuzz-crashes")]
    crash_dir: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let secs = args.secs.unwrap_or_else(|| {
        std::env::var("SOCKDOC_FUZZ_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10.0)
    });
    if !(secs.is_finite() && secs >= 0.0) {
        eprintln!("sockdoc-fuzz: --secs must be a number of seconds >= 0");
        return ExitCode::from(64);
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(2)
    });
    let budget = runner::Budget {
        time: std::time::Duration::from_secs_f64(secs),
        max_inputs: args.max_inputs,
        threads: threads.max(1),
        seed,
        crash_dir: args.crash_dir,
    };
    let mut failed = false;
    let mut total = 0u64;
    if matches!(args.which, Which::Reply | Which::All) {
        let r = runner::run::<reply::Reply>(&budget);
        total += r.inputs;
        failed |= r.failures > 0;
    }
    if matches!(args.which, Which::Filter | Which::All) {
        let r = runner::run::<filter::FilterTarget>(&budget);
        total += r.inputs;
        failed |= r.failures > 0;
    }
    if args.which == Which::All {
        println!("total: {total} inputs, seed {seed}");
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness itself: both targets generate, run and count, and find nothing on a short run.
    #[test]
    fn both_targets_run_clean_for_a_moment() {
        let budget = runner::Budget {
            time: std::time::Duration::from_secs(60),
            max_inputs: Some(5_000),
            threads: 1,
            seed: 12,
            crash_dir: std::env::temp_dir().join(format!("sockdoc-fuzz-{}", std::process::id())),
        };
        let r = runner::run::<reply::Reply>(&budget);
        assert_eq!((r.inputs, r.failures), (5_000, 0));
        let budget = runner::Budget {
            max_inputs: Some(1_000),
            ..budget
        };
        let r = runner::run::<filter::FilterTarget>(&budget);
        assert_eq!((r.inputs, r.failures), (1_000, 0));
    }
}
