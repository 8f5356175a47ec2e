//! Showing what a user typed inside an error message: quoted, escaped (so a newline or a control
//! character cannot break the one-line rule) and shortened, so a 120 KB word is not printed back in
//! full. Every error that repeats user input goes through [`quoted`].

/// At most this many characters of the input are shown.
pub const MAX_CHARS: usize = 60;

/// At most this many bytes of escaped text are shown (escapes such as `\u{10ffff}` are long).
const MAX_ESCAPED: usize = 240;

/// `text` in double quotes with Rust-style escapes; when it is longer than [`MAX_CHARS`], its start
/// followed by `…(N bytes)`.
pub fn quoted(text: &str) -> String {
    let mut shown = String::with_capacity(text.len().min(MAX_ESCAPED) + 2);
    let mut whole = true;
    let mut buf = [0u8; 4];
    for (taken, c) in text.chars().enumerate() {
        // The escape `{:?}` gives a string (a single quote stays as it is).
        let one = format!("{:?}", &*c.encode_utf8(&mut buf));
        let esc = &one[1..one.len() - 1];
        if taken == MAX_CHARS || shown.len() + esc.len() > MAX_ESCAPED {
            whole = false;
            break;
        }
        shown.push_str(esc);
    }
    if whole {
        format!("\"{shown}\"")
    } else {
        format!("\"{shown}\"…({} bytes)", text.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_quoted_whole() {
        assert_eq!(quoted("sprot"), "\"sprot\"");
        assert_eq!(quoted(""), "\"\"");
        assert_eq!(quoted("a\"b"), "\"a\\\"b\"");
        assert_eq!(quoted("'( sport"), "\"'( sport\"");
    }

    #[test]
    fn long_text_is_cut_with_its_size() {
        let word = "x".repeat(120_000);
        let q = quoted(&word);
        assert_eq!(q, format!("\"{}\"…(120000 bytes)", "x".repeat(MAX_CHARS)));
        let exactly = "y".repeat(MAX_CHARS);
        assert_eq!(quoted(&exactly), format!("\"{exactly}\""));
    }

    #[test]
    fn control_characters_and_wide_escapes_stay_on_one_short_line() {
        let q = quoted("a\nb\tc\u{202e}");
        assert!(!q.contains('\n') && !q.contains('\t'), "{q}");
        let q = quoted(&"\u{10ffff}".repeat(100));
        assert!(q.len() < MAX_ESCAPED + 30, "{} bytes: {q}", q.len());
        assert!(q.ends_with("…(400 bytes)"), "{q}");
        // Multi-byte characters are never split.
        let q = quoted(&"中".repeat(100));
        assert!(
            q.starts_with(&format!("\"{}", "中".repeat(MAX_CHARS))),
            "{q}"
        );
    }
}
