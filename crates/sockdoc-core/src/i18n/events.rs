//! Keys of what `events` says besides the ends themselves: the lost records, the line saying the
//! watch is in place, the totals at exit and its refusals. Words in `en/events.rs` and `zh/events.rs`.

use super::{fill, Lang};

/// A message of `events`. Templates take `{}` (next argument) or `{N}` (argument N).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventsMsg {
    /// `lost {n} connection ends (output too slow)`
    LostSlow,
    /// `lost connection ends (kernel buffer overflow, 1 time: at least 1)`
    LostOverflowOnce,
    /// `lost connection ends (kernel buffer overflow, {n} times: at least {n})`
    LostOverflow,
    /// `lost {n} connection ends (... gone without an end event)`
    LostUnreported,
    /// `watching connection ends in {ns}; Ctrl-C to stop`
    Watching,
    /// `sockdoc events: lost {total} connection ends ({slow} ..., {unreported} ...); ... {overflows} times ...`
    LostTotal,
    OneNamespace,
    NeedsRoot,
    NoProcessFilter,
    NoServiceFilter,
    NoProtocol,
    ScanForOwners,
    BufferRange,
    KernelBufferRange,
    /// Every listener of the kernel's broadcasts stopped.
    Stopped,
}

/// The text of `m` in `lang`, with `{}` placeholders filled from `args`.
pub fn text(lang: Lang, m: EventsMsg, args: &[&str]) -> String {
    let template = match lang {
        Lang::En => super::en::events::msg(m),
        Lang::Zh => super::zh::events::msg(m),
    };
    fill(template, args)
}
