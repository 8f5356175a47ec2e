//! First-seen times from the flight recorder (`sockdoc record`, the directory `--history DIR`):
//! the kernel keeps no creation time, so the exporter takes the recorder's first-seen index, the
//! one `list -o age`, `ghosts` and `reap` read, and ages count across the restarts of both. The
//! index is read again when its file changed (the recorder appends to it every scan); an index
//! that is missing, of another boot or damaged leaves the age metrics out, said once in the log.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustc_hash::FxHashMap;
use sockdoc_diag::{Proto, Socket, State};
use sockdoc_record::Loaded;

/// The recorder's index as last read.
pub(crate) struct History {
    dir: PathBuf,
    /// The file's modification time and length at the last read.
    stamp: Option<(SystemTime, u64)>,
    index: Option<Loaded>,
}

impl History {
    pub(crate) fn new(dir: &Path) -> History {
        History {
            dir: dir.to_path_buf(),
            stamp: None,
            index: None,
        }
    }

    /// Read the index again if its file changed; why it cannot be used, if it cannot.
    pub(crate) fn refresh(&mut self) -> Option<String> {
        let path = self.dir.join(sockdoc_record::index::FILE);
        let stamp = std::fs::metadata(&path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        if stamp.is_some() && stamp == self.stamp {
            return None;
        }
        self.stamp = stamp;
        match sockdoc_record::read_index(&self.dir) {
            Ok(Some(index)) => {
                let note = index.damaged.clone();
                self.index = Some(index);
                note.map(|d| format!("first-seen index {}: {d}", path.display()))
            }
            Ok(None) => {
                self.index = None;
                Some(format!(
                    "no first-seen index in {} (is sockdoc record running there?): connection ages are not exported",
                    self.dir.display()
                ))
            }
            Err(e) => {
                self.index = None;
                Some(format!("{e}: connection ages are not exported"))
            }
        }
    }

    /// When the recorder last scanned (ms since the epoch), as its index says.
    pub(crate) fn last_scan_ms(&self) -> Option<u64> {
        self.index.as_ref()?.last_scan_ms
    }

    /// Per listening port of `listeners`, the first-seen time (ms since the epoch) of its oldest
    /// ESTABLISHED connection the recorder has seen; `None` without an index.
    pub(crate) fn oldest_per_port<V>(
        &self,
        sockets: &[Socket],
        listeners: &FxHashMap<u16, V>,
    ) -> Option<FxHashMap<u16, u64>> {
        let index = self.index.as_ref()?;
        let mut oldest: FxHashMap<u16, u64> = FxHashMap::default();
        let served = |s: &&Socket| {
            s.proto == Proto::Tcp
                && s.state == State::Established
                && listeners.contains_key(&s.local_port)
        };
        for s in sockets.iter().filter(served) {
            if let Some(t) = index.first_seen(s.cookie) {
                let e = oldest.entry(s.local_port).or_insert(t);
                *e = (*e).min(t);
            }
        }
        Some(oldest)
    }
}
