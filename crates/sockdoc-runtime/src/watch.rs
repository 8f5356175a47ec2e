//! Watching a pinned namespace: when `--netns NAME` is deleted and recreated, or the process of
//! `--netns-pid` exits, a long-running command must not silently go on looking at something else.

use sockdoc_core::i18n::netns::{gone, text, what as what_of, NetnsMsg as M};
use sockdoc_core::i18n::treat::RECORDED;
use sockdoc_core::i18n::Lang;
use sockdoc_proc::{Netns, NetnsChange};

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
    /// Why the command stopped (not following): in the command's language, and in the words of
    /// records ([`RECORDED`]).
    lost: std::sync::Mutex<Option<(String, String)>>,
    /// A one-line notice for screens: what happened and what is shown.
    notice: std::sync::Mutex<Option<String>>,
    /// Switches taken so far.
    changes: std::sync::atomic::AtomicU64,
    /// The watcher thread ends when this is set (or on SIGINT/SIGTERM).
    done: std::sync::atomic::AtomicBool,
}

impl NsWatch {
    /// Start watching `ns` for `who` (the command's name, for messages, said in `lang`); `follow` is
    /// `--follow-netns`. Nothing to watch (the caller's own namespace, `--all-netns`) starts no thread.
    pub fn start(
        follow: bool,
        ns: &Netns,
        who: &'static str,
        on_lost: OnLost,
        lang: Lang,
    ) -> NsWatch {
        let w = NsWatch {
            shared: std::sync::Arc::default(),
        };
        if !ns.is_named() {
            return w;
        }
        // A pid that exited does not come back: following its number could enter a stranger's.
        let follow = follow && ns.followable();
        let shared = w.shared.clone();
        let mut pinned = ns.clone();
        let spawned = std::thread::Builder::new()
            .name("netns-watch".into())
            .spawn(move || watch(&shared, &mut pinned, follow, (who, lang), on_lost));
        if let Err(e) = spawned {
            let (what, e) = (what_of(lang, ns), e.to_string());
            crate::log_line!("{}", text(lang, M::CannotWatch, &[&what, &e]));
        }
        w
    }

    /// The namespace to switch to, once, when following and the name now means another one.
    pub fn take_switch(&self) -> Option<Netns> {
        lock(&self.shared.next).take()
    }

    /// Why the command stopped, when it stopped because its namespace went away (the command
    /// exits 69, EX_UNAVAILABLE, with this line).
    pub fn lost(&self) -> Option<String> {
        lock(&self.shared.lost)
            .as_ref()
            .map(|(said, _)| said.clone())
    }

    /// [`NsWatch::lost`] in the words records keep (a daemon's stop record).
    pub fn lost_recorded(&self) -> Option<String> {
        lock(&self.shared.lost)
            .as_ref()
            .map(|(_, kept)| kept.clone())
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

/// The watcher's loop; `who` is the command's name and the language it speaks.
fn watch(
    shared: &NsShared,
    pinned: &mut Netns,
    follow: bool,
    (who, lang): (&str, Lang),
    on_lost: OnLost,
) {
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
        let what = what_of(lang, pinned);
        let old = pinned.inode.to_string();
        match (change, follow) {
            (NetnsChange::Replaced(_), true) => {
                let new = match pinned.resolve_again() {
                    Ok(n) => n,
                    // Changed again under us: look next time.
                    Err(_) => continue,
                };
                let inode = new.inode.to_string();
                crate::log_line!("{}", text(lang, M::Following, &[who, &what, &inode, &old]));
                shared.changes.fetch_add(1, Ordering::SeqCst);
                *lock(&shared.notice) = Some(text(lang, M::NowShowing, &[&what, &inode, &old]));
                *lock(&shared.next) = Some(new.clone());
                *pinned = new;
                told_gone = false;
            }
            (NetnsChange::Gone, true) => {
                if !told_gone {
                    told_gone = true;
                    let gone = gone(lang, pinned);
                    crate::log_line!("{}", text(lang, M::Staying, &[who, &what, &old, &gone]));
                    *lock(&shared.notice) =
                        Some(text(lang, M::StillShowing, &[&what, &gone, &old]));
                }
            }
            (change, false) => {
                let now = now_words(lang, pinned, &change);
                match on_lost {
                    OnLost::Stop => {
                        // The command prints it as its last line when it exits; its stop record
                        // keeps the recorded words.
                        let said = text(lang, M::Stopped, &[&what, &old, &now, who]);
                        let kept = text(
                            RECORDED,
                            M::Stopped,
                            &[
                                &what_of(RECORDED, pinned),
                                &old,
                                &now_words(RECORDED, pinned, &change),
                                who,
                            ],
                        );
                        *lock(&shared.lost) = Some((said, kept));
                        crate::signals::request_stop();
                    }
                    OnLost::Notice => {
                        *lock(&shared.notice) = Some(text(lang, M::KeptOld, &[&what, &now, &old]));
                    }
                }
                return;
            }
        }
    }
}

/// What the name (or pid) of `ns` means now, in `lang`.
fn now_words(lang: Lang, ns: &Netns, change: &NetnsChange) -> String {
    match change {
        NetnsChange::Gone => gone(lang, ns),
        NetnsChange::Replaced(i) => text(lang, M::NowAnother, &[&i.to_string()]),
    }
}
