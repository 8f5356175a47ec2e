//! Services: who owns a socket as operators name it (systemd unit and slice, container, pod), from
//! the socket's cgroup id. The kernel sends that id with every full socket; one walk of the cgroup2
//! tree turns it into a path ([`sockdoc_proc::cgroups`]), [`path::parse`] turns the path into
//! names, and the runtimes' own state names containers and pods
//! ([`sockdoc_proc::runtimes`]). No /proc fd walk is involved.
//!
//! [`Services`] answers for the ids of one census; the session's cache
//! (`session::ServiceCache`) builds it, walking the tree again only for ids it has not seen.

pub mod path;
mod select;
#[cfg(test)]
mod tests;

use rustc_hash::FxHashMap;
use sockdoc_proc::runtimes::{PodName, Runtime};
use sockdoc_proc::CgroupTree;

pub use path::{ContainerRef, PathNames};
pub use select::MIN_ID_PREFIX;

/// A container: its runtime, id and, when the node could say, its name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Container {
    pub runtime: Runtime,
    /// The full id (the name itself for LXC and nspawn).
    pub id: String,
    pub name: Option<String>,
}

impl Container {
    /// The name, or the short id (12 hex digits, as `docker ps` shows it) when none is known.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => self.id.chars().take(12).collect(),
        }
    }
}

/// A Kubernetes pod: its uid and, when the node's logs say, its namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pod {
    pub uid: String,
    pub name: Option<PodName>,
}

impl Pod {
    /// `namespace/name`, or the uid when unknown.
    pub fn label(&self) -> String {
        match &self.name {
            Some(p) => format!("{}/{}", p.namespace, p.name),
            None => self.uid.clone(),
        }
    }
}

/// One cgroup, with the names people use for it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Service {
    pub cgroup_id: u64,
    /// From the cgroup2 root: `/system.slice/nginx.service`.
    pub path: String,
    /// The systemd unit (see [`PathNames::unit`]).
    pub unit: Option<String>,
    /// The cgroup id of the unit's own cgroup (the cgroup itself when it has no unit): a grouping
    /// by unit counts the cgroups below a unit as the unit.
    pub unit_id: u64,
    pub slice: Option<String>,
    pub container: Option<Container>,
    pub pod: Option<Pod>,
}

impl Service {
    /// The unit, else the path.
    pub fn unit_or_path(&self) -> &str {
        self.unit.as_deref().unwrap_or(&self.path)
    }
}

/// What a socket's cgroup id stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Id 0: TIME-WAIT and request sockets have no cgroup (nor any socket on kernels before 5.7).
    NoCgroup,
    /// Not in the tree: the cgroup was removed while the socket stayed, or it lies outside the
    /// reader's cgroup namespace, or no tree could be read.
    Unknown(u64),
    Found(&'a Service),
}

/// Which name of a socket's service a view shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamePart {
    /// The unit, else the path.
    Unit,
    /// The path from the cgroup2 root.
    Cgroup,
    /// The container's name, else its short id.
    Container,
    /// The pod's `namespace/name`, else its uid.
    Pod,
}

/// The `part` of cgroup `id` as views print it: `-` for a socket without a cgroup (and for one in
/// no container or pod), `cgroup #ID` for an id the tree does not hold (removed while its sockets
/// stayed, or outside the reader's cgroup namespace).
pub fn name_text(services: Option<&Services>, id: u64, part: NamePart) -> String {
    let look = match services {
        _ if id == 0 => Lookup::NoCgroup,
        Some(s) => s.get(id),
        None => Lookup::Unknown(id),
    };
    match look {
        Lookup::NoCgroup => "-".to_string(),
        Lookup::Unknown(id) => format!("cgroup #{id}"),
        Lookup::Found(s) => match part {
            NamePart::Unit => s.unit_or_path().to_string(),
            NamePart::Cgroup => s.path.clone(),
            NamePart::Container => s.container.as_ref().map_or("-".into(), Container::label),
            NamePart::Pod => s.pod.as_ref().map_or("-".into(), Pod::label),
        },
    }
}

/// The services of one census, by cgroup id.
#[derive(Debug, Default)]
pub struct Services {
    by_id: FxHashMap<u64, Service>,
    /// Why some names are missing (no cgroup2 tree, a runtime that did not answer); one line each.
    pub notes: Vec<String>,
}

