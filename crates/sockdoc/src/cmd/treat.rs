//! What `kill` and `keepalive` share: one namespace, a selection from a fresh census, the safety rules
//! (a filter is required and a blank one refused, never the caller's own SSH session, show first, `--dry-run`, `--yes` when not on
//! a terminal), the audit log, and the second census that tells what really happened.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use std::collections::HashMap;

use serde::Serialize;
use sockdoc_act::audit::{AuditLog, DEFAULT_PATH};
use sockdoc_core::own_ssh::OwnSsh;
use sockdoc_diag::{Socket, State};
use sockdoc_proc::{Netns, SocketOwners};

use std::sync::Arc;

use sockdoc_core::session::{Needs, Protocols, Session};

use crate::census;
use crate::cli::Global;
use crate::error::{Exit, Failure};
use crate::json::JSocket;
use crate::scope;

/// The sockets an action will touch, in one namespace.
pub struct Selection {
    pub ns: Netns,
    /// The census that selected them, for the re-read after acting.
    pub session: Session,
    pub sockets: Vec<Socket>,
    pub owners: Option<Arc<SocketOwners>>,
    /// Sockets the filter matched but the safety rules keep out, with the reason.
    pub excluded: Vec<(Socket, &'static str)>,
}

impl Selection {
    /// The owners read with the selection.
    pub fn owners(&self) -> Option<&SocketOwners> {
        self.owners.as_deref()
    }

    /// The selection's census again, judged with the owners it was made with.
    pub fn reread(&self) -> Result<Vec<Socket>, Failure> {
        Ok(census::sample(&self.session, &self.ns, self.owners())?.sockets)
    }
}

/// Where the treat path acts and how it reads the kernel again: a namespace, the session of the
/// census that selected the sockets (`None`: every TCP socket), and the owners read then.
pub struct Target<'a> {
    pub ns: &'a Netns,
    pub session: Option<&'a Session>,
    pub owners: Option<&'a SocketOwners>,
}

/// What the CLI says of a socket in every audit record: the socket as `--json` shows it.
#[derive(Serialize)]
pub struct About<'a> {
    pub socket: JSocket<'a>,
}

impl<'a> About<'a> {
    pub fn new(s: &Socket, owners: Option<&'a SocketOwners>) -> About<'a> {
        About {
            socket: JSocket::new(s, owners),
        }
    }
}

/// The first (pid, fd) holding `s`, when the owners were walked.
pub fn owner_of(owners: Option<&SocketOwners>, s: &Socket) -> Option<(u32, u32)> {
    owners
        .and_then(|o| o.owners(s.inode).next())
        .map(|o| (o.pid, o.fd))
}

/// The treat path's re-read ([`sockdoc_act::treat::Reread`]) for a [`Target`]: one census with its
/// plan (or, without one, of every TCP socket), the state of every socket it shows, by cookie.
pub struct Reread<'a> {
    t: &'a Target<'a>,
    own: Option<Session>,
}

pub fn reread<'a>(t: &'a Target<'a>) -> Result<Reread<'a>, Failure> {
    let own = match t.session {
        Some(_) => None,
        None => Some(census::one_ns(t.ns, Protocols::TCP, &[], Needs::default())?),
    };
    Ok(Reread { t, own })
}

impl sockdoc_act::treat::Reread for Reread<'_> {
    type Error = Failure;
    fn present(&mut self, _: &[Socket]) -> Result<HashMap<u64, State>, Failure> {
        // Never "nothing is there": without a plan there is no proof.
        let session =
            self.t.session.or(self.own.as_ref()).ok_or_else(|| {
                Failure::new(Exit::Unavailable, "no census to read the kernel again")
            })?;
        let now = census::sample(session, self.t.ns, self.t.owners)?;
        Ok(now.sockets.iter().map(|s| (s.cookie, s.state)).collect())
    }
}

