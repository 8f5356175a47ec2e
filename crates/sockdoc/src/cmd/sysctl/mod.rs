//! `sockdoc sysctl check` and `sockdoc sysctl plan`: the sysctl audit alone, and the sysctl.d snippet it
//! would apply. Nothing here changes the running kernel; `plan --out` only writes the file, atomically.
//! Also what `apply` shares: whose settings these are (the host's, or a network namespace's, which
//! must never land in a file the host loads at boot) and the crash-safe file write.

pub mod apply;
mod check;

use check::check;

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sockdoc_core::i18n::sysctl::{text as st, SysctlMsg};
use sockdoc_core::i18n::{text, Lang, Msg};
use sockdoc_core::session::Recorded;
use sockdoc_core::sysctl_audit::{
    audit, plan_snippet_with, profile, with_profile, AuditRow, Profile, Refused, HOST_HEADING,
};
use sockdoc_proc::sysctl::{self, ConfigEntry};
use sockdoc_proc::Netns;

use crate::cli::{Global, SysctlArgs, SysctlCommand};
use crate::error::{Exit, Failure};
use crate::scope;

/// What `sysctl` works from: audit rows (with the profile laid over them), the profile's settings this
/// kernel refused, and config-file entries the kernel lacks, all read inside one namespace.
struct Reading {
    rows: Vec<AuditRow>,
    refused: Vec<Refused>,
    unknown: Vec<ConfigEntry>,
}

impl Reading {
    /// The audit of the values `read` gives, with `config` (each entry with whether the kernel
    /// has its key) telling what a file sets, and a profile laid over it.
    fn of(
        lang: Lang,
        profile: Option<&Profile>,
        read: &dyn Fn(&str) -> Option<String>,
        config: Vec<(ConfigEntry, bool)>,
    ) -> Reading {
        let configured = |k: &str| {
            config
                .iter()
                .any(|(e, _)| sysctl::normalize(&e.key).as_deref() == Some(k))
        };
        let rows = audit(lang, read, &configured);
        let (rows, refused) = match profile {
            Some(p) => with_profile(lang, rows, p, read),
            None => (rows, Vec::new()),
        };
        let unknown = config
            .into_iter()
            .filter(|(_, known)| !known)
            .map(|(e, _)| e)
            .collect();
        Reading {
            rows,
            refused,
            unknown,
        }
    }
}

/// Audit rows and config entries the kernel lacks, read inside `ns`.
fn read_in(ns: &Netns, lang: Lang, profile: Option<&Profile>) -> Result<Reading, Failure> {
    scope::in_ns(ns, || {
        let config = sysctl::config_entries_known();
        let read = |k: &str| sysctl::read(k).ok().flatten();
        Ok(Reading::of(lang, profile, &read, config))
    })
}

/// Settings a network namespace lacks because they are the host's (`netdev_max_backlog`): said
/// so, with the host's value (read on the calling thread, which is in the caller's namespace).
fn host_wide(lang: Lang, rows: &mut [AuditRow]) {
    for r in rows.iter_mut().filter(|r| r.current.is_none()) {
        if let Some(v) = sysctl::read(r.key).ok().flatten() {
            let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
            r.reason = st(lang, SysctlMsg::HostWide, &[&v]);
        }
    }
}

/// The audit of recorded evidence (`--from`): the first namespace whose evidence carries sysctl
/// values (`sysctl -a`, a snapshot), and its config entries when a snapshot kept them.
fn read_recorded(
    g: &Global,
    lang: Lang,
    profile: Option<&Profile>,
) -> Result<Option<(Netns, Reading)>, Failure> {
    let Some(r) = scope::recording(g)? else {
        return Ok(None);
    };
    let found = r
        .namespaces()
        .into_iter()
        .zip(&r.evidence.namespaces)
        .find_map(|(ns, e)| {
            let k = e.kernel.as_ref().filter(|k| !k.sysctls.values.is_empty())?;
            Some((ns, k))
        });
    let Some((ns, k)) = found else {
        return Err(Failure::new(
            Exit::DataErr,
            text(lang, Msg::NoSysctlEvidence, &[]),
        ));
    };
    let read = |key: &str| k.sysctls.values.get(key).cloned();
    let reading = Reading::of(lang, profile, &read, k.config.clone());
    Ok(Some((ns, reading)))
}

/// The file `apply` writes for the host when no --conf is given.
pub const HOST_CONF: &str = "/etc/sysctl.d/90-sockdoc.conf";

/// Where the host's boot and `sysctl --system` load settings from (sysctl.d(5)).
const HOST_LOADED: &[&str] = &[
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
];

/// Whose settings a run reads and changes: the host's, or another network namespace's.
pub(crate) struct Target {
    /// The host's own network namespace (that of PID 1).
    pub host: bool,
    /// Which namespace, when not the host's.
    who: Who,
    inode: u64,
    /// For a namespace: the command that loads a file inside it (FILE stands for the file).
    pub load: String,
    /// For a namespace: a file to suggest for --conf.
    pub suggested_conf: String,
}

