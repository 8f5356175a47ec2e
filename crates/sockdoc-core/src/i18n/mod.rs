//! Message catalog: every sentence sockdoc shows a person, in English (`en/`) and Simplified Chinese
//! (`zh/`), one file per area and language. Keys are enum variants ([`Msg`], the sysctl judge's
//! [`Reason`] and its profiles' [`ProfileText`], the doctor's typed [`Evidence`]) so a missing
//! translation is a compile error, not a blank line. To add a message: a [`Msg`] variant, then its line in `en/mod.rs` and `zh/mod.rs`.
//! The acting commands ([`treat::TreatMsg`]), `events` ([`events::EventsMsg`]), `top`
//! ([`top::TopMsg`], its column headers [`top::Header`]) and `sysctl plan|apply|rollback`
//! ([`sysctl::SysctlMsg`]), `diff` ([`diff::DiffMsg`]), the exporter's log ([`serve::ServeMsg`]), the
//! watch of a pinned namespace ([`netns::NetnsMsg`]), recorded evidence
//! ([`evidence::EvidenceMsg`]), evidence that cannot be read ([`bad_evidence::BadEvidenceMsg`]) and
//! usage errors ([`usage::UsageMsg`]) keep their keys in their own area, and so do the census
//! tables' headers ([`table::Header`]).

pub mod bad_evidence;
pub mod diff;
mod en;
pub mod events;
pub mod evidence;
pub mod netns;
pub mod record;
pub mod serve;
pub mod sysctl;
pub mod table;
pub mod top;
pub mod treat;
pub mod usage;
mod zh;

use crate::doctor::{Evidence, Severity};
use crate::sysctl_audit::{ProfileText, Reason};

pub use en::reap::ReapMsg;

/// A language sockdoc speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    /// From `LC_ALL`, `LC_MESSAGES` or `LANG` (the first one set): `zh*` → Chinese, else English.
    pub fn from_env() -> Lang {
        for var in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            if let Ok(v) = std::env::var(var) {
                if !v.is_empty() {
                    return if v.starts_with("zh") {
                        Lang::Zh
                    } else {
                        Lang::En
                    };
                }
            }
        }
        Lang::En
    }
}

/// Why the sysctl judge decided as it did, in `lang`.
pub fn sysctl_reason(lang: Lang, r: Reason) -> &'static str {
    match lang {
        Lang::En => en::sysctl::reason(r),
        Lang::Zh => zh::sysctl::reason(r),
    }
}

/// What a sysctl profile is for, or why it wants a setting, in `lang`.
pub fn sysctl_profile(lang: Lang, t: ProfileText) -> &'static str {
    match lang {
        Lang::En => en::sysctl::profile(t),
        Lang::Zh => zh::sysctl::profile(t),
    }
}

/// The words of a finding, rendered from its typed evidence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Words {
    /// One line: what is wrong, with the key number.
    pub title: String,
    /// What was seen, in a sentence or two.
    pub detail: String,
    /// Why it matters.
    pub why: String,
    /// What to do: exact commands first, then steps.
    pub fix: Vec<String>,
}

/// A process as a finding names it, beside its service: `api.service (python3/1234)`,
/// `container web (nginx/7)` (`api.service, python3/1234` when `inner`, for inside parentheses),
/// or `python3/1234` when the census knew no service for it; `words.2` (the language's "owner
/// unknown") when it knew neither (evidence without owners). `words` are the language's words for
/// a container, a pod and an unknown owner.
pub(crate) fn who(
    process: &str,
    pid: u32,
    service: &crate::doctor::ServiceOf,
    (container, pod, unknown): (&str, &str, &str),
    inner: bool,
) -> String {
    use crate::doctor::Named;
    let name = match service.name() {
        Some(Named::Unit(u)) => u.to_string(),
        Some(Named::Container(c)) => format!("{container} {c}"),
        Some(Named::Pod(p)) => format!("{pod} {p}"),
        None if pid == 0 => return unknown.to_string(),
        None => return format!("{process}/{pid}"),
    };
    if inner {
        format!("{name}, {process}/{pid}")
    } else {
        format!("{name} ({process}/{pid})")
    }
}

/// A finding's words in `lang`.
pub fn finding(lang: Lang, e: &Evidence) -> Words {
    match lang {
        Lang::En => en::findings::words(e),
        Lang::Zh => zh::findings::words(e),
    }
}

/// A finding's severity as one word (`CRITICAL`), in `lang`.
pub fn severity(lang: Lang, s: Severity) -> String {
    let m = match s {
        Severity::Critical => Msg::SevCritical,
        Severity::Warning => Msg::SevWarning,
        Severity::Info => Msg::SevInfo,
    };
    text(lang, m, &[])
}

