//! Evidence as a census source: [`Recording`] is what a session censuses instead of the live kernel
//! (`--from PATH`). It opens a snapshot or text dumps ([`open`]) and says, per namespace, what the
//! evidence could not tell, so that views do not judge it as if it had.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sockdoc_core::doctor::{Blind, KernelState};
use sockdoc_core::i18n::evidence::{text, EvidenceMsg};
use sockdoc_core::i18n::Lang;
use sockdoc_core::service::Services;
use sockdoc_core::session::recorded::NEEDS_TIMERS;
use sockdoc_core::session::{Fact, Judges, Origin, Recorded};
use sockdoc_diag::{Socket, State};
use sockdoc_proc::{Netns, SocketOwners};

use crate::{snapshot, Evidence, EvidenceError, Known, NsEvidence, Unread};

/// Evidence read once, ready to be censused.
pub struct Recording {
    /// What was read; its namespaces' sockets and owners are held by the recording itself (see
    /// [`Recording::new`]).
    pub evidence: Evidence,
    /// Where the namespaces came from (the first path given).
    from: PathBuf,
    owners: Vec<Option<Arc<SocketOwners>>>,
    /// Each namespace's sockets, until a one-shot census takes them over
    /// ([`Recorded::take_sockets`]): held once, never copied.
    sockets: Vec<Mutex<Vec<Socket>>>,
}

/// Read `paths`: one `sockdoc snapshot` file, or dumps (files, directories, sosreports) read by
/// [`crate::read`].
pub fn open(paths: &[PathBuf]) -> Result<Recording, EvidenceError> {
    let evidence = match paths {
        [one] if is_snapshot(one) => snapshot::read(one)?,
        _ => crate::read(paths)?,
    };
    Ok(Recording::new(
        evidence,
        paths.first().cloned().unwrap_or_default(),
    ))
}

/// Whether `path` starts as a snapshot does.
fn is_snapshot(path: &Path) -> bool {
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == snapshot::MAGIC)
}

impl Recording {
    /// The recording of `evidence`: the sockets and owners of its namespaces move into it (the
    /// namespaces keep their label, kernel state and what they could tell).
    pub fn new(mut evidence: Evidence, from: PathBuf) -> Recording {
        let owners = evidence
            .namespaces
            .iter_mut()
            .map(|n| n.owners.take().map(Arc::new))
            .collect();
        let sockets = evidence
            .namespaces
            .iter_mut()
            .map(|n| Mutex::new(std::mem::take(&mut n.sockets)))
            .collect();
        Recording {
            evidence,
            from,
            owners,
            sockets,
        }
    }
}

impl Recorded for Recording {
    fn namespaces(&self) -> Vec<Netns> {
        let e = &self.evidence;
        e.namespaces
            .iter()
            .enumerate()
            .map(|(i, n)| Netns::recorded(&n.label, 0, i, &self.from))
            .collect()
    }

    fn with_sockets(&self, i: usize, f: &mut dyn FnMut(&[Socket])) {
        match self.sockets.get(i) {
            Some(m) => f(&m.lock().unwrap_or_else(|p| p.into_inner())),
            None => f(&[]),
        }
    }

    fn take_sockets(&self, i: usize) -> Option<Vec<Socket>> {
        let m = self.sockets.get(i)?;
        Some(std::mem::take(
            &mut *m.lock().unwrap_or_else(|p| p.into_inner()),
        ))
    }

    fn owners(&self, i: usize) -> Option<Arc<SocketOwners>> {
        self.owners.get(i).cloned().flatten()
    }

    fn services(&self, i: usize) -> Option<Services> {
        let s = self.evidence.namespaces.get(i)?.services.as_ref()?;
        Some(Services::from_services(s.iter().cloned(), s.notes.clone()))
    }

    fn kernel(&self, i: usize) -> Option<KernelState> {
        self.evidence.namespaces.get(i)?.kernel.clone()
    }