/// Census `words` in the one namespace of `g`, keeping what `keep` accepts.
pub fn select(
    g: &Global,
    words: &[String],
    action: &str,
    keep: impl Fn(&Socket) -> Result<(), &'static str>,
) -> Result<Selection, Failure> {
    if words.is_empty() {
        return Err(Failure::usage(format!(
            "{action} needs a filter saying which sockets (e.g. `sport = :21`, `dst 10.0.0.5`); it never acts on every socket"
        )));
    }
    refuse_blank(action, words)?;
    let mut namespaces = scope::namespaces(g)?;
    if namespaces.len() != 1 {
        return Err(Failure::usage(format!(
            "{action} works in one namespace at a time: use --netns NAME or --netns-pid PID, not --all-netns"
        )));
    }
    let ns = namespaces.remove(0);
    let needs = Needs {
        owners: true,
        tcp_info: false,
    };
    let session = census::one_ns(&ns, Protocols::default(), words, needs)?;
    // Whatever the words were, a filter that parses to nothing would select every socket.
    if session.plan.filter.is_empty() {
        return Err(blank_filter(action));
    }
    let census = census::sample(&session, &ns, None)?;
    let owners = census.owners.map(|f| f.map);
    Ok(apply_rules(ns, session, census.sockets, owners, keep))
}

/// The selection of `all` (censused in `ns` by `session`): the sockets an action takes, and those
/// the safety rules leave out with the reason (never the caller's own SSH session; what `keep`
/// refuses).
pub fn apply_rules(
    ns: Netns,
    session: Session,
    all: Vec<Socket>,
    owners: Option<Arc<SocketOwners>>,
    keep: impl Fn(&Socket) -> Result<(), &'static str>,
) -> Selection {
    let own = OwnSsh::from_env();
    let mut sockets = Vec::new();
    let mut excluded = Vec::new();
    for s in all {
        if own.is_some_and(|o| o.is(&s)) {
            excluded.push((s, "own ssh session"));
            continue;
        }
        match keep(&s) {
            Ok(()) => sockets.push(s),
            Err(why) => excluded.push((s, why)),
        }
    }
    Selection {
        ns,
        session,
        sockets,
        owners,
        excluded,
    }
}

/// Refuse filter words that are all empty or blank (`kill ''`, `kill "$UNSET"`): they parse to the
/// filter that matches every socket, and an action must never take that by accident. No words at all
/// is the caller's business (some commands have a default selection).
pub fn refuse_blank(action: &str, words: &[String]) -> Result<(), Failure> {
    if !words.is_empty() && words.iter().all(|w| w.trim().is_empty()) {
        return Err(blank_filter(action));
    }
    Ok(())
}

fn blank_filter(action: &str) -> Failure {
    Failure::usage(format!(
        "{action} refuses a blank filter: it would select every socket. Say which sockets (e.g. `sport = :21`, `dst 10.0.0.5`); in a script, check that the variable holding the filter is set"
    ))
}

/// Ask before acting: `--yes`, or a "y" typed on a terminal. Refuses when nobody can answer, and
/// refuses without root: SOCK_DESTROY needs CAP_NET_ADMIN and borrowing another process's fd needs
/// ptrace access, and a half-done run is worse than none.
pub fn confirm(action: &str, n: usize, yes: bool) -> Result<(), Failure> {
    confirm_items(action, n, "sockets", yes)
}

/// [`confirm`] for `n` things other than sockets (`settings` for sysctl apply), named by `items`.
pub fn confirm_items(action: &str, n: usize, items: &str, yes: bool) -> Result<(), Failure> {
    if n == 0 {
        return Ok(());
    }
    if !scope::is_root() {
        let why = if items == "sockets" {
            "CAP_NET_ADMIN for SOCK_DESTROY, ptrace access for pidfd_getfd"
        } else {
            "writing /proc/sys and the files under /etc and /var/lib"
        };
        return Err(Failure::new(
            Exit::NoPerm,
            format!("{action} needs root ({why}): run with sudo; --dry-run works without"),
        ));
    }
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "refusing to {action} {n} {items} without --yes (standard input is not a terminal)"
        )));
    }
    eprint!("{action} these {n} {items}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Failure::new(Exit::Io, format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Failure::new(
            Exit::Ok,
            format!("nothing done: {action} not confirmed"),
        ))
    }
}

/// Open the audit log before acting: an action that cannot be recorded is not taken.
pub fn open_audit(path: Option<&PathBuf>) -> Result<AuditLog, Failure> {
    let path = path.cloned().unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    AuditLog::open(&path).map_err(|e| {
        let mut f = Failure::io("open the audit log", &path, e);
        f.message.push_str(" (choose another with --audit-log)");
        f
    })
}

pub use sockdoc_act::audit::{now_rfc3339, uid};
