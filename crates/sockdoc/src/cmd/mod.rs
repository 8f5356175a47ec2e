//! One module per subcommand (a directory when it has parts): each wires the parsed arguments to the
//! library crates and hands its report to the edge. Nothing else lives here.

pub mod conntrack;
pub mod diff;
pub mod docs;
pub mod doctor;
pub mod events;
pub mod ghosts;
pub mod keepalive;
pub mod kill;
pub mod list;
pub mod preload;
pub mod reap;
pub mod record;
pub mod serve;
pub mod snapshot;
pub mod stats;
pub mod sysctl;
pub mod top;
