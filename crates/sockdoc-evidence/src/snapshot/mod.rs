//! `sockdoc snapshot` files: one census (sockets with timers and tcp_info, owners, services, the
//! kernel state read around it, host and kernel identity) in a compact, versioned file, and the
//! reader that turns one back into [`Evidence`](crate::Evidence).
//!
//! The layout (docs/snapshot.md, field by field): an 8-byte magic and a little-endian `u32`
//! format version, then one zstd stream of a length-prefixed JSON [`Header`] followed, per
//! namespace, by its socket records and owner entries as columns ([`record`]). Additions keep
//! the version: new JSON fields (readers ignore what they do not know) and fields appended to the
//! records (the header gives the record size). A new version means older readers must refuse.
//!
//! Writing never leaves half a file: it goes to `FILE.tmp` beside it, is synced and renamed.
//! Reading never panics on what a file holds: every defect is one [`Problem`].

mod header;
mod read;
mod record;
#[cfg(test)]
mod tests;
mod write;

pub use header::{Header, NsHeader, FORMAT};
pub use read::{read, read_from};
pub use write::{
    encode, encode_to, known_of, write_atomic, Encoded, Identity, NsSnapshot, CONNTRACK_TOP,
};

/// The first bytes of every snapshot: a high byte (a file mangled as 7-bit text fails here), the
/// name, and a newline (so does one whose line ends were converted).
pub const MAGIC: [u8; 8] = *b"\x89SDSNAP\n";

/// The format version this build writes and the newest it reads.
pub const VERSION: u32 = 1;

/// The name files get by default: `sockdoc-<host>-<time>.sdsnap`.
pub const EXTENSION: &str = "sdsnap";

/// What is wrong with a file that should be a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("not a sockdoc snapshot (it does not start with the snapshot magic)")]
    NotSnapshot,
    #[error("written by a newer sockdoc (snapshot format {0}; this sockdoc reads up to {VERSION}): read it with a newer sockdoc")]
    Newer(u32),
    #[error(
        "cut short (truncated, maybe by an interrupted copy): copy it again or take a new snapshot"
    )]
    Truncated,
    #[error("damaged ({0}): copy it again or take a new snapshot")]
    Corrupt(String),
}
