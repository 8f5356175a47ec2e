//! The cgroup v2 tree: where it is ([`CgroupFs::find`]), and the id → path map one walk of it gives
//! ([`CgroupTree`]), kept by a [`CgroupIndex`] that walks again only when asked about an id it has
//! not seen.
//!
//! Every socket dump of Linux 5.7+ carries the socket's cgroup id (`INET_DIAG_CGROUP_ID`), and a
//! cgroup2 directory's inode number is that id, so one walk of the tree (`getdents64` gives each
//! entry's inode: no `stat` per directory) names every socket's cgroup. The tree is world-readable
//! on most hosts, so this works without root. It never reads /proc/PID/fd, never writes to the
//! tree, and leaves no mount behind (see [`mount`]).

mod mount;
mod tree;

use std::collections::HashSet;
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

pub use tree::CgroupTree;

/// How the tree was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// A cgroup2 mount of the caller's mount namespace (`/sys/fs/cgroup`, or
    /// `/sys/fs/cgroup/unified` on hybrid hosts).
    Mounted(PathBuf),
    /// Init's mount of it, through `/proc/1/root` (the caller's namespace lacks one: `ip netns exec`
    /// remounts /sys).
    ThroughInit(PathBuf),
    /// A read-only cgroup2 mount made for this reader and attached nowhere: it exists only while
    /// the [`CgroupFs`] holds its descriptor.
    Detached,
    /// A directory the caller named (tests).
    Given(PathBuf),
}

/// Why no cgroup2 tree could be found.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no cgroup2 tree found ({0})")]
    NotFound(String),
    #[error("cannot read the cgroup2 tree at {path}: {err}")]
    Read { path: String, err: io::Error },
}

/// An open cgroup2 hierarchy: a descriptor of its root directory.
#[derive(Debug)]
pub struct CgroupFs {
    root: OwnedFd,
    pub found: Found,
}

impl CgroupFs {
    /// Find the cgroup2 tree: the caller's own mount, else init's through `/proc/1/root`, else a
    /// detached read-only mount (root only). The error says what each way answered.
    pub fn find() -> Result<CgroupFs, CgroupError> {
        mount::find()
    }

    /// The tree mounted at `path` (tests, or a root the caller already knows).
    pub fn at(path: &std::path::Path) -> io::Result<CgroupFs> {
        Ok(CgroupFs {
            root: mount::open_path(path)?,
            found: Found::Given(path.to_path_buf()),
        })
    }

    /// Where the tree was found, as a user reads it.
    pub fn describe(&self) -> String {
        match &self.found {
            Found::Mounted(p) | Found::ThroughInit(p) | Found::Given(p) => p.display().to_string(),
            Found::Detached => "a private read-only cgroup2 mount".to_string(),
        }
    }

    /// The id of the cgroup at `path` (from the tree's root, as `ss cgroup PATH` and
    /// `/proc/PID/cgroup` write it; a leading `/` is optional): its directory's inode number.
    pub fn id_of(&self, path: &str) -> io::Result<u64> {
        use std::os::fd::AsRawFd;
        let rel = path.trim_start_matches('/');
        let rel = if rel.is_empty() { "." } else { rel };
        let c = std::ffi::CString::new(rel)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `c` is NUL-terminated, `root` is an open directory and `st` is written by the call
        // before it is read (only when it returns 0).
        let rc = unsafe { libc::fstatat(self.root.as_raw_fd(), c.as_ptr(), st.as_mut_ptr(), 0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fstatat returned 0, so `st` is initialised.
        let st = unsafe { st.assume_init() };
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a cgroup directory",
            ));
        }
        Ok(st.st_ino)
    }

    /// The cgroup2 path of process `pid` (the `0::` line of `/proc/PID/cgroup`).
    pub fn path_of_pid(pid: u32) -> io::Result<String> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
        text.lines()
            .find_map(|l| l.strip_prefix("0::"))
            .map(str::to_string)
            .ok_or_else(|| io::Error::other(format!("no cgroup2 line in /proc/{pid}/cgroup")))
    }

    /// Walk the whole tree once.
    pub fn walk(&self) -> Result<CgroupTree, CgroupError> {
        tree::walk(&self.root).map_err(|err| CgroupError::Read {
            path: self.describe(),
            err,
        })
    }
}

/// A tree and the ids it could not name, walked again only for an id never asked about before.
///
/// A socket can outlive its cgroup (the directory removed while the socket stays open), and an id
/// from outside the caller's cgroup namespace is never in its tree: such ids are remembered as
/// missing after a walk, so asking again does not walk again. Any new id does.
pub struct CgroupIndex {
    fs: CgroupFs,
    tree: Arc<CgroupTree>,
    missing: HashSet<u64>,
    walks: usize,
}

impl CgroupIndex {
    /// Walk `fs` once.
    pub fn new(fs: CgroupFs) -> Result<CgroupIndex, CgroupError> {
        let tree = Arc::new(fs.walk()?);
        Ok(CgroupIndex {
            fs,
            tree,
            missing: HashSet::new(),
            walks: 1,
        })
    }

    /// The tree, walked again first when one of `ids` (0 = no cgroup: skipped) is neither in it
    /// nor known missing: at most one walk per call, however many ids miss.
    pub fn lookup(
        &mut self,
        ids: impl IntoIterator<Item = u64>,
    ) -> Result<Arc<CgroupTree>, CgroupError> {
        let unknown: Vec<u64> = ids
            .into_iter()
            .filter(|&id| id != 0 && !self.tree.contains(id) && !self.missing.contains(&id))
            .collect();
        if !unknown.is_empty() {
            self.tree = Arc::new(self.fs.walk()?);
            self.walks += 1;
            let tree = &self.tree;
            self.missing.retain(|&id| !tree.contains(id));
            self.missing
                .extend(unknown.into_iter().filter(|&id| !tree.contains(id)));
        }
        Ok(self.tree.clone())
    }

    /// The tree as last walked.
    pub fn tree(&self) -> Arc<CgroupTree> {
        self.tree.clone()
    }

    /// How many walks this index made.
    pub fn walks(&self) -> usize {
        self.walks
    }

    pub fn fs(&self) -> &CgroupFs {
        &self.fs
    }
}

#[cfg(test)]
mod tests;
