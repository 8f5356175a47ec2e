//! Failures and exit codes. Every failure is one line saying what failed and what to do.

use std::fmt;

use sockdoc_core::collect::CensusError;
use sockdoc_core::i18n::bad_evidence::{self, BadEvidenceMsg};
use sockdoc_core::i18n::{text, Lang, Msg};
use sockdoc_evidence::snapshot::Problem;
use sockdoc_evidence::{EvidenceError, NotEvidence};
use sockdoc_proc::NetnsError;

/// Documented exit codes (see `sockdoc --help`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// doctor: the worst finding is a warning.
    Warning = 1,
    /// doctor: at least one critical finding.
    Critical = 2,
    Usage = 64,
    /// Evidence of no known format (empty, binary, not ss/netstat/proc/a snapshot).
    DataErr = 65,
    NoInput = 66,
    Unavailable = 69,
    Io = 74,
    NoPerm = 77,
}

/// A failure the user sees as one line and an exit code.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, message)
    }

    pub fn netns(e: NetnsError) -> Failure {
        let exit = match e {
            NetnsError::NoSuchName(_) | NetnsError::NoSuchPid(_) => Exit::NoInput,
            NetnsError::NotPermitted { .. } => Exit::NoPerm,
            NetnsError::Open { .. } | NetnsError::Enter { .. } => Exit::Io,
            NetnsError::Recorded(_) => Exit::Usage,
        };
        Failure::new(exit, e.to_string())
    }

    /// Evidence that could not be read at all, in `lang`: 66 for a path that cannot be read, 65
    /// for the rest (empty, binary, no known format, a damaged or newer snapshot).
    pub fn evidence(lang: Lang, e: EvidenceError) -> Failure {
        use BadEvidenceMsg as B;
        let say = |m: B, args: &[&str]| bad_evidence::text(lang, m, args);
        let (exit, message) = match &e {
            EvidenceError::Io { path, source } => {
                let p = shown(path);
                let m = match source.kind() {
                    std::io::ErrorKind::NotFound => say(B::Missing, &[&p]),
                    std::io::ErrorKind::PermissionDenied => say(B::Denied, &[&p]),
                    _ => say(B::CannotRead, &[&p, &io_cause(path, source)]),
                };
                (Exit::NoInput, m)
            }
            EvidenceError::Empty { path } => (Exit::DataErr, say(B::Empty, &[&shown(path)])),
            EvidenceError::Binary { path } => (Exit::DataErr, say(B::Binary, &[&shown(path)])),
            EvidenceError::Unknown { path, why } => {
                let why = match why {
                    NotEvidence::FirstLine(l) => say(B::WhyFirstLine, &[&format!("{l:?}")]),
                    NotEvidence::Head(l) => say(B::WhyHead, &[&format!("{l:?}")]),
                    NotEvidence::Directory => say(B::WhyDirectory, &[]),
                    NotEvidence::Archive => say(B::WhyArchive, &[]),
                };
                (Exit::DataErr, say(B::Unknown, &[&shown(path), &why]))
            }
            EvidenceError::Snapshot { path, problem } => {
                let max = sockdoc_evidence::snapshot::VERSION.to_string();
                let p = match problem {
                    Problem::NotSnapshot => say(B::SnapNot, &[]),
                    Problem::Newer(v) => say(B::SnapNewer, &[&v.to_string(), &max]),
                    Problem::Truncated => say(B::SnapTruncated, &[]),
                    Problem::Corrupt(d) => say(B::SnapCorrupt, &[d]),
                };
                (Exit::DataErr, say(B::Snapshot, &[&shown(path), &p]))
            }
        };
        Failure::new(exit, message)
    }

    pub fn census(e: CensusError) -> Failure {
        match e {
            CensusError::Netns(n) => Failure::netns(n),
            CensusError::Dump { ref err, .. } => {
                let exit = match err.errno() {
                    Some(libc::EPERM) | Some(libc::EACCES) => Exit::NoPerm,
                    Some(libc::EPROTONOSUPPORT) | Some(libc::ENOENT) | Some(libc::EAFNOSUPPORT) => {
                        Exit::Unavailable
                    }
                    _ => Exit::Io,
                };
                Failure::new(exit, e.to_string())
            }
            CensusError::Proc(_) => Failure::new(Exit::Io, e.to_string()),
        }
    }

    /// A file operation (`op`, a `Msg::File*` phrase) failed, in `lang`: permission problems are
    /// 77 (run with sudo), the rest 74.
    pub fn io(lang: Lang, op: Msg, path: &std::path::Path, e: std::io::Error) -> Failure {
        let exit = if e.kind() == std::io::ErrorKind::PermissionDenied {
            Exit::NoPerm
        } else {
            Exit::Io
        };
        let args = [
            &text(lang, op, &[]),
            &path.display().to_string(),
            &io_cause(path, &e),
        ];
        Failure::new(exit, text(lang, Msg::CannotFile, &args.map(String::as_str)))
    }

    /// Output could not be written; a closed pipe (`| head`) is not an error.
    pub fn output(e: std::io::Error) -> Failure {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Failure::new(Exit::Ok, String::new())
        } else {
            Failure::new(Exit::Io, format!("cannot write output: {e}"))
        }
    }
}

