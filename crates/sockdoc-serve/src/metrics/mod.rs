//! The metric families `/metrics` answers, rendered once from one [`Shown`] value with
//! prometheus-client, one file per group: [`sockets`] (by state), [`ports`] (per listening port),
//! [`processes`] (per process name), [`services`] (per systemd unit and container), [`doctor`] (findings and ghost suspects), [`kernel`] (counters,
//! conntrack, TIME-WAIT and ephemeral port limits) and [`about`] (the exporter's own state).
//! Kernel counters are exported raw as counters: Prometheus computes their rates.

mod about;
mod doctor;
mod kernel;
mod ports;
mod processes;
mod services;
mod sockets;

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use prometheus_client::encoding::text::encode as encode_text;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sockdoc_core::doctor::Finding;
use sockdoc_core::service::Services;
use sockdoc_diag::State;
use sockdoc_proc::SocketOwners;

use crate::counts::ScrapeCounts;
use crate::exporter::Kernel;

type FloatGauge = Gauge<f64, AtomicU64>;

/// Everything one scrape shows: this scrape's readings and the last full census, with how old each
/// cached part is.
pub(crate) struct Shown<'a> {
    /// This scrape's counts (the full census's when it ran in this scrape).
    pub now: &'a ScrapeCounts,
    /// The last full census (per-connection counts: ESTABLISHED per port, sockets per process,
    /// ephemeral ports per destination).
    pub full: &'a ScrapeCounts,
    /// Rows per bounded label set.
    pub top_k: usize,
    /// The last /proc walk (socket inode -> process), and when it finished.
    pub owners: Option<&'a SocketOwners>,
    pub owners_at: Option<Instant>,
    /// The units and containers of the cgroup ids counted (this scrape's and the last full census's).
    pub services: &'a Services,
    /// The last doctor run's findings, and when it ran.
    pub findings: &'a [Finding],
    pub doctor_at: Option<Instant>,
    /// Keepalive coverage per listening port, from the last doctor run.
    pub coverage: HashMap<u16, f64>,
    /// Ghost suspects at the last doctor run.
    pub ghosts: i64,
    /// This scrape's kernel readings.
    pub kernel: &'a Kernel,
    /// Scrapes run so far.
    pub scrapes: u64,
    /// The namespace scraped (its inode), and how often a recreated name was followed.
    pub netns_inode: u64,
    pub netns_changes: u64,
    /// When this scrape began.
    pub started: Instant,
    /// Per listening port, the first-seen time (ms) of its oldest connection (last full census;
    /// `None` without the recorder's index).
    pub oldest: Option<&'a rustc_hash::FxHashMap<u16, u64>>,
    /// When the recorder last scanned, as its index says.
    pub record_last_scan_ms: Option<u64>,
}

/// The OpenMetrics text of a scrape.
pub(crate) use about::build_info;

pub(crate) fn encode(s: &Shown) -> Result<String, std::fmt::Error> {
    let mut reg = Registry::with_prefix("sockdoc");
    sockets::by_state(&mut reg, s);
    ports::register(&mut reg, s);
    processes::register(&mut reg, s);
    services::register(&mut reg, s);
    doctor::ghost_suspects(&mut reg, s);
    sockets::time_wait(&mut reg, s);
    kernel::register(&mut reg, s);
    doctor::findings(&mut reg, s);
    about::register(&mut reg, s);
    let mut text = String::new();
    encode_text(&mut text, &reg)?;
    Ok(text)
}

/// A socket state as a label value: node_exporter's tcpstat spelling (`established`, `syn_recv`,
/// `fin_wait1`, `time_wait`, `close_wait`, `close`...), and `unconn` for an unconnected UDP socket
/// (ss's word; TCP's `close`).
pub(crate) fn state_label(udp: bool, st: State) -> &'static str {
    match st {
        State::Established => "established",
        State::SynSent => "syn_sent",
        State::SynRecv => "syn_recv",
        State::FinWait1 => "fin_wait1",
        State::FinWait2 => "fin_wait2",
        State::TimeWait => "time_wait",
        State::Close if udp => "unconn",
        State::Close => "close",
        State::CloseWait => "close_wait",
        State::LastAck => "last_ack",
        State::Listen => "listen",
        State::Closing => "closing",
    }
}

/// A gauge holding `v`.
fn gauge(v: i64) -> Gauge {
    let g = Gauge::<i64>::default();
    g.set(v);
    g
}

/// The `k` largest of a bounded label set (processes, units, containers), largest first; ties by
/// label.
fn top<K: Ord + Hash + Copy>(m: &HashMap<K, u64>, k: usize) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = m.iter().map(|(k, v)| (*k, *v)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(k);
    v
}

