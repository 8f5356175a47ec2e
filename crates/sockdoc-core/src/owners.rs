//! The seam between the socket table and process attribution: filters and aggregations ask "who owns this
//! socket inode?" through [`Owners`], so they can be tested without /proc.

use sockdoc_proc::SocketOwners;

/// Answers who owns a socket inode.
pub trait Owners {
    /// Call `f(pid, process_name)` for each owner of `inode` until it returns `true`; return whether it did.
    fn any(&self, inode: u32, f: &mut dyn FnMut(u32, &str) -> bool) -> bool;
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
