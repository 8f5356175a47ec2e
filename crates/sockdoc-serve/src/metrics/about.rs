//! The exporter about itself: its build (`build_info`), how old its cached parts are, scrapes run, the
//! namespace scraped (and how often a recreated name was followed), and how long this scrape took.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family as MetricFamily;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{FloatGauge, Shown};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NetnsLabels {
    inode: String,
}

pub(super) fn register(reg: &mut Registry, s: &Shown) {
    build_info(reg);
    reg.register(
        "owners_age_seconds",
        "Age of the /proc walk that attributes sockets to processes (--owners-every)",
        age(s.owners_at),
    );
    reg.register(
        "doctor_age_seconds",
        "Age of the doctor run and full census (--doctor-every)",
        age(s.doctor_at),
    );
    reg.register(
        "scrapes",
        "Scrapes run (requests that waited for a running scrape share its result)",
        counter(s.scrapes),
    );
    let pinned = MetricFamily::<NetnsLabels, Gauge>::default();
    pinned
        .get_or_create(&NetnsLabels {
            inode: s.netns_inode.to_string(),
        })
        .set(1);
    reg.register(
        "netns_info",
        "The network namespace scraped (its inode); pinned from the start unless --follow-netns follows a recreated name",
        pinned,
    );
    reg.register(
        "netns_changes",
        "Times the namespace's name came to mean another namespace and it was followed (--follow-netns)",
        counter(s.netns_changes),
    );
    if let Some(ms) = s.record_last_scan_ms {
        let g = FloatGauge::default();
        g.set(ms as f64 / 1000.0);
        reg.register(
            "record_last_scan_time_seconds",
            "When the flight recorder last scanned, Unix time, as its first-seen index says (--history)",
            g,
        );
    }
    let took = FloatGauge::default();
    took.set(s.started.elapsed().as_secs_f64());
    reg.register("scrape_duration_seconds", "Time this scrape took", took);
}

/// `build_info{version,revision,rustc} 1`, as node_exporter's: which sockdoc a host runs (the
/// revision only when the build knew it).
pub(crate) fn build_info(reg: &mut Registry) {
    let mut labels = vec![("version", env!("CARGO_PKG_VERSION"))];
    let revision = env!("SOCKDOC_REVISION");
    if !revision.is_empty() {
        labels.push(("revision", revision));
    }
    labels.push(("rustc", env!("SOCKDOC_RUSTC")));
    let info = MetricFamily::<Vec<(&'static str, &'static str)>, Gauge>::default();
    info.get_or_create(&labels).set(1);
    reg.register(
        "build_info",
        "The sockdoc build serving these metrics (version, git revision, rustc version): always 1",
        info,
    );
}

/// Seconds since `at` (0 when it never happened).
fn age(at: Option<Instant>) -> FloatGauge {
    let g = FloatGauge::default();
    g.set(at.map_or(0.0, |t| t.elapsed().as_secs_f64()));
    g
}

fn counter(n: u64) -> Counter {
    let c = Counter::<u64>::default();
    c.inc_by(n);
    c
}
