//! `sockdoc sysctl apply` and `rollback`. Apply: back up the runtime values and the file first, then
//! set the values as one transaction (undone on the first failure), then write the sysctl.d file
//! atomically; a failure at any step leaves the system as it was. Rollback restores both from the backup.
//! For another network namespace than the host's, apply sets the values at runtime only and writes a
//! file only when --conf names one (never one the host loads at boot), headed with the namespace.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sockdoc_act::audit::{run_id, AuditLog, WriteAhead};
use sockdoc_act::sysctl::{apply as apply_all, normalize, Applied, SysctlIo};
use sockdoc_core::i18n::sysctl::{text as st, SysctlMsg};
use sockdoc_core::i18n::{Lang, Msg};
use sockdoc_core::sysctl_audit::{plan_snippet_with, AuditRow, Profile, Verdict};
use sockdoc_proc::{sysctl, Netns};

use super::{clean_stale_tmp, write_atomically, Target, HOST_CONF};
use crate::cli::Global;
use crate::error::{Exit, Failure};
use crate::scope;
use crate::treat::{confirm_items, now_rfc3339, open_audit, uid};

/// Where apply writes.
pub struct Paths<'a> {
    /// The file asked for with --conf; `None` means the default: [`HOST_CONF`] for the host, no file
    /// for another namespace.
    pub conf: Option<&'a Path>,
    pub state_dir: &'a Path,
    pub audit_log: Option<&'a PathBuf>,
}

/// The backup apply leaves for rollback.
#[derive(Serialize, Deserialize)]
struct Backup {
    time: String,
    netns_inode: u64,
    /// The file apply wrote; `None` when it wrote none (a namespace's runtime-only apply).
    #[serde(default)]
    conf: Option<PathBuf>,
    /// The file's previous content; `None` when it did not exist (or no file was written).
    conf_previous: Option<String>,
    /// key → previous runtime value.
    values: Vec<(String, String)>,
}

/// /proc/sys, in the calling thread's namespace.
struct ProcSys;

impl SysctlIo for ProcSys {
    fn read(&mut self, key: &str) -> std::io::Result<String> {
        sysctl::read(key)?.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }
    fn write(&mut self, key: &str, value: &str) -> std::io::Result<()> {
        let path = sysctl::path_of(key)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad key"))?;
        std::fs::write(path, format!("{value}\n"))
    }
}

fn backup_path(dir: &Path, ns: &Netns) -> PathBuf {
    dir.join(format!("sysctl-backup-net{}.json", ns.inode))
}

/// The settings an apply changes: key and recommended value.
fn changes_of(rows: &[AuditRow]) -> Vec<(String, String)> {
    rows.iter()
        .filter(|r| r.verdict == Verdict::Change)
        .filter_map(|r| r.recommended.clone().map(|v| (r.key.to_string(), v)))
        .collect()
}

/// Show what an apply would change and where the settings go, in `lang`.
fn show_plan(
    lang: Lang,
    out: &mut dyn Write,
    rows: &[AuditRow],
    n: usize,
    target: &Target,
    conf: Option<&Path>,
    dry_run: bool,
) -> std::io::Result<()> {
    for r in rows.iter().filter(|r| r.verdict == Verdict::Change) {
        writeln!(
            out,
            "{} = {}  ->  {}",
            r.key,
            r.current.as_deref().unwrap_or("?"),
            r.recommended.as_deref().unwrap_or("?")
        )?;
    }
    let whither = match conf {
        Some(c) => st(lang, SysctlMsg::WriteConf, &[&c.display().to_string()]),
        None => st(lang, SysctlMsg::WriteNoFile, &[&target.suggested_conf]),
    };
    let m = if dry_run {
        SysctlMsg::WouldSet
    } else {
        SysctlMsg::WillSet
    };
    let args = [&n.to_string(), &target.place(lang), &whither];
    writeln!(out, "{}", st(lang, m, &args.map(String::as_str)))
}

