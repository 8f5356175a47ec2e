//! A listing as an aligned table (headers in the user's language; widths from the content and the
//! terminal, see `crate::table`) or as CSV (RFC 4180, through the `csv` crate; column names as
//! `--columns` spells them).

use std::io::Write;

use sockdoc_core::i18n::Lang;
use sockdoc_diag::Socket;

use super::col::{cell_text, is_numeric};
use super::{Col, SocketsReport, Who};
use crate::table::{sample, Spec, Table};

/// A table sized to the rows `sample` picks among `n`: `width(row, col)` is the width of a cell.
pub(super) fn measure(
    specs: Vec<Spec>,
    n: usize,
    mut width: impl FnMut(usize, usize) -> usize,
) -> Table {
    let mut cells: Vec<Vec<usize>> = specs.iter().map(|_| Vec::new()).collect();
    for row in sample(n) {
        for (c, widths) in cells.iter_mut().enumerate() {
            widths.push(width(row, c));
        }
    }
    Table::fit(specs, &mut cells, crate::term::width())
}

/// The rows of `sockets` under `cols`, with a header line unless `header` is false.
pub fn write(
    out: &mut dyn Write,
    lang: Lang,
    cols: &[Col],
    sockets: &[Socket],
    who: Who<'_>,
    header: bool,
) -> std::io::Result<()> {
    let specs = cols
        .iter()
        .map(|c| Spec {
            header: if header {
                crate::fmt::display_width(c.header(lang))
            } else {
                0
            },
            right: is_numeric(*c),
            flexible: c.flexible(),
            tight: false,
        })
        .collect();
    let mut cell = String::with_capacity(64);
    let mut table = measure(specs, sockets.len(), |row, c| {
        cell.clear();
        cell_text(&mut cell, cols[c], &sockets[row], who);
        crate::fmt::display_width(&cell)
    });
    let mut line = String::with_capacity(256);
    if header {
        table.start();
        for (i, c) in cols.iter().enumerate() {
            table.cell(&mut line, i, c.header(lang));
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    for s in sockets {
        line.clear();
        table.start();
        for (i, c) in cols.iter().enumerate() {
            cell.clear();
            cell_text(&mut cell, *c, s, who);
            table.cell(&mut line, i, &cell);
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// The report as CSV: a header row of column names (`netns` first with `--all-netns`), then one
/// record per socket; `-H` leaves the header row out.
pub fn write_csv(out: &mut dyn Write, r: &SocketsReport) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    if r.header {
        let netns = r.label_ns.then_some("netns");
        w.write_record(netns.into_iter().chain(r.cols.iter().map(|c| c.key())))?;
    }
    let mut cell = String::with_capacity(64);
    for n in &r.namespaces {
        let s = &n.sample;
        let who = r.who(s);
        let label = r.label_ns.then(|| s.ns.label());
        for sock in &s.sockets {
            if let Some(l) = &label {
                w.write_field(l)?;
            }
            for c in &r.cols {
                cell.clear();
                cell_text(&mut cell, *c, sock, who);
                w.write_field(&cell)?;
            }
            w.write_record(None::<&[u8]>)?;
        }
    }
    w.flush()
}
