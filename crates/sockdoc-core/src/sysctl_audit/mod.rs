//! The sysctl audit behind `sockdoc sysctl check` and `sockdoc sysctl plan`: every setting the incident
//! notes tuned (plus somaxconn, tcp_retries2 and nf_conntrack_max), its current value, whether this kernel
//! still has it, and what to do with it and why — including where the copied advice is wrong. Pure
//! judgement on values it is given; reading and writing belong to the callers.

pub mod judge;

use crate::i18n::{self, Lang};
pub use judge::{judge, Judgement, Reason};

/// What to do with a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The current value is fine.
    Keep,
    /// Set it to `recommended`.
    Change,
    /// The kernel no longer has it: delete it from config files.
    Remove,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Keep => "keep",
            Verdict::Change => "change",
            Verdict::Remove => "remove",
        }
    }
}

/// One audited setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub key: &'static str,
    /// Current value (whitespace normalised); `None` when the kernel has no such setting.
    pub current: Option<String>,
    pub verdict: Verdict,
    /// The value to set for [`Verdict::Change`].
    pub recommended: Option<String>,
    pub reason: String,
}

/// The settings audited, in the order shown.
pub const KEYS: [&str; 17] = [
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_tw_reuse",
    "net.ipv4.tcp_tw_recycle",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_syn_retries",
    "net.ipv4.tcp_orphan_retries",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_max_tw_buckets",
    "net.core.netdev_max_backlog",
    "net.core.somaxconn",
    "net.ipv4.tcp_retries2",
    "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_count",
];

/// Audit every key of [`KEYS`] (except the conntrack count, used as context) with `read` giving the
/// current value of a setting or `None` when the kernel lacks it, and `configured` telling whether a
/// sysctl config file sets it. Each row is the [`judge`]'s judgement, worded in `lang`.
pub fn audit(
    lang: Lang,
    read: &dyn Fn(&str) -> Option<String>,
    configured: &dyn Fn(&str) -> bool,
) -> Vec<AuditRow> {
    let cur = |k: &str| read(k).map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "));
    let ct_count = cur("net.netfilter.nf_conntrack_count")
        .and_then(|v| v.split_whitespace().next()?.parse().ok());
    KEYS.iter()
        .filter(|k| **k != "net.netfilter.nf_conntrack_count")
        .map(|&key| {
            let current = cur(key);
            let j = judge(key, current.as_deref(), configured(key), ct_count);
            AuditRow {
                key,
                current,
                verdict: j.verdict,
                recommended: j.recommended,
                reason: i18n::sysctl_reason(lang, j.reason).to_string(),
            }
        })
        .collect()
}

/// What a profile wants of a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Raise it to at least this.
    AtLeast(u64),
    /// Lower it to at most this.
    AtMost(u64),
    /// Exactly this value (whitespace-normalised).
    Exactly(&'static str),
}

/// One setting of a profile, with why.
#[derive(Clone, Copy, Debug)]
pub struct ProfileSetting {
    pub key: &'static str,
    pub want: Want,
    pub why: ProfileText,
}

/// A named set of settings for a kind of host, applied on top of the audit's own fixes.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    pub name: &'static str,
    pub about: ProfileText,
    pub settings: &'static [ProfileSetting],
}

/// What a profile is for and why it wants each of its settings; the catalog words each one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileText {
    FastDeadPeers,
    FastKeepaliveTime,
    FastKeepaliveIntvl,
    FastKeepaliveProbes,
    FastRetries2,
    BusyServer,
    ServerSomaxconn,
    ServerSynBacklog,
    ServerSyncookies,
    ServerNetdevBacklog,
    BusyClient,
    ClientPortRange,
    ClientTwReuse,
    ClientTwBuckets,
}

impl ProfileSetting {
    /// Why the profile wants it, in `lang`.
    pub fn text(&self, lang: Lang) -> &'static str {
        i18n::sysctl_profile(lang, self.why)
    }
}

impl Profile {
    /// What the profile is for, in `lang`.
    pub fn about(&self, lang: Lang) -> &'static str {
        i18n::sysctl_profile(lang, self.about)
    }
}

