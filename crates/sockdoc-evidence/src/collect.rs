//! Gathering what the readers take, per namespace, into [`NsEvidence`]: sockets arrive in batches
//! (one per dump section); when one namespace gets sockets from dumps of different kinds (an `ss`
//! dump and `/proc/net/tcp` of the same host in one sosreport), the richest kind is kept (`ss`,
//! then `netstat`, then `/proc/net`) so no socket is counted twice. Owners, made-up inodes and
//! cgroup paths are settled here; readers only fill batches.

use rustc_hash::FxHashMap;
use sockdoc_core::doctor::KernelState;
use sockdoc_diag::{Socket, State};
use sockdoc_proc::conntrack_table::TableCounts;
use sockdoc_proc::counters::Counters;
use sockdoc_proc::limits::{FdPressure, NoFile};
use sockdoc_proc::{ProcInfo, SocketOwners};

use crate::{Known, NsEvidence, Provenance, Source, Unread, SYNTHETIC_CGROUP, SYNTHETIC_INODE};

/// Which kind of dump gave a namespace's sockets; the larger the richer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rank {
    ProcNet = 1,
    Netstat = 2,
    Ss = 3,
}

/// The sockets of one dump section, before they join their namespace.
pub(crate) struct Batch {
    pub rank: Rank,
    pub sockets: Vec<Socket>,
    /// (index in `sockets`, pid, fd) of owners the dump named.
    pub owners: Vec<(u32, u32, u32)>,
    pub names: FxHashMap<u32, String>,
    /// (index in `sockets`, cgroup path) the dump named.
    pub cgroups: Vec<(u32, String)>,
    /// The dump gave each socket's inode (`ino:`, an Inode column).
    pub inodes: bool,
    pub known: Known,
}

impl Batch {
    pub(crate) fn new(rank: Rank) -> Batch {
        Batch {
            rank,
            sockets: Vec::new(),
            owners: Vec::new(),
            names: FxHashMap::default(),
            cgroups: Vec::new(),
            inodes: false,
            known: Known {
                queues: true,
                backlogs: rank == Rank::Ss,
                states: true,
                ..Known::default()
            },
        }
    }
}

/// One namespace being gathered.
#[derive(Default)]
pub(crate) struct NsBuild {
    pub label: String,
    rank: Option<Rank>,
    sockets: Vec<Socket>,
    owners: Vec<(u32, u32, u32)>,
    names: FxHashMap<u32, String>,
    cgroup_ids: FxHashMap<String, u64>,
    next_inode: u32,
    pub known: Known,
    pub kernel: Option<KernelState>,
    /// Descriptor limits the evidence showed, with the pid when it said whose.
    pub nofile: Vec<(Option<u32>, NoFile)>,
    pub conntrack_table: Option<TableCounts>,
    /// Which files told what.
    pub provenance: Provenance,
}

impl NsBuild {
    /// Nothing was gathered.
    pub(crate) fn is_empty(&self) -> bool {
        self.rank.is_none()
            && self.kernel.is_none()
            && self.nofile.is_empty()
            && self.conntrack_table.is_none()
    }

    /// The kernel state, made on first use.
    pub(crate) fn kernel(&mut self) -> &mut KernelState {
        self.kernel.get_or_insert_with(KernelState::default)
    }

    /// Counters read once: the same levels before and after (no rates).
    pub(crate) fn add_counters(&mut self, c: &Counters) {
        let k = self.kernel();
        for (g, n, v) in c.iter() {
            k.counters_after.set(g, n, v);
            k.counters_before.set(g, n, v);
        }
    }

    /// Take a batch read as `form` from `file`: kept when its kind is as rich as what the
    /// namespace has, replacing poorer. Returns whether it was kept.
    pub(crate) fn add(&mut self, batch: Batch, form: &str, file: &std::path::Path) -> bool {
        if batch.sockets.is_empty() && batch.owners.is_empty() {
            return true;
        }
        match self.rank {
            Some(r) if r > batch.rank => return false,
            Some(r) if r < batch.rank => {
                self.sockets.clear();
                self.owners.clear();
                self.names.clear();
                self.rank = None;
                self.provenance.sockets.clear();
            }
            _ => {}
        }
        Provenance::note(&mut self.provenance.sockets, form, file);
        let first = self.rank.is_none();
        self.rank = Some(batch.rank);
        self.known = if first {
            batch.known
        } else {
            and(self.known, batch.known)
        };
        self.known.inodes &= batch.inodes;
        self.take_sockets(batch);
        true
    }