/// The backup written before anything changes: the runtime values now, and the file's text.
fn write_backup(
    lang: Lang,
    ns: &Netns,
    changes: &[(String, String)],
    conf: Option<&Path>,
    paths: &Paths,
    backup: &Path,
) -> Result<Backup, Failure> {
    let conf_previous = match conf {
        None => None,
        Some(c) => match std::fs::read_to_string(c) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Failure::io(lang, Msg::FileRead, c, e)),
        },
    };
    let keys: Vec<String> = changes.iter().map(|c| c.0.clone()).collect();
    let values: Vec<(String, String)> = scope::in_ns(ns, || {
        keys.iter()
            .map(|k| {
                ProcSys
                    .read(k)
                    .map(|v| (k.clone(), normalize(&v)))
                    .map_err(|e| {
                        let e = e.to_string();
                        Failure::new(Exit::Io, st(lang, SysctlMsg::CannotReadKey, &[k, &e]))
                    })
            })
            .collect()
    })?;
    let record = Backup {
        time: now_rfc3339(),
        netns_inode: ns.inode,
        conf: conf.map(Path::to_path_buf),
        conf_previous,
        values,
    };
    std::fs::create_dir_all(paths.state_dir)
        .map_err(|e| Failure::io(lang, Msg::FileCreate, paths.state_dir, e))?;
    let text = serde_json::to_string_pretty(&record).map_err(|e| Failure::output(e.into()))?;
    write_atomically(lang, backup, &text, false)?;
    Ok(record)
}

/// Write `values` at runtime in `ns` as one transaction (all or nothing), recorded ahead in `audit`:
/// one intent record per key, on disk before any value is written, then one outcome record per key.
/// `previous` holds the values being replaced, when known.
fn apply_recorded(
    lang: Lang,
    ns: &Netns,
    audit: &mut AuditLog,
    action: &'static str,
    values: &[(String, String)],
    previous: &[(String, String)],
    conf: Option<&Path>,
) -> Result<Vec<Applied>, Failure> {
    let path = audit.path().to_path_buf();
    let was = |k: &str| {
        previous
            .iter()
            .find(|(p, _)| p == k)
            .map(|(_, v)| v.clone())
    };
    let record = |(k, v): &(String, String)| {
        serde_json::json!({
            "time": now_rfc3339(), "action": action, "key": k, "previous": was(k),
            "value": v, "conf": conf, "netns_inode": ns.inode, "uid": uid(),
        })
    };
    let mut failed = None;
    let mut applied = Vec::new();
    let acted = WriteAhead::new(audit, run_id()).batch(values.len()).act(
        values,
        record,
        |batch| {
            let r = scope::in_ns(ns, || {
                apply_all(&mut ProcSys, batch).map_err(|e| Failure::new(Exit::Io, e.to_string()))
            });
            let outcome = match r {
                Ok(a) => {
                    applied = a;
                    Ok(())
                }
                Err(f) => {
                    let e = f.message.clone();
                    failed = Some(f);
                    Err(e)
                }
            };
            vec![outcome; batch.len()]
        },
        |kv, o| {
            let mut r = record(kv);
            match o {
                Ok(()) => r["outcome"] = "applied".into(),
                Err(e) => {
                    r["outcome"] = "rolled back".into();
                    r["error"] = e.as_str().into();
                }
            }
            r
        },
    );
    if let Err(stop) = acted {
        return Err(Failure::io(lang, Msg::FileWriteAuditLog, &path, stop.error));
    }
    match failed {
        Some(f) => Err(f),
        None => Ok(applied),
    }
}

