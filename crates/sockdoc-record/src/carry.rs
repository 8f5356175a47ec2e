//! tcp_info between the scans that read it.
//!
//! Asking the kernel for `struct tcp_info` is most of a scan's cost at scale: at 300k connections
//! it doubles the dump's kernel time (each socket is locked and its counters read) and triples the
//! bytes it sends. The recorder reads it every `--info-every` (and with every full snapshot); the
//! scans between dump without it and give each connection the tcp_info its last reading had, its
//! idle times aged by the time since. That is exact for a connection that stayed silent (a ghost
//! suspect's idle time grows by exactly that) and overstates idleness, by at most `--info-every`,
//! for one that spoke since; retransmit counts and the RTT are those of the reading. A
//! connection made after the reading has no tcp_info until the next one: its idle time is unknown,
//! never 0, so it is not judged a ghost before it could be one. Each minute record says when the
//! tcp_info it rests on was read (`tcp_info_ms`).

use std::time::Instant;

use rustc_hash::FxHashMap;
use sockdoc_core::session::Sample;
use sockdoc_diag::{Proto, Socket, TcpInfo};

/// The last reading of tcp_info, by namespace and socket cookie.
#[derive(Default)]
pub struct Carry {
    /// When it was read: wall clock (ms since the epoch) and monotonic.
    read: Option<(u64, Instant)>,
    /// Namespace inode → cookie → tcp_info. The tables are cleared, not dropped, at each reading:
    /// their memory follows the live connections and is not allocated again every time.
    by_ns: FxHashMap<u64, FxHashMap<u64, TcpInfo>>,
}

impl Carry {
    /// Keep the tcp_info of `samples`, a scan that read it at `read_ms`.
    pub fn keep(&mut self, samples: &[Sample], read_ms: u64) {
        self.read = Some((read_ms, Instant::now()));
        // Namespaces gone since the last reading are forgotten.
        self.by_ns
            .retain(|ns, _| samples.iter().any(|s| s.ns.inode == *ns));
        for s in samples {
            let map = self.by_ns.entry(s.ns.inode).or_default();
            map.clear();
            map.extend(
                s.sockets
                    .iter()
                    .filter_map(|k| k.tcp.map(|t| (k.cookie, t))),
            );
            // After a burst the table may be far larger than what is live: give the memory back.
            if map.capacity() > 4096 && map.len() < map.capacity() / 4 {
                map.shrink_to(map.len() * 2);
            }
        }
    }

    /// Give the TCP sockets of `samples` (a scan without tcp_info) their last reading's, aged.
    /// When it was read (ms since the epoch), or `None` before the first reading.
    pub fn fill(&self, samples: &mut [Sample]) -> Option<u64> {
        let (read_ms, at) = self.read?;
        let aged = u32::try_from(at.elapsed().as_millis()).unwrap_or(u32::MAX);
        for s in samples {
            let Some(map) = self.by_ns.get(&s.ns.inode) else {
                continue;
            };
            // Not a TIME-WAIT socket, though it keeps its connection's cookie: the kernel has
            // no tcp_info for it.
            let full = |k: &&mut Socket| k.proto == Proto::Tcp && crate::index::indexed(k);
            for k in s.sockets.iter_mut().filter(full) {
                if let Some(t) = map.get(&k.cookie) {
                    k.tcp = Some(TcpInfo {
                        last_data_sent_ms: t.last_data_sent_ms.saturating_add(aged),
                        last_data_recv_ms: t.last_data_recv_ms.saturating_add(aged),
                        last_ack_recv_ms: t.last_ack_recv_ms.saturating_add(aged),
                        ..*t
                    });
                }
            }
        }
        Some(read_ms)
    }

    /// Connections whose tcp_info is kept.
    pub fn len(&self) -> usize {
        self.by_ns.values().map(|m| m.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
