//! Terminal output: colour only on a tty and never with NO_COLOR, and wrapping to the terminal width.

/// The width of the terminal standard output goes to; else `COLUMNS` when set (a pipe to a pager,
/// a test's fixed width); else none (no limit: lines are as long as their content).
pub fn width() -> Option<usize> {
    if let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size_of(std::io::stdout()) {
        return Some(usize::from(w)).filter(|w| *w > 0);
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|w| *w > 0)
}

/// What the output terminal supports.
pub struct Term {
    color: bool,
    width: usize,
}

impl Term {
    /// Inspect standard output.
    pub fn stdout() -> Term {
        // SAFETY: isatty and ioctl(TIOCGWINSZ) only read; winsize is a plain struct we own.
        let (tty, width) = unsafe {
            let tty = libc::isatty(1) == 1;
            let mut ws: libc::winsize = std::mem::zeroed();
            let width = if tty && libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0 {
                usize::from(ws.ws_col)
            } else {
                100
            };
            (tty, width)
        };
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Term {
            color: tty && !no_color,
            width: width.clamp(40, 160),
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("1;31", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("1;33", s)
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("1;32", s)
    }
    pub fn cyan(&self, s: &str) -> String {
        self.paint("36", s)
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }

    /// Word-wrap `text` to the terminal width with `indent` spaces before each line. CJK text, which has
    /// no spaces, is broken by width.
    pub fn wrap(&self, text: &str, indent: usize) -> Vec<String> {
        let max = self.width.saturating_sub(indent).max(20);
        let pad = " ".repeat(indent);
        let mut lines = Vec::new();
        let mut cur = String::new();
        let mut cur_w = 0;
        for word in text.split(' ') {
            let w = crate::fmt::display_width(word);
            if cur_w > 0 && cur_w + 1 + w > max {
                lines.push(format!("{pad}{cur}"));
                cur.clear();
                cur_w = 0;
            }
            if cur_w > 0 {
                cur.push(' ');
                cur_w += 1;
            }
            for c in word.chars() {
                let cw = crate::fmt::display_width(c.encode_utf8(&mut [0; 4]));
                if cur_w + cw > max {
                    lines.push(format!("{pad}{cur}"));
                    cur.clear();
                    cur_w = 0;
                }
                cur.push(c);
                cur_w += cw;
            }
        }
        if !cur.is_empty() {
            lines.push(format!("{pad}{cur}"));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_words_and_cjk() {
        let t = Term {
            color: false,
            width: 30,
        };
        let lines = t.wrap(
            "the quick brown fox jumps over the lazy dog again and again",
            2,
        );
        assert!(lines.iter().all(|l| l.chars().count() <= 30), "{lines:?}");
        assert_eq!(lines.join(" ").split_whitespace().count(), 12);
        let zh = t.wrap(&"连接".repeat(20), 0);
        assert!(zh.iter().all(|l| crate::fmt::display_width(l) <= 30));
        assert_eq!(t.red("x"), "x");
    }
}
