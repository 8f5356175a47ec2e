//! Presentation, chosen once. A read-only command builds one report value; whether it is written as
//! text (in the user's language) or as the documented JSON (docs/json-schema.md) is decided here, at
//! the edge ([`present`]), and nowhere inside the commands.

use std::io::{self, Write};

use sockdoc_core::i18n::Lang;

use crate::cli::Global;
use crate::error::{Exit, Failure};

/// A command's result, printable either way.
pub trait Report {
    /// Human text in `lang`.
    fn text(&self, out: &mut dyn Write, lang: Lang) -> io::Result<()>;
    /// The documented JSON document.
    fn json(&self, out: &mut dyn Write) -> io::Result<()>;
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

/// Write `report` as `--json` asks (for a command that decides its exit code after printing).
pub fn write(g: &Global, report: &dyn Report, out: &mut dyn Write) -> io::Result<()> {
    write_as(g.json, g.lang(), report, out)
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
