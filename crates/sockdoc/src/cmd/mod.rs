//! One module per subcommand. Each takes parsed arguments, runs the census it needs and prints.

pub mod conntrack;
pub mod doctor;
pub mod ghosts;
pub mod list;
pub mod stats;
pub mod sysctl;
