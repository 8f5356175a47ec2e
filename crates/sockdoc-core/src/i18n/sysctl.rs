//! Keys of what `sysctl plan`, `apply` and `rollback` say besides the audit: whose settings they
//! are, the plan and its result, the backup, the files written and their refusals. The audit's own
//! words are [`super::Msg`] and the judge's reasons; these are in `en/sysctl.rs` and `zh/sysctl.rs`.

use super::{fill, Lang};

/// A message of `sysctl`. Templates take `{}` (next argument) or `{N}` (argument N).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysctlMsg {
    /// `--all-netns` given.
    OneNamespace,
    /// A host-wide setting, absent in a namespace: `host-wide: the host's value {} applies ...`
    HostWide,
    /// `--profile` given to `rollback`.
    RollbackNoProfile,
    // Whose settings.
    ThisHost,
    OnThisHost,
    /// `in {namespace}`
    InNamespace,
    /// `network namespace {name} (net:{inode})`
    NsNamed,
    /// `network namespace of pid {pid} (net:{inode})`
    NsOfPid,
    /// `network namespace (unnamed) (net:{inode})`
    NsUnnamed,
    /// `{path} is loaded into the host ... the settings of {namespace} ... (e.g. {file})`
    HostLoaded,
    // Files.
    /// `{path} is not a file path`
    NotAFilePath,
    /// `{path} exists: pass --force to replace it`
    Exists,
    /// `removed {path}, left by an interrupted sockdoc run`
    StaleRemoved,
    /// `cannot remove {path}, left by an interrupted sockdoc run: {cause}`
    StaleKept,
    // Apply and roll back.
    /// `write {file}`
    WriteConf,
    /// `write no file (... e.g. {file}, to keep them)`
    WriteNoFile,
    /// `will set {n} setting(s) at runtime {place} and {whither}`
    WillSet,
    /// `dry run: would set {n} setting(s) at runtime {place} and {whither}`
    WouldSet,
    NothingToChange,
    /// `an earlier apply is still in place ({backup}): ...`
    EarlierApply,
    /// `cannot read {key}: {cause}`
    CannotReadKey,
    /// `applied {n} setting(s) {place}; {wrote}; backup in {backup} (...)`
    Applied,
    /// `wrote {file}`
    WroteConf,
    NoFileWritten,
    /// `nothing to roll back: no backup {backup}`
    NothingToRollBack,
    /// `the backup {backup} is damaged: {cause}`
    BackupDamaged,
    /// `restored {n} setting(s) and {file}`
    RestoredAnd,
    /// `restored {n} setting(s)`
    Restored,
    // Asking first (with the acting commands' `NeedsRoot` and `NotConfirmed`).
    ActApply,
    ActRollBack,
    /// What changing settings needs root for.
    RootWhy,
    /// `refusing to {act} {n} settings without --yes ...`
    RefuseNoYes,
    /// `{act} these {n} settings? [y/N] `
    Prompt,
}

/// The text of `m` in `lang`, with `{}` placeholders filled from `args`.
pub fn text(lang: Lang, m: SysctlMsg, args: &[&str]) -> String {
    let template = match lang {
        Lang::En => super::en::sysctl::msg(m),
        Lang::Zh => super::zh::sysctl::msg(m),
    };
    fill(template, args)
}
