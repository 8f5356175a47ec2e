//! `sockdoc reap --config reap.toml`: the flags wired to the reaper daemon (`sockdoc_reap`): one
//! namespace, the configuration read (a regular file of at most 1 MiB, `dev` names resolved in the
//! namespace) and checked, the action log opened, and the daemon's failures mapped to exit codes.

use std::io::Write;
use std::path::{Path, PathBuf};

use sockdoc_act::audit::AuditLog;
use sockdoc_core::i18n::{self, Lang, ReapMsg};
use sockdoc_core::reap::config::file::{read_text, FileError, MAX_CONFIG_BYTES};
use sockdoc_core::reap::Config;
use sockdoc_proc::Netns;
use sockdoc_reap::{Hooks, Options, ReapError, Sink};

use crate::cli::{Global, ReapArgs};
use crate::error::{io_cause, Exit, Failure};
use crate::json::{JSocket, SCHEMA};
use crate::scope;

/// Read and validate the configuration file; the error is one line starting with the path. Only a
/// regular file of at most 1 MiB is read. Interface names (`dev eth0`) are resolved in `ns`.
fn load(lang: Lang, path: &Path, force_dry_run: bool, ns: &Netns) -> Result<Config, Failure> {
    let text = read_text(path, MAX_CONFIG_BYTES).map_err(|e| unreadable(lang, path, &e))?;
    let parse =
        || Config::parse(&text).map_err(|e| Failure::usage(format!("{} {e}", path.display())));
    let mut cfg = if ns.current {
        parse()?
    } else {
        scope::in_ns(ns, parse)?
    };
    if force_dry_run {
        cfg.dry_run = true;
        for r in &mut cfg.rules {
            r.dry_run = true;
        }
    }
    Ok(cfg)
}

pub fn run(g: &Global, a: &ReapArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let lang = g.lang();
    let words = |m: ReapMsg| i18n::reap(lang, m, &[]);
    let ns = scope::one_namespace(g, || Failure::usage(words(ReapMsg::OneNamespace)))?;
    let cfg = load(lang, &a.config, a.dry_run, &ns)?;
    let web = a
        .web_config_file
        .as_deref()
        .map(|p| crate::cmd::serve::web_config(lang, p))
        .transpose()?;
    if a.check {
        sockdoc_reap::check(out, lang, &a.config, &cfg).map_err(Failure::output)?;
        return Ok(Exit::Ok);
    }
    if !scope::is_root() && cfg.rules.iter().any(|r| !r.dry_run) {
        return Err(Failure::new(Exit::NoPerm, words(ReapMsg::NotRoot)));
    }
    let log_path: Option<PathBuf> = a.log.clone().or_else(|| cfg.log.clone().map(PathBuf::from));
    let sink = match &log_path {
        None => Sink::Out(out),
        Some(p) => Sink::File(AuditLog::open(p).map_err(|e| log_open(lang, p, e))?),
    };
    let metrics = match a.metrics.as_deref() {
        Some("off") | Some("") => None,
        Some(m) => Some(m.to_string()),
        None => cfg.metrics.clone(),
    };
    let opts = Options {
        config: a.config.clone(),
        metrics,
        web,
        follow_netns: g.follow_netns,
        lang,
        history: Some(a.history.clone()),
    };
    let (config, dry_run) = (a.config.clone(), a.dry_run);
    let hooks = Hooks {
        reload: Box::new(move |ns| load(lang, &config, dry_run, ns).map_err(|f| f.message)),
        socket: |s, owners| serde_json::to_value(JSocket::new(s, owners)).unwrap_or_default(),
        schema: SCHEMA,
    };
    sockdoc_reap::run(ns, cfg, sink, opts, hooks).map_err(|e| failure(lang, e))?;
    Ok(Exit::Ok)
}

/// A configuration file was not read: missing 66, not permitted 77, not a regular file 66, too
/// large or not text 64, the rest 74.
pub(crate) fn unreadable(lang: Lang, path: &Path, e: &FileError) -> Failure {
    let exit = match e {
        FileError::Open(io) => match io.kind() {
            std::io::ErrorKind::NotFound => Exit::NoInput,
            std::io::ErrorKind::PermissionDenied => Exit::NoPerm,
            _ => Exit::Io,
        },
        FileError::Read(_) => Exit::Io,
        FileError::NotAFile(_) => Exit::NoInput,
        FileError::TooLarge(_) | FileError::NotUtf8(_) => Exit::Usage,
    };
    Failure::new(exit, e.words(lang, path))
}

/// The action log cannot be opened: permission problems are 77 (run with sudo), the rest 74.
fn log_open(lang: Lang, path: &Path, e: std::io::Error) -> Failure {
    let exit = if e.kind() == std::io::ErrorKind::PermissionDenied {
        Exit::NoPerm
    } else {
        Exit::Io
    };
    let args = [&path.display().to_string(), &io_cause(path, &e)];
    Failure::new(
        exit,
        i18n::reap(lang, ReapMsg::LogOpen, &args.map(String::as_str)),
    )
}

/// The daemon's failures as exit codes: a namespace gone 69, a log file not permitted 77, a closed
/// standard output none, the rest 74.
fn failure(lang: Lang, e: ReapError) -> Failure {
    let exit = match &e {
        ReapError::Lost(_) => Exit::Unavailable,
        ReapError::Log { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
            Exit::NoPerm
        }
        // A closed pipe (`| head`) is not an error.
        ReapError::Output(o) if o.kind() == std::io::ErrorKind::BrokenPipe => Exit::Ok,
        _ => Exit::Io,
    };
    let words = if exit == Exit::Ok {
        String::new()
    } else {
        e.words(lang)
    };
    Failure::new(exit, words)
}