/// The profiles `sysctl check|plan|apply --profile NAME` know.
pub const PROFILES: [Profile; 3] = [
    Profile {
        name: "fast-dead-peers",
        about: ProfileText::FastDeadPeers,
        settings: &[
            ProfileSetting {
                key: "net.ipv4.tcp_keepalive_time",
                want: Want::AtMost(120),
                why: ProfileText::FastKeepaliveTime,
            },
            ProfileSetting {
                key: "net.ipv4.tcp_keepalive_intvl",
                want: Want::AtMost(15),
                why: ProfileText::FastKeepaliveIntvl,
            },
            ProfileSetting {
                key: "net.ipv4.tcp_keepalive_probes",
                want: Want::AtMost(4),
                why: ProfileText::FastKeepaliveProbes,
            },
            ProfileSetting {
                key: "net.ipv4.tcp_retries2",
                want: Want::AtMost(8),
                why: ProfileText::FastRetries2,
            },
        ],
    },
    Profile {
        name: "busy-server",
        about: ProfileText::BusyServer,
        settings: &[
            ProfileSetting {
                key: "net.core.somaxconn",
                want: Want::AtLeast(8192),
                why: ProfileText::ServerSomaxconn,
            },
            ProfileSetting {
                key: "net.ipv4.tcp_max_syn_backlog",
                want: Want::AtLeast(8192),
                why: ProfileText::ServerSynBacklog,
            },
            ProfileSetting {
                key: "net.ipv4.tcp_syncookies",
                want: Want::Exactly("1"),
                why: ProfileText::ServerSyncookies,
            },
            ProfileSetting {
                key: "net.core.netdev_max_backlog",
                want: Want::AtLeast(16384),
                why: ProfileText::ServerNetdevBacklog,
            },
        ],
    },
    Profile {
        name: "busy-client",
        about: ProfileText::BusyClient,
        settings: &[
            ProfileSetting {
                key: "net.ipv4.ip_local_port_range",
                want: Want::Exactly("10000 65535"),
                why: ProfileText::ClientPortRange,
            },
            ProfileSetting {
                key: "net.ipv4.tcp_tw_reuse",
                want: Want::Exactly("1"),
                why: ProfileText::ClientTwReuse,
            },
            ProfileSetting {
                key: "net.ipv4.tcp_max_tw_buckets",
                want: Want::AtLeast(262144),
                why: ProfileText::ClientTwBuckets,
            },
        ],
    },
];

/// The profile called `name`, or a one-line error naming the known ones.
pub fn profile(name: &str) -> Result<&'static Profile, String> {
    PROFILES.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
        format!(
            "unknown sysctl profile '{name}': use one of {}",
            names.join(", ")
        )
    })
}

/// A profile setting the kernel cannot take, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub key: &'static str,
    pub reason: String,
}

/// Lay `profile` over audited `rows` (from [`audit`]): its settings replace the audit's advice for the
/// same keys, and keys the audit does not cover are added. `read` gives current values; settings this
/// kernel (or namespace) does not have are refused, with the reason, instead of changed.
pub fn with_profile(
    lang: Lang,
    mut rows: Vec<AuditRow>,
    profile: &Profile,
    read: &dyn Fn(&str) -> Option<String>,
) -> (Vec<AuditRow>, Vec<Refused>) {
    let mut refused = Vec::new();
    for ps in profile.settings {
        let current = read(ps.key).map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "));
        let Some(cur) = current.clone() else {
            refused.push(Refused {
                key: ps.key,
                reason: i18n::sysctl_reason(lang, Reason::ProfileRefused).to_string(),
            });
            rows.retain(|r| r.key != ps.key);
            continue;
        };
        let n = cur
            .split_whitespace()
            .next()
            .and_then(|x| x.parse::<u64>().ok());
        let target = match ps.want {
            Want::AtLeast(v) if n.is_none_or(|c| c < v) => Some(v.to_string()),
            Want::AtMost(v) if n.is_none_or(|c| c > v) => Some(v.to_string()),
            Want::Exactly(v) if cur != v => Some(v.to_string()),
            _ => None,
        };
        let why = format!("[{}] {}", profile.name, ps.text(lang));
        let row = AuditRow {
            key: ps.key,
            current,
            verdict: if target.is_some() {
                Verdict::Change
            } else {
                Verdict::Keep
            },
            recommended: target,
            reason: why,
        };
        match rows.iter_mut().find(|r| r.key == ps.key) {
            Some(r) => *r = row,
            None => rows.push(row),
        }
    }
    (rows, refused)
}

/// The heading of a snippet for the host.
pub const HOST_HEADING: &str = "# Written by `sockdoc sysctl plan`: connection-handling settings for this host.\n# Review, then install into /etc/sysctl.d/ and load with `sysctl --system`.\n";

/// A sysctl.d snippet with the changes, ready for `/etc/sysctl.d/` (applying it is `sockdoc sysctl apply`).
pub fn plan_snippet(rows: &[AuditRow]) -> String {
    plan_snippet_with(rows, HOST_HEADING)
}

