//! Which network namespaces a command looks at: the caller's, one named or held by a pid, or all;
//! entering one; and, for commands that keep running, watching whether the name still means the
//! namespace they pinned ([`NsWatch`]).

use sockdoc_core::i18n::{text, Lang, Msg};
use sockdoc_core::session::{Scope, Which};
use sockdoc_proc::Netns;

use crate::cli::Global;
use crate::error::{Exit, Failure};

/// Resolve the namespace flags to the scope of a census.
pub fn resolve(g: &Global) -> Result<Scope, Failure> {
    let which = if let Some(name) = &g.netns {
        Which::Named(name.clone())
    } else if let Some(pid) = g.netns_pid {
        Which::Pid(pid)
    } else if g.all_netns {
        if !is_root() {
            return Err(Failure::new(
                Exit::NoPerm,
                "--all-netns enters other namespaces, which needs root (CAP_SYS_ADMIN): run with sudo",
            ));
        }
        Which::All
    } else {
        Which::Current
    };
    Scope::resolve(&which).map_err(Failure::netns)
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

/// What a long-running command does when the name (or pid) of its namespace comes to mean another one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnLost {
    /// Daemons (serve, reap, events): log one line and stop with exit 69, unless following.
    Stop,
    /// The live view (top): keep going and show a notice, following only with `--follow-netns`.
    Notice,
}

/// Watches a pinned namespace from a thread of its own (a stat per second): when `--netns NAME` was
/// deleted and recreated, or the process of `--netns-pid` exited, it says so once on stderr; then,
/// with `--follow-netns`, it hands the new namespace to the command's scan loop
/// ([`NsWatch::take_switch`]), else (daemons) it stops the command through the signal flag and
/// leaves the failure for [`NsWatch::lost`] (exit 69). Never moves a command by itself: a pinned
/// namespace is entered through its open descriptor, so scans stay where they started until the
/// loop takes the switch.
#[derive(Clone)]
pub struct NsWatch {
    shared: std::sync::Arc<NsShared>,
}

#[derive(Default)]
struct NsShared {
    /// A namespace to switch to (following).
    next: std::sync::Mutex<Option<Netns>>,
    /// Why the command stopped (not following).
    lost: std::sync::Mutex<Option<String>>,
    /// A one-line notice for screens: what happened and what is shown.
    notice: std::sync::Mutex<Option<String>>,
    /// Switches taken so far.
    changes: std::sync::atomic::AtomicU64,
    /// The watcher thread ends when this is set (or on SIGINT/SIGTERM).
    done: std::sync::atomic::AtomicBool,
}

impl NsWatch {
    /// Start watching `ns` for `who` (the command's name, for messages). Nothing to watch (the
    /// caller's own namespace, `--all-netns`) starts no thread.
    pub fn start(g: &Global, ns: &Netns, who: &'static str, on_lost: OnLost) -> NsWatch {
        let w = NsWatch {
            shared: std::sync::Arc::default(),
        };
        if !ns.is_named() {
            return w;
        }
        // A pid that exited does not come back: following its number could enter a stranger's.
        let follow = g.follow_netns && ns.followable();
        let shared = w.shared.clone();
        let mut pinned = ns.clone();
        let spawned = std::thread::Builder::new()
            .name("netns-watch".into())
            .spawn(move || watch(&shared, &mut pinned, follow, who, on_lost));
        if let Err(e) = spawned {
            crate::log::log_line!(
                "sockdoc: cannot watch {} for changes: {e}",
                ns.origin_label()
            );
        }
        w
    }

    /// The namespace to switch to, once, when following and the name now means another one.
    pub fn take_switch(&self) -> Option<Netns> {
        lock(&self.shared.next).take()
    }

    /// Why the command stopped, when it stopped because its namespace went away (exit 69).
    pub fn lost(&self) -> Option<Failure> {
        lock(&self.shared.lost)
            .clone()
            .map(|m| Failure::new(Exit::Unavailable, m))
    }

    /// A notice for a screen, when the name changed.
    pub fn notice(&self) -> Option<String> {
        lock(&self.shared.notice).clone()
    }

    /// Switches so far (following).
    pub fn changes(&self) -> u64 {
        self.shared
            .changes
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stop the watcher thread (it also ends on SIGINT/SIGTERM).
    pub fn finish(&self) {
        self.shared
            .done
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How often the watcher looks.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

fn watch(shared: &NsShared, pinned: &mut Netns, follow: bool, who: &str, on_lost: OnLost) {
    use sockdoc_proc::NetnsChange;
    use std::sync::atomic::Ordering;
    let mut told_gone = false;
    loop {
        let mut slept = std::time::Duration::ZERO;
        while slept < WATCH_EVERY {
            if shared.done.load(Ordering::SeqCst) || crate::signals::stopped() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            slept += std::time::Duration::from_millis(50);
        }
        let change = match pinned.changed() {
            None => continue,
            Some(c) => c,
        };
        let what = pinned.origin_label();
        let old = pinned.inode;
        match (change, follow) {
            (NetnsChange::Replaced(_), true) => {
                let new = match pinned.resolve_again() {
                    Ok(n) => n,
                    // Changed again under us: look next time.
                    Err(_) => continue,
                };
                let msg = format!(
                    "sockdoc {who}: {what} now means another namespace [net:{}] (was [net:{old}]); following it (--follow-netns)",
                    new.inode
                );
                crate::log::log_line!("{msg}");
                shared.changes.fetch_add(1, Ordering::SeqCst);
                *lock(&shared.notice) = Some(format!(
                    "{what} was recreated: now showing [net:{}] (was [net:{old}])",
                    new.inode
                ));
                *lock(&shared.next) = Some(new.clone());
                *pinned = new;
                told_gone = false;
            }
            (NetnsChange::Gone, true) => {
                if !told_gone {
                    told_gone = true;
                    let gone = pinned.gone_words();
                    crate::log::log_line!(
                        "sockdoc {who}: {what} [net:{old}] {gone}; staying in it until the name means a namespace again (--follow-netns)"
                    );
                    *lock(&shared.notice) = Some(format!(
                        "{what} {gone}: still showing [net:{old}] until it comes back"
                    ));
                }
            }
            (change, false) => {
                let now = match change {
                    NetnsChange::Gone => pinned.gone_words().to_string(),
                    NetnsChange::Replaced(i) => {
                        format!("now means another namespace [net:{i}]")
                    }
                };
                match on_lost {
                    OnLost::Stop => {
                        // The command prints it as its last line when it exits.
                        let msg = format!(
                            "{what} [net:{old}] {now}; {who} stopped rather than follow it: restart it, or run it with --follow-netns"
                        );
                        *lock(&shared.lost) = Some(msg);
                        crate::signals::request_stop();
                    }
                    OnLost::Notice => {
                        *lock(&shared.notice) = Some(format!(
                            "{what} {now}: still showing the old one [net:{old}]; restart, or use --follow-netns"
                        ));
                    }
                }
                return;
            }
        }
    }
}