/// Names of containers and pods, as far as the node could tell.
pub trait NameBook {
    fn container(&self, runtime: Runtime, id: &str) -> Option<String>;
    fn pod(&self, uid: &str) -> Option<PodName>;
}

/// A node that names nothing: containers get their short ids, pods their uids.
pub struct NoNames;

impl NameBook for NoNames {
    fn container(&self, _: Runtime, _: &str) -> Option<String> {
        None
    }
    fn pod(&self, _: &str) -> Option<PodName> {
        None
    }
}

impl Services {
    /// No services: the tree could not be read (`note` says why).
    pub fn unavailable(note: String) -> Services {
        Services {
            by_id: FxHashMap::default(),
            notes: vec![note],
        }
    }

    /// The services of `ids` (and of their units' cgroups) in `tree`, named with `book`.
    pub fn build(
        tree: &CgroupTree,
        ids: impl IntoIterator<Item = u64>,
        book: &dyn NameBook,
    ) -> Services {
        let mut s = Services::default();
        for id in ids {
            if id == 0 || s.by_id.contains_key(&id) {
                continue;
            }
            let Some(svc) = service(tree, id, book) else {
                continue;
            };
            if svc.unit_id != id && !s.by_id.contains_key(&svc.unit_id) {
                if let Some(unit) = service(tree, svc.unit_id, book) {
                    s.by_id.insert(unit.cgroup_id, unit);
                }
            }
            s.by_id.insert(id, svc);
        }
        s
    }

    /// What cgroup `id` stands for.
    pub fn get(&self, id: u64) -> Lookup<'_> {
        match (id, self.by_id.get(&id)) {
            (0, _) => Lookup::NoCgroup,
            (_, Some(s)) => Lookup::Found(s),
            (_, None) => Lookup::Unknown(id),
        }
    }

    /// The cgroup id a grouping by unit counts `id` under (see [`Service::unit_id`]).
    pub fn unit_id(&self, id: u64) -> u64 {
        self.by_id.get(&id).map_or(id, |s| s.unit_id)
    }

    /// Services named elsewhere (a snapshot file), by their cgroup ids.
    pub fn from_services(list: impl IntoIterator<Item = Service>, notes: Vec<String>) -> Services {
        Services {
            by_id: list.into_iter().map(|s| (s.cgroup_id, s)).collect(),
            notes,
        }
    }

    /// Every service named, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Service> + '_ {
        self.by_id.values()
    }

    /// How many cgroups this census named.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// Cgroup `id` of `tree`, named.
fn service(tree: &CgroupTree, id: u64, book: &dyn NameBook) -> Option<Service> {
    let (mut svc, unit_at) = named(id, tree.path(id)?, book);
    if let Some(at) = unit_at {
        svc.unit_id = tree
            .ids_down(id)
            .and_then(|ids| ids.get(at).copied())
            .unwrap_or(id);
    }
    Some(svc)
}

impl Service {
    /// The service of cgroup `id` at `path`, named with `book`, without a tree: its unit's own
    /// cgroup id is not known, so `unit_id` is `id` (recorded paths, tests).
    pub fn at_path(id: u64, path: &str, book: &dyn NameBook) -> Service {
        named(id, path.to_string(), book).0
    }
}

/// Cgroup `id` at `path`, named, and the index of its unit's component in the path.
fn named(id: u64, path: String, book: &dyn NameBook) -> (Service, Option<usize>) {
    let names = path::parse(&path);
    let container = names.container.map(|c| Container {
        name: if c.named {
            Some(c.id.clone())
        } else {
            book.container(c.runtime, &c.id)
        },
        runtime: c.runtime,
        id: c.id,
    });
    let pod = names.pod_uid.map(|uid| Pod {
        name: book.pod(&uid),
        uid,
    });
    let unit_at = names.unit.as_ref().map(|(at, _)| *at);
    let svc = Service {
        cgroup_id: id,
        path,
        unit: names.unit.map(|(_, u)| u),
        unit_id: id,
        slice: names.slice,
        container,
        pod,
    };
    (svc, unit_at)
}
