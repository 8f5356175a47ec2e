//! Which network namespaces a command looks at: the caller's, one named or held by a pid, or all;
//! entering one; and, for commands that keep running, watching whether the name still means the
//! namespace they pinned ([`NsWatch`], from sockdoc-runtime).

use sockdoc_core::i18n::record::{text as record_text, RecordMsg};
use sockdoc_core::i18n::{text, Lang, Msg};
use std::sync::{Arc, OnceLock};

use sockdoc_core::session::{Recorded, Scope, Which};
use sockdoc_evidence::Recording;
use sockdoc_proc::Netns;
pub use sockdoc_runtime::watch::{NsWatch, OnLost};

use crate::cli::Global;
use crate::error::{Exit, Failure};

/// Resolve the namespace flags to the scope of a census.
pub fn resolve(g: &Global) -> Result<Scope, Failure> {
    if let Some(r) = recording(g)? {
        return Ok(Scope {
            namespaces: r.namespaces(),
            all: false,
        });
    }
    let which = if let Some(name) = &g.netns {
        Which::Named(name.clone())
    } else if let Some(pid) = g.netns_pid {
        Which::Pid(pid)
    } else if g.all_netns {
        if !is_root() {
            return Err(Failure::new(
                Exit::NoPerm,
                text(g.lang(), Msg::AllNetnsRoot, &[]),
            ));
        }
        Which::All
    } else {
        Which::Current
    };
    Scope::resolve(&which).map_err(Failure::netns)
}

/// The evidence of `--from`, read once per run.
static RECORDING: OnceLock<Arc<Recording>> = OnceLock::new();

/// The evidence `--from` names (read on the first call), or `None` for the live kernel. A
/// directory `sockdoc record` writes is replayed at `--at` (the latest without it).
pub fn recording(g: &Global) -> Result<Option<Arc<Recording>>, Failure> {
    if g.from.is_empty() {
        return Ok(None);
    }
    if let Some(r) = RECORDING.get() {
        return Ok(Some(r.clone()));
    }
    let r = match g.from.as_slice() {
        [dir] if sockdoc_record::is_record_dir(dir) => crate::replay::open(g, dir)?,
        _ if g.at.is_some() => {
            return Err(Failure::usage(record_text(
                g.lang(),
                RecordMsg::AtNeedsDir,
                &[],
            )))
        }
        _ => sockdoc_evidence::open(&g.from).map_err(|e| Failure::evidence(g.lang(), e))?,
    };
    Ok(Some(RECORDING.get_or_init(|| Arc::new(r)).clone()))
}

/// The time connection ages are counted to: now, or the replayed snapshot's.
pub fn ages_to() -> u64 {
    crate::replay::replayed().map_or_else(sockdoc_record::when::now_ms, |r| r.snapshot_ms)
}

/// The evidence read for this run, if `--from` named one (see [`recording`]).
pub fn recorded() -> Option<Arc<dyn Recorded>> {
    RECORDING.get().map(|r| r.clone() as Arc<dyn Recorded>)
}

/// The evidence `--from` named, once read (for the JSON `source` block).
pub fn evidence() -> Option<&'static sockdoc_evidence::Evidence> {
    RECORDING.get().map(|r| &r.evidence)
}

/// The one namespace a daemon watches; `refused` (its own words) for `--all-netns`, said before
/// every namespace on the host is listed for nothing.
pub fn one_namespace(g: &Global, refused: impl FnOnce() -> Failure) -> Result<Netns, Failure> {
    if g.all_netns {
        return Err(refused());
    }
    let mut namespaces = namespaces(g)?;
    match namespaces.len() {
        1 => Ok(namespaces.remove(0)),
        _ => Err(refused()),
    }
}

/// The namespaces to census, in output order.
pub fn namespaces(g: &Global) -> Result<Vec<Netns>, Failure> {
    resolve(g).map(|s| s.namespaces)
}

/// Run `f` on a thread inside `ns` (see `sockdoc_core::session::scope::within`).
pub fn in_ns<T: Send>(
    ns: &Netns,
    f: impl FnOnce() -> Result<T, Failure> + Send,
) -> Result<T, Failure> {
    sockdoc_core::session::scope::within(ns, f)
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

/// Start watching `ns` for a long-running command (see [`NsWatch`]).
pub fn watch(g: &Global, ns: &Netns, who: &'static str, on_lost: OnLost) -> NsWatch {
    NsWatch::start(g.follow_netns, ns, who, on_lost, g.lang())
}

/// Why a watched command stopped, as its failure (exit 69).
pub fn lost(w: &NsWatch) -> Option<Failure> {
    w.lost().map(|m| Failure::new(Exit::Unavailable, m))
}
