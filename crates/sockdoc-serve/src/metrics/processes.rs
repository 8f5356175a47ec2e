//! Per process name: sockets (top K, last full census) and CLOSE-WAIT (this scrape; those processes
//! and the top K by CLOSE-WAIT), owners from the last /proc walk.

use std::collections::HashMap;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family as MetricFamily;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sockdoc_proc::SocketOwners;

use super::{num, top, Shown};
use crate::counts::PidCounts;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProcLabels {
    process: String,
}

pub(super) fn register(reg: &mut Registry, s: &Shown) {
    let sockets_by_name = by_name(s.owners, &s.full.procs, |c| c.0);
    let cw_by_name = by_name(s.owners, &s.now.procs, |c| c.1);
    let proc_sockets = MetricFamily::<ProcLabels, Gauge>::default();
    let proc_cw = MetricFamily::<ProcLabels, Gauge>::default();
    let label = |name: &str| ProcLabels {
        process: name.to_string(),
    };
    for (name, n) in top(&sockets_by_name, s.top_k) {
        proc_sockets.get_or_create(&label(name)).set(num(n));
        let cw = cw_by_name.get(name).copied().unwrap_or(0);
        proc_cw.get_or_create(&label(name)).set(num(cw));
    }
    for (name, cw) in top(&cw_by_name, s.top_k) {
        if cw > 0 {
            proc_cw.get_or_create(&label(name)).set(num(cw));
        }
    }
    reg.register(
        "process_sockets",
        "Sockets per process name (top K; last full census, owners from the last /proc walk)",
        proc_sockets,
    );
    reg.register(
        "process_close_wait",
        "CLOSE-WAIT sockets per process name (top K; owners from the last /proc walk)",
        proc_cw,
    );
}

/// Per-pid counts summed per process name (`-`: no owner known), the count `which` chooses.
fn by_name<'a>(
    owners: Option<&'a SocketOwners>,
    procs: &PidCounts,
    which: fn(&(u64, u64)) -> u64,
) -> HashMap<&'a str, u64> {
    let mut m: HashMap<&str, u64> = HashMap::new();
    for (pid, c) in procs {
        let name = match (*pid, owners) {
            (0, _) | (_, None) => "-",
            (p, Some(o)) => o.process(p).map_or("-", |i| i.name.as_str()),
        };
        *m.entry(name).or_default() += which(c);
    }
    m
}
