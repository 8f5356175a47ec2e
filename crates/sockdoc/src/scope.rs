//! Which network namespaces a command looks at: the caller's, one named or held by a pid, or all.

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

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The line an unprivileged user sees once, saying what root would add.
pub fn unprivileged_note(wanted_owners: bool, denied: usize) -> Option<String> {
    if is_root() {
        return None;
    }
    Some(if wanted_owners && denied > 0 {
        format!(
            "note: not root: owners of sockets in {denied} processes of other users are not shown; reading their /proc/PID/fd needs root (run with sudo)"
        )
    } else {
        "note: not root: owners of other users' sockets and other network namespaces need root (run with sudo)"
            .to_string()
    })
}
