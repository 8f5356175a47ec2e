//! Keys of what the commands that act say: `kill`, `keepalive` (with `--watch` and `--restore`),
//! `ghosts --probe`, and the safety rules they share (filter, namespace, root, `--yes`). The words
//! are in `en/treat.rs` and `zh/treat.rs`; a key without its line there does not compile.

use super::{fill, Lang};

/// A message of the acting commands. Templates take `{}` (next argument) or `{N}` (argument N).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreatMsg {
    /// `{action} needs a filter ...` (the command's name)
    NeedsFilter,
    /// `{action} works in one namespace at a time ...`
    OneNamespace,
    /// `{action} refuses a blank filter ...`
    BlankFilter,
    /// `{act} needs root ({why}) ...` (an `Act*` phrase, then [`TreatMsg::RootWhy`])
    NeedsRoot,
    /// What acting on sockets needs root for.
    RootWhy,
    /// `refusing to {act} {n} sockets without --yes ...`
    RefuseNoYes,
    /// `{act} these {n} sockets? [y/N] `
    Prompt,
    /// `nothing done: {act} not confirmed`
    NotConfirmed,
    ActKill,
    ActSetKeepalive,
    ActRestoreKeepalive,
    ActReapDead,
    /// `refusing to kill {n} sockets, more than --confirm-above {limit}, ...`
    RefuseAbove,
    /// `kill {n} sockets (more than --confirm-above {limit})? type {n} to confirm: `
    PromptAbove,
    // Why a socket is left alone (the JSON keeps the English words).
    SkipListener,
    SkipOwnSsh,
    SkipNotEligibleState,
    SkipNoProcess,
    SkipNotEligible,
    SkipOverMax,
    SkipNotReached,
    /// `would kill {n} socket(s){over}:`
    KillWould,
    /// `killing {n} socket(s){over}:`
    Killing,
    /// ` ({n} more left by --max {max})`
    OverMax,
    /// `  left alone ({why}): {local} -> {remote}`
    LeftAlone,
    /// `  not killed: {local} -> {remote} ({tried})`
    NotKilled,
    /// A rung that worked, in the list of rungs tried.
    RungOk,
    /// `killed {k} of {n}{not acted}; recorded in {path}`
    KillDone,
    /// ` ({n} not acted on)`
    NotActedOn,
    /// `would set keepalive (idle {} s, interval {} s, {} probes{ut}) on {n} socket(s):`
    KaWould,
    /// `setting keepalive (...) on {n} socket(s):`
    KaSetting,
    /// `, TCP_USER_TIMEOUT {ms} ms`
    KaUserTimeout,
    /// `  not set: {local} -> {remote} ({why})`
    KaNotSet,
    /// `set on {set} of {n}{not acted}; {v} connection(s) now show timer:(keepalive,...) ...; recorded in {path}`
    KaDone,
    /// `watching for new sockets every {every}; Ctrl-C to stop`
    KaWatching,
    /// `{time} set keepalive on {n} new socket(s)`
    KaWatchSet,
    /// `--restore needs --from-audit FILE ...`
    RsNeedsAudit,
    /// `the filter is empty ...` (`--restore`)
    RsEmptyFilter,
    /// `would restore keepalive from {path} ({n} record(s){malformed}) on {k} socket(s):`
    RsWould,
    /// `restoring keepalive from {path} ({n} record(s){malformed}) on {k} socket(s):`
    RsRestoring,
    /// `, {n} malformed line(s) skipped`
    RsMalformed,
    /// `  {local} -> {remote} (pid {pid} fd {fd}): {what}`
    RsPlan,
    /// A listener's remote end.
    RsListener,
    /// A restore that writes nothing.
    RsNothingBack,
    SoKeepaliveOn,
    SoKeepaliveOff,
    /// `  {outcome}: {local} -> {remote} ({why})`
    RsResult,
    OutGone,
    OutOwnerChanged,
    OutFailed,
    OutChanged,
    OutUnchanged,
    OutSkipped,
    RsWhyGone,
    /// `held by {now} now, recorded as pid {pid} fd {fd}: left alone`
    RsWhyOwner,
    RsNoProcess,
    /// `pid {pid} fd {fd}`
    RsPidFd,
    RsWhyUnchanged,
    /// `changed since sockdoc set it ({what}): left alone`
    RsWhyMoved,
    /// `{option} is {now}, not {set}`
    RsMovedOne,
    /// `{options} read back different`
    RsReadBack,
    /// `restored {r} of {n}; recorded in {path}`
    RsDone,
    /// `--probe ... needs root: run with sudo`
    PrNeedsRoot,
    /// `probing {n} suspect(s) for {time} ({k} through their owner, {r} with raw probes)...`
    PrProbing,
    PrAlive,
    PrDead,
    PrUnknown,
    PrGone,
    /// `the peer acknowledged a probe {ms} ms ago`
    PrAcked,
    /// `{n} keepalive probes unanswered`
    PrUnanswered,
    PrTooFew,
    /// `the peer answered a raw probe after {ms} ms`
    PrRawAnswered,
    PrRawReset,
    /// `{n} raw probes unanswered in {time}: the peer is gone`
    PrRawSilent,
    /// `{n} raw probe(s) unanswered; probe longer (--probe-time)`
    PrRawTooFew,
    /// `no raw probes: {why}`
    PrNoRaw,
    /// `cannot probe through {pid}:{fd} ({error})`
    PrCannotProbe,
    /// ` ({why}; raw probes instead)`
    PrFallback,
    PrReaped,
    /// `{dead} dead, {alive} alive, {unknown} unknown`
    PrSummary,
    // The audit log and the answer typed.
    /// ` (choose another with --audit-log)` after the audit log could not be opened
    AuditChooseAnother,
    /// `cannot write the audit log {path}: {cause}; {progress}{unrecorded}: free space ...`
    AuditStopped,
    /// `stopped with {n} socket(s) not acted on`
    AuditNotActed,
    /// `stopped after changing {changed} of {n} socket(s)`
    AuditChanged,
    /// ` ({n} acted on have an intent but no outcome record)`
    AuditUnrecorded,
    /// `cannot write the audit log: {cause}` (a probe's end records)
    PrAuditWrite,
    /// `cannot write the audit log {path}: {cause}; {what}: free space ...` (`ghosts --probe`)
    PrAuditStopped,
    PrNoneProbed,
    /// `stopped with {n} dead suspect(s) not reaped`
    PrNotReaped,
    /// `cannot read the answer: {error}`
    ReadAnswer,
    /// `{flag} {value} is out of range: the kernel takes {lo} to {hi}{unit} for {option} ({limit}); ...`
    KaOutOfRange,
    KaUnitSeconds,
    KaUnitMs,
    /// `--every {value} is too short: ...`
    KaEveryShort,
}

