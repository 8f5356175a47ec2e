//! The one treat path: a **selection** (sockets by cookie, with their owners where known) →
//! **act** ([`kill`]: the ladder destroy → shutdown through the owner's fd → forged RST;
//! [`keepalive`]: options set, the previous values remembered) → the kernel **read again once** for
//! the whole selection ([`Reread`]) → **one typed audit record** per socket and phase
//! ([`kill::KillRecord`], [`keepalive::KeepaliveRecord`]), written ahead through
//! [`crate::audit::WriteAhead`] (intent before the act, outcome after).
//!
//! Every writer of an `"action":"kill"` or `"action":"keepalive"` record (`kill`, `keepalive`,
//! `reap`, `ghosts --probe --reap`, `top`) goes through here, so the records have one shape whoever
//! writes them; the caller adds what only it knows (the socket as it shows it, a rule, a verdict) as
//! the flattened `about` fields. A socket is reported closed only when the re-read no longer shows it.

pub mod keepalive;
pub mod kill;

use std::collections::HashMap;
use std::io;

use sockdoc_diag::{Socket, State};

/// Who acts, and on what words: the same on every record of a run.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The command acting: `kill`, `keepalive`, `reap`, `ghosts --probe --reap`, `top`.
    pub via: &'a str,
    /// The filter the user typed, when there was one.
    pub filter: Option<&'a str>,
    pub uid: u32,
}

/// The kernel read again after acting: which of the selected sockets it still shows, by cookie,
/// with their state now. One call per run, for the whole selection.
pub trait Reread {
    type Error;
    fn present(&mut self, sockets: &[Socket]) -> Result<HashMap<u64, State>, Self::Error>;
}

impl<E, F: FnMut(&[Socket]) -> Result<HashMap<u64, State>, E>> Reread for F {
    type Error = E;
    fn present(&mut self, sockets: &[Socket]) -> Result<HashMap<u64, State>, E> {
        self(sockets)
    }
}

/// A run stopped because an audit record could not be written: nothing after the sockets done was
/// acted on.
#[derive(Debug)]
pub struct AuditStop {
    pub error: io::Error,
    /// Of the sockets done, the last `unrecorded` have an intent record but no outcome record.
    pub unrecorded: usize,
}

#[cfg(test)]
mod tests;
