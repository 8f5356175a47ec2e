//! sockdoc-core: census orchestration, the filter language and aggregation.
//!
//! It turns what `sockdoc-diag` (netlink) and `sockdoc-proc` (/proc) collect into answers. It never prints
//! and never changes the system.

pub mod aggregate;
pub mod collect;
pub mod doctor;
pub mod echo;
pub mod events;
pub mod filter;
pub mod i18n;
pub mod lifetimes;
pub mod own_ssh;
pub mod owners;
pub mod reap;
pub mod session;
pub mod sysctl_audit;
pub mod units;

pub use owners::{NoOwners, Owners};
