//! The one treat path: a **selection** (sockets by cookie, with their owners where known) →
//! **act** ([`kill`]: the ladder destroy → shutdown through the owner's fd → forged RST;
//! [`keepalive`]: options set, the previous values remembered) → the kernel **read again** for each
//! batch as soon as it is acted on ([`Reread`]) → **one typed audit record** per socket and phase
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

use sockdoc_diag::bulk::lookup_spread;
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

/// The kernel read again after acting: which of the sockets just acted on it still shows, by cookie,
/// with their state now. Asked once per batch, right after the batch is acted on, on the sock_diag
/// sockets the run acted through (in the sockets' namespace). A socket it cannot tell about counts
/// as still there: no proof, no "closed".
pub trait Reread {
    fn present(&mut self, diags: &mut [&mut DiagSocket], sockets: &[Socket])
        -> HashMap<u64, State>;
}

/// The sock_diag sockets of a run, as the re-read gets them.
pub type Diags<'d, 'e> = &'e mut [&'d mut DiagSocket];

impl<F: FnMut(Diags, &[Socket]) -> HashMap<u64, State>> Reread for F {
    fn present(
        &mut self,
        diags: &mut [&mut DiagSocket],
        sockets: &[Socket],
    ) -> HashMap<u64, State> {
        self(diags, sockets)
    }
}

/// The re-read every treatment uses: each acted-on socket asked for by its 4-tuple and cookie
/// (`sockdoc_diag::bulk::lookup_spread`), a hash lookup per socket rather than a dump of the
/// namespace. A socket whose lookup fails (other than "gone") counts as still there.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lookup;

impl Reread for Lookup {
    fn present(
        &mut self,
        diags: &mut [&mut DiagSocket],
        sockets: &[Socket],
    ) -> HashMap<u64, State> {
        let now = lookup_spread(diags, sockets);
        sockets
            .iter()
            .zip(now)
            .filter_map(|(s, r)| match r {
                Ok(None) => None,
                Ok(Some(st)) => Some((s.cookie, st)),
                Err(_) => Some((s.cookie, s.state)),
            })
            .collect()
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
