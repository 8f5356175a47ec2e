//! Owners read on demand ([`Refresh::Lazy`]): after the census, only when a caller asks
//! (the reaper when a rule needs them, the recorder for its full snapshots).

use std::io;

use sockdoc_diag::{Socket, State};
use sockdoc_proc::{Netns, SocketOwners};

use super::owners::{Fresh, Refresh};
use super::{Sample, Session};

impl Session {
    /// Owners read on demand ([`Session::owners_of`]) to be recorded, not acted on: a walk of the
    /// one other namespace's processes, of every process only when those miss a listener. A
    /// connection held from outside the namespace may then name no process.
    pub fn owners_for_the_record(mut self) -> Session {
        self.for_the_record = true;
        self
    }

    /// The owners of `sample` read again after `before`, an earlier walk of this session: only the
    /// processes whose descriptors may have changed are read (`SocketOwners::walk_again`: a process
    /// that swapped a file for a socket at the same count is missed until a walk of everything).
    pub fn owners_again_of<'s>(
        &self,
        sample: &'s mut Sample,
        before: &SocketOwners,
    ) -> Option<&'s SocketOwners> {
        if sample.owners.is_none() {
            let mut inodes: Vec<u32> = sample.sockets.iter().map(|s| s.inode).collect();
            inodes.sort_unstable();
            let alive = |i: u32| inodes.binary_search(&i).is_ok();
            sample.owners = match self.owners.read_again_now(before, &alive) {
                Ok(f) => Some(f),
                Err(e) => {
                    sample.owner_error = Some(format!("cannot walk /proc for socket owners: {e}"));
                    None
                }
            };
        }
        sample.owner_map()
    }

    /// The owners of a sample, read now if the policy is lazy and this sample has none yet.
    pub fn owners_of<'s>(&self, sample: &'s mut Sample) -> Option<&'s SocketOwners> {
        if sample.owners.is_none() && !sample.lazy_tried {
            sample.lazy_tried = true;
            sample.owners = match self.owners.policy() {
                Refresh::Background(_) => self.owners.latest(),
                _ => match self.read_owners_of(&sample.ns, &sample.sockets) {
                    Ok(f) => Some(f),
                    Err(e) => {
                        sample.owner_error =
                            Some(format!("cannot walk /proc for socket owners: {e}"));
                        None
                    }
                },
            };
        }
        sample.owner_map()
    }

    /// The holders of `sockets` of `ns`, walked after their census: for the record, of its processes
    /// when it is the one other namespace in scope, of all when those miss a listener (only
    /// listeners: under churn, connections closed since the census have no holder anywhere).
    fn read_owners_of(&self, ns: &Netns, sockets: &[Socket]) -> io::Result<Fresh<SocketOwners>> {
        let scoped = self.for_the_record && self.scope.namespaces.len() == 1 && !ns.current;
        let listen = |s: &&Socket| s.state == State::Listen;
        let listeners: Vec<Socket> = sockets.iter().filter(listen).copied().collect();
        match scoped
            .then(|| self.owners.read_now_for(ns.inode))
            .transpose()?
        {
            Some(f) if self.owners.covers(&f, &listeners) => Ok(f),
            _ => self.owners.read_now(),
        }
    }
}
