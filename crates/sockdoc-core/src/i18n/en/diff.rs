//! English: what `sockdoc diff` says.

use crate::i18n::diff::DiffMsg as M;

/// The template of `m`.
pub fn msg(m: M) -> &'static str {
    match m {
        M::Before => "before  {}",
        M::After => "after   {}",
        M::Now => "now (the live kernel)",
        M::Taken => "{}, taken {}",
        M::Paired => "namespace {} ↔ {}",
        M::OnlyBefore => "namespace {}: only in the \"before\"",
        M::OnlyAfter => "namespace {}: only in the \"after\"",
        M::Connections => "Connections {} → {}: {} new, {} gone, {} persisting",
        M::ByCookie => "(matched by addresses and socket cookie)",
        M::ByAddress => "(matched by addresses: the evidence has no socket cookies)",
        M::StateChanged => "  state changed: {}",
        M::Keepalive => "  keepalive: {} persisting connections gained a keepalive timer, {} lost one",
        M::KeepaliveUnknown => "  keepalive: not compared (a side has no timers)",
        M::State => "By state",
        M::Port => "By port (→PORT: connections out to it)",
        M::Process => "By process",
        M::Service => "By service",
        M::Peer => "By peer",
        M::ColBefore => "before",
        M::ColAfter => "after",
        M::ColChange => "change",
        M::ColNew => "new",
        M::ColGone => "gone",
        M::ColMoved => "moved",
        M::Unchanged => "{} unchanged (-v shows them)",
        M::Findings => "Findings",
        M::Appeared => "appeared",
        M::Cleared => "cleared",
        M::Changed => "changed",
        M::Was => "was: {}",
        M::Same => "unchanged",
        M::NotCompared => "not compared",
        M::BlindBefore => "the \"before\" evidence could not judge it",
        M::BlindAfter => "the \"after\" evidence could not judge it",
        M::NoFindings => "no findings on either side",
        M::NothingChanged => "Nothing changed.",
        M::SameNow => "`now` on both sides compares the kernel with itself: give a snapshot or a dump as BEFORE (sockdoc snapshot -o before.sdsnap)",
    }
}
