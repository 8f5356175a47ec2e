//! Column layout of the census tables (`list`, `ghosts`, `ss`), written one row at a time.
//!
//! Widths come from the content: each column is as wide as its header and its cells, measured on a
//! sample of at most [`SAMPLE`] rows (the first ones and an even spread of the rest), so a listing
//! of a million sockets is measured in microseconds and then streamed. A flexible column
//! (addresses, names, timers) takes the width of 95% of the sampled cells, not the longest: one
//! IPv6 socket among IPv4 ones does not widen every row. A cell longer than its column pushes the
//! rest of its own row right, and the row catches up with the columns as soon as later cells leave
//! room; other rows are untouched. On a terminal, flexible columns give way (down to the width of
//! their median cell) until a row fits its width.
//!
//! Hand-written rather than a table crate: those keep every cell of the table to measure it, which
//! at 300,000 sockets is millions of strings and would double `list`'s memory per socket; here a
//! row is formatted once into one reused buffer.

use crate::fmt::display_width;

/// Rows measured to size the columns.
pub const SAMPLE: usize = 4096;

/// How one column is laid out.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// The header's width (its cells are measured separately).
    pub header: usize,
    /// Numbers: aligned right.
    pub right: bool,
    /// Sized by most cells, not the longest; gives way to the terminal first.
    pub flexible: bool,
    /// What follows the column's cell: one space, or nothing (ss's `Address:` and `Port`).
    pub tight: bool,
}

/// The indices of the rows to measure among `n`: the first half of [`SAMPLE`], then an even
/// spread of the rest.
pub fn sample(n: usize) -> impl Iterator<Item = usize> {
    let head = n.min(SAMPLE / 2);
    let rest = n - head;
    let step = rest.div_ceil(SAMPLE / 2).max(1);
    (0..head).chain((head..n).step_by(step))
}

/// A table's column widths, and the writer of its rows.
#[derive(Debug)]
pub struct Table {
    specs: Vec<Spec>,
    widths: Vec<usize>,
    /// Where each column ends (its width and the separators before it): where a row catches up.
    ends: Vec<usize>,
    /// Where the row being written is now.
    pos: usize,
}

impl Table {
    /// Widths for `specs` from `cells`, the widths of the sampled cells of each column (one vector
    /// per column), fitted to `term` columns when given.
    pub fn fit(specs: Vec<Spec>, cells: &mut [Vec<usize>], term: Option<usize>) -> Table {
        let mut widths = Vec::with_capacity(specs.len());
        let mut floors = Vec::with_capacity(specs.len());
        for (spec, cells) in specs.iter().zip(cells.iter_mut()) {
            cells.sort_unstable();
            let at = |q: usize| match cells.len() {
                0 => 0,
                n => cells[((n - 1) * q).div_ceil(100)],
            };
            let (w, floor) = if spec.flexible {
                (at(95), at(50))
            } else {
                (at(100), at(100))
            };
            widths.push(w.max(spec.header));
            floors.push(floor.max(spec.header));
        }
        let mut t = Table {
            specs,
            widths,
            ends: Vec::new(),
            pos: 0,
        };
        if let Some(term) = term {
            t.give_way(term, &floors);
        }
        t.ends = t.ends_of();
        t
    }

    /// Narrow the widest flexible column (not the last, which is never padded) one step at a time
    /// until a row fits `term` columns or none can give more.
    fn give_way(&mut self, term: usize, floors: &[usize]) {
        let last = self.widths.len().saturating_sub(1);
        while self.row_width() > term {
            let widest = (0..last)
                .filter(|&i| self.specs[i].flexible && self.widths[i] > floors[i])
                .max_by_key(|&i| self.widths[i]);
            match widest {
                Some(i) => self.widths[i] -= 1,
                None => break,
            }
        }
    }

    /// The width of a row whose cells all fit their columns.
    pub fn row_width(&self) -> usize {
        let seps = self.specs.iter().rev().skip(1).filter(|s| !s.tight).count();
        self.widths.iter().sum::<usize>() + seps
    }

