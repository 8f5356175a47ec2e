//! `sockdoc sysctl check` and `sockdoc sysctl plan`: the sysctl audit alone, and the sysctl.d snippet it
//! would apply. Nothing here changes the running kernel; `plan --out` only writes the file, atomically.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use sockdoc_core::i18n::{pick, Lang};
use sockdoc_core::sysctl_audit::{
    audit, plan_snippet, profile, with_profile, AuditRow, Profile, Refused, Verdict,
};
use sockdoc_proc::sysctl::{self, ConfigEntry};
use sockdoc_proc::Netns;

use crate::cli::{Global, SysctlArgs, SysctlCommand};
use crate::error::{Exit, Failure};
use crate::json::{write_pretty, JNetns, SCHEMA};
use crate::scope;
use crate::term::Term;

/// What `sysctl` works from: audit rows (with the profile laid over them), the profile's settings this
/// kernel refused, and config-file entries the kernel lacks, all read inside one namespace.
struct Reading {
    rows: Vec<AuditRow>,
    refused: Vec<Refused>,
    unknown: Vec<ConfigEntry>,
}

/// Audit rows and config entries the kernel lacks, read inside `ns`.
fn read_in(ns: &Netns, lang: Lang, profile: Option<&Profile>) -> Result<Reading, Failure> {
    scope::in_ns(ns, || {
        let config = sysctl::config_entries();
        let configured = |k: &str| {
            config
                .iter()
                .any(|e| sysctl::normalize(&e.key).as_deref() == Some(k))
        };
        let read = |k: &str| sysctl::read(k).ok().flatten();
        let rows = audit(lang, &read, &configured);
        let (rows, refused) = match profile {
            Some(p) => with_profile(lang, rows, p, &read),
            None => (rows, Vec::new()),
        };
        let unknown = config
            .into_iter()
            .filter(|e| !sysctl::exists(&e.key))
            .collect();
        Ok(Reading {
            rows,
            refused,
            unknown,
        })
    })
}

pub fn run(g: &Global, a: &SysctlArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let lang = g.lang();
    let namespaces = scope::namespaces(g)?;
    let [ns] = namespaces.as_slice() else {
        return Err(Failure::usage(
            "sysctl works on one namespace at a time: use --netns NAME or --netns-pid PID, not --all-netns",
        ));
    };
    let profile = a
        .profile
        .as_deref()
        .map(profile)
        .transpose()
        .map_err(Failure::usage)?;
    if profile.is_some() && matches!(a.command, SysctlCommand::Rollback { .. }) {
        return Err(Failure::usage(
            "rollback restores what apply backed up, whatever the profile: drop --profile",
        ));
    }
    let Reading {
        rows,
        refused,
        unknown,
    } = read_in(ns, lang, profile)?;
    // Refusals go to stderr for plan and apply, so the snippet on stdout stays loadable.
    if !g.json && !matches!(a.command, SysctlCommand::Check) {
        for r in &refused {
            crate::log::log_line!("{} {}: {}", pick(lang, "refused", "拒绝"), r.key, r.reason);
        }
    }
    match &a.command {
        SysctlCommand::Check => {
            if g.json {
                write_json(out, ns, profile, &rows, &refused, &unknown).map_err(Failure::output)?;
            } else {
                if let Some(p) = profile {
                    writeln!(
                        out,
                        "profile {}: {}\n",
                        p.name,
                        pick(lang, p.about_en, p.about_zh)
                    )
                    .map_err(Failure::output)?;
                }
                write_text(out, lang, &rows, &refused, &unknown).map_err(Failure::output)?;
            }
            let changes = rows.iter().any(|r| r.verdict != Verdict::Keep) || !unknown.is_empty();
            Ok(if changes { Exit::Warning } else { Exit::Ok })
        }
        SysctlCommand::Apply {
            conf,
            state_dir,
            dry_run,
            yes,
            audit_log,
        } => crate::cmd::sysctl_apply::apply(
            g,
            ns,
            &rows,
            profile,
            &crate::cmd::sysctl_apply::Paths {
                conf,
                state_dir,
                audit_log: audit_log.as_ref(),
            },
            *dry_run,
            *yes,
            out,
        ),
        SysctlCommand::Rollback {
            state_dir,
            audit_log,
        } => crate::cmd::sysctl_apply::rollback(g, ns, state_dir, audit_log.as_ref(), out),
        SysctlCommand::Plan { out: path, force } => {
            let mut snippet = plan_snippet(&rows);
            if let Some(p) = profile {
                snippet.insert_str(0, &format!("# Profile {}: {}\n", p.name, p.about_en));
            }
            for e in &unknown {
                snippet.push_str(&format!(
                    "\n# {}:{}: {} is not in this kernel: delete that line ({} = {})\n",
                    e.file.display(),
                    e.line,
                    e.key,
                    e.key,
                    e.value
                ));
            }
            match path {
                None => out.write_all(snippet.as_bytes()).map_err(Failure::output)?,
                Some(p) => {
                    write_atomically(p, &snippet, *force)?;
                    crate::log::log_line!(
                        "{}",
                        pick(
                            lang,
                            format!("wrote {}; load it with: sysctl --system", p.display()),
                            format!("已写入 {}; 用 sysctl --system 加载", p.display()),
                        )
                    );
                }
            }
            Ok(Exit::Ok)
        }
    }
}

