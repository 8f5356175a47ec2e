//! The daemon's failures, each one line saying what failed and what to do, in the caller's language
//! ([`ReapError::words`]); its `Display` is the English line, which the stop record carries. The
//! command line maps them to its exit codes.

use std::fmt;
use std::io;
use std::path::PathBuf;

use sockdoc_core::i18n::{self, Lang, Msg, ReapMsg};

/// Why the daemon could not start, or stopped.
#[derive(Debug)]
pub enum ReapError {
    /// `/metrics` cannot listen on the address.
    MetricsListen { addr: String, source: io::Error },
    /// The HTTP server for `/metrics` cannot start.
    MetricsHttp(io::Error),
    /// The thread that reads socket owners cannot start.
    OwnerReader(io::Error),
    /// Standard output (the action log under journald) cannot be written; a closed pipe is how a
    /// reader says it has read enough.
    Output(io::Error),
    /// The action log file cannot be written (`synced`: when syncing it to disk).
    Log {
        path: PathBuf,
        synced: bool,
        source: io::Error,
    },
    /// A write-ahead record could not be written: the daemon stopped before the next act.
    Stopped {
        /// The action log (`None`: standard output).
        log: Option<PathBuf>,
        /// Before a kill (else before a keepalive change).
        kill: bool,
        error: String,
    },
    /// The pinned namespace went away or now means another one (the watch's line).
    Lost(String),
}

impl ReapError {
    /// The line in `lang`.
    pub fn words(&self, lang: Lang) -> String {
        let t = |m: ReapMsg, args: &[&str]| i18n::reap(lang, m, args);
        match self {
            ReapError::MetricsListen { addr, source } => {
                t(ReapMsg::MetricsListen, &[addr, &source.to_string()])
            }
            ReapError::MetricsHttp(e) => t(ReapMsg::MetricsHttp, &[&e.to_string()]),
            ReapError::OwnerReader(e) => i18n::text(lang, Msg::OwnerReader, &[&e.to_string()]),
            ReapError::Output(e) => t(ReapMsg::Output, &[&e.to_string()]),
            ReapError::Log {
                path,
                synced,
                source,
            } => {
                let m = if *synced {
                    ReapMsg::LogSync
                } else {
                    ReapMsg::LogWrite
                };
                t(m, &[&path.display().to_string(), &source.to_string()])
            }
            ReapError::Stopped { log, kill, error } => {
                let m = if *kill {
                    ReapMsg::LogStoppedKill
                } else {
                    ReapMsg::LogStoppedKeepalive
                };
                t(m, &[&log_name(lang, log.as_deref()), error])
            }
            ReapError::Lost(line) => line.clone(),
        }
    }
}

/// What to call the action log in a line: its path, or standard output.
pub(crate) fn log_name(lang: Lang, log: Option<&std::path::Path>) -> String {
    log.map_or_else(
        || i18n::reap(lang, ReapMsg::StandardOutput, &[]),
        |p| p.display().to_string(),
    )
}

impl fmt::Display for ReapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.words(Lang::En))
    }
}

impl std::error::Error for ReapError {}
