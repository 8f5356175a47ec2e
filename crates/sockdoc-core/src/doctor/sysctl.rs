//! The sysctl audit: settings in /etc/sysctl.conf and sysctl.d that this kernel no longer has (the
//! incident notes' `tcp_tw_recycle`), and current values known to hurt.

use super::{num, Finding, Input, Row, Severity};
use crate::i18n::pick;

/// Why a well-known setting is gone, when we know.
fn gone_because(key: &str, lang: crate::i18n::Lang) -> String {
    match key.trim_start_matches("net.ipv4.") {
        "tcp_tw_recycle" => pick(
            lang,
            "removed in Linux 4.12: it dropped connections from clients behind NAT (per-host timestamps); use tcp_tw_reuse for outgoing connections",
            "已在 Linux 4.12 中移除: 它会丢弃 NAT 后客户端的连接 (按主机的时间戳); 对外连接请用 tcp_tw_reuse",
        )
        .to_string(),
        _ => pick(
            lang,
            "this kernel has no such setting: `sysctl -p` / systemd-sysctl report an error for it at boot",
            "当前内核没有此参数: 启动时 `sysctl -p` / systemd-sysctl 会报错",
        )
        .to_string(),
    }
}

pub fn obsolete(input: &Input) -> Option<Finding> {
    let missing: Vec<_> = input
        .kernel
        .config
        .iter()
        .filter(|(_, known)| !known)
        .map(|(e, _)| e)
        .collect();
    if missing.is_empty() {
        return None;
    }
    let lang = input.lang;
    let first = missing[0];
    let title = pick(
        lang,
        format!(
            "{} sysctl setting(s) in config files that this kernel does not have, e.g. {} in {}",
            missing.len(),
            first.key,
            first.file.display()
        ),
        format!(
            "配置文件中有 {} 个当前内核不存在的 sysctl 参数, 如 {} ({})",
            missing.len(),
            first.key,
            first.file.display()
        ),
    );
    let detail = missing
        .iter()
        .map(|e| {
            format!(
                "{}:{} {} = {} — {}",
                e.file.display(),
                e.line,
                e.key,
                e.value,
                gone_because(&e.key, lang)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let why = pick(
        lang,
        "Tuning copied from old advice does nothing here and hides what was meant; the boot-time sysctl run reports errors for these lines.".to_string(),
        "照搬旧建议的调优在这里毫无作用, 还掩盖了原本的意图; 开机时的 sysctl 会因这些行报错。".to_string(),
    );
    let fix = missing
        .iter()
        .map(|e| {
            pick(
                lang,
                format!("remove line {} of {} ({})", e.line, e.file.display(), e.key),
                format!("删除 {} 第 {} 行 ({})", e.file.display(), e.line, e.key),
            )
        })
        .collect();
    let groups = missing
        .iter()
        .map(|e| {
            Row::default()
                .with("key", e.key.as_str())
                .with("value", e.value.as_str())
                .with("file", e.file.display().to_string())
                .with("line", e.line)
        })
        .collect();
    Some(Finding {
        id: "sysctl-obsolete",
        severity: Severity::Warning,
        title,
        detail,
        why,
        fix,
        evidence: vec![("settings", num(missing.len()))],
        groups,
    })
}

pub fn risky(input: &Input) -> Option<Finding> {
    let k = &input.kernel.sysctls;
    let lang = input.lang;
    let mut rows: Vec<(&'static str, String, String)> = Vec::new();
    if let Some(v) = k.max_tw_buckets.filter(|v| *v < 10_000) {
        rows.push(("net.ipv4.tcp_max_tw_buckets", v.to_string(), pick(lang,
            "tiny: TIME-WAIT sockets are destroyed early (\"time wait bucket table overflow\"), losing the protection against old duplicate segments; the default scales with memory (e.g. 262144)",
            "过小: TIME-WAIT 套接字会被提前销毁 (\"time wait bucket table overflow\"), 失去对旧重复报文的保护; 默认值随内存增长 (如 262144)").to_string()));
    }
    if k.syncookies == Some(0) {
        rows.push(("net.ipv4.tcp_syncookies", "0".into(), pick(lang,
            "off: a SYN flood fills the SYN queue and locks out real clients; 1 (the default) only uses cookies when the queue overflows",
            "已关闭: SYN 洪水会占满 SYN 队列并挡住正常客户端; 1 (默认值) 仅在队列溢出时才使用 cookie").to_string()));
    }
    if let Some((lo, hi)) = k.port_range.filter(|(lo, hi)| hi >= lo && hi - lo < 10_000) {
        rows.push(("net.ipv4.ip_local_port_range", format!("{lo} {hi}"), pick(lang,
            "narrow: fewer than 10000 ephemeral ports per destination; busy clients run out (EADDRNOTAVAIL)",
            "过窄: 每个目的地址少于 10000 个临时端口; 繁忙的客户端会耗尽端口 (EADDRNOTAVAIL)").to_string()));
    }
    if let Some(v) = k.retries2.filter(|v| *v < 3) {
        rows.push(("net.ipv4.tcp_retries2", v.to_string(), pick(lang,
            "very low: connections are torn down after a brief network hiccup; RFC 1122 asks for at least 100 s (8)",
            "过低: 网络短暂抖动就会断开连接; RFC 1122 要求至少 100 秒 (8)").to_string()));
    }
    if rows.is_empty() {
        return None;
    }
    let title = pick(
        lang,
        format!(
            "{} risky kernel setting(s): {}",
            rows.len(),
            rows.iter().map(|r| r.0).collect::<Vec<_>>().join(", ")
        ),
        format!(
            "{} 个有风险的内核参数: {}",
            rows.len(),
            rows.iter().map(|r| r.0).collect::<Vec<_>>().join(", ")
        ),
    );
    let detail = rows
        .iter()
        .map(|(key, v, why)| format!("{key} = {v}: {why}"))
        .collect::<Vec<_>>()
        .join("\n");
    let why = pick(
        lang,
        "These values are common in copied tuning guides and make connection problems worse, not better.".to_string(),
        "这些值常见于照搬的调优指南, 只会让连接问题更糟。".to_string(),
    );
    let fix = rows
        .iter()
        .map(|(key, _, _)| match *key {
            "net.ipv4.tcp_max_tw_buckets" => {
                "sysctl -w net.ipv4.tcp_max_tw_buckets=262144".to_string()
            }
            "net.ipv4.tcp_syncookies" => "sysctl -w net.ipv4.tcp_syncookies=1".to_string(),
            "net.ipv4.ip_local_port_range" => {
                "sysctl -w net.ipv4.ip_local_port_range=\"10000 65000\"".to_string()
            }
            _ => "sysctl -w net.ipv4.tcp_retries2=8".to_string(),
        })
        .collect();
    let groups = rows
        .iter()
        .map(|(key, v, _)| Row::default().with("key", *key).with("value", v.as_str()))
        .collect();
    Some(Finding {
        id: "sysctl-risky",
        severity: Severity::Warning,
        title,
        detail,
        why,
        fix,
        evidence: vec![("settings", num(rows.len()))],
        groups,
    })
}
