//! The exporter's failures, each one line saying what failed and what to do. The command line maps
//! them to its exit codes; the HTTP endpoint answers a failed scrape with the same line (a 500).

use std::io;

use sockdoc_core::collect::CensusError;
use sockdoc_proc::NetnsError;

/// Why the exporter could not start, or a scrape could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listening address cannot be bound.
    #[error("cannot listen on {addr}: {source} (choose another with --listen)")]
    Listen { addr: String, source: io::Error },
    /// The HTTP server's runtime or thread cannot start.
    #[error("cannot start the HTTP server: {0}")]
    Http(io::Error),
    /// The thread that reads socket owners cannot start.
    #[error("cannot start the owner reader: {0}")]
    OwnerReader(io::Error),
    /// The /proc walk for socket owners failed.
    #[error("cannot walk /proc for socket owners: {0}")]
    OwnerWalk(io::Error),
    /// The census failed (the dump, the namespace, /proc).
    #[error(transparent)]
    Census(#[from] CensusError),
    /// The namespace cannot be entered.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// The metrics text cannot be written.
    #[error("cannot encode metrics: {0}")]
    Encode(std::fmt::Error),
}
