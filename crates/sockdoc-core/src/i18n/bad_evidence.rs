//! Keys of the one line `--from PATH` and `sockdoc analyze PATH` give when the evidence cannot be
//! read at all: a path that cannot be opened (exit 66), a file that is empty, binary, of no known
//! format or a damaged snapshot (exit 65). The words are in `en/bad_evidence.rs` and
//! `zh/bad_evidence.rs`; a key without its line there does not compile.

use super::{fill, Lang};

/// Why evidence could not be read. Templates take `{}` (next argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadEvidenceMsg {
    /// `cannot read {path}: no such file or directory: ...`
    Missing,
    /// `cannot read {path}: permission denied: ...`
    Denied,
    /// `cannot read {path}: {error}`
    CannotRead,
    /// `{path} is empty: nothing to judge`
    Empty,
    /// `{path} is not text (a binary file?): ...`
    Binary,
    /// `{path}: no known format (...): {why}` (a `Why*` phrase)
    Unknown,
    /// `its first line reads {line}; ...`
    WhyFirstLine,
    /// `nothing in its first MiB reads as one (its first line reads {line}); ...`
    WhyHead,
    /// A directory in which no file is evidence.
    WhyDirectory,
    /// An archive with no evidence in it.
    WhyArchive,
    /// `{path}: {problem}` (a `Snap*` phrase)
    Snapshot,
    SnapNot,
    /// `written by a newer sockdoc (snapshot format {v}; this sockdoc reads up to {max}): ...`
    SnapNewer,
    SnapTruncated,
    /// `damaged ({detail}): ...`
    SnapCorrupt,
}

fn template(lang: Lang, m: BadEvidenceMsg) -> &'static str {
    match lang {
        Lang::En => super::en::bad_evidence::msg(m),
        Lang::Zh => super::zh::bad_evidence::msg(m),
    }
}

/// The text of `m` in `lang`, with `{}` placeholders filled from `args`.
pub fn text(lang: Lang, m: BadEvidenceMsg, args: &[&str]) -> String {
    fill(template(lang, m), args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_take_the_same_arguments() {
        use BadEvidenceMsg::*;
        let all = [Missing, Denied, CannotRead, Empty, Binary, Unknown];
        let why = [WhyFirstLine, WhyHead, WhyDirectory, WhyArchive];
        let snap = [Snapshot, SnapNot, SnapNewer, SnapTruncated, SnapCorrupt];
        super::super::assert_translated(&[&all[..], &why, &snap].concat(), template);
    }
}
