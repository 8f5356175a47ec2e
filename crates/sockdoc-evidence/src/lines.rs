//! Reading a text dump line by line in bounded memory: one reused buffer, lines cut at
//! [`MAX_LINE`] bytes (the rest of an over-long line is skipped, never buffered), `\r\n` and `\n`
//! endings, and the first KiB checked for what makes a file not text (NUL bytes, invalid UTF-8).
//! It never holds the whole file: a 2 GB dump costs the buffer, not 2 GB.

use std::io::{self, BufRead};

/// Longest line kept; the longest real `ss -peaonmi` lines are a few KiB.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// Whether the start of a file looks like text: no NUL byte and valid UTF-8 (a character cut at
/// the end of the sample is fine).
pub(crate) fn looks_like_text(head: &[u8]) -> bool {
    if memchr::memchr(0, head).is_some() {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// Lines of a reader, numbered from 1.
pub(crate) struct Lines<R> {
    inner: R,
    buf: Vec<u8>,
    pub number: u64,
    /// The last line was longer than [`MAX_LINE`] and was cut.
    pub cut: bool,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(inner: R) -> Lines<R> {
        Lines {
            inner,
            buf: Vec::with_capacity(1024),
            number: 0,
            cut: false,
        }
    }

    /// The reader beneath (to lift a [`std::io::Take`]'s limit once the file showed what it is).
    pub(crate) fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The next line without its ending, with its number and whether it was cut; `None` at the
    /// end.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<(u64, bool, &[u8])>> {
        self.buf.clear();
        self.cut = false;
        let mut any = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            any = true;
            let (take, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let room = MAX_LINE.saturating_sub(self.buf.len());
            if room > 0 {
                let keep = take.min(room);
                self.buf.extend_from_slice(&chunk[..keep]);
                if keep < take {
                    self.cut = true;
                }
            } else {
                self.cut = true;
            }
            self.inner.consume(take);
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.number += 1;
        let mut end = self.buf.len();
        if end > 0 && self.buf[end - 1] == b'\n' {
            end -= 1;
        }
        if end > 0 && self.buf[end - 1] == b'\r' {
            end -= 1;
        }
        Ok(Some((self.number, self.cut, &self.buf[..end])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_cut_and_stripped() {
        let long = "x".repeat(MAX_LINE + 10);
        let text = format!("a\r\nb\n{long}\nlast");
        let mut l = Lines::new(io::BufReader::with_capacity(16, text.as_bytes()));
        assert_eq!(l.next_line().unwrap(), Some((1, false, &b"a"[..])));
        assert_eq!(l.next_line().unwrap(), Some((2, false, &b"b"[..])));
        assert_eq!(
            l.next_line().unwrap().map(|(_, cut, s)| (cut, s.len())),
            Some((true, MAX_LINE))
        );
        assert_eq!(l.next_line().unwrap(), Some((4, false, &b"last"[..])));
        assert_eq!(l.number, 4);
        assert_eq!(l.next_line().unwrap(), None);
    }

    #[test]
    fn text_is_told_from_binary() {
        assert!(looks_like_text("状态 ESTAB".as_bytes()));
        assert!(looks_like_text(&"状".as_bytes()[..2]));
        assert!(!looks_like_text(b"a\0b"));
        assert!(!looks_like_text(b"\xff\xfe\x41"));
    }
}
