//! English: the line evidence that cannot be read at all gets.

use crate::i18n::bad_evidence::BadEvidenceMsg as M;

/// The template of `m`.
pub fn msg(m: M) -> &'static str {
    match m {
        M::Missing => "cannot read {}: no such file or directory: give the path of an ss or netstat dump, a sosreport or a sockdoc snapshot",
        M::Denied => "cannot read {}: permission denied: run with sudo, or make it readable",
        M::CannotRead => "cannot read {}: {}",
        M::Empty => "{} is empty: nothing to judge",
        M::Binary => "{} is not text (a binary file?): give ss or netstat output, /proc/net files, a sosreport or a sockdoc snapshot",
        M::Unknown => "{}: no known format (ss, netstat, /proc/net, sysctl -a, limits, a sosreport or a sockdoc snapshot): {}",
        M::WhyFirstLine => "its first line reads {}; give the output as the tool printed it, header included",
        M::WhyHead => "nothing in its first MiB reads as one, so the rest was not read (its first line reads {}); give the output as the tool printed it, header included",
        M::WhyDirectory => "no file in it is ss or netstat output, /proc/net, sysctl -a or limits",
        M::WhyArchive => "an archive with no ss or netstat output, /proc/net files, sysctl -a or limits in it",
        M::Snapshot => "{}: {}",
        M::SnapNot => "not a sockdoc snapshot (it does not start with the snapshot magic)",
        M::SnapNewer => "written by a newer sockdoc (snapshot format {}; this sockdoc reads up to {}): read it with a newer sockdoc",
        M::SnapTruncated => "cut short (truncated, maybe by an interrupted copy): copy it again or take a new snapshot",
        M::SnapCorrupt => "damaged ({}): copy it again or take a new snapshot",
    }
}