/// The language of the words the JSON documents and the audit log keep (their keys and reasons
/// are read by scripts, whatever the user's language).
pub const RECORDED: Lang = Lang::En;

/// The reasons for leaving a socket alone that the catalog knows, keyed by their English words.
const SKIPS: [TreatMsg; 7] = [
    TreatMsg::SkipListener,
    TreatMsg::SkipOwnSsh,
    TreatMsg::SkipNotEligibleState,
    TreatMsg::SkipNoProcess,
    TreatMsg::SkipNotEligible,
    TreatMsg::SkipOverMax,
    TreatMsg::SkipNotReached,
];

fn template(lang: Lang, m: TreatMsg) -> &'static str {
    match lang {
        Lang::En => super::en::treat::msg(m),
        Lang::Zh => super::zh::treat::msg(m),
    }
}

/// The text of `m` in `lang`, with `{}` placeholders filled from `args`.
pub fn text(lang: Lang, m: TreatMsg, args: &[&str]) -> String {
    fill(template(lang, m), args)
}

/// Why a socket was left alone, given in the English words the JSON keeps, in `lang`: a reason the
/// catalog knows is translated, any other (a caller's own) stays as given.
pub fn skip_reason(lang: Lang, en: &str) -> String {
    SKIPS
        .iter()
        .find(|&&m| template(Lang::En, m) == en)
        .map_or_else(|| en.to_string(), |&m| text(lang, m, &[]))
}

/// An outcome of an action on a socket, given by the English key the JSON keeps (`failed`,
/// `gone`...), in `lang`; an outcome the catalog does not know stays as given.
pub fn outcome(lang: Lang, en: &str) -> String {
    let m = match en {
        "gone" => TreatMsg::OutGone,
        "owner-changed" => TreatMsg::OutOwnerChanged,
        "failed" => TreatMsg::OutFailed,
        "changed" => TreatMsg::OutChanged,
        "unchanged" => TreatMsg::OutUnchanged,
        "skipped" => TreatMsg::OutSkipped,
        other => return other.to_string(),
    };
    text(lang, m, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_reasons_translate_by_their_english_words() {
        assert_eq!(skip_reason(Lang::En, "own ssh session"), "own ssh session");
        assert_eq!(skip_reason(Lang::Zh, "own ssh session"), "本 SSH 会话");
        assert_eq!(skip_reason(Lang::Zh, "something else"), "something else");
        assert_eq!(
            text(Lang::Zh, TreatMsg::KillDone, &["2", "3", "", "/x"]),
            "已关闭 2 / 3 个套接字; 已记录到 /x"
        );
    }
}
