//! What the kernel says beside sockets: the TIME-WAIT limit, ephemeral ports (the busiest
//! destination's use against ip_local_port_range), conntrack fill, and the kernel's SNMP counters, one counter family each.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::{gauge, num, Shown};

/// The kernel counters exported: (group, name, help). Each is its own counter family,
/// `kernel_<group>_<name>_total` with the kernel's names lowercased, so that `nstat TcpExtListenOverflows`
/// and node_exporter's `node_netstat_TcpExt_ListenOverflows` map to it one to one.
const COUNTERS: [(&str, &str, &str); 9] = [
    ("TcpExt", "ListenOverflows", "Times a listener's accept queue was full and a completed handshake was dropped"),
    ("TcpExt", "ListenDrops", "SYNs and completed handshakes a listener dropped, for any reason (overflows included)"),
    ("TcpExt", "TCPTimeWaitOverflow", "Connections that closed without a TIME-WAIT socket because net.ipv4.tcp_max_tw_buckets was reached"),
    ("TcpExt", "TCPReqQFullDrop", "SYNs dropped because a listener's SYN queue was full and SYN cookies were off"),
    ("TcpExt", "SyncookiesSent", "SYN cookies sent (a listener's SYN queue overflowed)"),
    ("TcpExt", "TCPAbortOnTimeout", "Connections aborted after retransmissions, keepalive or zero-window probes timed out"),
    ("TcpExt", "TCPAbortOnClose", "Connections reset because the application closed them with unread data"),
    ("Udp", "RcvbufErrors", "UDP datagrams dropped because a socket's receive buffer was full"),
    ("Udp", "InErrors", "UDP datagrams received with errors or dropped (receive buffer errors included)"),
];

/// The family name of a kernel counter: `kernel_tcpext_listenoverflows` (`_total` is appended).
pub(crate) fn counter_name(group: &str, name: &str) -> String {
    format!("kernel_{}_{}", group, name).to_ascii_lowercase()
}

pub(super) fn register(reg: &mut Registry, s: &Shown) {
    let kernel = s.kernel;
    if let Some(max) = kernel.sysctls.max_tw_buckets {
        reg.register(
            "time_wait_max",
            "net.ipv4.tcp_max_tw_buckets",
            gauge(num(max)),
        );
    }
    let detail = s.full;
    if let Some((lo, hi)) = detail.range {
        let used = detail.dests.values().copied().max().unwrap_or(0);
        reg.register(
            "ephemeral_ports_used",
            "Local ports of ip_local_port_range in use towards the busiest destination (per source address, destination address and port; last full census)",
            gauge(i64::from(used)),
        );
        reg.register(
            "ephemeral_ports_range",
            "Size of net.ipv4.ip_local_port_range",
            gauge(i64::from(hi) - i64::from(lo) + 1),
        );
    }
    if let Some(ct) = &kernel.conntrack {
        reg.register(
            "conntrack_entries",
            "Connection-tracking entries",
            gauge(num(ct.count)),
        );
        reg.register("conntrack_max", "nf_conntrack_max", gauge(num(ct.max)));
    }
    for (group, name, help) in COUNTERS {
        if let Some(v) = kernel.counters.get(group, name) {
            let c = Counter::<u64>::default();
            c.inc_by(u64::try_from(v).unwrap_or(0));
            reg.register(
                counter_name(group, name),
                format!("{help} (/proc/net: {group} {name})"),
                c,
            );
        }
    }
}
