//! sockdoc-core: the engine every command calls — the census session, the filter language,
//! aggregation, the doctor's detectors, the reaper's policy and the words of both languages.
//!
//! It turns what `sockdoc-diag` (netlink) and `sockdoc-proc` (/proc) collect into answers. It never prints
//! and never changes the system.
//!
//! - [`session`]: the census session — scope (namespaces, entered in one place), plan, owners behind a
//!   source with a refresh policy, kernel state; yields one sample;
//! - [`collect`]: the parallel netlink dumps of one namespace, feeding per-dump accumulators;
//! - [`filter`]: the filter language, parsed once, evaluated per socket and pushed down to the kernel;
//! - [`aggregate`]: state histograms and `--by` groupings with top-N;
//! - [`service`]: sockets' cgroups as people name them: systemd unit and slice, container, pod;
//! - [`owners`]: the [`Owners`] seam filters and groupings ask "who owns this socket?" through;
//! - [`doctor`]: detectors from one sample and the kernel state to typed findings;
//! - [`sysctl_audit`]: the one sysctl judge, used by the doctor and `sysctl check`/`plan`;
//! - [`reap`]: the reaper's configuration, per-socket tracking and decisions;
//! - [`lifetimes`]: connection lifetimes from scans and end events;
//! - [`i18n`]: the message catalog, English and Chinese;
//! - [`own_ssh`]: the caller's own SSH connection, which nothing may close;
//! - [`echo`]: user input quoted safely inside error lines;
//! - [`units`]: durations as people read and write them.

pub mod aggregate;
pub mod collect;
pub mod diff;
pub mod doctor;
pub mod echo;
pub mod events;
pub mod filter;
pub mod i18n;
pub mod lifetimes;
pub mod own_ssh;
pub mod owners;
pub mod reap;
pub mod service;
pub mod session;
pub mod sysctl_audit;
pub mod units;

pub use owners::{NoOwners, Owners, WithServices};
