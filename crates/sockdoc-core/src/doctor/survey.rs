//! One pass over every socket for all the detectors: what each needs is picked or counted as the
//! socket goes by, and each detector then works on that alone.
//!
//! On a busy host nearly every socket is an idle ESTABLISHED connection, and a detector's pass
//! over 300k sockets of 128 bytes is bound by memory, not by what it computes: ~4 ms each, and
//! the detectors made eight of them (every minute of the recorder, every refresh of `serve`).
//! Picked here: the ghost suspects, the retransmitting connections, the listeners, the sockets
//! of other states (by index: copied only when they are the few); counted: ESTABLISHED and
//! keepalive timers per local port, and ephemeral ports per destination.

use rustc_hash::FxHashSet;
use sockdoc_diag::{Proto, Socket, State};

use super::closing::is_retransmitting;
use super::ghosts::{self, is_suspect_in, threshold_ms, PortCounts};
use super::ports::Tally;
use super::Input;

/// What one pass over `input.sockets` found (indices into it, in census order).
pub(super) struct Survey {
    established: usize,
    others: Vec<usize>,
    listeners: Vec<usize>,
    suspects: Vec<usize>,
    retransmitting: Vec<usize>,
    pub(super) per_port: PortCounts,
    pub(super) ephemeral: Option<Tally>,
}

impl Survey {
    pub(super) fn of(input: &Input) -> Survey {
        let threshold = threshold_ms(input);
        let mut v = Survey {
            established: 0,
            others: Vec::new(),
            listeners: Vec::new(),
            suspects: Vec::new(),
            retransmitting: Vec::new(),
            per_port: PortCounts::new(),
            ephemeral: Tally::new(input),
        };
        for (i, s) in input.sockets.iter().enumerate() {
            if s.proto == Proto::Tcp && s.state == State::Established {
                v.established += 1;
                v.per_port.add(s);
                if is_suspect_in(s, threshold, input.blind) {
                    v.suspects.push(i);
                }
            } else {
                v.others.push(i);
                if s.proto == Proto::Tcp && s.state == State::Listen {
                    v.listeners.push(i);
                }
            }
            if is_retransmitting(s) {
                v.retransmitting.push(i);
            }
            if let Some(t) = &mut v.ephemeral {
                t.add(s);
            }
        }
        v
    }

    /// The sockets at `picked` of `input`.
    fn each<'a>(input: &Input<'a>, picked: &'a [usize]) -> impl Iterator<Item = &'a Socket> {
        let sockets = input.sockets;
        picked.iter().filter_map(move |&i| sockets.get(i))
    }

    pub(super) fn suspects<'a>(&'a self, input: &Input<'a>) -> impl Iterator<Item = &'a Socket> {
        Self::each(input, &self.suspects)
    }

    pub(super) fn retransmitting<'a>(
        &'a self,
        input: &Input<'a>,
    ) -> impl Iterator<Item = &'a Socket> {
        Self::each(input, &self.retransmitting)
    }

    /// The ports listened on.
    pub(super) fn listening(&self, input: &Input) -> FxHashSet<u16> {
        Self::each(input, &self.listeners)
            .map(|s| s.local_port)
            .collect()
    }

    /// Who listens on each port (see [`ghosts::listeners`]).
    pub(super) fn listeners(&self, input: &Input) -> ghosts::Listeners {
        ghosts::listeners(input, Self::each(input, &self.listeners))
    }

    /// The sockets other than ESTABLISHED connections, for the detectors of the other states:
    /// all of `input` when they are most of it, else a copy of them.
    pub(super) fn others(&self, input: &Input) -> Option<Vec<Socket>> {
        (self.established * 2 > input.sockets.len())
            .then(|| Self::each(input, &self.others).copied().collect())
    }
}
