//! Per listening port (top K by load): ESTABLISHED connections and keepalive coverage (last full
//! census and doctor run), SYN-RECV, the accept queue and its limit (this scrape).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family as MetricFamily;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{FloatGauge, Shown};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PortLabels {
    port: String,
}

pub(super) fn register(reg: &mut Registry, s: &Shown) {
    let (t, detail) = (s.now, s.full);
    let mut ports: Vec<u16> = t.listeners.keys().copied().collect();
    let load = |p: u16| u64::from(detail.port(p).0) + u64::from(t.port(p).1);
    ports.sort_by(|a, b| load(*b).cmp(&load(*a)).then(a.cmp(b)));
    ports.truncate(s.top_k);
    let conns = MetricFamily::<PortLabels, Gauge>::default();
    let cov = MetricFamily::<PortLabels, FloatGauge>::default();
    let syn_recv = MetricFamily::<PortLabels, Gauge>::default();
    let queue = MetricFamily::<PortLabels, Gauge>::default();
    let backlog = MetricFamily::<PortLabels, Gauge>::default();
    let oldest = MetricFamily::<PortLabels, FloatGauge>::default();
    for p in ports {
        let l = PortLabels {
            port: p.to_string(),
        };
        conns.get_or_create(&l).set(i64::from(detail.port(p).0));
        syn_recv.get_or_create(&l).set(i64::from(t.port(p).1));
        if let Some(ratio) = s.coverage.get(&p) {
            cov.get_or_create(&l).set(*ratio);
        }
        if let Some(ms) = s.oldest.and_then(|o| o.get(&p)) {
            oldest.get_or_create(&l).set(*ms as f64 / 1000.0);
        }
        if let Some((q, b)) = t.listeners.get(&p) {
            queue.get_or_create(&l).set(i64::from(*q));
            backlog.get_or_create(&l).set(i64::from(*b));
        }
    }
    reg.register(
        "listen_port_established",
        "ESTABLISHED connections per listening port (top K; last full census, --doctor-every)",
        conns,
    );
    reg.register(
        "keepalive_coverage_ratio",
        "Share of a listening port's ESTABLISHED connections with a keepalive timer (last doctor run)",
        cov,
    );
    reg.register(
        "listen_port_syn_recv",
        "SYN-RECV request sockets per listening port",
        syn_recv,
    );
    reg.register(
        "accept_queue",
        "Accept queue length per listening port",
        queue,
    );
    reg.register(
        "accept_backlog",
        "Accept queue limit per listening port",
        backlog,
    );
    if s.oldest.is_some() {
        reg.register(
            "listen_port_oldest_first_seen_time_seconds",
            "When the flight recorder (sockdoc record, --history) first saw the oldest ESTABLISHED connection of a listening port, Unix time: its age is at least time() minus this (last full census)",
            oldest,
        );
    }
}
