//! The session's cache of services: the cgroup2 tree (walked once, again only for an id not seen
//! before) and the container and pod names the node gave (asked once per census, for new ids only,
//! with a deadline). Each census gets a [`Services`] for the ids it saw.

use std::sync::{Mutex, PoisonError};

use rustc_hash::{FxHashMap, FxHashSet};
use sockdoc_proc::runtimes::{PodName, Runtime, Sources};
use sockdoc_proc::{CgroupError, CgroupFs, CgroupIndex};

use crate::service::{path, ContainerRef, NameBook, Services};

/// Cgroup ids → services, for every census of a session.
pub struct ServiceCache {
    state: Mutex<State>,
    sources: Sources,
}

#[derive(Default)]
struct State {
    index: Option<CgroupIndex>,
    /// Names asked for before (`None`: the node could not say; not asked again).
    containers: FxHashMap<String, Option<String>>,
    pods: FxHashMap<String, Option<PodName>>,
}

impl NameBook for State {
    fn container(&self, _runtime: Runtime, id: &str) -> Option<String> {
        self.containers.get(id).cloned().flatten()
    }
    fn pod(&self, uid: &str) -> Option<PodName> {
        self.pods.get(uid).cloned().flatten()
    }
}

/// The session's index of the tree, found and walked on first use (looked for again after a
/// failure).
fn index(state: &mut State) -> Result<&mut CgroupIndex, CgroupError> {
    let index = match state.index.take() {
        Some(i) => i,
        None => CgroupFs::find().and_then(CgroupIndex::new)?,
    };
    Ok(state.index.insert(index))
}

impl Default for ServiceCache {
    fn default() -> ServiceCache {
        ServiceCache::new(Sources::default())
    }
}

impl ServiceCache {
    /// A cache that reads nothing until asked; names from `sources`.
    pub fn new(sources: Sources) -> ServiceCache {
        ServiceCache {
            state: Mutex::new(State::default()),
            sources,
        }
    }

    /// The cgroup id of `path` (a process's, as `/proc/PID/cgroup` writes it) in the session's
    /// tree; `None` when there is no tree or no such cgroup.
    pub fn id_of(&self, path: &str) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        index(&mut state).ok()?.fs().id_of(path).ok()
    }

    /// The services of `ids` (0 = no cgroup). The tree is found and walked on the first call and
    /// walked again at most once per call, only when an id is new to it; a tree that cannot be
    /// found is looked for again on the next call.
    pub fn lookup(&self, ids: impl IntoIterator<Item = u64>) -> Services {
        let ids: FxHashSet<u64> = ids.into_iter().filter(|&id| id != 0).collect();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let tree = match index(&mut state).and_then(|i| i.lookup(ids.iter().copied())) {
            Ok(tree) => tree,
            Err(e) => return Services::unavailable(e.to_string()),
        };
        // Names for the containers and pods not asked about before, in one round.
        let mut containers = Vec::new();
        let mut uids = Vec::new();
        for &id in &ids {
            let Some(names) = tree.path(id).map(|p| path::parse(&p)) else {
                continue;
            };
            let new = |c: &ContainerRef| !c.named && !state.containers.contains_key(&c.id);
            if let Some(c) = names.container.filter(new) {
                containers.push((c.runtime, c.id));
            }
            if let Some(uid) = names.pod_uid.filter(|u| !state.pods.contains_key(u)) {
                uids.push(uid);
            }
        }
        let mut notes = Vec::new();
        if !containers.is_empty() || !uids.is_empty() {
            let found = self.sources.lookup(&containers, !uids.is_empty());
            for (_, id) in containers {
                let name = found.containers.get(&id).cloned();
                state.containers.insert(id, name);
            }
            for (uid, pod) in found.pods {
                state.pods.insert(uid, Some(pod));
            }
            notes = found.notes;
        }
        // Pod uids the node's logs did not list are not asked about again.
        for uid in uids {
            state.pods.entry(uid).or_insert(None);
        }
        let mut services = Services::build(&tree, ids, &*state);
        services.notes.extend(notes);
        services
    }
}
