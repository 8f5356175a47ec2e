//! English: what `events` says besides the ends: lost records, the watching line, totals, refusals.

use crate::i18n::events::EventsMsg as M;

/// The template of `m`.
pub fn msg(m: M) -> &'static str {
    match m {
        M::LostSlow => "lost {} connection ends (output too slow)",
        M::LostOverflowOnce => "lost connection ends (kernel buffer overflow, {} time: at least {})",
        M::LostOverflow => "lost connection ends (kernel buffer overflow, {} times: at least {})",
        M::LostUnreported => "lost {} connection ends (kernel buffer overflow: connections the scans saw, gone without an end event)",
        M::Watching => "watching connection ends in {}; Ctrl-C to stop",
        M::LostTotal => "sockdoc events: lost {} connection ends ({} output too slow, {} gone without an end event); the kernel's buffer overflowed {} times (ends of connections no scan saw are not counted)",
        M::OneNamespace => "events watches one namespace: use --netns NAME or --netns-pid PID",
        M::NeedsRoot => "events subscribes to the kernel's destroy broadcasts, which needs root (CAP_NET_ADMIN): run with sudo",
        M::NoProcessFilter => "events cannot filter by process: a socket's owner is gone by the time it ends (use -p to show the owner the scans saw)",
        M::NoServiceFilter => "events cannot filter by unit, container or pod: a socket's cgroup may be gone by the time it ends",
        M::NoProtocol => "this filter matches neither TCP nor UDP sockets: no connection end could pass it",
        M::ScanForOwners => "-p needs the scans that see owners: drop --scan 0",
        M::BufferRange => "--buffer is a number of connection ends from 1 to 16777216 (default 65536)",
        M::KernelBufferRange => "--kernel-buffer is a size in MiB from 1 to 1024 (default 32)",
        M::Stopped => "events stopped: the kernel's broadcasts can no longer be read (see the line above)",
    }
}
