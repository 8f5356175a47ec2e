//! Connection ages for the views (`list -o age`, `ghosts`, their JSON `first_seen` and `age_ms`):
//! the first-seen index `sockdoc record` keeps (`sockdoc_record::index`), read once per run. The
//! kernel keeps no creation time: an age is "at least" the time since the recorder first saw the
//! socket, and "unknown" (never 0) for one it has not seen.

use std::path::Path;

use sockdoc_core::i18n::record::{text, RecordMsg};
use sockdoc_core::i18n::Lang;
use sockdoc_core::units::duration_ms;
use sockdoc_diag::Socket;
use sockdoc_record::{index, when, Loaded};

/// The index read for this run, and the time ages are counted to.
pub struct Ages {
    index: Option<Loaded>,
    /// A replayed snapshot's own first-seen times, which the index is then not read for.
    replayed: Option<&'static Loaded>,
    now_ms: u64,
    lang: Lang,
}

impl Ages {
    /// No index: every age unknown.
    pub fn none(lang: Lang) -> Ages {
        Ages {
            index: None,
            replayed: None,
            now_ms: when::now_ms(),
            lang,
        }
    }

    /// The index in `dir`, ages counted to `now_ms` (the replayed snapshot's time under `--at`);
    /// what could not be read is one line in `notes`. Under `--from DIR`, DIR's: the first-seen
    /// times its snapshot carries, or else its index.
    pub fn read(lang: Lang, dir: &Path, now_ms: u64, notes: &mut Vec<String>) -> Ages {
        let replay = crate::replay::replayed();
        if let Some(times) = replay.and_then(|r| r.first_seen.as_ref()) {
            return Ages {
                index: None,
                replayed: Some(times),
                now_ms,
                lang,
            };
        }
        let dir = replay.map_or(dir, |r| r.dir.as_path());
        let index = match index::read(dir) {
            Ok(Some(l)) => {
                notes.extend(l.damaged.clone());
                Some(l)
            }
            Ok(None) => {
                notes.push(text(
                    lang,
                    RecordMsg::NoIndex,
                    &[&dir.display().to_string()],
                ));
                None
            }
            Err(e) => {
                notes.push(text(lang, RecordMsg::IndexUnread, &[&e.to_string()]));
                None
            }
        };
        Ages {
            index,
            replayed: None,
            now_ms,
            lang,
        }
    }

    /// When `s` was first seen, if the recorder saw it before `now`.
    pub fn first_seen(&self, s: &Socket) -> Option<u64> {
        let t = self
            .replayed
            .or(self.index.as_ref())?
            .first_seen(s.cookie)?;
        (t <= self.now_ms).then_some(t)
    }

    /// The age column: `≥ 6d21h (first seen 2026-11-01 14:03)`, `unknown`, or `-` for a socket the
    /// index does not keep (TIME-WAIT, SYN-RECV).
    pub fn text(&self, s: &Socket) -> String {
        if !sockdoc_record::indexed(s) {
            return "-".to_string();
        }
        match self.first_seen(s) {
            Some(t) => text(
                self.lang,
                RecordMsg::AgeSeen,
                &[&duration_ms(self.now_ms - t), &when::local_minute(t)],
            ),
            None => text(self.lang, RecordMsg::AgeUnknown, &[]),
        }
    }

    /// `first_seen` (RFC 3339) and `age_ms` (the least age), or nulls.
    pub fn json(&self, s: &Socket) -> (Option<String>, Option<u64>) {
        match self.first_seen(s) {
            Some(t) => (Some(when::rfc3339(t)), Some(self.now_ms - t)),
            None => (None, None),
        }
    }
}
