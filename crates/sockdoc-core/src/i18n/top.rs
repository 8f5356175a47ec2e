//! Keys of what `top` says: its screen (title bar, tabs, column headers, context line, key hints,
//! filter prompt), its popups (help, the confirmation of an action, a finding), the statuses its
//! keys set, the results of its actions and the refusals of the `top` command. The words are in
//! `en/top.rs` and `zh/top.rs`; a key without its line there does not compile.

use super::{fill, Lang};

/// A message of `top`. Templates take `{}` (next argument) or `{N}` (argument N).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopMsg {
    // The title bar.
    /// `every 1s`: the refresh interval.
    Every,
    /// `census #3 (12ms)`
    Census,
    /// `2s ago`: the age of the census.
    Ago,
    /// `owners 30s`: the age of the owners walk.
    Owners,
    FirstCensus,
    Paused,
    // The tabs.
    TabRemote,
    TabPrefix,
    TabPort,
    TabProcess,
    TabGhosts,
    TabFindings,
    TabServices,
    // The context line.
    /// ` · {n} socket(s)` of a drill-down
    DrillSockets,
    /// `{shown} of {all} sockets`
    SocketsOf,
    /// ` · silent > {threshold}`: the ghost threshold
    Silent,
    /// `filter:` before the filter in use
    FilterInUse,
    /// ` · {n} marked`
    Marked,
    // The key hints of the footer.
    KeyQuit,
    KeyHelp,
    KeyFilter,
    KeyBack,
    KeyMark,
    KeySockets,
    KeyDetails,
    KeySort,
    KeyKill,
    KeyKeepalive,
    KeyProbe,
    KeyPause,
    KeyInterval,
    // The filter prompt.
    FilterPrompt,
    FilterHint,
    // The tables.
    CollectingFirst,
    NoGhosts,
    NoFindings,
    NoSocketsMatch,
    /// The service table while the census thread names the cgroups.
    ReadingServices,
    /// The name column of the service row of sockets without a cgroup.
    NoCgroupRow,
    // The popups.
    /// `↑↓ scroll · any other key closes`
    CloseHint,
    /// `{verb} {n} socket(s){of}?`: the confirmation's title
    ConfirmTitle,
    /// ` of {what}`: what the confirmed action acts on, in [`TopMsg::ConfirmTitle`]
    ConfirmOf,
    /// `left alone ({why}): ...` in the confirmation
    LeftAlone,
    /// `selected again by: {words}`
    SelectedAgain,
    ConfirmKeys,
    WhyItMatters,
    WhatToDo,
    HelpTitle,
    HelpTabs,
    HelpSelect,
    HelpEnter,
    HelpBack,
    HelpSort,
    HelpReverse,
    HelpFilter,
    HelpMark,
    HelpKill,
    HelpKeepalive,
    HelpProbe,
    HelpPause,
    HelpInterval,
    HelpQuit,
    HelpSafety,
    // What an action is called (`kill 2 socket(s)?`, `kill 2…`).
    VerbKill,
    VerbKeepalive,
    VerbProbe,
    // Statuses set by keys.
    Cancelled,
    StillRunning,
    KeepaliveNeedsService,
    NothingSelected,
    NoGhostsSelected,
    NothingToActOn,
    // Why a socket is left out of an action.
    LeaveOwnSsh,
    LeaveListener,
    LeaveNoProcess,
    LeaveNotEstablished,
    // The screen loop.
    /// `refused: the namespace changed under top ...`
    NsChanged,
    /// `cannot start the action: {error}`
    CannotStartAction,
    /// `cannot draw: {error}`
    CannotDraw,
    CensusStopped,
    /// `cannot start the census thread: {error}`
    CannotStartCensus,
    // The results of actions.
    NotDone,
    /// `left alone ({why}): ...` in a result
    ResultLeftAlone,
    /// `{n} confirmed socket(s) were already gone`
    AlreadyGone,
    Killed,
    NotKilled,
    /// `recorded in {path}`
    RecordedIn,
    /// `killed {k} of {n}`
    KilledOf,
    /// `stopped (audit log): killed {k} of {n}`
    KillStopped,
    /// `idle {} s, interval {} s, {} probes; {v} connection(s) now show timer:(keepalive,...)`
    KaSummary,
    /// `keepalive set on {set} of {n}`
    KaSetOf,
    MarkDead,
    // The `top` command.
    /// The title bar's name for the caller's own namespace.
    ThisNamespace,
    WaitingForAction,
    DelayMin,
    KeepaliveMin,
    NoJson,
    OneNamespace,
    NotTerminal,
}

/// A column header of `top`'s tables (the names `ss` prints, `ESTAB`, `RECV-Q`..., and `ID` are
/// the same in every language and stay with the columns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    RemoteIp,
    Prefix,
    Port,
    Process,
    Total,
    Other,
    Service,
    Command,
    /// The key of the service table: a unit or a container.
    Unit,
    Cgroup,
    State,
    Local,
    Peer,
    Timer,
    Idle,
    Severity,
    What,
}

/// The template of `m` in `lang`, as it is: the words of a message without placeholders.
pub fn word(lang: Lang, m: TopMsg) -> &'static str {
    match lang {
        Lang::En => super::en::top::msg(m),
        Lang::Zh => super::zh::top::msg(m),
    }
}

/// The text of `m` in `lang`, with `{}` placeholders filled from `args`.
pub fn text(lang: Lang, m: TopMsg, args: &[&str]) -> String {
    fill(word(lang, m), args)
}

/// Why a socket was left out of an action, given in the English words a selection keeps: `top`'s
/// own reasons and those of the acting commands ([`super::treat::skip_reason`]) in `lang`, any
/// other as given.
pub fn reason(lang: Lang, en: &str) -> String {
    const LEAVE: [TopMsg; 4] = [
        TopMsg::LeaveOwnSsh,
        TopMsg::LeaveListener,
        TopMsg::LeaveNoProcess,
        TopMsg::LeaveNotEstablished,
    ];
    LEAVE
        .iter()
        .find(|&&m| word(Lang::En, m) == en)
        .map_or_else(
            || super::treat::skip_reason(lang, en),
            |&m| word(lang, m).to_string(),
        )
}

/// The header of column `h` in `lang`.
pub fn header(lang: Lang, h: Header) -> &'static str {
    match lang {
        Lang::En => super::en::top::header(h),
        Lang::Zh => super::zh::top::header(h),
    }
}
