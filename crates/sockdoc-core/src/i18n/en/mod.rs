//! English: the messages of [`Msg`] (templates, `{}` filled in order), the sysctl judge's reasons
//! and the doctor's findings.

pub mod bad_evidence;
pub mod diff;
pub mod events;
pub mod evidence;
pub mod findings;
pub mod netns;
pub mod reap;
pub mod record;
pub mod serve;
pub mod sysctl;
pub mod table;
pub mod top;
pub mod treat;
pub mod usage;

use super::Msg;

/// The template of `m`.
pub fn msg(m: Msg) -> &'static str {
    match m {
        Msg::ProtoTotal => "{}: {} sockets",
        Msg::GroupTitle => "By {} (top {} of {}):",
        Msg::Count => "COUNT",
        Msg::States => "STATES",
        Msg::More => "({} more)",
        Msg::CgroupRowsNote => "  (-: sockets without a cgroup: TIME-WAIT, SYN-RECV; cgroup #ID: removed since, or outside this cgroup namespace)",
        Msg::NoContainer => "(no container)",
        Msg::NoPeer => "(no peer: listening, unconnected)",
        Msg::NoPod => "(no pod)",
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
        Msg::NotInEvidence => "(not in the evidence)",
        Msg::NotInNamespace => "(not in this namespace)",
        Msg::NoSysctlEvidence => "the evidence has no sysctl values to check: add the host's `sysctl -a` output (or use a sockdoc snapshot)",
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
        Msg::CtNotInEvidence => "no conntrack in the evidence: add `sysctl -a` (its fill), /proc/net/nf_conntrack or `conntrack -L` (its entries), or use a sockdoc snapshot",
        Msg::CtCountOnly => "conntrack: {} entries (the limit is not in the evidence)",
        Msg::CtInactive => "conntrack is not active in this namespace: nothing is tracked",
        Msg::CtByProto => "By protocol:",
        Msg::CtByTcpState => "By TCP state:",
        Msg::CtTopSources => "Top sources:",
        Msg::CtTopDestinations => "Top destinations:",
        Msg::CtUnreplied => "{} entries never answered ([UNREPLIED])",
        Msg::CannotFile => "cannot {} {}: {}",
        Msg::FileRead => "read",
        Msg::FileWrite => "write",
        Msg::FileCreate => "create",
        Msg::FileRemove => "remove",
        Msg::FileOpenAuditLog => "open the audit log",
        Msg::FileReadAuditLog => "read the audit log",
        Msg::FileWriteAuditLog => "write the audit log",
        Msg::BadDuration => "bad duration '{}' for {}: write it as sockdoc prints durations (850ms, 30s, 5m12s, 2h11m, 1.5s) or as seconds",
        Msg::AllNetnsRoot => "--all-netns enters other namespaces, which needs root (CAP_SYS_ADMIN): run with sudo",
        Msg::FromReadOnly => "--from judges evidence: it goes with doctor, analyze, stats, list, ghosts (without --probe), conntrack and sysctl check, not with a command that acts on or watches the live kernel (diff takes its evidence as BEFORE and AFTER)",
        Msg::DoctorFlagsFirst => "--idle, --interval and -v before a command belong to doctor: put them after the command name",
        Msg::OwnerReader => "cannot start the owner reader: {}",
        Msg::UnknownBy => "unknown --by key '{}': use state, remote-ip, remote-port, local-ip, local-port, process, unit, container, pod, cgroup or peer-prefix",
        Msg::UnknownColumn => "unknown column '{}': use netid,state,recvq,sendq,local,peer,process,timer,idle,inode,uid,cookie,ifindex,rtt,retrans,unacked,bytes-acked,bytes-received,cmdline,unit,container,pod,cgroup",
        Msg::CsvOnly => "--format csv is for list, ss, stats and ghosts: use --format json (or --json) here",
        Msg::CsvNotJson => "--format csv and --json ask for two formats: give one",
        Msg::IntervalMax => "--interval is at most 60s",
        Msg::ProbeOneNamespace => "--probe works in one namespace at a time: use --netns NAME or --netns-pid PID",
        Msg::ServeOneNamespace => "serve watches one namespace: use --netns NAME or --netns-pid PID",
        Msg::CtUnreadable => "cannot read the conntrack {}: {}",
        Msg::CtCounters => "counters",
        Msg::CtTable => "table",
        Msg::RunNeedsCommand => "run-with-keepalive needs a command: sockdoc run-with-keepalive -- CMD ARGS...",
        Msg::PreloadMissing => "{} not found beside sockdoc or in /usr/lib/sockdoc: build it (cargo build --release -p sockdoc-preload) or set SOCKDOC_PRELOAD",
        Msg::CannotStart => "cannot start {}: {}",
        Msg::SnapWritten => "snapshot {}: {} sockets in {} namespace(s), {} ({} bytes per socket)",
        Msg::SnapTimes => "time: census {}, encode {}, compress {}, write {}",
        Msg::FileWriteSnapshot => "write the snapshot",
    }
}
