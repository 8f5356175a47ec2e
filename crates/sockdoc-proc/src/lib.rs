//! sockdoc-proc: what /proc knows that netlink does not.
//!
//! - [`owners`]: socket inode → owning processes (pid, fd, name, cmdline), from one parallel walk of
//!   /proc/*/fd (hand-written for speed: see the crate's README for what it was measured against);
//! - [`cgroups`]: the cgroup v2 tree, found even where the caller's mounts lack it, and cgroup id →
//!   path from one walk of it;
//! - [`dirent`]: directory reading with `getdents64`, no allocation per entry, for that walk;
//! - [`netns`]: network namespaces (named ones and those only processes hold), pinned by an open
//!   descriptor, and entering one on the calling thread;
//! - [`runtimes`]: container and pod names from the runtimes' state on disk, `podman ps` and the
//!   kubelet's log directories;
//! - [`sockstat`]: the kernel's socket totals, used to size buffers;
//! - [`counters`]: SNMP and extended TCP/IP counters of the thread's namespace, and their deltas;
//! - [`sysctl`]: kernel settings by sysctl(8) name, and the configuration files that set them;
//! - [`limits`]: the system file table, per-process `RLIMIT_NOFILE`, processes close to the limit;
//! - [`conntrack`]: conntrack table fill, hash size and per-CPU statistics;
//! - [`conntrack_table`]: the conntrack table itself, counted by protocol, state, source, destination.
//!
//! It never talks netlink, never writes a setting, never prints, and knows nothing of filters or
//! findings. Net files are read through `/proc/thread-self`, so they follow the namespace of the
//! reading thread.

pub mod cgroups;
pub mod conntrack;
pub mod conntrack_table;
pub mod counters;
pub mod dirent;
pub mod limits;
pub mod netns;
pub mod owners;
pub mod runtimes;
pub mod sockstat;
pub mod sysctl;

pub use cgroups::{CgroupError, CgroupFs, CgroupIndex, CgroupTree};
pub use netns::{Asked, Netns, NetnsChange, NetnsError, NsHolder};
pub use owners::{Owner, ProcInfo, SocketOwners, WalkStats};