#[allow(clippy::too_many_arguments)]
pub fn apply(
    g: &Global,
    ns: &Netns,
    rows: &[AuditRow],
    profile: Option<&Profile>,
    paths: &Paths,
    dry_run: bool,
    yes: bool,
    out: &mut dyn Write,
) -> Result<Exit, Failure> {
    let lang = g.lang();
    let changes = changes_of(rows);
    let target = Target::of(ns);
    let conf: Option<&Path> = match paths.conf {
        Some(p) => Some(p),
        None if target.host => Some(Path::new(HOST_CONF)),
        None => None,
    };
    if let Some(c) = conf {
        target.check_conf(lang, c)?;
    }
    let backup = backup_path(paths.state_dir, ns);
    if !dry_run {
        // Temporary files an interrupted run left behind go first, whatever this run does.
        for p in conf.iter().copied().chain([backup.as_path()]) {
            clean_stale_tmp(lang, p);
        }
    }
    if changes.is_empty() {
        writeln!(out, "{}", st(lang, SysctlMsg::NothingToChange, &[])).map_err(Failure::output)?;
        return Ok(Exit::Ok);
    }
    show_plan(lang, out, rows, changes.len(), &target, conf, dry_run).map_err(Failure::output)?;
    if dry_run {
        return Ok(Exit::Ok);
    }
    confirm_items(lang, SysctlMsg::ActApply, changes.len(), yes)?;
    if backup.exists() {
        let shown = backup.display().to_string();
        return Err(Failure::usage(st(lang, SysctlMsg::EarlierApply, &[&shown])));
    }
    let mut audit = open_audit(lang, paths.audit_log)?;
    // 1. The backup, before anything changes.
    let saved = write_backup(lang, ns, &changes, conf, paths, &backup)?;
    // 2. The runtime values, all or nothing, recorded ahead.
    let applied = match apply_recorded(
        lang,
        ns,
        &mut audit,
        "sysctl-apply",
        &changes,
        &saved.values,
        conf,
    ) {
        Ok(a) => a,
        Err(f) => {
            let _ = std::fs::remove_file(&backup);
            return Err(f);
        }
    };
    // 3. The file a reboot will load, with exactly the values applied.
    let changed: Vec<AuditRow> = rows
        .iter()
        .filter(|r| r.verdict == Verdict::Change)
        .cloned()
        .collect();
    let mut snippet = plan_snippet_with(&changed, &target.heading());
    if let Some(p) = profile {
        snippet.insert_str(0, &format!("# Profile {}: {}\n", p.name, p.about(Lang::En)));
    }
    if let Some(Err(f)) = conf.map(|c| write_atomically(lang, c, &snippet, true)) {
        let _ = scope::in_ns(ns, || {
            for (k, v) in &saved.values {
                let _ = ProcSys.write(k, v);
            }
            Ok(())
        });
        let _ = std::fs::remove_file(&backup);
        return Err(f);
    }
    let wrote = match conf {
        Some(c) => st(lang, SysctlMsg::WroteConf, &[&c.display().to_string()]),
        None => st(lang, SysctlMsg::NoFileWritten, &[]),
    };
    let args = [
        &applied.len().to_string(),
        &target.place(lang),
        &wrote,
        &backup.display().to_string(),
    ];
    let line = st(lang, SysctlMsg::Applied, &args.map(String::as_str));
    writeln!(out, "{line}").map_err(Failure::output)?;
    Ok(Exit::Ok)
}

pub fn rollback(
    g: &Global,
    ns: &Netns,
    state_dir: &Path,
    audit_log: Option<&PathBuf>,
    out: &mut dyn Write,
) -> Result<Exit, Failure> {
    let lang = g.lang();
    let backup = backup_path(state_dir, ns);
    let shown = backup.display().to_string();
    let text = match std::fs::read_to_string(&backup) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::new(
                Exit::NoInput,
                st(lang, SysctlMsg::NothingToRollBack, &[&shown]),
            ))
        }
        Err(e) => return Err(Failure::io(lang, Msg::FileRead, &backup, e)),
    };
    let record: Backup = serde_json::from_str(&text).map_err(|e| {
        let e = e.to_string();
        Failure::new(Exit::Io, st(lang, SysctlMsg::BackupDamaged, &[&shown, &e]))
    })?;
    confirm_items(lang, SysctlMsg::ActRollBack, record.values.len(), true)?;
    let mut audit = open_audit(lang, audit_log)?;
    apply_recorded(
        lang,
        ns,
        &mut audit,
        "sysctl-rollback",
        &record.values,
        &[],
        record.conf.as_deref(),
    )?;
    match (&record.conf, &record.conf_previous) {
        (None, _) => {}
        (Some(conf), Some(t)) => write_atomically(lang, conf, t, true)?,
        (Some(conf), None) => match std::fs::remove_file(conf) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Failure::io(lang, Msg::FileRemove, conf, e)),
        },
    }
    std::fs::remove_file(&backup).map_err(|e| Failure::io(lang, Msg::FileRemove, &backup, e))?;
    let n = record.values.len().to_string();
    let line = match &record.conf {
        Some(conf) => st(
            lang,
            SysctlMsg::RestoredAnd,
            &[&n, &conf.display().to_string()],
        ),
        None => st(lang, SysctlMsg::Restored, &[&n]),
    };
    writeln!(out, "{line}").map_err(Failure::output)?;
    Ok(Exit::Ok)
}
