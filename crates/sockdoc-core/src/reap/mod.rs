//! The reaper's policy, for `sockdoc reap`: idle policies enforced from outside on services that never
//! set their own (redsocks' `timeout` and `connpres_idle_timeout`, for any service).
//!
//! - [`config`]: the TOML configuration, read safely from its file ([`config::file`]: a regular
//!   file of at most 1 MiB) and validated into the reaper's [`Config`] with one-line errors that
//!   name the line and the key;
//! - [`track`]: what the daemon remembers between scans, by socket cookie (first seen, state since,
//!   what was already done or reported); cookies that vanish are forgotten at the end of each scan;
//! - [`decide`]: one scan's decisions — which sockets to close and why (idle timeout, idle-first
//!   eviction over `max_connections`, CLOSE-WAIT age), which get keepalive, which are spared (the
//!   never-kill list, the caller's own SSH session) and how many wait for the next scan (rate limit).
//!
//! The policy is pure: it reads sockets and a clock value given to it and returns decisions. It
//! never touches a socket or the clock, and reads no file but its configuration ([`config::file`]);
//! the daemon (`sockdoc reap`) acts, through `sockdoc-act`.

pub mod config;
pub mod decide;
pub mod track;

#[cfg(test)]
mod service_tests;
#[cfg(test)]
mod tests;

pub use config::{Config, ConfigError, KeepaliveSpec, Rule};
pub use decide::{decide, Decisions, Keep, Kill, OwnSsh, Reason, Spare, SpareReason};
pub use track::Tracker;
