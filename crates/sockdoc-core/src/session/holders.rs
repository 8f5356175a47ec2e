//! Who lives in each namespace of `--all-netns`: the cgroup of a process holding the namespace
//! (the lowest pid seen in it, from `/proc/PID/cgroup`), named as the sockets' cgroups are — a
//! container, a Kubernetes pod, or the systemd service whose private namespace it is. A namespace
//! without sockets is labelled all the same; one without processes (a bare `ip netns add`) is not.

use sockdoc_proc::{CgroupFs, Netns, NsHolder};

use super::ServiceCache;
use crate::service::{Lookup, Service};

/// Set each namespace's holder, when its process's cgroup names one.
pub(super) fn label(cache: &ServiceCache, namespaces: &mut [Netns]) {
    let found: Vec<(usize, u64)> = namespaces
        .iter()
        .enumerate()
        .filter_map(|(i, ns)| {
            let path = CgroupFs::path_of_pid(ns.pid?).ok()?;
            Some((i, cache.id_of(&path)?))
        })
        .collect();
    if found.is_empty() {
        return;
    }
    let services = cache.lookup(found.iter().map(|&(_, id)| id));
    for (i, id) in found {
        if let (Lookup::Found(s), Some(ns)) = (services.get(id), namespaces.get_mut(i)) {
            ns.holder = holder(s, ns.current);
        }
    }
}

/// The pod, else the container, else (for a namespace other than the caller's own) the systemd
/// service of a cgroup.
pub fn holder(s: &Service, current: bool) -> Option<NsHolder> {
    if let Some(p) = &s.pod {
        return Some(NsHolder::Pod {
            uid: p.uid.clone(),
            name: p.name.as_ref().map(|_| p.label()),
        });
    }
    if let Some(c) = &s.container {
        return Some(NsHolder::Container {
            runtime: c.runtime,
            id: c.id.clone(),
            name: c.name.clone(),
        });
    }
    match &s.unit {
        Some(u) if !current && u.ends_with(".service") => Some(NsHolder::Unit(u.clone())),
        _ => None,
    }
}
