//! Limits that turn connection growth into outages: per-process file descriptors (RLIMIT_NOFILE), the
//! system file table, and the conntrack table.

use super::{num, percent, Finding, Input, Row, Severity};
use crate::i18n::pick;

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
    let lang = input.lang;
    let title = match rows.first() {
        Some((pid, name, open, soft, pct)) => pick(
            lang,
            format!("{name}/{pid} has {open} of {soft} file descriptors open ({pct}%): at the limit accept() and connect() fail with EMFILE"),
            format!("{name}/{pid} 已打开 {soft} 个文件描述符中的 {open} 个 ({pct}%): 达到上限后 accept() 和 connect() 将以 EMFILE 失败"),
        ),
        None => {
            let f = sys?;
            pick(
                lang,
                format!("The system file table is {}% full ({} of fs.file-max {})", percent(f.allocated, f.max), f.allocated, f.max),
                format!("系统文件表已用 {}% ({} / fs.file-max {})", percent(f.allocated, f.max), f.allocated, f.max),
            )
        }
    };
    let detail = pick(
        lang,
        format!(
            "{} processes at 80% or more of their RLIMIT_NOFILE soft limit.",
            rows.len()
        ),
        format!(
            "{} 个进程已用到其 RLIMIT_NOFILE 软限制的 80% 或以上。",
            rows.len()
        ),
    );
    let why = pick(
        lang,
        "Every socket is a file descriptor. A server out of descriptors cannot accept; clients queue in the accept queue and time out, and the process may spin on accept() errors.".to_string(),
        "每个套接字都是一个文件描述符。描述符耗尽的服务器无法 accept; 客户端在 accept 队列中排队直至超时, 进程还可能因 accept() 出错而空转。".to_string(),
    );
    let mut fix = Vec::new();
    if let Some((pid, _, _, _, _)) = rows.first() {
        fix.push(pick(
            lang,
            format!("sockdoc stats pid {pid} --by state   # are they leaked CLOSE-WAIT sockets or live connections?"),
            format!("sockdoc stats pid {pid} --by state   # 是泄漏的 CLOSE-WAIT 还是活动连接?"),
        ));
        fix.push(pick(
            lang,
            format!("prlimit --pid {pid} --nofile=65536:65536   # raise it now; make it permanent with LimitNOFILE= in the service unit"),
            format!("prlimit --pid {pid} --nofile=65536:65536   # 立即调高; 在服务单元中设置 LimitNOFILE= 使其永久生效"),
        ));
    }
    let groups = rows
        .into_iter()
        .map(|(pid, name, open, soft, pct)| {
            Row::default()
                .with("pid", pid)
                .with("process", name)
                .with("open", open)
                .with("soft", soft)
                .with("percent", pct)
        })
        .collect();
    Some(Finding {
        id: "fd-limit",
        severity,
        title,
        detail,
        why,
        fix,
        evidence: vec![
            (
                "file_nr_allocated",
                k.file_nr.as_ref().map_or(0, |f| num(f.allocated)),
            ),
            ("file_max", k.file_nr.as_ref().map_or(0, |f| num(f.max))),
        ],
        groups,
    })
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
    let lang = input.lang;
    let title = pick(
        lang,
        format!(
            "conntrack table {pct}% full ({} of nf_conntrack_max {}){}",
            now.count,
            now.max,
            if drops > 0 {
                format!("; {drops} packets dropped in the last interval")
            } else {
                String::new()
            }
        ),
        format!(
            "conntrack 表已用 {pct}% ({} / nf_conntrack_max {}){}",
            now.count,
            now.max,
            if drops > 0 {
                format!("; 刚才的采样间隔内丢弃了 {drops} 个包")
            } else {
                String::new()
            }
        ),
    );
    let detail = pick(
        lang,
        "Every tracked flow (TCP in any state, including TIME-WAIT, and UDP) holds an entry until its timeout.".to_string(),
        "每个被跟踪的流 (任何状态的 TCP, 包括 TIME-WAIT, 以及 UDP) 在超时前都占用一个表项。".to_string(),
    );
    let why = pick(
        lang,
        "When the table is full the kernel drops the first packet of new flows (\"nf_conntrack: table full, dropping packet\"): new connections fail at random while existing ones work.".to_string(),
        "表满时内核会丢弃新流的第一个包 (\"nf_conntrack: table full, dropping packet\"): 新连接随机失败, 而已有连接正常。".to_string(),
    );
    let fix = vec![
        pick(lang, "conntrack -S; conntrack -L -o extended | awk '{print $3, $4}' | sort | uniq -c | sort -rn | head   # what fills it".to_string(), "conntrack -S; conntrack -L -o extended | awk '{print $3, $4}' | sort | uniq -c | sort -rn | head   # 是什么占满了它".to_string()),
        pick(lang, "Raise net.netfilter.nf_conntrack_max (about 300 bytes per entry), shorten nf_conntrack_tcp_timeout_time_wait / _established, or exempt busy local traffic with a `notrack` rule".to_string(), "调大 net.netfilter.nf_conntrack_max (每项约 300 字节), 缩短 nf_conntrack_tcp_timeout_time_wait / _established, 或用 `notrack` 规则豁免繁忙的本地流量".to_string()),
    ];
    Some(Finding {
        id: "conntrack-full",
        severity,
        title,
        detail,
        why,
        fix,
        evidence: vec![
            ("count", num(now.count)),
            ("max", num(now.max)),
            ("percent", num(pct)),
            ("drop_delta", num(drops)),
        ],
        groups: Vec::new(),
    })
}
