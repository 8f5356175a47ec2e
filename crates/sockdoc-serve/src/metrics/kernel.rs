//! What the kernel says beside sockets: the TIME-WAIT limit, ephemeral ports (the busiest
//! destination's use against ip_local_port_range), conntrack fill, and raw SNMP counters.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family as MetricFamily;
use prometheus_client::registry::Registry;

use super::{gauge, num, Shown};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CounterLabels {
    name: String,
}

/// The kernel counters exported (group, name).
const COUNTERS: [(&str, &str); 9] = [
    ("TcpExt", "ListenOverflows"),
    ("TcpExt", "ListenDrops"),
    ("TcpExt", "TCPTimeWaitOverflow"),
    ("TcpExt", "TCPReqQFullDrop"),
    ("TcpExt", "SyncookiesSent"),
    ("TcpExt", "TCPAbortOnTimeout"),
    ("TcpExt", "TCPAbortOnClose"),
    ("Udp", "RcvbufErrors"),
    ("Udp", "InErrors"),
];

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
    let counters = MetricFamily::<CounterLabels, Counter>::default();
    for (group, name) in COUNTERS {
        if let Some(v) = kernel.counters.get(group, name) {
            counters
                .get_or_create(&CounterLabels {
                    name: format!("{group}.{name}"),
                })
                .inc_by(u64::try_from(v).unwrap_or(0));
        }
    }
    reg.register(
        "kernel",
        "Kernel SNMP counters (/proc/net/netstat, snmp)",
        counters,
    );
}
