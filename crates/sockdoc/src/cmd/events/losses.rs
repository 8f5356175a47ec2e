//! What `events` says it lost: the `lost` records written into the stream (text or JSON), from the
//! counters the engine keeps (`sockdoc_core::events::Losses`).

use std::io::Write;

use serde::Serialize;
use sockdoc_core::events::{LossCounts, Losses};

use crate::cmd::treat::now_rfc3339;
use crate::json::SCHEMA;

/// Why ends were lost, as written in the stream.
#[derive(Clone, Copy)]
pub(super) enum Why {
    Slow,
    Overflow,
    Unreported,
}

/// Write a `lost` record for each kind of loss counted since the last one. Returns whether anything
/// was written.
pub(super) fn report_losses(
    out: &mut dyn Write,
    json: bool,
    losses: &Losses,
    reported: &mut LossCounts,
) -> std::io::Result<bool> {
    let now = losses.counts();
    let mut wrote = false;
    for (why, n) in [
        (Why::Overflow, now.overflows - reported.overflows),
        (Why::Unreported, now.unreported - reported.unreported),
        (Why::Slow, now.slow - reported.slow),
    ] {
        if n > 0 {
            write_lost(out, json, why, n)?;
            wrote = true;
        }
    }
    *reported = now;
    Ok(wrote)
}

#[derive(Serialize)]
pub(super) struct JLost {
    schema: u32,
    command: &'static str,
    time: String,
    /// Connection ends lost (for kernel_buffer_overflow: overflows, each at least one end).
    lost: u64,
    /// output_too_slow | kernel_buffer_overflow | ended_unreported
    why: &'static str,
    /// False when `lost` is a lower bound.
    exact: bool,
}

pub(super) fn write_lost(out: &mut dyn Write, json: bool, why: Why, n: u64) -> std::io::Result<()> {
    if json {
        let (key, exact) = match why {
            Why::Slow => ("output_too_slow", true),
            Why::Overflow => ("kernel_buffer_overflow", false),
            Why::Unreported => ("ended_unreported", true),
        };
        serde_json::to_writer(
            &mut *out,
            &JLost {
                schema: SCHEMA,
                command: "events",
                time: now_rfc3339(),
                lost: n,
                why: key,
                exact,
            },
        )?;
        return writeln!(out);
    }
    let text = match why {
        Why::Slow => format!("lost {n} connection ends (output too slow)"),
        Why::Overflow => format!(
            "lost connection ends (kernel buffer overflow, {n} time{}: at least {n})",
            if n == 1 { "" } else { "s" }
        ),
        Why::Unreported => format!(
            "lost {n} connection ends (kernel buffer overflow: connections the scans saw, gone without an end event)"
        ),
    };
    writeln!(out, "{} {text}", now_rfc3339())
}
