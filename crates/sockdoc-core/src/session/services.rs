//! The session's cache of services: the cgroup2 tree (walked once, again only for an id not seen
//! before) and the container and pod names the node gave (asked once per census, for new ids only,
//! with a deadline). Each census gets a [`Services`] for the ids it saw.

use std::sync::{Mutex, PoisonError};

use rustc_hash::{FxHashMap, FxHashSet};
use sockdoc_proc::runtimes::{PodName, Runtime, Sources};
use sockdoc_proc::{CgroupFs, CgroupIndex};

use crate::service::{path, NameBook, Services};

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

    /// The services of `ids` (0 = no cgroup). The tree is found and walked on the first call and
    /// walked again at most once per call, only when an id is new to it; a tree that cannot be
    /// found is looked for again on the next call.
    pub fn lookup(&self, ids: impl IntoIterator<Item = u64>) -> Services {
        let ids: FxHashSet<u64> = ids.into_iter().filter(|&id| id != 0).collect();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.index.is_none() {
            match CgroupFs::find().and_then(CgroupIndex::new) {
                Ok(index) => state.index = Some(index),
                Err(e) => return Services::unavailable(e.to_string()),
            }
        }
        let tree = match state.index.as_mut().map(|i| i.lookup(ids.iter().copied())) {
            Some(Ok(tree)) => tree,
            Some(Err(e)) => return Services::unavailable(e.to_string()),
            None => return Services::default(),
        };
        // Names for the containers and pods not asked about before, in one round.
        let mut containers = Vec::new();
        let mut pods = false;
        for &id in &ids {
            let Some(p) = tree.path(id) else { continue };
            let names = path::parse(&p);
            if let Some(c) = names.container.filter(|c| !c.named) {
                if !state.containers.contains_key(&c.id) {
                    containers.push((c.runtime, c.id));
                }
            }
            pods |= names
                .pod_uid
                .is_some_and(|uid| !state.pods.contains_key(&uid));
        }
        let mut notes = Vec::new();
        if !containers.is_empty() || pods {
            let found = self.sources.lookup(&containers, pods);
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
        for &id in &ids {
            if let Some(uid) = tree.path(id).and_then(|p| path::parse(&p).pod_uid) {
                state.pods.entry(uid).or_insert(None);
            }
        }
        let mut services = Services::build(&tree, ids, &*state);
        services.notes.extend(notes);
        services
    }
}