    fn ends_of(&self) -> Vec<usize> {
        let mut end = 0;
        self.specs
            .iter()
            .zip(&self.widths)
            .map(|(s, w)| {
                end += w;
                let at = end;
                end += usize::from(!s.tight);
                at
            })
            .collect()
    }

    /// Start a row (the caller clears its line buffer).
    pub fn start(&mut self) {
        self.pos = 0;
    }

    /// Append cell `i` of the row to `line`: padded to its column's end where the row allows, the
    /// last column as it is.
    pub fn cell(&mut self, line: &mut String, i: usize, text: &str) {
        let len = if text.is_ascii() {
            text.len()
        } else {
            display_width(text)
        };
        let spec = self.specs[i];
        if i + 1 == self.specs.len() {
            line.push_str(text);
            self.pos += len;
            return;
        }
        let pad = self.ends[i].saturating_sub(self.pos + len);
        if spec.right {
            line.extend(std::iter::repeat_n(' ', pad));
            line.push_str(text);
        } else {
            line.push_str(text);
            line.extend(std::iter::repeat_n(' ', pad));
        }
        self.pos += len + pad;
        if !spec.tight {
            line.push(' ');
            self.pos += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(header: usize, flexible: bool) -> Spec {
        Spec {
            header,
            right: false,
            flexible,
            tight: false,
        }
    }

    fn row(t: &mut Table, cells: &[&str]) -> String {
        let mut line = String::new();
        t.start();
        for (i, c) in cells.iter().enumerate() {
            t.cell(&mut line, i, c);
        }
        line
    }

    #[test]
    fn one_long_cell_does_not_widen_the_others() {
        let v4 = "127.0.0.1:40000";
        let v6 = "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:40000";
        let mut local: Vec<usize> = std::iter::repeat_n(v4.len(), 99).collect();
        local.push(v6.len());
        let mut cells = vec![vec![5; 100], local, vec![1; 100]];
        let mut t = Table::fit(
            vec![spec(5, false), spec(5, true), spec(5, false)],
            &mut cells,
            None,
        );
        let short = row(&mut t, &["ESTAB", v4, "x"]);
        assert_eq!(short, format!("ESTAB {v4} x"));
        // The long row is pushed right past its address, and only that row.
        let long = row(&mut t, &["ESTAB", v6, "x"]);
        assert_eq!(long, format!("ESTAB {v6} x"));
        let again = row(&mut t, &["ESTAB", "1.2.3.4:5", "x"]);
        assert_eq!(again.len(), short.len());
    }

    #[test]
    fn a_row_catches_up_after_a_long_cell() {
        let mut cells = vec![vec![3; 10], vec![10; 10], vec![1; 10]];
        let mut t = Table::fit(
            vec![spec(3, true), spec(3, false), spec(1, false)],
            &mut cells,
            None,
        );
        let normal = row(&mut t, &["abc", "0123456789", "z"]);
        let long = row(&mut t, &["abcdef", "0123", "z"]);
        assert_eq!(normal.find('z'), long.find('z'), "{normal:?} {long:?}");
    }

    #[test]
    fn flexible_columns_give_way_to_the_terminal() {
        let mut cells = vec![vec![40, 40, 10, 10, 10], vec![40; 5], vec![4; 5]];
        let t = Table::fit(
            vec![spec(5, true), spec(5, true), spec(4, false)],
            &mut cells,
            Some(60),
        );
        assert!(t.row_width() <= 60, "{t:?}");
        // Never below the median cell: most rows still fit their column.
        assert!(t.widths[0] >= 10, "{t:?}");
    }

    #[test]
    fn samples_are_bounded() {
        assert_eq!(sample(10).count(), 10);
        let n = sample(1_000_000).count();
        assert!(n <= SAMPLE + 1, "{n}");
        assert!(sample(1_000_000).all(|i| i < 1_000_000));
    }
}
