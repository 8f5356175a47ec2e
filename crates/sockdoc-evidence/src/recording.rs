//! Evidence as a census source: [`Recording`] is what a session censuses instead of the live kernel
//! (`--from PATH`). It opens a snapshot or text dumps ([`open`]) and says, per namespace, what the
//! evidence could not tell, so that views do not judge it as if it had.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sockdoc_core::doctor::KernelState;
use sockdoc_core::service::Services;
use sockdoc_core::session::recorded::NEEDS_TIMERS;
use sockdoc_core::session::Recorded;
use sockdoc_diag::Socket;
use sockdoc_proc::{Netns, SocketOwners};

use crate::{snapshot, Evidence, EvidenceError, Known};

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

    fn notes(&self, i: usize) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(n) = self.evidence.namespaces.get(i) {
            notes.extend(unjudged(&n.known));
        }
        // The reading's own: once, with the first namespace.
        if i == 0 {
            let u = &self.evidence.unread;
            if u.count > 0 {
                let first = u
                    .first
                    .first()
                    .map(|(f, n, l)| format!(" (first: {}:{n}: {l})", f.display()))
                    .unwrap_or_default();
                notes.push(format!(
                    "{} line(s) of the evidence could not be read{first}",
                    u.count
                ));
            }
        }
        notes
    }
}

/// What views cannot judge from evidence that could not tell `k`, one line each (the findings
/// themselves are left out: [`Recorded::unjudged`]).
pub fn unjudged(k: &Known) -> Vec<String> {
    let mut out = Vec::new();
    let mut say = |missing: bool, line: &str| {
        if missing {
            out.push(line.to_string());
        }
    };
    say(
        !k.tcp_info && k.timers,
        "no tcp_info in the evidence (ss without -i): idle times unknown; ghost suspects judged by missing keepalive timers only",
    );
    say(
        !k.tcp_info && !k.timers,
        "no tcp_info in the evidence (ss without -i): idle times unknown",
    );
    say(
        !k.timers,
        "no timers in the evidence (ss without -o): keepalive and ghost suspects cannot be judged",
    );
    say(
        !k.owners,
        "no owners in the evidence (ss without -p): processes are not named",
    );
    say(
        !k.counter_rates,
        "kernel counters not read twice: drops and overflows per second cannot be judged",
    );
    say(
        !k.sysctls,
        "no sysctls in the evidence (sysctl -a): kernel settings cannot be judged",
    );
    say(
        !k.all_states,
        "not every state was dumped (a state filter): totals cover only what was dumped",
    );
    say(
        !k.states,
        "the dump printed no State column: its sockets are counted as ESTAB",
    );
    out
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
            uids: true,
            cgroups: true,
            counter_rates: true,
            sysctls: true,
            all_states: true,
            states: true,
        };
        assert!(unjudged(&all).is_empty());
        let none = unjudged(&Known::default());
        assert!(
            none.iter().any(|l| l.contains("idle times unknown")),
            "{none:?}"
        );
        assert_eq!(none.len(), 7);
    }
}