/// Messages (census, doctor, sysctl and events output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    /// `{proto}: {n} sockets`
    ProtoTotal,
    /// `By {key} (top {shown} of {distinct}):`
    GroupTitle,
    Count,
    States,
    /// `({n} more)`
    More,
    /// What `-` and `cgroup #ID` mean in a grouping by unit or cgroup.
    CgroupRowsNote,
    /// The row of `--by container` counting sockets of cgroups outside any container.
    NoContainer,
    /// The row of sockets without a peer in a grouping by peer.
    NoPeer,
    /// The row of `--by pod` counting sockets of cgroups outside any pod.
    NoPod,
    Namespace,
    Note,
    NotRoot,
    /// `{n}` processes of other users.
    NotRootOwners,
    KeepaliveWindow,
    Ports,
    Files,
    SevCritical,
    SevWarning,
    SevInfo,
    NoTcp,
    Healthy,
    NoProblems,
    /// `{critical} critical, {warnings} warning(s)`
    Counted,
    Why,
    Fix,
    /// `… {n} more` rows of a finding's table
    MoreRows,
    NotInKernel,
    /// A setting a network namespace does not have (host-wide).
    NotInNamespace,
    /// A setting the evidence (`--from`) does not show.
    NotInEvidence,
    /// `sysctl check --from` on evidence without `sysctl -a`.
    NoSysctlEvidence,
    Keep,
    /// `change to {value}`
    ChangeTo,
    Change,
    RemoveFromConfig,
    NotHere,
    Refused,
    ConfigUnknown,
    /// `wrote {path}; load it with: sysctl --system`
    Wrote,
    /// `profile {name}: {about}`
    ProfileAbout,
    /// `from {state}`: the state a connection ended from
    EventFrom,
    /// a connection ended from a state no scan saw
    EventEnded,
    /// `lived {min}-{max}`
    LivedBetween,
    /// `lived >{min}`
    LivedAtLeast,
    /// `lived <{max}`
    LivedUnder,
    /// `acked {n} B, received {n} B, retransmitted {n}`
    EventBytes,
    /// `pid {pid}` when the process name is unknown
    EventPid,
    /// conntrack is not loaded in the namespace
    CtInactive,
    /// `conntrack --from` on evidence that carries no conntrack table or fill.
    CtNotInEvidence,
    /// `conntrack: {count} entries (the limit is not in the evidence)`
    CtCountOnly,
    CtByProto,
    CtByTcpState,
    CtTopSources,
    CtTopDestinations,
    /// `{n} entries never answered`
    CtUnreplied,
    // Refusals and failures the commands share.
    /// `cannot {op} {path}: {cause}` (an `File*` phrase)
    CannotFile,
    FileRead,
    FileWrite,
    FileCreate,
    FileRemove,
    FileOpenAuditLog,
    FileReadAuditLog,
    FileWriteAuditLog,
    /// `bad duration '{text}' for {flag}: ...`
    BadDuration,
    /// `--all-netns` without root.
    AllNetnsRoot,
    /// doctor's flags given before another command.
    DoctorFlagsFirst,
    /// `--from` with a command that acts on or watches the live kernel.
    FromReadOnly,
    /// `cannot start the owner reader: {error}`
    OwnerReader,
    /// `unknown --by key '{word}': ...`
    UnknownBy,
    /// `unknown column '{word}': ...`
    UnknownColumn,
    /// `--format csv` given to a command without a CSV form
    CsvOnly,
    /// `--format csv` and `--json` together
    CsvNotJson,
    IntervalMax,
    /// `--probe` on more than one namespace.
    ProbeOneNamespace,
    ServeOneNamespace,
    /// `cannot read the conntrack {what}: {error}` (a `Ct*` word)
    CtUnreadable,
    CtCounters,
    CtTable,
    RunNeedsCommand,
    /// `{library} not found beside sockdoc ...`
    PreloadMissing,
    /// `cannot start {program}: {error}`
    CannotStart,
    /// `snapshot {file}: {n} sockets in {k} namespace(s), {size} ({b} bytes per socket)`
    SnapWritten,
    /// `time: census {}, encode {}, compress {}, write {}`
    SnapTimes,
    /// `the snapshot`, the file operation of a failed write
    FileWriteSnapshot,
}

/// The text of `m` in `lang`, with `{}` placeholders filled from `args` in order.
pub fn text(lang: Lang, m: Msg, args: &[&str]) -> String {
    let template = match lang {
        Lang::En => en::msg(m),
        Lang::Zh => zh::msg(m),
    };
    fill(template, args)
}

/// The reaper's words (`sockdoc reap`): `m` in `lang`, `{}` filled from `args` in order.
pub fn reap(lang: Lang, m: ReapMsg, args: &[&str]) -> String {
    let template = match lang {
        Lang::En => en::reap::msg(m),
        Lang::Zh => zh::reap::msg(m),
    };
    fill(template, args)
}

/// Replace `{}` (next argument) and `{N}` (argument N) in `template`.
fn fill(template: &str, args: &[&str]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut next = 0;
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = &after[..close];
        let idx = if inner.is_empty() {
            next += 1;
            Some(next - 1)
        } else {
            inner.parse::<usize>().ok()
        };
        match idx.and_then(|i| args.get(i)) {
            Some(a) => out.push_str(a),
            None => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// For an area's tests: each key of `all` has words in both languages, taking the same number of
/// arguments, on one line; only templates without words (`{}: {}`) may read the same.
#[cfg(test)]
pub(crate) fn assert_translated<M: Copy + std::fmt::Debug>(
    all: &[M],
    template: fn(Lang, M) -> &'static str,
) {
    for &m in all {
        let (en, zh) = (template(Lang::En, m), template(Lang::Zh, m));
        assert_eq!(en.matches('{').count(), zh.matches('{').count(), "{m:?}");
        let words = en.chars().any(char::is_alphabetic);
        assert!(!words || en != zh, "{m:?} is not translated");
        assert!(!en.contains('\n') && !zh.contains('\n'), "{m:?}: one line");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_placeholders_in_both_languages() {
        assert_eq!(
            text(Lang::En, Msg::ProtoTotal, &["TCP", "5"]),
            "TCP: 5 sockets"
        );
        assert_eq!(
            text(Lang::Zh, Msg::ProtoTotal, &["TCP", "5"]),
            "TCP: 5 个套接字"
        );
        assert_eq!(
            text(Lang::Zh, Msg::GroupTitle, &["remote-ip", "3", "9"]),
            "按 remote-ip 分组 (共 9 组中的前 3 组):"
        );
        assert_eq!(text(Lang::En, Msg::More, &[]), "({} more)");
    }
}
