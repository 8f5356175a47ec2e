//! One module per subcommand. Each takes parsed arguments, runs the census it needs and prints.

pub mod conntrack;
pub mod doctor;
pub mod events;
pub mod ghosts;
pub mod keepalive;
pub mod kill;
pub mod list;
pub mod preload;
pub mod probe;
pub mod reap;
pub mod serve;
pub mod stats;
pub mod sysctl;
pub mod sysctl_apply;
pub mod top;
pub mod treat;
