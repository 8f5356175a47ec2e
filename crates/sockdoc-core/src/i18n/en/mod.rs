//! English: the messages of [`Msg`] (templates, `{}` filled in order), the sysctl judge's reasons
//! and the doctor's findings.

pub mod events;
pub mod findings;
pub mod reap;
pub mod sysctl;
pub mod top;
pub mod treat;

use super::Msg;

/// The template of `m`.
pub fn msg(m: Msg) -> &'static str {
    match m {
        Msg::ProtoTotal => "{}: {} sockets",
        Msg::GroupTitle => "By {} (top {} of {}):",
        Msg::Count => "COUNT",
        Msg::States => "STATES",
        Msg::More => "({} more)",
        Msg::Namespace => "== namespace {} ==",
        Msg::Note => "note: {}",
        Msg::NotRoot => "note: not root: owners of other users' sockets and other network namespaces need root (run with sudo)",
        Msg::NotRootOwners => "note: not root: owners of sockets in {} processes of other users are not shown; reading their /proc/PID/fd needs root (run with sudo)",
        Msg::KeepaliveWindow => "keepalive window",
        Msg::Ports => "ports",
        Msg::Files => "files",
        Msg::SevCritical => "CRITICAL",
        Msg::SevWarning => "WARNING",
        Msg::SevInfo => "INFO",
        Msg::NoTcp => "no TCP sockets",
        Msg::Healthy => "healthy:",
        Msg::NoProblems => "no connection problems found",
        Msg::Counted => "{} critical, {} warning(s)",
        Msg::Why => "Why:",
        Msg::Fix => "Fix:",
        Msg::MoreRows => "… {} more",
        Msg::NotInKernel => "(not in this kernel)",
        Msg::Keep => "keep",
        Msg::ChangeTo => "change to {}",
        Msg::Change => "change",
        Msg::RemoveFromConfig => "remove from config",
        Msg::NotHere => "(not here)",
        Msg::Refused => "refused",
        Msg::ConfigUnknown => "In config files but not in this kernel:",
        Msg::Wrote => "wrote {}; load it with: sysctl --system",
        Msg::ProfileAbout => "profile {}: {}",
        Msg::EventFrom => "from {}",
        Msg::EventEnded => "ended",
        Msg::LivedBetween => "lived {}-{}",
        Msg::LivedAtLeast => "lived >{}",
        Msg::LivedUnder => "lived <{}",
        Msg::EventBytes => "acked {} B, received {} B, retransmitted {}",
        Msg::EventPid => "pid {}",
        Msg::CtInactive => "conntrack is not active in this namespace: nothing is tracked",
        Msg::CtByProto => "By protocol:",
        Msg::CtByTcpState => "By TCP state:",
        Msg::CtTopSources => "Top sources:",
        Msg::CtTopDestinations => "Top destinations:",
        Msg::CtUnreplied => "{} entries never answered ([UNREPLIED])",
    }
}