/// A count as a gauge value (saturating).
fn num<T: TryInto<i64>>(v: T) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    use sockdoc_core::doctor::ghosts::{GhostGroup, GhostSuspects};
    use sockdoc_core::doctor::kernel::Sysctls;
    use sockdoc_core::doctor::Severity;
    use sockdoc_core::i18n::Lang;
    use sockdoc_proc::counters::Counters;
    use sockdoc_proc::sockstat::SockStat;

    use super::*;
    use crate::counts::tests::sockets;

    /// A ghost-suspects finding as the doctor makes it.
    fn ghost_finding(severity: Severity) -> Finding {
        let suspects = GhostSuspects {
            idle_known: true,
            suspects: 3,
            threshold_ms: 7_875_000,
            groups: vec![GhostGroup {
                pid: 4242,
                process: "vsftpd".into(),
                service: Default::default(),
                local_port: 21,
                remote_port: 0,
                count: 3,
                max_idle_ms: 9_000_000,
                peers: vec!["192.0.2.7".into()],
            }],
        };
        Finding::new(Lang::En, severity, suspects)
    }

    /// The text of a scrape with these counts and services, a ghost-suspects finding, keepalive
    /// coverage on port 80 and a TIME-WAIT limit of 4096.
    pub(crate) fn render(
        now: &ScrapeCounts,
        full: &ScrapeCounts,
        services: &Services,
        top_k: usize,
    ) -> String {
        let kernel = Kernel {
            sysctls: Sysctls {
                max_tw_buckets: Some(4096),
                ..Sysctls::default()
            },
            counters: Counters::default(),
            conntrack: None,
            sockstat: SockStat::default(),
        };
        let findings = [ghost_finding(Severity::Warning)];
        encode(&Shown {
            now,
            full,
            top_k,
            owners: None,
            owners_at: None,
            services,
            findings: &findings,
            doctor_at: Some(Instant::now()),
            coverage: HashMap::from([(80, 0.5)]),
            ghosts: 3,
            kernel: &kernel,
            scrapes: 2,
            netns_inode: 4026531840,
            netns_changes: 0,
            started: Instant::now(),
            oldest: None,
            record_last_scan_ms: None,
        })
        .expect("encode")
    }

    /// A cheap scrape (no ESTABLISHED dumped; a listener on :81 came since) against the last full
    /// census: per-port connections come from the census, queues and SYN-RECV from this scrape.
    #[test]
    fn a_cheap_scrape_renders_its_counts_beside_the_last_full_census() {
        let range = Some((32768, 60999));
        let mut full = ScrapeCounts::new(true, range);
        sockets().iter().for_each(|s| full.add(s, None));
        let mut now = ScrapeCounts::new(false, range);
        let mut quiet = sockets()[0];
        quiet.local_port = 81;
        for s in sockets().iter().chain([&quiet]) {
            if s.state != State::Established {
                now.add(s, None);
            }
        }
        now.derive_established(&SockStat {
            tcp_inuse: 7,
            ..SockStat::default()
        });
        let text = render(&now, &full, &Services::default(), 1);
        for line in [
            r#"sockdoc_sockets{proto="tcp",family="ipv4",state="established"} 4"#,
            r#"sockdoc_sockets{proto="tcp",family="ipv4",state="listen"} 2"#,
            r#"sockdoc_listen_port_established{port="80"} 2"#,
            r#"sockdoc_listen_port_syn_recv{port="80"} 1"#,
            r#"sockdoc_keepalive_coverage_ratio{port="80"} 0.5"#,
            r#"sockdoc_accept_queue{port="80"} 3"#,
            r#"sockdoc_accept_backlog{port="80"} 128"#,
            r#"sockdoc_process_sockets{process="-"} 8"#,
            r#"sockdoc_process_close_wait{process="-"} 1"#,
            // No cgroup ids in these sockets: every one counts under no_cgroup, ESTABLISHED from
            // the full census.
            r#"sockdoc_unit_sockets{unit="no_cgroup",proto="tcp",state="established"} 4"#,
            r#"sockdoc_unit_sockets{unit="no_cgroup",proto="tcp",state="listen"} 2"#,
            r#"sockdoc_container_sockets{container="no_cgroup",pod="",proto="tcp",state="time_wait"} 1"#,
            "sockdoc_ghost_suspects 3",
            "sockdoc_time_wait 1",
            "sockdoc_time_wait_max 4096",
            "sockdoc_ephemeral_ports_used 2",
            "sockdoc_ephemeral_ports_range 28232",
            r#"sockdoc_finding{id="ghost-suspects",severity="warning"} 1"#,
            "sockdoc_scrapes_total 2",
            r#"sockdoc_netns_info{inode="4026531840"} 1"#,
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        // Top K = 1: the busier port only; no conntrack on this kernel, no family for it.
        assert!(!text.contains(r#"port="81""#), "{text}");
        assert!(!text.contains("conntrack"), "{text}");
    }
}
