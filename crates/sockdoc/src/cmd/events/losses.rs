//! What `events` says it lost: the `lost` records written into the stream (text or JSON), from the
//! counters the engine keeps (`sockdoc_core::events::Losses`), in the words of the catalog.

use std::io::Write;

use serde::Serialize;
use sockdoc_core::events::{LossCounts, Losses};
use sockdoc_core::i18n::events::{text, EventsMsg};

use super::output::Format;

use crate::json::SCHEMA;
use crate::treat::now_rfc3339;

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
    format: Format,
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
            write_lost(out, format, why, n)?;
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

pub(super) fn write_lost(
    out: &mut dyn Write,
    format: Format,
    why: Why,
    n: u64,
) -> std::io::Result<()> {
    let lang = match format {
        Format::Json => return write_json(out, why, n),
        Format::Text(lang) => lang,
    };
    let c = n.to_string();
    let text = match why {
        Why::Slow => text(lang, EventsMsg::LostSlow, &[&c]),
        Why::Overflow if n == 1 => text(lang, EventsMsg::LostOverflowOnce, &[&c, &c]),
        Why::Overflow => text(lang, EventsMsg::LostOverflow, &[&c, &c]),
        Why::Unreported => text(lang, EventsMsg::LostUnreported, &[&c]),
    };
    writeln!(out, "{} {text}", now_rfc3339())
}

fn write_json(out: &mut dyn Write, why: Why, n: u64) -> std::io::Result<()> {
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
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockdoc_core::i18n::Lang;

    fn line(format: Format, why: Why, n: u64) -> String {
        let mut out = Vec::new();
        write_lost(&mut out, format, why, n).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn lost_lines_speak_both_languages() {
        let en = line(Format::Text(Lang::En), Why::Overflow, 1);
        assert!(
            en.ends_with(" lost connection ends (kernel buffer overflow, 1 time: at least 1)\n"),
            "{en}"
        );
        let en = line(Format::Text(Lang::En), Why::Slow, 3);
        assert!(
            en.ends_with(" lost 3 connection ends (output too slow)\n"),
            "{en}"
        );
        let zh = line(Format::Text(Lang::Zh), Why::Slow, 3);
        assert!(zh.ends_with(" 丢失 3 个连接结束事件 (输出太慢)\n"), "{zh}");
        let zh = line(Format::Text(Lang::Zh), Why::Unreported, 2);
        assert!(zh.contains("丢失 2 个连接结束事件 (内核缓冲区溢出"), "{zh}");
        let json: serde_json::Value =
            serde_json::from_str(&line(Format::Json, Why::Overflow, 4)).expect("JSON");
        assert_eq!(json["why"], "kernel_buffer_overflow");
        assert_eq!(json["exact"], false);
    }
}