    fn take_sockets(&mut self, mut batch: Batch) {
        if self.next_inode == 0 {
            self.next_inode = SYNTHETIC_INODE;
        }
        let base = self.sockets.len();
        if !batch.inodes {
            // No inode in the dump: made-up ones, so owners and lookups by inode work. TIME-WAIT
            // and request sockets never have a file and keep 0, as the kernel gives them.
            for s in batch.sockets.iter_mut() {
                if !matches!(s.state, State::TimeWait | State::SynRecv) && s.inode == 0 {
                    s.inode = self.next_inode;
                    self.next_inode = self.next_inode.wrapping_add(1).max(SYNTHETIC_INODE);
                }
            }
        }
        for (i, path) in batch.cgroups.drain(..) {
            let next = SYNTHETIC_CGROUP + self.cgroup_ids.len() as u64;
            let id = *self.cgroup_ids.entry(path).or_insert(next);
            if let Some(s) = batch.sockets.get_mut(i as usize) {
                s.cgroup_id = id;
            }
        }
        for (i, pid, fd) in batch.owners.drain(..) {
            if let Some(s) = batch.sockets.get(i as usize) {
                if s.inode != 0 {
                    self.owners.push((s.inode, pid, fd));
                }
            }
        }
        self.names.extend(batch.names.drain());
        if base == 0 {
            self.sockets = std::mem::take(&mut batch.sockets);
        } else {
            self.sockets.append(&mut batch.sockets);
        }
    }

    /// The namespace as the views take it.
    pub(crate) fn finish(mut self) -> NsEvidence {
        // The census's order: TCP v4, v6, UDP v4, v6 (stable: a dump's own order within).
        let key = |s: &Socket| (s.proto, s.family);
        if !self.sockets.windows(2).all(|w| key(&w[0]) <= key(&w[1])) {
            self.sockets.sort_by_key(key);
        }
        let owners = (self.known.owners).then(|| {
            let procs = self.names.drain().map(|(pid, name)| {
                (
                    pid,
                    ProcInfo {
                        name,
                        ..ProcInfo::default()
                    },
                )
            });
            SocketOwners::from_parts(std::mem::take(&mut self.owners), procs)
        });
        if let (Some(owners), Some(k)) = (owners.as_ref(), self.kernel.as_mut()) {
            k.fd_pressure = fd_pressure(owners, &self.nofile);
        }
        if let Some(k) = &self.kernel {
            self.known.sysctls = k.sysctls != Default::default();
        }
        let mut cgroup_paths: Vec<(u64, String)> =
            self.cgroup_ids.into_iter().map(|(p, id)| (id, p)).collect();
        cgroup_paths.sort_unstable();
        NsEvidence {
            label: self.label,
            sockets: self.sockets,
            owners,
            kernel: self.kernel,
            known: self.known,
            cgroup_paths,
            nofile: self.nofile,
            conntrack_table: self.conntrack_table,
            provenance: self.provenance,
            // Dumps name cgroups by path only: `cgroup_paths`.
            services: None,
            first_seen: None,
        }
    }
}

fn and(a: Known, b: Known) -> Known {
    Known {
        timers: a.timers && b.timers,
        tcp_info: a.tcp_info && b.tcp_info,
        owners: a.owners && b.owners,
        inodes: a.inodes && b.inodes,
        queues: a.queues && b.queues,
        backlogs: a.backlogs && b.backlogs,
        uids: a.uids && b.uids,
        cgroups: a.cgroups && b.cgroups,
        counter_rates: a.counter_rates && b.counter_rates,
        sysctls: a.sysctls || b.sysctls,
        all_states: a.all_states && b.all_states,
        states: a.states && b.states,
    }
}

/// Processes whose socket descriptors alone use at least 80 % of a descriptor limit the evidence
/// gave for that pid (a lower bound of what they hold: the dump shows only sockets).
fn fd_pressure(owners: &SocketOwners, nofile: &[(Option<u32>, NoFile)]) -> Vec<FdPressure> {
    let mut out = Vec::new();
    for (pid, lim) in nofile {
        let (Some(pid), Some(soft)) = (pid, lim.soft) else {
            continue;
        };
        let open = owners.fds_of(*pid) as u64;
        if soft > 0 && open * 5 >= soft * 4 {
            out.push(FdPressure {
                pid: *pid,
                name: owners
                    .process(*pid)
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
                open,
                soft,
                hard: lim.hard,
            });
        }
    }
    out
}

/// Everything gathered from all files of one reading.
#[derive(Default)]
pub(crate) struct Collector {
    pub namespaces: Vec<NsBuild>,
    pub source: Source,
    pub unread: Unread,
}

impl Collector {
    /// The namespace labelled `label`, made on first use.
    pub(crate) fn ns(&mut self, label: &str) -> &mut NsBuild {
        let i = match self.namespaces.iter().position(|n| n.label == label) {
            Some(i) => i,
            None => {
                self.namespaces.push(NsBuild {
                    label: label.to_string(),
                    ..NsBuild::default()
                });
                self.namespaces.len() - 1
            }
        };
        &mut self.namespaces[i]
    }
}