/// How a namespace that is not the host's is named.
enum Who {
    Named(String),
    Pid(u32),
    Unnamed,
}

impl Target {
    pub fn of(ns: &Netns) -> Target {
        // PID 1's namespace is the host's; unreadable (no root), the one sockdoc runs in stands for it.
        let host = std::fs::metadata("/proc/1/ns/net").map_or(ns.current, |m| m.ino() == ns.inode);
        if host {
            return Target {
                host,
                who: Who::Unnamed,
                inode: ns.inode,
                load: "sysctl -p FILE".into(),
                suggested_conf: HOST_CONF.into(),
            };
        }
        let (who, load, suggested_conf) = match (ns.names.first(), ns.pid) {
            (Some(name), _) => (
                Who::Named(name.clone()),
                format!("ip netns exec {name} sysctl -p FILE"),
                format!("/etc/netns/{name}/sysctl.conf"),
            ),
            (None, Some(pid)) => (
                Who::Pid(pid),
                format!("nsenter --net=/proc/{pid}/ns/net sysctl -p FILE"),
                format!("/var/lib/sockdoc/sysctl-net{}.conf", ns.inode),
            ),
            (None, None) => (
                Who::Unnamed,
                format!("nsenter --net={} sysctl -p FILE", ns.path.display()),
                format!("/var/lib/sockdoc/sysctl-net{}.conf", ns.inode),
            ),
        };
        Target {
            host,
            who,
            inode: ns.inode,
            load,
            suggested_conf,
        }
    }

    /// `this host`, or `network namespace NAME (net:INODE)`, in `lang`.
    pub fn label(&self, lang: Lang) -> String {
        let inode = self.inode.to_string();
        match &self.who {
            _ if self.host => st(lang, SysctlMsg::ThisHost, &[]),
            Who::Named(name) => st(lang, SysctlMsg::NsNamed, &[name, &inode]),
            Who::Pid(pid) => st(lang, SysctlMsg::NsOfPid, &[&pid.to_string(), &inode]),
            Who::Unnamed => st(lang, SysctlMsg::NsUnnamed, &[&inode]),
        }
    }

    /// `on this host` or `in network namespace NAME (net:INODE)`, in `lang`.
    pub fn place(&self, lang: Lang) -> String {
        if self.host {
            st(lang, SysctlMsg::OnThisHost, &[])
        } else {
            st(lang, SysctlMsg::InNamespace, &[&self.label(lang)])
        }
    }

    /// The comment lines a snippet for this target starts with (in English, as files are).
    pub fn heading(&self) -> String {
        if self.host {
            return HOST_HEADING.to_string();
        }
        format!(
            "# Written by `sockdoc sysctl plan`: connection-handling settings for {}, not for the host.\n\
             # Never install this into /etc/sysctl.d/: `sysctl --system` and every boot would apply it to the host.\n\
             # Load it inside the namespace: {}\n",
            self.label(Lang::En),
            self.load
        )
    }

    /// Refuse a file the host loads at boot for a namespace's settings (in `lang`).
    pub fn check_conf(&self, lang: Lang, path: &Path) -> Result<(), Failure> {
        if self.host {
            return Ok(());
        }
        let dir = path
            .parent()
            .map(|d| d.canonicalize().unwrap_or_else(|_| d.to_path_buf()))
            .unwrap_or_default();
        let loaded = HOST_LOADED.iter().any(|h| dir == Path::new(h))
            || path == Path::new("/etc/sysctl.conf");
        if loaded {
            let args = [
                &path.display().to_string(),
                &self.label(lang),
                &self.suggested_conf,
            ];
            let words = st(lang, SysctlMsg::HostLoaded, &args.map(String::as_str));
            return Err(Failure::usage(words));
        }
        Ok(())
    }
}

