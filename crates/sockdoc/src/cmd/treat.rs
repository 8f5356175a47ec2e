//! What `kill` and `keepalive` share: one namespace, a selection from a fresh census, the safety rules
//! (a filter is required and a blank one refused, never the caller's own SSH session, show first, `--dry-run`, `--yes` when not on
//! a terminal), the audit log, and the second census that tells what really happened.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use sockdoc_act::audit::{AuditLog, DEFAULT_PATH};
use sockdoc_core::own_ssh::OwnSsh;
use sockdoc_diag::Socket;
use sockdoc_proc::{Netns, SocketOwners};

use crate::census::Plan;
use crate::cli::{Global, Select};
use crate::error::{Exit, Failure};
use crate::scope;

/// The sockets an action will touch, in one namespace.
pub struct Selection {
    pub ns: Netns,
    pub plan: Plan,
    pub sockets: Vec<Socket>,
    pub owners: Option<SocketOwners>,
    /// Sockets the filter matched but the safety rules keep out, with the reason.
    pub excluded: Vec<(Socket, &'static str)>,
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
    let plan = Plan::new_in(
        std::slice::from_ref(&ns),
        &Select::default(),
        words,
        true,
        false,
    )?;
    // Whatever the words were, a filter that parses to nothing would select every socket.
    if plan.filter.is_empty() {
        return Err(blank_filter(action));
    }
    let (all, census) = plan.sockets(&ns, None).map_err(Failure::census)?;
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
    Ok(Selection {
        ns,
        plan,
        sockets,
        owners: census.owners,
        excluded,
    })
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

/// Now as RFC 3339 UTC (`2026-11-26T17:04:05Z`).
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The caller's uid, for the audit log.
pub fn uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
