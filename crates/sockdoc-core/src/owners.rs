//! The seam between the socket table and process attribution: filters and aggregations ask "who owns this
//! socket inode?" through [`Owners`], so they can be tested without /proc.

use sockdoc_proc::SocketOwners;

use crate::service::{Lookup, Service, Services};

/// Answers who owns a socket inode, and which service a cgroup id is.
pub trait Owners {
    /// Call `f(pid, process_name)` for each owner of `inode` until it returns `true`; return whether it did.
    fn any(&self, inode: u32, f: &mut dyn FnMut(u32, &str) -> bool) -> bool;

    /// The service of cgroup `id`, when services were named for this census (`None` also for a
    /// socket without a cgroup, id 0).
    fn service(&self, _id: u64) -> Option<&Service> {
        None
    }
}

/// Process owners joined with the services of one census (when it named them): what a filter with
/// `unit`, `container` or `pod` is judged with.
pub struct WithServices<'a> {
    pub owners: &'a dyn Owners,
    pub services: Option<&'a Services>,
}

impl Owners for WithServices<'_> {
    fn any(&self, inode: u32, f: &mut dyn FnMut(u32, &str) -> bool) -> bool {
        self.owners.any(inode, f)
    }

    fn service(&self, id: u64) -> Option<&Service> {
        match self.services?.get(id) {
            Lookup::Found(s) => Some(s),
            Lookup::NoCgroup | Lookup::Unknown(_) => None,
        }
    }
}

/// No process information (the view did not ask for it).
pub struct NoOwners;

impl Owners for NoOwners {
    fn any(&self, _inode: u32, _f: &mut dyn FnMut(u32, &str) -> bool) -> bool {
        false
    }
}

/// The real answer: one walk of /proc/*/fd.
impl Owners for SocketOwners {
    fn any(&self, inode: u32, f: &mut dyn FnMut(u32, &str) -> bool) -> bool {
        for o in self.owners(inode) {
            let name = self.process(o.pid).map_or("", |p| p.name.as_str());
            if f(o.pid, name) {
                return true;
            }
        }
        false
    }
}