/// The snippet under another heading: comment lines, each ending in a newline (a network namespace's
/// settings say whose they are and how to load them, so they are never mistaken for the host's).
pub fn plan_snippet_with(rows: &[AuditRow], heading: &str) -> String {
    let mut out = String::from(heading);
    for r in rows.iter().filter(|r| r.verdict == Verdict::Change) {
        if let Some(v) = &r.recommended {
            out.push_str(&format!(
                "\n# was {}: {}\n{} = {}\n",
                r.current.as_deref().unwrap_or("unset"),
                r.reason,
                r.key,
                v
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The values the incident notes set, on a kernel without tcp_tw_recycle.
    fn seed_host() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("net.ipv4.tcp_keepalive_time", "1200"),
            ("net.ipv4.tcp_keepalive_intvl", "75"),
            ("net.ipv4.tcp_keepalive_probes", "5"),
            ("net.ipv4.tcp_syncookies", "1"),
            ("net.ipv4.tcp_tw_reuse", "1"),
            ("net.ipv4.tcp_fin_timeout", "30"),
            ("net.ipv4.tcp_syn_retries", "2"),
            ("net.ipv4.tcp_orphan_retries", "3"),
            ("net.ipv4.ip_local_port_range", "1024\t65000"),
            ("net.ipv4.tcp_max_syn_backlog", "8192"),
            ("net.ipv4.tcp_max_tw_buckets", "5000"),
            ("net.core.netdev_max_backlog", "3000"),
            ("net.core.somaxconn", "4096"),
            ("net.ipv4.tcp_retries2", "15"),
            ("net.netfilter.nf_conntrack_max", "1000"),
            ("net.netfilter.nf_conntrack_count", "900"),
        ])
    }

    fn row<'a>(rows: &'a [AuditRow], key: &str) -> &'a AuditRow {
        rows.iter().find(|r| r.key == key).expect("audited")
    }

    #[test]
    fn the_incident_notes_tuning_is_judged() {
        let host = seed_host();
        let rows = audit(Lang::En, &|k| host.get(k).map(|v| v.to_string()), &|k| {
            k == "net.ipv4.tcp_tw_recycle"
        });
        assert_eq!(rows.len(), KEYS.len() - 1);
        let clean = audit(Lang::En, &|k| host.get(k).map(|v| v.to_string()), &|_| {
            false
        });
        assert_eq!(
            row(&clean, "net.ipv4.tcp_tw_recycle").verdict,
            Verdict::Keep
        );
        let r = row(&rows, "net.ipv4.tcp_tw_recycle");
        assert_eq!((r.verdict, r.current.as_deref()), (Verdict::Remove, None));
        assert!(r.reason.contains("4.12"));
        assert_eq!(
            row(&rows, "net.ipv4.tcp_max_tw_buckets")
                .recommended
                .as_deref(),
            Some("262144")
        );
        assert_eq!(
            row(&rows, "net.ipv4.tcp_syn_retries").verdict,
            Verdict::Change
        );
        assert_eq!(
            row(&rows, "net.ipv4.ip_local_port_range")
                .current
                .as_deref(),
            Some("1024 65000")
        );
        assert_eq!(
            row(&rows, "net.ipv4.ip_local_port_range")
                .recommended
                .as_deref(),
            Some("10000 65000")
        );
        assert_eq!(
            row(&rows, "net.ipv4.tcp_fin_timeout").verdict,
            Verdict::Keep
        );
        assert!(row(&rows, "net.ipv4.tcp_fin_timeout")
            .reason
            .contains("TIME-WAIT"));
        assert_eq!(
            row(&rows, "net.netfilter.nf_conntrack_max")
                .recommended
                .as_deref(),
            Some("2000")
        );
        assert_eq!(row(&rows, "net.ipv4.tcp_syncookies").verdict, Verdict::Keep);
        let plan = plan_snippet(&rows);
        assert!(plan.contains("net.ipv4.tcp_max_tw_buckets = 262144"));
        assert!(!plan.contains("tcp_tw_recycle ="), "{plan}");
        assert!(!plan.contains("tcp_syncookies ="), "{plan}");
    }

    #[test]
    fn profiles_override_the_audit_and_refuse_what_the_kernel_lacks() {
        let mut host = seed_host();
        host.remove("net.core.netdev_max_backlog");
        host.insert("net.core.somaxconn", "65535");
        let read = |k: &str| host.get(k).map(|v| v.to_string());
        let rows = audit(Lang::En, &read, &|_| false);
        let (rows, refused) = with_profile(
            Lang::En,
            rows,
            profile("busy-server").expect("known"),
            &read,
        );
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].key, "net.core.netdev_max_backlog");
        assert!(!rows.iter().any(|r| r.key == "net.core.netdev_max_backlog"));
        // Never lowered by an "at least".
        assert_eq!(row(&rows, "net.core.somaxconn").verdict, Verdict::Keep);
        assert_eq!(
            row(&rows, "net.ipv4.tcp_max_syn_backlog").verdict,
            Verdict::Keep,
            "8192 already"
        );
        // The audit's own fixes stay in.
        assert_eq!(
            row(&rows, "net.ipv4.tcp_max_tw_buckets")
                .recommended
                .as_deref(),
            Some("262144")
        );
        let (rows, _) = with_profile(
            Lang::En,
            audit(Lang::En, &read, &|_| false),
            profile("fast-dead-peers").expect("known"),
            &read,
        );
        // The profile's stricter value replaces the audit's 300.
        let r = row(&rows, "net.ipv4.tcp_keepalive_time");
        assert_eq!(r.recommended.as_deref(), Some("120"));
        assert!(r.reason.starts_with("[fast-dead-peers]"));
        assert_eq!(
            row(&rows, "net.ipv4.tcp_retries2").recommended.as_deref(),
            Some("8")
        );
        let (rows, _) = with_profile(
            Lang::Zh,
            audit(Lang::Zh, &read, &|_| false),
            profile("busy-client").expect("known"),
            &read,
        );
        assert_eq!(
            row(&rows, "net.ipv4.ip_local_port_range")
                .recommended
                .as_deref(),
            Some("10000 65535")
        );
        // tw_reuse is already 1 on the seed host.
        assert_eq!(row(&rows, "net.ipv4.tcp_tw_reuse").verdict, Verdict::Keep);
        let e = profile("busy").expect_err("unknown");
        assert!(
            e.contains("fast-dead-peers, busy-server, busy-client"),
            "{e}"
        );
    }

    #[test]
    fn chinese_reasons_exist_for_every_row() {
        let host = seed_host();
        let rows = audit(Lang::Zh, &|k| host.get(k).map(|v| v.to_string()), &|_| true);
        for r in rows {
            assert!(
                r.reason
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{}: {}",
                r.key,
                r.reason
            );
        }
    }

    /// The doctor's `sysctl-risky` and `sysctl check` judge alike: for values on both sides of each
    /// threshold (including the old doctor-only ones), a setting is risky exactly when the audit says
    /// change, to the same value, with the same words in both languages.
    #[test]
    fn doctor_and_check_agree() {
        use crate::doctor::kernel::Sysctls;
        use crate::doctor::sysctl::risky_settings;
        let cases: [(&str, &[&str]); 4] = [
            (
                "net.ipv4.tcp_max_tw_buckets",
                &[
                    "200", "5000", "9999", "10000", "20000", "65535", "65536", "262144",
                ],
            ),
            ("net.ipv4.tcp_syncookies", &["0", "1", "2"]),
            (
                "net.ipv4.ip_local_port_range",
                &[
                    "1024 65000",
                    "9999 65000",
                    "32768 60999",
                    "40000 45000",
                    "10000 29999",
                    "10000 30000",
                ],
            ),
            (
                "net.ipv4.tcp_retries2",
                &["1", "2", "3", "5", "7", "8", "15"],
            ),
        ];
        for (key, values) in cases {
            for v in values {
                let mut k = Sysctls::default();
                let n = v.split_whitespace().next().and_then(|x| x.parse().ok());
                match key {
                    "net.ipv4.tcp_max_tw_buckets" => k.max_tw_buckets = n,
                    "net.ipv4.tcp_syncookies" => k.syncookies = n,
                    "net.ipv4.tcp_retries2" => k.retries2 = n,
                    _ => {
                        let mut it = v.split_whitespace().filter_map(|x| x.parse().ok());
                        k.port_range = it.next().zip(it.next());
                    }
                }
                for lang in [Lang::En, Lang::Zh] {
                    let rows = audit(lang, &|q| (q == key).then(|| v.to_string()), &|_| true);
                    let row = row(&rows, key);
                    let risky = risky_settings(&k);
                    let flagged = risky.iter().find(|r| r.key == key);
                    assert_eq!(
                        flagged.is_some(),
                        row.verdict == Verdict::Change,
                        "{key} = {v}: doctor {flagged:?}, check {row:?}"
                    );
                    if let Some(f) = flagged {
                        assert_eq!(
                            Some(&f.recommended),
                            row.recommended.as_ref(),
                            "{key} = {v}"
                        );
                        assert_eq!(
                            i18n::sysctl_reason(lang, f.reason),
                            row.reason,
                            "{key} = {v}"
                        );
                    }
                }
            }
        }
    }
}
