//! Which network namespaces a command looks at: the caller's, one named or held by a pid, or all.

use sockdoc_core::i18n::{text, Lang, Msg};
use sockdoc_proc::Netns;

use crate::cli::Global;
use crate::error::{Exit, Failure};

/// Resolve the namespace flags to the namespaces to census, in output order.
pub fn namespaces(g: &Global) -> Result<Vec<Netns>, Failure> {
    if let Some(name) = &g.netns {
        return Ok(vec![Netns::named(name).map_err(Failure::netns)?]);
    }
    if let Some(pid) = g.netns_pid {
        return Ok(vec![Netns::of_pid(pid).map_err(Failure::netns)?]);
    }
    if g.all_netns {
        if !is_root() {
            return Err(Failure::new(
                Exit::NoPerm,
                "--all-netns enters other namespaces, which needs root (CAP_SYS_ADMIN): run with sudo",
            ));
        }
        return Ok(Netns::all());
    }
    Netns::current().map(|n| vec![n]).map_err(|e| {
        Failure::new(
            Exit::Io,
            format!("cannot read /proc/thread-self/ns/net: {e}"),
        )
    })
}

/// Run `f` on a thread that entered `ns` (the caller's own namespace needs no entering): netlink
/// sockets opened and /proc/thread-self and /proc/sys/net read there belong to that namespace.
pub fn in_ns<T: Send>(
    ns: &Netns,
    f: impl FnOnce() -> Result<T, Failure> + Send,
) -> Result<T, Failure> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                if !ns.current {
                    ns.enter().map_err(Failure::netns)?;
                }
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// A sock_diag socket in `ns`, for destroying sockets there.
pub fn diag_socket(ns: &Netns) -> Result<sockdoc_diag::DiagSocket, Failure> {
    in_ns(ns, || {
        sockdoc_diag::DiagSocket::open().map_err(|e| Failure::new(Exit::Unavailable, e.to_string()))
    })
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The line an unprivileged user sees once, saying what root would add.
pub fn unprivileged_note(lang: Lang, wanted_owners: bool, denied: usize) -> Option<String> {
    if is_root() {
        return None;
    }
    Some(if wanted_owners && denied > 0 {
        text(lang, Msg::NotRootOwners, &[&denied.to_string()])
    } else {
        text(lang, Msg::NotRoot, &[])
    })
}

/// Print the census notes (deduplicated) and the unprivileged note on stderr.
pub fn print_notes(lang: Lang, notes: &[String], wanted_owners: bool, denied: usize) {
    let mut seen: Vec<&String> = Vec::new();
    for n in notes {
        if !seen.contains(&n) {
            seen.push(n);
            crate::log::log_line!("{}", text(lang, Msg::Note, &[n]));
        }
    }
    if let Some(n) = unprivileged_note(lang, wanted_owners, denied) {
        crate::log::log_line!("{n}");
    }
}
