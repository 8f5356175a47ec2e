//! The sysctl audit: settings in /etc/sysctl.conf and sysctl.d that this kernel no longer has (the
//! incident notes' `tcp_tw_recycle`), and current values known to hurt — judged by the one sysctl
//! judge ([`crate::sysctl_audit::judge`]) that `sysctl check` uses, with its thresholds and reasons.

use std::path::PathBuf;

use super::{num, Finding, Input, Row, Severity};
use crate::sysctl_audit::judge::{self, Reason, RISKY};
use crate::sysctl_audit::Verdict;

/// A setting in a config file that this kernel does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObsoleteSetting {
    pub key: String,
    pub value: String,
    pub file: PathBuf,
    pub line: usize,
}

impl ObsoleteSetting {
    /// `tcp_tw_recycle` (removed in Linux 4.12), for which the catalog knows why.
    pub fn is_tw_recycle(&self) -> bool {
        self.key.trim_start_matches("net.ipv4.") == "tcp_tw_recycle"
    }
}

/// Settings in config files that this kernel does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysctlObsolete {
    /// Never empty.
    pub settings: Vec<ObsoleteSetting>,
}

impl super::Kind for SysctlObsolete {
    const ID: &'static str = "sysctl-obsolete";
    fn numbers(&self) -> Vec<(&'static str, i64)> {
        vec![("settings", num(self.settings.len()))]
    }
    fn rows(&self) -> Vec<Row> {
        self.settings
            .iter()
            .map(|e| {
                Row::default()
                    .with("key", e.key.as_str())
                    .with("value", e.value.as_str())
                    .with("file", e.file.display().to_string())
                    .with("line", e.line)
            })
            .collect()
    }
}

/// A current value the judge would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiskySetting {
    pub key: &'static str,
    pub value: String,
    pub recommended: String,
    pub reason: Reason,
}

/// Current values known to hurt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysctlRisky {
    /// Never empty, in the order of [`RISKY`].
    pub settings: Vec<RiskySetting>,
}

impl super::Kind for SysctlRisky {
    const ID: &'static str = "sysctl-risky";
    fn numbers(&self) -> Vec<(&'static str, i64)> {
        vec![("settings", num(self.settings.len()))]
    }
    fn rows(&self) -> Vec<Row> {
        self.settings
            .iter()
            .map(|r| {
                Row::default()
                    .with("key", r.key)
                    .with("value", r.value.as_str())
            })
            .collect()
    }
}

pub fn obsolete(input: &Input) -> Option<Finding> {
    let settings: Vec<ObsoleteSetting> = input
        .kernel
        .config
        .iter()
        .filter(|(_, known)| !known)
        .map(|(e, _)| ObsoleteSetting {
            key: e.key.clone(),
            value: e.value.clone(),
            file: e.file.clone(),
            line: e.line,
        })
        .collect();
    if settings.is_empty() {
        return None;
    }
    let e = SysctlObsolete { settings };
    Some(Finding::new(input.lang, Severity::Warning, e))
}

/// The current value of a [`RISKY`] setting as the judge reads it (`"32768 60999"` for the range).
fn current(k: &super::kernel::Sysctls, key: &str) -> Option<String> {
    match key {
        "net.ipv4.tcp_max_tw_buckets" => k.max_tw_buckets.map(|v| v.to_string()),
        "net.ipv4.tcp_syncookies" => k.syncookies.map(|v| v.to_string()),
        "net.ipv4.ip_local_port_range" => k.port_range.map(|(lo, hi)| format!("{lo} {hi}")),
        "net.ipv4.tcp_retries2" => k.retries2.map(|v| v.to_string()),
        _ => None,
    }
}

/// The [`RISKY`] settings the judge would change, with its recommendation and reason.
pub fn risky_settings(k: &super::kernel::Sysctls) -> Vec<RiskySetting> {
    RISKY
        .iter()
        .filter_map(|&key| {
            let value = current(k, key)?;
            let j = judge::judge(key, Some(&value), true, None);
            Some(RiskySetting {
                key,
                recommended: j.recommended.filter(|_| j.verdict == Verdict::Change)?,
                value,
                reason: j.reason,
            })
        })
        .collect()
}

pub fn risky(input: &Input) -> Option<Finding> {
    let settings = risky_settings(&input.kernel.sysctls);
    if settings.is_empty() {
        return None;
    }
    let e = SysctlRisky { settings };
    Some(Finding::new(input.lang, Severity::Warning, e))
}
