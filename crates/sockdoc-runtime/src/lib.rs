//! sockdoc-runtime: what sockdoc's long-running commands (`serve`, `reap`, `events`, `top`,
//! `keepalive --watch`) share with the command line.
//!
//! - [`signals`]: SIGINT/SIGTERM set a flag that loops check between steps;
//! - [`log`]: [`log_line!`], a stderr line that never panics (a closed stderr pipe drops it);
//! - [`watch`]: [`watch::NsWatch`], which notices when the name or pid a command pinned its
//!   namespace by comes to mean another one, and stops the command or hands it the new one.
//!
//! It never reads sockets and never changes the system beyond its own signal handlers.

pub mod log;
pub mod signals;
pub mod watch;