/// Write to a temporary file beside `path`, sync it, then rename: a reader never sees half a file.
pub(crate) fn write_atomically(path: &Path, text: &str, force: bool) -> Result<(), Failure> {
    if path.exists() && !force {
        return Err(Failure::usage(format!(
            "{} exists: pass --force to replace it",
            path.display()
        )));
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Failure::usage(format!("{} is not a file path", path.display())))?;
    let tmp = dir.join(format!(".{}.sockdoc-tmp", name.to_string_lossy()));
    let io = |e: std::io::Error| {
        let _ = std::fs::remove_file(&tmp);
        Failure::io("write", path, e)
    };
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn write_text(
    out: &mut dyn Write,
    lang: Lang,
    rows: &[AuditRow],
    refused: &[Refused],
    unknown: &[ConfigEntry],
) -> std::io::Result<()> {
    let term = Term::stdout();
    for r in rows {
        let cur =
            r.current
                .as_deref()
                .unwrap_or(pick(lang, "(not in this kernel)", "(当前内核没有)"));
        let verdict = match r.verdict {
            Verdict::Keep => term.green(pick(lang, "keep", "保持")),
            Verdict::Change => term.yellow(&match &r.recommended {
                Some(v) => pick(lang, format!("change to {v}"), format!("改为 {v}")),
                None => pick(lang, "change", "修改").to_string(),
            }),
            Verdict::Remove => term.red(pick(lang, "remove from config", "从配置中删除")),
        };
        writeln!(out, "{} = {cur}  → {verdict}", term.bold(r.key))?;
        for line in term.wrap(&r.reason, 4) {
            writeln!(out, "{line}")?;
        }
    }
    for r in refused {
        writeln!(
            out,
            "{} = {}  → {}",
            term.bold(r.key),
            pick(lang, "(not here)", "(此处没有)"),
            term.red(pick(lang, "refused", "拒绝"))
        )?;
        for line in term.wrap(&r.reason, 4) {
            writeln!(out, "{line}")?;
        }
    }
    if !unknown.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            term.bold(pick(
                lang,
                "In config files but not in this kernel:",
                "配置文件中存在、但当前内核没有的参数:"
            ))
        )?;
        for e in unknown {
            writeln!(
                out,
                "  {}:{}  {} = {}",
                e.file.display(),
                e.line,
                e.key,
                e.value
            )?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct JRow<'a> {
    key: &'a str,
    current: Option<&'a str>,
    verdict: &'static str,
    recommended: Option<&'a str>,
    reason: &'a str,
}

#[derive(Serialize)]
struct JEntry<'a> {
    file: String,
    line: usize,
    key: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct JCheck<'a> {
    schema: u32,
    command: &'static str,
    netns: JNetns<'a>,
    profile: Option<&'static str>,
    settings: Vec<JRow<'a>>,
    refused: Vec<JRefused<'a>>,
    config_unknown: Vec<JEntry<'a>>,
}

#[derive(Serialize)]
struct JRefused<'a> {
    key: &'a str,
    reason: &'a str,
}

fn write_json(
    out: &mut dyn Write,
    ns: &Netns,
    profile: Option<&Profile>,
    rows: &[AuditRow],
    refused: &[Refused],
    unknown: &[ConfigEntry],
) -> std::io::Result<()> {
    let doc = JCheck {
        schema: SCHEMA,
        command: "sysctl-check",
        netns: JNetns::new(ns),
        profile: profile.map(|p| p.name),
        refused: refused
            .iter()
            .map(|r| JRefused {
                key: r.key,
                reason: &r.reason,
            })
            .collect(),
        settings: rows
            .iter()
            .map(|r| JRow {
                key: r.key,
                current: r.current.as_deref(),
                verdict: r.verdict.name(),
                recommended: r.recommended.as_deref(),
                reason: &r.reason,
            })
            .collect(),
        config_unknown: unknown
            .iter()
            .map(|e| JEntry {
                file: e.file.display().to_string(),
                line: e.line,
                key: &e.key,
                value: &e.value,
            })
            .collect(),
    };
    write_pretty(out, &doc)
}