pub fn run(g: &Global, a: &SysctlArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let lang = g.lang();
    let profile = a
        .profile
        .as_deref()
        .map(profile)
        .transpose()
        .map_err(Failure::usage)?;
    if let Some((ns, reading)) = read_recorded(g, lang, profile)? {
        return check(g, out, &ns, profile, reading, Msg::NotInEvidence);
    }
    let namespaces = scope::namespaces(g)?;
    let [ns] = namespaces.as_slice() else {
        return Err(Failure::usage(st(lang, SysctlMsg::OneNamespace, &[])));
    };
    if profile.is_some() && matches!(a.command, SysctlCommand::Rollback { .. }) {
        return Err(Failure::usage(st(lang, SysctlMsg::RollbackNoProfile, &[])));
    }
    let Reading {
        rows,
        refused,
        unknown,
    } = read_in(ns, lang, profile)?;
    // Refusals go to stderr for plan and apply, so the snippet on stdout stays loadable.
    if !g.json && !matches!(a.command, SysctlCommand::Check) {
        for r in &refused {
            crate::log::log_line!("{} {}: {}", text(lang, Msg::Refused, &[]), r.key, r.reason);
        }
    }
    match &a.command {
        SysctlCommand::Check => {
            let mut reading = Reading {
                rows,
                refused,
                unknown,
            };
            let missing = if Target::of(ns).host {
                Msg::NotInKernel
            } else {
                host_wide(lang, &mut reading.rows);
                Msg::NotInNamespace
            };
            check(g, out, ns, profile, reading, missing)
        }
        SysctlCommand::Apply {
            conf,
            state_dir,
            dry_run,
            yes,
            audit_log,
        } => crate::cmd::sysctl::apply::apply(
            g,
            ns,
            &rows,
            profile,
            &crate::cmd::sysctl::apply::Paths {
                conf: conf.as_deref(),
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
        } => crate::cmd::sysctl::apply::rollback(g, ns, state_dir, audit_log.as_ref(), out),
        SysctlCommand::Plan { out: path, force } => {
            let target = Target::of(ns);
            if let Some(p) = path {
                target.check_conf(lang, p)?;
            }
            let mut snippet = plan_snippet_with(&rows, &target.heading());
            if let Some(p) = profile {
                snippet.insert_str(0, &format!("# Profile {}: {}\n", p.name, p.about(Lang::En)));
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
                    write_atomically(lang, p, &snippet, *force)?;
                    let path = p.display().to_string();
                    crate::log::log_line!("{}", text(lang, Msg::Wrote, &[&path]));
                }
            }
            Ok(Exit::Ok)
        }
    }
}

/// Suffix of the temporary files [`write_atomically`] writes (`.NAME.PID.sockdoc-tmp` beside NAME).
const TMP_SUFFIX: &str = ".sockdoc-tmp";

/// The directory and file name of `path`.
fn split_path(lang: Lang, path: &Path) -> Result<(&Path, String), Failure> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| {
        let shown = path.display().to_string();
        Failure::usage(st(lang, SysctlMsg::NotAFilePath, &[&shown]))
    })?;
    Ok((dir, name.to_string_lossy().into_owned()))
}

/// Remove the temporary files an interrupted write of `path` left beside it (`.NAME.sockdoc-tmp`
/// from older versions, `.NAME.PID.sockdoc-tmp` whose sockdoc process is gone), saying so on stderr.
/// A directory that cannot be read has none; one that cannot be removed is reported and left (the
/// next write uses a name of its own, so it is in nobody's way).
pub(crate) fn clean_stale_tmp(lang: Lang, path: &Path) -> Vec<PathBuf> {
    let Ok((dir, name)) = split_path(lang, path) else {
        return Vec::new();
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(_) => return Vec::new(),
    };
    let prefix = format!(".{name}.");
    let me = std::process::id().to_string();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(middle) = file
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(TMP_SUFFIX))
        else {
            // The old fixed name, `.NAME.sockdoc-tmp`.
            if file == format!(".{name}{TMP_SUFFIX}") {
                remove_stale(lang, entry.path(), &mut removed);
            }
            continue;
        };
        if middle.is_empty() || !middle.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // Another sockdoc still writing it keeps its file.
        let running = middle != me
            && std::fs::read_to_string(format!("/proc/{middle}/comm"))
                .is_ok_and(|c| c.trim() == "sockdoc");
        if running {
            continue;
        }
        remove_stale(lang, entry.path(), &mut removed);
    }
    removed
}

fn remove_stale(lang: Lang, stale: PathBuf, removed: &mut Vec<PathBuf>) {
    let shown = stale.display().to_string();
    match std::fs::remove_file(&stale) {
        Ok(()) => {
            crate::log::log_line!("{}", st(lang, SysctlMsg::StaleRemoved, &[&shown]));
            removed.push(stale);
        }
        Err(e) => {
            let cause = crate::error::io_cause(&stale, &e);
            crate::log::log_line!("{}", st(lang, SysctlMsg::StaleKept, &[&shown, &cause]));
        }
    }
}

/// Replace `path` so that a crash at any point leaves either the old file or the new one, whole:
/// write a new temporary file in the same directory, sync it, rename it over `path`, then sync the
/// directory so the rename itself survives a power cut. A failure removes the temporary file; one
/// left by a run that was killed is removed by the next write (see [`clean_stale_tmp`]).
pub(crate) fn write_atomically(
    lang: Lang,
    path: &Path,
    text: &str,
    force: bool,
) -> Result<(), Failure> {
    if path.exists() && !force {
        let shown = path.display().to_string();
        return Err(Failure::usage(st(lang, SysctlMsg::Exists, &[&shown])));
    }
    let (dir, name) = split_path(lang, path)?;
    clean_stale_tmp(lang, path);
    let tmp = dir.join(format!(".{name}.{}{TMP_SUFFIX}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Failure::io(lang, Msg::FileWrite, path, e)
    })
}
