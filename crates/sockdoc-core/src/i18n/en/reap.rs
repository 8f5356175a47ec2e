//! English: what `sockdoc reap` tells a person (its `--check` output, its stderr lines, its error
//! lines), keyed by [`ReapMsg`]. Its JSON action records are not words: they stay as they are.

/// The reaper's messages; templates fill `{}` in order (see [`crate::i18n::reap`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReapMsg {
    /// `--check`: `{path}: ok, {n} rule(s), every {interval}{dry run}`
    CheckOk,
    /// `--check`, after [`ReapMsg::CheckOk`] when the whole configuration is a dry run.
    CheckDryRun,
    /// `--check`: one line per rule, `{name}: {selector}{dry run}`
    CheckRule,
    /// `--check`, after [`ReapMsg::CheckRule`] when the rule is a dry run.
    RuleDryRun,
    /// The start line: rules, interval, namespace, metrics, log, config.
    Started,
    /// Part of [`ReapMsg::Started`]: where `/metrics` listens.
    MetricsOn,
    /// Where the action log goes when it is not a file.
    StandardOutput,
    /// SIGHUP: the configuration `{path}` was reloaded.
    Reloaded,
    /// SIGHUP: the new configuration was refused: `{error}`.
    Rejected,
    /// A scan failed and is tried again next interval: `{error}`.
    ScanFailed,
    /// `--all-netns` given.
    OneNamespace,
    /// Not root, and a rule acts.
    NotRoot,
    /// The action log cannot be opened: `{path}`, `{cause}`.
    LogOpen,
    /// The action log cannot be written: `{path}`, `{cause}`.
    LogWrite,
    /// The action log cannot be synced: `{path}`, `{cause}`.
    LogSync,
    /// The write-ahead record of a kill cannot be written: `{log}`, `{cause}`.
    LogStoppedKill,
    /// The write-ahead record of a keepalive change cannot be written: `{log}`, `{cause}`.
    LogStoppedKeepalive,
    /// `/metrics` cannot listen: `{addr}`, `{cause}`.
    MetricsListen,
    /// The HTTP server for `/metrics` cannot start: `{cause}`.
    MetricsHttp,
    /// Standard output cannot be written: `{cause}`.
    Output,
    /// The configuration file cannot be opened or read: `{path}`, `{cause}`.
    FileUnreadable,
    /// The configuration path is not a regular file: `{path}`, `{what it is}` (a `Kind*` phrase).
    FileNotRegular,
    KindDirectory,
    KindCharDevice,
    KindBlockDevice,
    KindPipe,
    KindSocket,
    KindOther,
    /// The configuration file is over the cap: `{path}`, `{KiB}`.
    FileTooLarge,
    /// The configuration file is not UTF-8: `{path}`, `{offset}`.
    FileNotUtf8,
}

/// The template of `m`.
pub fn msg(m: ReapMsg) -> &'static str {
    match m {
        ReapMsg::CheckOk => "{}: ok, {} rule(s), every {}{}",
        ReapMsg::CheckDryRun => ", dry run",
        ReapMsg::CheckRule => "  {}: {}{}",
        ReapMsg::RuleDryRun => " (dry run)",
        ReapMsg::Started => "sockdoc reap: {} rule(s) every {} in {}{}; log: {}; SIGHUP reloads {}, SIGTERM stops",
        ReapMsg::MetricsOn => "; metrics on {}://{}/metrics",
        ReapMsg::StandardOutput => "standard output",
        ReapMsg::Reloaded => "sockdoc reap: reloaded {}",
        ReapMsg::Rejected => "sockdoc reap: new configuration rejected, keeping the previous one: {}",
        ReapMsg::ScanFailed => "sockdoc: scan failed: {}",
        ReapMsg::OneNamespace => "reap works in one namespace: use --netns NAME or --netns-pid PID, not --all-netns",
        ReapMsg::NotRoot => "reap needs root to act (CAP_NET_ADMIN for SOCK_DESTROY, ptrace access for pidfd_getfd): run with sudo, or try it with --dry-run",
        ReapMsg::LogOpen => "cannot open the action log {}: {} (choose another with --log)",
        ReapMsg::LogWrite => "cannot write the action log {}: {}",
        ReapMsg::LogSync => "cannot sync the action log {}: {}",
        ReapMsg::LogStoppedKill => "cannot write the action log {}: {}; stopped before the next kill (free space there or choose another --log)",
        ReapMsg::LogStoppedKeepalive => "cannot write the action log {}: {}; stopped before the next keepalive change (free space there or choose another --log)",
        ReapMsg::MetricsListen => "cannot listen on {} for /metrics: {} (choose another with --metrics or `metrics` in the config)",
        ReapMsg::MetricsHttp => "cannot start the HTTP server for /metrics: {}",
        ReapMsg::Output => "cannot write output: {}",
        ReapMsg::FileUnreadable => "cannot read {}: {}",
        ReapMsg::FileNotRegular => "{} is {}, not a configuration file: give the path of a regular file",
        ReapMsg::KindDirectory => "a directory",
        ReapMsg::KindCharDevice => "a character device",
        ReapMsg::KindBlockDevice => "a block device",
        ReapMsg::KindPipe => "a pipe",
        ReapMsg::KindSocket => "a socket",
        ReapMsg::KindOther => "not a regular file",
        ReapMsg::FileTooLarge => "{} is larger than {} KiB, too large for a configuration file: check the path",
        ReapMsg::FileNotUtf8 => "{} is not UTF-8 text (bad byte at offset {}): is it the right file?",
    }
}
