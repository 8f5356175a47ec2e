//! Presentation, chosen once. A read-only command builds one report value; whether it is written as
//! text (in the user's language), as the documented JSON (docs/json-schema.md) or as CSV is decided
//! here, at the edge ([`present`]), and nowhere inside the commands.

use std::io::{self, Write};

use sockdoc_core::i18n::{text, Lang, Msg};

use crate::cli::{Format, Global};
use crate::error::{Exit, Failure};

/// A command's result, printable either way.
pub trait Report {
    /// Human text in `lang`.
    fn text(&self, out: &mut dyn Write, lang: Lang) -> io::Result<()>;
    /// The documented JSON document.
    fn json(&self, out: &mut dyn Write) -> io::Result<()>;
    /// CSV (RFC 4180), for the reports that have a table form (`list`, `ss`, `stats`, `ghosts`);
    /// the command line refuses `--format csv` elsewhere before any work ([`csv_refused`]).
    fn csv(&self, _out: &mut dyn Write) -> io::Result<()> {
        Err(io::Error::other("this report has no CSV form"))
    }
}

/// What a read-only command hands to the edge: its report and its exit code.
pub struct Done {
    pub report: Box<dyn Report>,
    pub exit: Exit,
}

impl Done {
    pub fn new(report: impl Report + 'static, exit: Exit) -> Done {
        Done {
            report: Box::new(report),
            exit,
        }
    }
}

/// Write `report` as `--json` or `--format` asks (for a command that decides its exit code after
/// printing).
pub fn write(g: &Global, report: &dyn Report, out: &mut dyn Write) -> io::Result<()> {
    match g.format() {
        Format::Csv => report.csv(out),
        Format::Json => report.json(out),
        Format::Text => report.text(out, g.lang()),
    }
}

/// The refusal of `--format csv` for a command without a CSV form, or of `--format csv` with
/// `--json`; `None` when the format can be written.
pub fn csv_refused(g: &Global, has_csv: bool) -> Option<Failure> {
    if g.format != Some(Format::Csv) {
        return None;
    }
    let msg = if g.json {
        Msg::CsvNotJson
    } else if !has_csv {
        Msg::CsvOnly
    } else {
        return None;
    };
    Some(Failure::usage(text(g.lang(), msg, &[])))
}

/// [`write`] for a caller that was handed the choice rather than the flags (`ghosts --probe`, run
/// by `ghosts` or by `top`).
pub fn write_as(
    json: bool,
    lang: Lang,
    report: &dyn Report,
    out: &mut dyn Write,
) -> io::Result<()> {
    if json {
        report.json(out)
    } else {
        report.text(out, lang)
    }
}

/// Write `done`'s report as the user asked (`--json` or text), and return its exit code.
pub fn present(
    g: &Global,
    done: Result<Done, Failure>,
    out: &mut dyn Write,
) -> Result<Exit, Failure> {
    let done = done?;
    write(g, done.report.as_ref(), out).map_err(Failure::output)?;
    Ok(done.exit)
}
