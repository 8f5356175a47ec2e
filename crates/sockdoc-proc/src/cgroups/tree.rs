//! One walk of a cgroup2 tree into a [`CgroupTree`]: every cgroup's id (its directory's inode, as
//! `getdents64` reports it: no `stat` per directory), name and parent.

use std::io;
use std::os::fd::OwnedFd;

use rustc_hash::FxHashMap;

use crate::dirent::{for_each_dirent, open_dir, DT_DIR};

/// Deeper cgroups than this are not walked (the kernel's default `cgroup.max.depth` is unlimited;
/// real trees are under 15 deep).
const MAX_DEPTH: usize = 64;

/// No parent (the root).
const NONE: u32 = u32::MAX;

struct Node {
    id: u64,
    parent: u32,
    name: Box<str>,
}

/// Every cgroup of a tree, by id.
pub struct CgroupTree {
    nodes: Vec<Node>,
    by_id: FxHashMap<u64, u32>,
}

impl CgroupTree {
    /// Whether `id` is a cgroup of this tree.
    pub fn contains(&self, id: u64) -> bool {
        self.by_id.contains_key(&id)
    }

    /// The number of cgroups.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The id of the tree's root (1 for the host's root cgroup).
    pub fn root_id(&self) -> Option<u64> {
        self.nodes.first().map(|n| n.id)
    }

    /// The path of cgroup `id` from the tree's root, as `/proc/PID/cgroup` writes it: `/` for the
    /// root, `/system.slice/nginx.service` below it.
    pub fn path(&self, id: u64) -> Option<String> {
        let names: Vec<&str> = self.ancestry(id)?.map(|(_, name)| name).collect();
        let mut path = String::with_capacity(names.iter().map(|n| n.len() + 1).sum());
        for name in names.iter().rev() {
            path.push('/');
            path.push_str(name);
        }
        if path.is_empty() {
            path.push('/');
        }
        Some(path)
    }

    /// The ids of `id`'s path components, from the root's first child down to `id` itself (empty
    /// for the root): `ids_down(nginx)[1]` is the id of `nginx.service` in
    /// `/system.slice/nginx.service`.
    pub fn ids_down(&self, id: u64) -> Option<Vec<u64>> {
        let mut ids: Vec<u64> = self.ancestry(id)?.map(|(id, _)| id).collect();
        ids.reverse();
        Some(ids)
    }

    /// `(id, name)` from `id` up to, not including, the root.
    fn ancestry(&self, id: u64) -> Option<impl Iterator<Item = (u64, &str)>> {
        let mut at = *self.by_id.get(&id)?;
        Some(std::iter::from_fn(move || {
            let n = self.nodes.get(at as usize)?;
            if n.parent == NONE {
                return None;
            }
            at = n.parent;
            Some((n.id, &*n.name))
        }))
    }
}

/// Walk the tree whose root directory is `root`.
pub(super) fn walk(root: &OwnedFd) -> io::Result<CgroupTree> {
    // SAFETY: fstat on a descriptor we hold, into a zeroed struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(std::os::fd::AsRawFd::as_raw_fd(root), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut tree = CgroupTree {
        nodes: vec![Node {
            id: st.st_ino,
            parent: NONE,
            name: "".into(),
        }],
        by_id: FxHashMap::default(),
    };
    tree.by_id.insert(st.st_ino, 0);
    let mut buf = vec![0u8; 32 * 1024];
    // A descriptor of its own: the held one's read position stays where the last walk left it.
    let top = open_dir(Some(root), c".")?;
    children(&mut tree, &top, 0, 0, &mut buf)?;
    Ok(tree)
}

/// Add the subdirectories of `dir` (node `at`) and theirs. A cgroup removed during the walk is
/// skipped; only the root must be readable.
fn children(
    tree: &mut CgroupTree,
    dir: &OwnedFd,
    at: u32,
    depth: usize,
    buf: &mut [u8],
) -> io::Result<()> {
    let mut found: Vec<(u64, Vec<u8>)> = Vec::new();
    for_each_dirent(dir, buf, |ino, kind, name| {
        if kind == DT_DIR {
            found.push((ino, name.to_vec()));
        }
    })?;
    for (id, name) in found {
        let idx = tree.nodes.len() as u32;
        tree.nodes.push(Node {
            id,
            parent: at,
            name: String::from_utf8_lossy(&name).into(),
        });
        tree.by_id.insert(id, idx);
        if depth + 1 >= MAX_DEPTH {
            continue;
        }
        let Ok(cname) = std::ffi::CString::new(name) else {
            continue;
        };
        // Gone since it was listed, or not ours to read: its own id is known, its children are not.
        if let Ok(sub) = open_dir(Some(dir), &cname) {
            let _ = children(tree, &sub, idx, depth + 1, buf);
        }
    }
    Ok(())
}
