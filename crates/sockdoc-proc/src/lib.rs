//! sockdoc-proc: what /proc knows that netlink does not.
//!
//! - [`owners`]: socket inode → owning processes (pid, fd, name, cmdline), from one parallel walk of
//!   /proc/*/fd;
//! - [`netns`]: network namespaces (named ones and those only processes hold) and entering them;
//! - [`sockstat`]: the kernel's socket totals, used to size buffers.
//!
//! It never talks netlink and knows nothing of filters or findings.

pub mod conntrack;
pub mod conntrack_table;
pub mod counters;
pub mod dirent;
pub mod limits;
pub mod netns;
pub mod owners;
pub mod sockstat;
pub mod sysctl;

pub use netns::{Netns, NetnsChange, NetnsError};
pub use owners::{Owner, ProcInfo, SocketOwners, WalkStats};
