//! Sockets by protocol, family and state, and the TIME-WAIT total (this scrape's counts).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family as MetricFamily;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sockdoc_diag::{Proto, State};

use super::{gauge, num, state_label, Shown};
use crate::counts::SLOTS;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    proto: String,
    family: String,
    state: String,
}

/// `sockets{proto,family,state}`: only the states present.
pub(super) fn by_state(reg: &mut Registry, s: &Shown) {
    let by_state = MetricFamily::<StateLabels, Gauge>::default();
    for (i, counts) in s.now.states.iter().enumerate() {
        let (proto, family) = SLOTS[i];
        for st in State::ALL {
            let n = counts[st as usize];
            if n > 0 {
                by_state
                    .get_or_create(&StateLabels {
                        proto: proto.name().into(),
                        family: family.name().into(),
                        state: state_label(proto == Proto::Udp, st).into(),
                    })
                    .set(num(n));
            }
        }
    }
    reg.register("sockets", "Sockets by protocol, family and state", by_state);
}

/// `time_wait`: TCP TIME-WAIT sockets of both families.
pub(super) fn time_wait(reg: &mut Registry, s: &Shown) {
    let t = s.now;
    let tw = num(t.states[0][State::TimeWait as usize] + t.states[1][State::TimeWait as usize]);
    reg.register("time_wait", "TIME-WAIT sockets", gauge(tw));
}