    fn unjudged(&self, i: usize) -> Vec<&'static str> {
        match self.evidence.namespaces.get(i) {
            Some(n) if !n.known.timers => NEEDS_TIMERS.to_vec(),
            _ => Vec::new(),
        }
    }

    fn blind(&self, i: usize) -> Blind {
        match self.evidence.namespaces.get(i) {
            Some(n) => blind(n),
            None => Blind::NONE,
        }
    }

    fn notes(&self, i: usize, lang: Lang, judges: Judges) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(n) = self.evidence.namespaces.get(i) {
            notes.extend(
                unjudged(&n.known, blind(n))
                    .into_iter()
                    .filter(|m| judges.wants(m.concern()))
                    .map(|m| text(lang, m, &[])),
            );
        }
        // The reading's own: once, with the first namespace.
        if i == 0 {
            notes.extend(unread_note(lang, &self.evidence.unread));
        }
        notes
    }

    fn origin(&self, i: usize, fact: Fact) -> Vec<Origin> {
        let Some(n) = self.evidence.namespaces.get(i) else {
            return Vec::new();
        };
        let k = &n.known;
        let told = match fact {
            Fact::Sockets => true,
            Fact::Timers => k.timers,
            Fact::TcpInfo => k.tcp_info,
            Fact::Owners => k.owners,
            Fact::Sysctls => k.sysctls,
            Fact::Counters => n
                .kernel
                .as_ref()
                .is_some_and(|k| !k.counters_after.is_empty()),
        };
        if !told {
            return Vec::new();
        }
        let p = &n.provenance;
        let list = match fact {
            Fact::Sysctls => &p.sysctls,
            Fact::Counters => &p.counters,
            _ => &p.sockets,
        };
        if list.is_empty() {
            // A snapshot: it told everything it knew.
            let form = self.evidence.source.files.first().map(|f| f.format.clone());
            return vec![Origin {
                fact,
                form: form.unwrap_or_default(),
                file: self.from.clone(),
            }];
        }
        list.iter()
            .map(|(form, file)| Origin {
                fact,
                form: form.clone(),
                file: file.clone(),
            })
            .collect()
    }
}

/// What the detectors cannot take from the evidence of `n`.
fn blind(n: &NsEvidence) -> Blind {
    let k = &n.known;
    Blind {
        idle: !k.tcp_info,
        listeners: !k.all_states && !n.sockets.iter().any(|s| s.state == State::Listen),
        backlogs: !k.backlogs,
    }
}

/// `N line(s) of the evidence could not be read (first: FILE:LINE: TEXT)`, when some could not.
fn unread_note(lang: Lang, u: &Unread) -> Option<String> {
    if u.count == 0 {
        return None;
    }
    let count = u.count.to_string();
    Some(match u.first.first() {
        Some((f, n, l)) => {
            let (f, n) = (f.display().to_string(), n.to_string());
            text(lang, EvidenceMsg::UnreadFirst, &[&count, &f, &n, l])
        }
        None => text(lang, EvidenceMsg::Unread, &[&count]),
    })
}

/// What views cannot judge from evidence that could not tell `k` (and the detectors were `blind`
/// to), one key each (the findings themselves are left out: [`Recorded::unjudged`]).
pub fn unjudged(k: &Known, blind: Blind) -> Vec<EvidenceMsg> {
    use EvidenceMsg as M;
    [
        (!k.tcp_info && k.timers, M::NoTcpInfoTimers),
        (!k.tcp_info && !k.timers, M::NoTcpInfo),
        (!k.timers, M::NoTimers),
        (!k.owners, M::NoOwners),
        (!k.counter_rates, M::CountersOnce),
        (!k.sysctls, M::NoSysctls),
        (!k.all_states, M::NotAllStates),
        (!k.states, M::NoStateColumn),
        (blind.backlogs, M::NoBacklogs),
        (blind.listeners && k.timers, M::NoListeners),
    ]
    .into_iter()
    .filter_map(|(missing, m)| missing.then_some(m))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_that_tells_everything_leaves_nothing_unjudged() {
        let all = Known {
            timers: true,
            tcp_info: true,
            owners: true,
            inodes: true,
            queues: true,
            backlogs: true,
            uids: true,
            cgroups: true,
            counter_rates: true,
            sysctls: true,
            all_states: true,
            states: true,
        };
        assert!(unjudged(&all, Blind::NONE).is_empty());
        let none = unjudged(&Known::default(), Blind::NONE);
        assert!(none.contains(&EvidenceMsg::NoTcpInfo), "{none:?}");
        assert_eq!(none.len(), 7);
    }
}
