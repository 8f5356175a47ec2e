//! `sockdoc sysctl apply` and `rollback`. Apply: back up the runtime values and the file first, then
//! set the values as one transaction (undone on the first failure), then write the sysctl.d file
//! atomically; a failure at any step leaves the system as it was. Rollback restores both from the backup.
//! For another network namespace than the host's, apply sets the values at runtime only and writes a
//! file only when --conf names one (never one the host loads at boot), headed with the namespace.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sockdoc_act::sysctl::{apply as apply_all, normalize, SysctlIo};
use sockdoc_core::sysctl_audit::{plan_snippet_with, AuditRow, Profile, Verdict};
use sockdoc_proc::{sysctl, Netns};

use crate::cli::Global;
use crate::cmd::sysctl::{clean_stale_tmp, write_atomically, Target, HOST_CONF};
use crate::cmd::treat::{confirm_items, now_rfc3339, open_audit, uid};
use crate::error::{Exit, Failure};
use crate::scope;

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

#[allow(clippy::too_many_arguments)]
pub fn apply(
    _g: &Global,
    ns: &Netns,
    rows: &[AuditRow],
    profile: Option<&Profile>,
    paths: &Paths,
    dry_run: bool,
    yes: bool,
    out: &mut dyn Write,
) -> Result<Exit, Failure> {
    let changes: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r.verdict == Verdict::Change)
        .filter_map(|r| r.recommended.clone().map(|v| (r.key.to_string(), v)))
        .collect();
    let target = Target::of(ns);
    let conf: Option<&Path> = match paths.conf {
        Some(p) => Some(p),
        None if target.host => Some(Path::new(HOST_CONF)),
        None => None,
    };
    if let Some(c) = conf {
        target.check_conf(c)?;
    }
    let backup = backup_path(paths.state_dir, ns);
    if !dry_run {
        // Temporary files an interrupted run left behind go first, whatever this run does.
        for p in conf.iter().copied().chain([backup.as_path()]) {
            clean_stale_tmp(p);
        }
    }
    if changes.is_empty() {
        writeln!(out, "nothing to change").map_err(Failure::output)?;
        return Ok(Exit::Ok);
    }
    for r in rows.iter().filter(|r| r.verdict == Verdict::Change) {
        writeln!(
            out,
            "{} = {}  ->  {}",
            r.key,
            r.current.as_deref().unwrap_or("?"),
            r.recommended.as_deref().unwrap_or("?")
        )
        .map_err(Failure::output)?;
    }
    // Say where the settings go: at runtime, and into which file (if any).
    let whither = match conf {
        Some(c) => format!("write {}", c.display()),
        None => format!(
            "write no file (a namespace's settings are runtime only; pass --conf FILE, e.g. {}, to keep them)",
            target.suggested_conf
        ),
    };
    writeln!(
        out,
        "{}set {} setting(s) at runtime {} and {whither}",
        if dry_run { "dry run: would " } else { "will " },
        changes.len(),
        target.place()
    )
    .map_err(Failure::output)?;
    if dry_run {
        return Ok(Exit::Ok);
    }
    confirm_items("apply", changes.len(), "settings", yes)?;
    if backup.exists() {
        return Err(Failure::usage(format!(
            "an earlier apply is still in place ({}): run `sockdoc sysctl rollback` first",
            backup.display()
        )));
    }
    let mut audit = open_audit(paths.audit_log)?;
    let conf_previous = match conf {
        None => None,
        Some(c) => match std::fs::read_to_string(c) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Failure::io("read", c, e)),
        },
    };
    // 1. The backup, before anything changes.
    let keys: Vec<String> = changes.iter().map(|c| c.0.clone()).collect();
    let previous: Vec<(String, String)> = scope::in_ns(ns, || {
        keys.iter()
            .map(|k| {
                ProcSys
                    .read(k)
                    .map(|v| (k.clone(), normalize(&v)))
                    .map_err(|e| Failure::new(Exit::Io, format!("cannot read {k}: {e}")))
            })
            .collect()
    })?;
    let record = Backup {
        time: now_rfc3339(),
        netns_inode: ns.inode,
        conf: conf.map(Path::to_path_buf),
        conf_previous: conf_previous.clone(),
        values: previous.clone(),
    };
    std::fs::create_dir_all(paths.state_dir)
        .map_err(|e| Failure::io("create", paths.state_dir, e))?;
    let text = serde_json::to_string_pretty(&record).map_err(|e| Failure::output(e.into()))?;
    write_atomically(&backup, &text, false)?;
    // 2. The runtime values, all or nothing.
    let applied = scope::in_ns(ns, || {
        apply_all(&mut ProcSys, &changes).map_err(|e| Failure::new(Exit::Io, e.to_string()))
    });
    let applied = match applied {
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
        snippet.insert_str(0, &format!("# Profile {}: {}\n", p.name, p.about_en));
    }
    if let Some(Err(f)) = conf.map(|c| write_atomically(c, &snippet, true)) {
        let _ = scope::in_ns(ns, || {
            for (k, v) in &previous {
                let _ = ProcSys.write(k, v);
            }
            Ok(())
        });
        let _ = std::fs::remove_file(&backup);
        return Err(f);
    }
    for a in &applied {
        let line = serde_json::json!({
            "time": now_rfc3339(), "action": "sysctl-apply", "key": a.key, "previous": a.previous,
            "value": a.value, "conf": conf, "netns_inode": ns.inode, "uid": uid(),
        });
        audit
            .append(&line.to_string())
            .map_err(|e| Failure::io("write the audit log", audit.path(), e))?;
    }
    let wrote = match conf {
        Some(c) => format!("wrote {}", c.display()),
        None => "no file written".to_string(),
    };
    writeln!(
        out,
        "applied {} setting(s) {}; {wrote}; backup in {} (sockdoc sysctl rollback undoes it)",
        applied.len(),
        target.place(),
        backup.display()
    )
    .map_err(Failure::output)?;
    Ok(Exit::Ok)
}

