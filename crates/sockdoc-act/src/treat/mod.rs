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

use sockdoc_diag::{DiagSocket, Socket, State};

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
/// with their state now. One call per run, for the whole selection, on the sock_diag socket the run
/// acted through (in the sockets' namespace).
pub trait Reread {
    type Error;
    fn present(
        &mut self,
        diag: &mut DiagSocket,
        sockets: &[Socket],
    ) -> Result<HashMap<u64, State>, Self::Error>;
}

impl<E, F: FnMut(&mut DiagSocket, &[Socket]) -> Result<HashMap<u64, State>, E>> Reread for F {
    type Error = E;
    fn present(
        &mut self,
        diag: &mut DiagSocket,
        sockets: &[Socket],
    ) -> Result<HashMap<u64, State>, E> {
        self(diag, sockets)
    }
}

/// The re-read every treatment uses: each acted-on socket asked for by its 4-tuple and cookie
/// (`DiagSocket::lookup_all`), a hash lookup per socket rather than a dump of the namespace.
/// A socket whose lookup fails (other than "gone") counts as still there: no proof, no "closed".
#[derive(Clone, Copy, Debug, Default)]
pub struct Lookup;

impl Reread for Lookup {
    type Error = std::convert::Infallible;
    fn present(
        &mut self,
        diag: &mut DiagSocket,
        sockets: &[Socket],
    ) -> Result<HashMap<u64, State>, Self::Error> {
        let now = diag.lookup_all(sockets);
        Ok(sockets
            .iter()
            .zip(now)
            .filter_map(|(s, r)| match r {
                Ok(None) => None,
                Ok(Some(st)) => Some((s.cookie, st)),
                Err(_) => Some((s.cookie, s.state)),
            })
            .collect())
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
