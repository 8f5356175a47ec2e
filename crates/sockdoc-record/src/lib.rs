//! sockdoc-record: the flight recorder behind `sockdoc record`, and what reads what it wrote.
//!
//! Every interval one census through the census session of `sockdoc-core` (services from cgroup
//! ids, no /proc walk; tcp_info every `info_every`, carried by cookie between: [`carry`]), and
//! from it:
//! - the first-seen index by socket cookie ([`index`]): the only way to know a connection's age,
//!   since the kernel keeps no creation time; one file, read by `list -o age`, `ghosts` and `reap`;
//! - the doctor's findings of that minute and the state counts ([`minute`]);
//! - every `full_every`, a full snapshot (`sockdoc_evidence::snapshot`, owners included);
//!
//! all kept under a directory ([`store`]) within a retention and a disk budget, and found again for
//! a time by [`replay`] (`--from DIR --at TIME`, times parsed by [`when`]). The loop is [`run`].
//! The format of the directory is in docs/record.md.
//!
//! It never acts on sockets, never prints a report (the command line does), and never walks
//! /proc or enters a namespace itself (the session does).

pub mod carry;
mod daemon;
pub mod index;
pub mod minute;
pub mod replay;
pub mod store;
pub mod when;

pub use daemon::{is_record_dir, run, size, Options, RecordError, Summary};
pub use index::{indexed, read as read_index, Loaded};

/// Where the recorder writes unless told otherwise (and where the views look for its index).
pub const DEFAULT_DIR: &str = "/var/lib/sockdoc/record";
