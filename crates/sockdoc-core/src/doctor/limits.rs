//! Limits that turn connection growth into outages: per-process file descriptors (RLIMIT_NOFILE), the
//! system file table, and the conntrack table.

use super::{num, percent, Finding, Input, Row, Severity};

pub fn fd_limit(input: &Input) -> Option<Finding> {
    let k = input.kernel;
    let mut rows: Vec<(u32, String, u64, u64, u64)> = k
        .fd_pressure
        .iter()
        .filter(|p| p.soft > 0)
        .map(|p| {
            (
                p.pid,
                p.name.clone(),
                p.open,
                p.soft,
                percent(p.open, p.soft),
            )
        })
        .filter(|r| r.4 >= 80)
        .collect();
    let sys = k
        .file_nr
        .as_ref()
        .filter(|f| f.max > 0 && percent(f.allocated, f.max) >= 80);
    if rows.is_empty() && sys.is_none() {
        return None;
    }
    rows.sort_by(|a, b| b.4.cmp(&a.4).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    let worst = rows
        .first()
        .map_or(0, |r| r.4)
        .max(sys.map_or(0, |f| percent(f.allocated, f.max)));
    let severity = if worst >= 95 {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let e = FdLimit {
        file_nr: k.file_nr.as_ref().map(|f| (f.allocated, f.max)),
        groups: rows
            .into_iter()
            .map(|(pid, process, open, soft, percent)| FdGroup {
                pid,
                process,
                open,
                soft,
                percent,
            })
            .collect(),
    };
    Some(Finding::new(input.lang, severity, e))
}

/// A process at 80% or more of its RLIMIT_NOFILE soft limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdGroup {
    pub pid: u32,
    pub process: String,
    pub open: u64,
    pub soft: u64,
    pub percent: u64,
}

/// Processes near their file-descriptor limit, or the system file table nearly full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdLimit {
    /// The system file table: (allocated, fs.file-max).
    pub file_nr: Option<(u64, u64)>,
    /// The fullest first; empty when only the system table is full.
    pub groups: Vec<FdGroup>,
}

impl super::Kind for FdLimit {
    const ID: &'static str = "fd-limit";
    fn numbers(&self) -> Vec<(&'static str, i64)> {
        vec![
            ("file_nr_allocated", self.file_nr.map_or(0, |f| num(f.0))),
            ("file_max", self.file_nr.map_or(0, |f| num(f.1))),
        ]
    }
    fn rows(&self) -> Vec<Row> {
        self.groups
            .iter()
            .map(|g| {
                Row::default()
                    .with("pid", g.pid)
                    .with("process", g.process.as_str())
                    .with("open", g.open)
                    .with("soft", g.soft)
                    .with("percent", g.percent)
            })
            .collect()
    }
}

/// The conntrack table against `nf_conntrack_max`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConntrackFull {
    pub count: u64,
    pub max: u64,
    pub percent: u64,
    /// Packets dropped (drop, early_drop, insert_failed) during the interval.
    pub drop_delta: u64,
}

impl super::Kind for ConntrackFull {
    const ID: &'static str = "conntrack-full";
    fn numbers(&self) -> Vec<(&'static str, i64)> {
        vec![
            ("count", num(self.count)),
            ("max", num(self.max)),
            ("percent", num(self.percent)),
            ("drop_delta", num(self.drop_delta)),
        ]
    }
}

pub fn conntrack(input: &Input) -> Option<Finding> {
    let now = input.kernel.conntrack_after.as_ref()?;
    if now.max == 0 {
        return None;
    }
    let pct = percent(now.count, now.max);
    let drops = match (&input.kernel.conntrack_before, &now.stats) {
        (Some(before), Some(after)) => before.stats.as_ref().map_or(0, |b| {
            (after.drop + after.early_drop + after.insert_failed)
                .saturating_sub(b.drop + b.early_drop + b.insert_failed)
        }),
        _ => 0,
    };
    let severity = if pct >= 95 || drops > 0 {
        Severity::Critical
    } else if pct >= 80 {
        Severity::Warning
    } else {
        return None;
    };
    let e = ConntrackFull {
        count: now.count,
        max: now.max,
        percent: pct,
        drop_delta: drops,
    };
    Some(Finding::new(input.lang, severity, e))
}
