//! What the last doctor run found: the findings present, and the ghost suspects count.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family as MetricFamily;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{gauge, Shown};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    id: String,
    severity: String,
}

pub(super) fn ghost_suspects(reg: &mut Registry, s: &Shown) {
    reg.register(
        "ghost_suspects",
        "ESTABLISHED connections silent past the keepalive window without keepalive (last doctor run)",
        gauge(s.ghosts),
    );
}

/// `finding{id,severity}`: 1 for each finding present.
pub(super) fn findings(reg: &mut Registry, s: &Shown) {
    let found = MetricFamily::<FindingLabels, Gauge>::default();
    for f in s.findings {
        found
            .get_or_create(&FindingLabels {
                id: f.id.into(),
                severity: f.severity.name().into(),
            })
            .set(1);
    }
    reg.register(
        "finding",
        "Doctor findings present at the last doctor run (1)",
        found,
    );
}
