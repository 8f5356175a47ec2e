//! The one sysctl judge: for each setting sockdoc has an opinion on, one threshold, one recommended
//! value and one reason. `sysctl check` shows every judgement; the doctor's `sysctl-risky` finding
//! reports the settings among [`RISKY`] judged [`Verdict::Change`], with the same reason. The words
//! live in the catalog ([`crate::i18n`]).

use super::Verdict;

/// Above this `tcp_keepalive_time` (s), dead peers of keepalive sockets are found too late.
pub const KEEPALIVE_TIME_MAX: u64 = 600;
/// The `tcp_keepalive_time` (s) recommended instead.
pub const KEEPALIVE_TIME_SET: u64 = 300;
/// At most this `tcp_keepalive_intvl` (s); also the value recommended.
pub const KEEPALIVE_INTVL_MAX: u64 = 30;
/// At most this many `tcp_keepalive_probes`; also the value recommended.
pub const KEEPALIVE_PROBES_MAX: u64 = 5;
/// Below this `tcp_syn_retries`, connect() gives up on any lossy path.
pub const SYN_RETRIES_MIN: u64 = 4;
/// The `tcp_syn_retries` recommended (the kernel's default).
pub const SYN_RETRIES_SET: u64 = 6;
/// The first ephemeral port should be at least this (below it services listen).
pub const PORT_RANGE_LOW_MIN: u64 = 10_000;
/// At least this many ephemeral ports per destination.
pub const PORT_RANGE_WIDTH_MIN: u64 = 20_000;
/// The last ephemeral port recommended.
pub const PORT_RANGE_HIGH_SET: u64 = 65_000;
/// At least this `tcp_max_syn_backlog`; also the value recommended.
pub const SYN_BACKLOG_MIN: u64 = 4096;
/// Below this `tcp_max_tw_buckets`, TIME-WAIT sockets are destroyed early under churn.
pub const TW_BUCKETS_MIN: u64 = 65_536;
/// The `tcp_max_tw_buckets` recommended.
pub const TW_BUCKETS_SET: u64 = 262_144;
/// At least this `somaxconn` (the default since Linux 5.4); also the value recommended.
pub const SOMAXCONN_MIN: u64 = 4096;
/// At least this `tcp_retries2` (RFC 1122's 100 s); also the value recommended.
pub const RETRIES2_MIN: u64 = 8;
/// `tcp_syncookies` wanted.
pub const SYNCOOKIES_SET: u64 = 1;

/// The settings whose [`Verdict::Change`] is a risk the doctor reports (`sysctl-risky`).
pub const RISKY: [&str; 4] = [
    "net.ipv4.tcp_max_tw_buckets",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_retries2",
];

/// Why a setting is judged as it is; the catalog words each one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    Fine,
    KeepaliveTimeLong,
    KeepaliveTimeShort,
    KeepaliveIntvlLong,
    KeepaliveProbesMany,
    SyncookiesOff,
    SyncookiesOn,
    TwReuseOn,
    TwReuseOff,
    FinTimeout,
    SynRetriesLow,
    OrphanRetries,
    PortRangeLow,
    PortRangeNarrow,
    PortRangeWide,
    SynBacklogSmall,
    TwBucketsSmall,
    TwBucketsFine,
    NetdevBacklog,
    SomaxconnSmall,
    Retries2Low,
    Retries2Fine,
    ConntrackHalfFull,
    ConntrackHeadroom,
    ConntrackNotLoaded,
    TwRecycleGone,
    TwRecycleConfigured,
    Missing,
    MissingConfigured,
    /// A profile setting the kernel (or namespace) lacks.
    ProfileRefused,
}

/// What the judge says of one setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: Verdict,
    /// The value to set for [`Verdict::Change`].
    pub recommended: Option<String>,
    pub reason: Reason,
}

fn keep(reason: Reason) -> Judgement {
    Judgement {
        verdict: Verdict::Keep,
        recommended: None,
        reason,
    }
}

fn change(to: impl ToString, reason: Reason) -> Judgement {
    Judgement {
        verdict: Verdict::Change,
        recommended: Some(to.to_string()),
        reason,
    }
}

/// The numbers of a value (`"32768 60999"` → 32768, 60999).
fn numbers(v: &str) -> impl Iterator<Item = u64> + '_ {
    v.split_whitespace().map_while(|x| x.parse::<u64>().ok())
}