pub fn rollback(
    _g: &Global,
    ns: &Netns,
    state_dir: &Path,
    audit_log: Option<&PathBuf>,
    out: &mut dyn Write,
) -> Result<Exit, Failure> {
    let backup = backup_path(state_dir, ns);
    let text = match std::fs::read_to_string(&backup) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::new(
                Exit::NoInput,
                format!("nothing to roll back: no backup {}", backup.display()),
            ))
        }
        Err(e) => return Err(Failure::io("read", &backup, e)),
    };
    let record: Backup = serde_json::from_str(&text).map_err(|e| {
        Failure::new(
            Exit::Io,
            format!("the backup {} is damaged: {e}", backup.display()),
        )
    })?;
    confirm_items("roll back", record.values.len(), "settings", true)?;
    let mut audit = open_audit(audit_log)?;
    scope::in_ns(ns, || {
        apply_all(&mut ProcSys, &record.values).map_err(|e| Failure::new(Exit::Io, e.to_string()))
    })?;
    match (&record.conf, &record.conf_previous) {
        (None, _) => {}
        (Some(conf), Some(t)) => write_atomically(conf, t, true)?,
        (Some(conf), None) => match std::fs::remove_file(conf) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Failure::io("remove", conf, e)),
        },
    }
    std::fs::remove_file(&backup).map_err(|e| Failure::io("remove", &backup, e))?;
    for (k, v) in &record.values {
        let line = serde_json::json!({
            "time": now_rfc3339(), "action": "sysctl-rollback", "key": k, "value": v,
            "conf": record.conf, "netns_inode": ns.inode, "uid": uid(),
        });
        audit
            .append(&line.to_string())
            .map_err(|e| Failure::io("write the audit log", audit.path(), e))?;
    }
    match &record.conf {
        Some(conf) => writeln!(
            out,
            "restored {} setting(s) and {}",
            record.values.len(),
            conf.display()
        ),
        None => writeln!(out, "restored {} setting(s)", record.values.len()),
    }
    .map_err(Failure::output)?;
    Ok(Exit::Ok)
}
