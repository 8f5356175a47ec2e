//! Keys of what the flight recorder (`sockdoc record`) and the views that read its directory
//! (`list -o age`, `ghosts`, `--from DIR --at TIME`) say. The words are in `en/record.rs` and
//! `zh/record.rs`; a key without its line there does not compile.

use super::{fill, Lang};

/// A message of the recorder and its readers. Templates take `{}` (next argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordMsg {
    /// `recording {namespaces} namespace(s) every {every} into {dir} (full snapshot every {full},
    /// tcp_info every {info}, at most {size}, kept {keep}); first-seen index: {n} socket(s) known`
    Started,
    /// `recorder stopped after {scans} scan(s): {cpu} of CPU per scan on average, {n} socket(s)
    /// indexed, {size} on disk`
    Stopped,
    /// `warning: {what}`
    Warning,
    /// `scan failed (tried again next interval): {why}`
    ScanFailed,
    /// `cannot write {what} in {dir}: {why}`
    WriteFailed,
    /// `{file} skipped: {why}`
    Skipped,
    /// The age column: `≥ {age} (first seen {time})`.
    AgeSeen,
    /// The age column of a socket the recorder has not seen: `unknown`.
    AgeUnknown,
    /// `no first-seen index in {dir} (is sockdoc record running there?): ages are unknown`
    NoIndex,
    /// `first-seen index: {why}; ages are unknown`
    IndexUnread,
    /// `first-seen index {dir}: last scan {time}; connections made since say unknown`
    IndexLastScan,
    /// `replaying {dir} at {time}: full snapshot {file} (taken {time}); findings recorded at {time}`
    Replaying,
    /// `replaying {dir} at {time}: no findings recorded at or before it`
    NoMinute,
    /// `{dir}: no full snapshot at or before {time} (the oldest is {time}); try a later --at`
    NoSnapshot,
    /// `--at {text}: not a time; give RFC 3339 (2026-11-01T14:03:00Z), a local date and time
    /// (2026-11-01 14:03), HH:MM today, or -2h`
    BadAt,
    /// `--at needs --from DIR, a directory sockdoc record writes`
    AtNeedsDir,
    /// `Findings recorded at {time}:`
    RecordedTitle,
    /// `no findings recorded at {time}: healthy then`
    RecordedNone,
    /// `--max-size {text}: not a size; give bytes or a unit, e.g. 512MiB, 1GiB, 2GB`
    BadSize,
    /// `--every must be at least 1s, and --full-every and --info-every at least --every`
    BadEvery,
    /// `idle times from the tcp_info read at {time} ({duration} earlier), aged since; connections
    /// made after it: idle unknown`
    IdleAsOf,
}

fn template(lang: Lang, m: RecordMsg) -> &'static str {
    match lang {
        Lang::En => super::en::record::msg(m),
        Lang::Zh => super::zh::record::msg(m),
    }
}

/// The text of `m` in `lang`, with `{}` placeholders filled from `args`.
pub fn text(lang: Lang, m: RecordMsg, args: &[&str]) -> String {
    fill(template(lang, m), args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_take_the_same_arguments() {
        use RecordMsg::*;
        let all = [
            Started,
            Stopped,
            Warning,
            ScanFailed,
            WriteFailed,
            Skipped,
            AgeSeen,
            AgeUnknown,
            NoIndex,
            IndexUnread,
            IndexLastScan,
            Replaying,
            NoMinute,
            NoSnapshot,
            BadAt,
            AtNeedsDir,
            RecordedTitle,
            RecordedNone,
            BadSize,
            BadEvery,
            IdleAsOf,
        ];
        for m in all {
            let (en, zh) = (template(Lang::En, m), template(Lang::Zh, m));
            assert_eq!(en.matches("{}").count(), zh.matches("{}").count(), "{m:?}");
        }
        assert_eq!(
            text(Lang::En, AgeSeen, &["6d21h", "2026-11-01 14:03"]),
            "≥ 6d21h (first seen 2026-11-01 14:03)"
        );
    }
}
