//! English: what the flight recorder and the views reading its directory say.

use crate::i18n::record::RecordMsg as M;

/// The template of `m`.
pub fn msg(m: M) -> &'static str {
    match m {
        M::Started => "recording {} namespace(s) every {} into {} (full snapshot every {}, tcp_info every {}, at most {}, kept {}); first-seen index: {} socket(s) known",
        M::Stopped => "recorder stopped after {} scan(s): {} of CPU per scan on average, {} socket(s) indexed, {} on disk",
        M::Warning => "warning: {}",
        M::ScanFailed => "scan failed (tried again next interval): {}",
        M::WriteFailed => "cannot write {} in {}: {}",
        M::Skipped => "{} skipped: {}",
        M::AgeSeen => "≥ {} (first seen {})",
        M::AgeUnknown => "unknown",
        M::NoIndex => "no first-seen index in {} (is sockdoc record running there?): ages are unknown",
        M::IndexUnread => "first-seen index: {}; ages are unknown",
        M::IndexLastScan => "first-seen index {}: last scan {}; connections made since say unknown",
        M::Replaying => "replaying {} at {}: full snapshot {} (taken {}); findings recorded at {}",
        M::NoMinute => "replaying {} at {}: no findings recorded at or before it",
        M::NoSnapshot => "{}: no full snapshot at or before {} (the oldest is {}); try a later --at",
        M::BadAt => "--at {}: not a time; give RFC 3339 (2026-11-01T14:03:00Z), a local date and time (2026-11-01 14:03), HH:MM today, or -2h",
        M::AtNeedsDir => "--at needs --from DIR, a directory sockdoc record writes",
        M::RecordedTitle => "Findings recorded at {}:",
        M::RecordedNone => "no findings recorded at {}: healthy then",
        M::BadSize => "--max-size {}: not a size; give bytes or a unit, e.g. 512MiB, 1GiB, 2GB",
        M::BadEvery => "--every must be at least 1s, and --full-every and --info-every at least --every",
        M::IdleAsOf => "idle times from the tcp_info read at {} ({} earlier), aged since; connections made after it: idle unknown",
    }
}
