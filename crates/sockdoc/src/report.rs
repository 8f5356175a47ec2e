//! A command's report, written as text or JSON: the choice is made once, here, from `--json`.

use std::io::{self, Write};

use crate::cli::Global;

/// A report that can be written either way.
pub trait Report {
    /// For a person, in the user's language.
    fn text(&self, out: &mut dyn Write) -> io::Result<()>;
    /// The documented JSON shape (docs/json-schema.md).
    fn json(&self, out: &mut dyn Write) -> io::Result<()>;
}

/// Write `report` as `--json` asks.
pub fn write(g: &Global, report: &dyn Report, out: &mut dyn Write) -> io::Result<()> {
    if g.json {
        report.json(out)
    } else {
        report.text(out)
    }
}
