//! tcp_info between the scans that read it.
//!
//! Asking the kernel for `struct tcp_info` costs a scan at scale: at 300k connections it adds
//! ~40% to the dump's kernel time (each socket is locked and its counters read) and triples the
//! bytes sent. The recorder reads it every `--info-every` (and with every full snapshot); the
//! scans between dump without it and give each connection the tcp_info of the last reading, kept
//! in its first-seen index entry, with its idle times aged by the time since. That is exact for a
//! connection that stayed silent (a ghost suspect's idle time grows by exactly that) and
//! overstates idleness, by at most `--info-every`, for one that spoke since; retransmit counts
//! and the RTT are those of the reading. A connection made after the reading has no tcp_info
//! until the next one: its idle time is unknown, never 0, so it is not judged a ghost before it
//! could be one. Each minute record says when the tcp_info it rests on was read (`tcp_info_ms`).

use std::time::Instant;

use sockdoc_diag::{Proto, Socket, TcpInfo};

/// When the last reading was made.
#[derive(Default)]
pub struct Carry {
    /// Wall clock (ms since the epoch) and monotonic.
    read: Option<(u64, Instant)>,
    /// Milliseconds since, for the scan under way.
    aged: u32,
}

impl Carry {
    /// A scan begins: it read tcp_info (at `now_ms`) or not. When the tcp_info it will carry was
    /// read (ms since the epoch), `None` before the first reading.
    pub fn begin(&mut self, read_now: bool, now_ms: u64) -> Option<u64> {
        if read_now {
            self.read = Some((now_ms, Instant::now()));
        }
        let (read_ms, at) = self.read?;
        self.aged = u32::try_from(at.elapsed().as_millis()).unwrap_or(u32::MAX);
        Some(read_ms)
    }

    /// One full socket `s` of the scan and its index entry's `slot`: a reading is kept, else the
    /// kept one given to the socket, aged.
    pub fn pass(&self, read_now: bool, s: &mut Socket, slot: &mut Option<TcpInfo>) {
        if s.proto != Proto::Tcp {
            return;
        }
        if read_now {
            *slot = s.tcp;
        } else if let (None, Some(t)) = (s.tcp, slot.as_ref()) {
            let aged = self.aged;
            s.tcp = Some(TcpInfo {
                last_data_sent_ms: t.last_data_sent_ms.saturating_add(aged),
                last_data_recv_ms: t.last_data_recv_ms.saturating_add(aged),
                last_ack_recv_ms: t.last_ack_recv_ms.saturating_add(aged),
                ..*t
            });
        }
    }
}