/// Judge `key` at `current` (whitespace-normalised; `None` when the kernel lacks it). `configured`:
/// a sysctl config file sets it; `conntrack_count`: the conntrack table's count, for its maximum.
pub fn judge(
    key: &str,
    current: Option<&str>,
    configured: bool,
    conntrack_count: Option<u64>,
) -> Judgement {
    let Some(cur) = current else {
        return match key {
            "net.ipv4.tcp_tw_recycle" if !configured => keep(Reason::TwRecycleGone),
            "net.ipv4.tcp_tw_recycle" => Judgement {
                verdict: Verdict::Remove,
                recommended: None,
                reason: Reason::TwRecycleConfigured,
            },
            "net.netfilter.nf_conntrack_max" => keep(Reason::ConntrackNotLoaded),
            _ if !configured => keep(Reason::Missing),
            _ => Judgement {
                verdict: Verdict::Remove,
                recommended: None,
                reason: Reason::MissingConfigured,
            },
        };
    };
    let n = numbers(cur).next();
    let above = |max: u64| n.is_some_and(|v| v > max);
    let below = |min: u64| n.is_some_and(|v| v < min);
    match key {
        "net.ipv4.tcp_keepalive_time" if above(KEEPALIVE_TIME_MAX) => {
            change(KEEPALIVE_TIME_SET, Reason::KeepaliveTimeLong)
        }
        "net.ipv4.tcp_keepalive_time" => keep(Reason::KeepaliveTimeShort),
        "net.ipv4.tcp_keepalive_intvl" if above(KEEPALIVE_INTVL_MAX) => {
            change(KEEPALIVE_INTVL_MAX, Reason::KeepaliveIntvlLong)
        }
        "net.ipv4.tcp_keepalive_probes" if above(KEEPALIVE_PROBES_MAX) => {
            change(KEEPALIVE_PROBES_MAX, Reason::KeepaliveProbesMany)
        }
        "net.ipv4.tcp_syncookies" if n != Some(SYNCOOKIES_SET) => {
            change(SYNCOOKIES_SET, Reason::SyncookiesOff)
        }
        "net.ipv4.tcp_syncookies" => keep(Reason::SyncookiesOn),
        "net.ipv4.tcp_tw_reuse" if n == Some(1) => keep(Reason::TwReuseOn),
        "net.ipv4.tcp_tw_reuse" => change(1, Reason::TwReuseOff),
        "net.ipv4.tcp_fin_timeout" => keep(Reason::FinTimeout),
        "net.ipv4.tcp_syn_retries" if below(SYN_RETRIES_MIN) => {
            change(SYN_RETRIES_SET, Reason::SynRetriesLow)
        }
        "net.ipv4.tcp_orphan_retries" => keep(Reason::OrphanRetries),
        "net.ipv4.ip_local_port_range" => port_range(cur),
        "net.ipv4.tcp_max_syn_backlog" if below(SYN_BACKLOG_MIN) => {
            change(SYN_BACKLOG_MIN, Reason::SynBacklogSmall)
        }
        "net.ipv4.tcp_max_tw_buckets" if below(TW_BUCKETS_MIN) => {
            change(TW_BUCKETS_SET, Reason::TwBucketsSmall)
        }
        "net.ipv4.tcp_max_tw_buckets" => keep(Reason::TwBucketsFine),
        "net.core.netdev_max_backlog" => keep(Reason::NetdevBacklog),
        "net.core.somaxconn" if below(SOMAXCONN_MIN) => {
            change(SOMAXCONN_MIN, Reason::SomaxconnSmall)
        }
        "net.ipv4.tcp_retries2" if below(RETRIES2_MIN) => change(RETRIES2_MIN, Reason::Retries2Low),
        "net.ipv4.tcp_retries2" => keep(Reason::Retries2Fine),
        "net.netfilter.nf_conntrack_max" => match (n, conntrack_count) {
            (Some(max), Some(count)) if count.saturating_mul(2) > max => {
                change(max.saturating_mul(2), Reason::ConntrackHalfFull)
            }
            _ => keep(Reason::ConntrackHeadroom),
        },
        _ => keep(Reason::Fine),
    }
}

fn port_range(cur: &str) -> Judgement {
    let mut it = numbers(cur);
    let (lo, hi) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    if lo < PORT_RANGE_LOW_MIN {
        change(
            format!("{PORT_RANGE_LOW_MIN} {PORT_RANGE_HIGH_SET}"),
            Reason::PortRangeLow,
        )
    } else if hi.saturating_sub(lo) < PORT_RANGE_WIDTH_MIN {
        change(
            format!("{lo} {PORT_RANGE_HIGH_SET}"),
            Reason::PortRangeNarrow,
        )
    } else {
        keep(Reason::PortRangeWide)
    }
}

/// `sysctl -w KEY=VALUE` for a judgement's recommended value (quoted when it has spaces).
pub fn set_command(key: &str, value: &str) -> String {
    if value.contains(' ') {
        format!("sysctl -w {key}=\"{value}\"")
    } else {
        format!("sysctl -w {key}={value}")
    }
}