/// What went wrong with `path`, in words. `create_dir_all` reports a file where a directory should be
/// as EEXIST ("File exists"), and the kernel's ENOTDIR does not say which part is a file: both become
/// "Not a directory: /etc/passwd is a file".
pub fn io_cause(path: &std::path::Path, e: &std::io::Error) -> String {
    let not_dir = e.raw_os_error() == Some(libc::ENOTDIR);
    if not_dir || e.kind() == std::io::ErrorKind::AlreadyExists {
        let file = path
            .ancestors()
            .skip(1)
            .filter(|a| !a.as_os_str().is_empty())
            .find(|a| std::fs::metadata(a).is_ok_and(|m| !m.is_dir()));
        if let Some(file) = file {
            return format!("Not a directory: {} is a file", file.display());
        }
        if not_dir {
            return "Not a directory: a part of the path is a file".into();
        }
    }
    e.to_string()
}

/// A path as a message shows it: control characters (a newline in a file name) escaped, so the
/// message stays one line.
pub fn shown(path: &std::path::Path) -> String {
    let p = path.display().to_string();
    if !p.chars().any(char::is_control) {
        return p;
    }
    let mut out = String::with_capacity(p.len() + 8);
    for c in p.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// A message as printed: one that grew past 1000 bytes (it repeats something huge the user typed,
/// in clap's words or ours) has each word longer than 200 bytes cut to its first 60 characters and
/// its size, and the whole cut to 1000 bytes. Ordinary messages pass unchanged.
pub fn bounded(message: &str) -> String {
    const LONG_MESSAGE: usize = 1000;
    const LONG_WORD: usize = 200;
    const SHOWN: usize = 60;
    if message.len() <= LONG_MESSAGE {
        return message.to_string();
    }
    let cut = |text: &str, keep: usize| -> String {
        let head: String = text.chars().take(keep).collect();
        format!("{head}…({} bytes)", text.len())
    };
    let words: Vec<String> = message
        .split(' ')
        .map(|w| {
            if w.len() > LONG_WORD {
                cut(w, SHOWN)
            } else {
                w.to_string()
            }
        })
        .collect();
    let out = words.join(" ");
    if out.len() <= LONG_MESSAGE {
        out
    } else {
        cut(&out, LONG_MESSAGE / 4)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What cannot fail (the treat path's lookup re-read) needs no exit code.
impl From<std::convert::Infallible> for Failure {
    fn from(never: std::convert::Infallible) -> Failure {
        match never {}
    }
}

impl From<NetnsError> for Failure {
    fn from(e: NetnsError) -> Failure {
        Failure::netns(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_messages() {
        let plain = "cannot open /var/log/sockdoc/audit.jsonl: Permission denied";
        assert_eq!(bounded(plain), plain);
        let word = "x".repeat(120_000);
        let m = bounded(&format!(
            "invalid value '{word}' for '--max <N>': invalid digit"
        ));
        assert!(m.len() < 200, "{m}");
        assert!(
            m.ends_with("…(120002 bytes) for '--max <N>': invalid digit"),
            "{m}"
        );
        let spaced = "ab ".repeat(50_000);
        let m = bounded(&spaced);
        assert!(m.len() < 1100 && m.ends_with("(150000 bytes)"), "{m}");
    }
}
