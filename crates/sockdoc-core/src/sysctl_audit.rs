//! The sysctl audit behind `sockdoc sysctl check` and `sockdoc sysctl plan`: every setting the incident
//! notes tuned (plus somaxconn, tcp_retries2 and nf_conntrack_max), its current value, whether this kernel
//! still has it, and what to do with it and why — including where the copied advice is wrong. Pure
//! judgement on values it is given; reading and writing belong to the callers.

use crate::i18n::{pick, Lang};

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

fn num(v: &Option<String>) -> Option<u64> {
    v.as_deref()?.split_whitespace().next()?.parse().ok()
}

/// Audit every key of [`KEYS`] (except the conntrack count, used as context) with `read` giving the
/// current value of a setting or `None` when the kernel lacks it, and `configured` telling whether a
/// sysctl config file sets it.
pub fn audit(
    lang: Lang,
    read: &dyn Fn(&str) -> Option<String>,
    configured: &dyn Fn(&str) -> bool,
) -> Vec<AuditRow> {
    let cur = |k: &str| read(k).map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "));
    let ct_count = num(&cur("net.netfilter.nf_conntrack_count"));
    KEYS.iter()
        .filter(|k| **k != "net.netfilter.nf_conntrack_count")
        .map(|&key| {
            let current = cur(key);
            let n = num(&current);
            let keep = |en: &str, zh: &str| (Verdict::Keep, None, pick(lang, en, zh).to_string());
            let change = |to: String, en: &str, zh: &str| {
                (Verdict::Change, Some(to), pick(lang, en, zh).to_string())
            };
            let (verdict, recommended, reason) = if current.is_none() {
                match key {
                    "net.ipv4.tcp_tw_recycle" if !configured(key) => keep(
                        "removed in Linux 4.12 (it broke clients behind NAT) and not set in any config file here: nothing to do; advice that still recommends it is obsolete",
                        "已在 Linux 4.12 中移除 (它会让 NAT 后的客户端出错), 本机配置文件中也没有设置: 无需处理; 仍推荐它的建议已经过时"),
                    "net.ipv4.tcp_tw_recycle" => (Verdict::Remove, None, pick(lang,
                        "removed in Linux 4.12: it dropped SYNs from clients behind NAT (timestamps compared per host); the incident notes' `tcp_tw_recycle = 1` does nothing now but fail at boot. Use tcp_tw_reuse for outgoing connections.",
                        "已在 Linux 4.12 中移除: 它会丢弃 NAT 后客户端的 SYN (按主机比较时间戳); 事故笔记中的 `tcp_tw_recycle = 1` 如今毫无作用, 只会在开机时报错。对外连接请用 tcp_tw_reuse。").to_string()),
                    "net.netfilter.nf_conntrack_max" => keep(
                        "conntrack is not loaded in this namespace: nothing to tune",
                        "此命名空间未加载 conntrack: 无需调整"),
                    _ if !configured(key) => keep(
                        "this kernel has no such setting",
                        "当前内核没有此参数"),
                    _ => (Verdict::Remove, None, pick(lang,
                        "this kernel has no such setting, but a config file sets it",
                        "当前内核没有此参数, 但配置文件中设置了它").to_string()),
                }
            } else {
                match key {
                    "net.ipv4.tcp_keepalive_time" if n.is_some_and(|v| v > 600) => change("300".into(),
                        "affects only sockets with SO_KEEPALIVE (sshd, vsftpd, redis...); 300 s finds dead peers in minutes instead of 2 hours. It does nothing for services that never set SO_KEEPALIVE, like the incident's FTP proxy.",
                        "只影响设置了 SO_KEEPALIVE 的套接字 (sshd、vsftpd、redis……); 300 秒可在几分钟而不是 2 小时内发现死掉的对端。对从不设置 SO_KEEPALIVE 的服务 (如事故中的 FTP 代理) 毫无作用。"),
                    "net.ipv4.tcp_keepalive_time" => keep(
                        "short enough: dead peers of keepalive sockets are found within minutes",
                        "已足够短: keepalive 套接字的死对端可在几分钟内被发现"),
                    "net.ipv4.tcp_keepalive_intvl" if n.is_some_and(|v| v > 30) => change("30".into(),
                        "seconds between unanswered probes; with 5 probes a dead peer is dropped 2.5 minutes after the first probe",
                        "未应答探测之间的间隔秒数; 配合 5 次探测, 死对端会在首次探测后 2.5 分钟被清除"),
                    "net.ipv4.tcp_keepalive_intvl" => keep("fine", "合适"),
                    "net.ipv4.tcp_keepalive_probes" if n.is_some_and(|v| v > 5) => change("5".into(),
                        "unanswered probes before the connection is dropped",
                        "连接被清除前未应答的探测次数"),
                    "net.ipv4.tcp_keepalive_probes" => keep("fine", "合适"),
                    "net.ipv4.tcp_syncookies" if n != Some(1) => change("1".into(),
                        "answers with cookies only when the SYN queue overflows: keeps a SYN flood from locking out real clients",
                        "仅在 SYN 队列溢出时以 cookie 应答: 防止 SYN 洪水挡住正常客户端"),
                    "net.ipv4.tcp_syncookies" => keep("on: SYN floods are answered with cookies", "已开启: 以 cookie 应对 SYN 洪水"),
                    "net.ipv4.tcp_tw_reuse" if n == Some(1) => keep(
                        "outgoing connections may reuse TIME-WAIT ports (safe with TCP timestamps)",
                        "对外连接可复用 TIME-WAIT 端口 (启用 TCP 时间戳时安全)"),
                    "net.ipv4.tcp_tw_reuse" => change("1".into(),
                        "lets outgoing connections reuse a TIME-WAIT port when timestamps prove it safe; it never affects incoming connections (the default 2 allows it on loopback only)",
                        "允许对外连接在时间戳证明安全时复用 TIME-WAIT 端口; 对入站连接没有影响 (默认值 2 仅对回环地址生效)"),
                    "net.ipv4.tcp_fin_timeout" => keep(
                        "only bounds orphaned FIN-WAIT-2 sockets; it does not shorten TIME-WAIT (fixed at 60 s), whatever the blog posts say",
                        "只限制孤儿 FIN-WAIT-2 套接字的时长; 它并不缩短 TIME-WAIT (固定 60 秒), 无论网上怎么说"),
                    "net.ipv4.tcp_syn_retries" if n.is_some_and(|v| v < 4) => change("6".into(),
                        "with 2 retries connect() gives up after ~7 s, failing on any lossy path; the default 6 (~127 s) is right, applications should set their own connect timeout",
                        "只重试 2 次时 connect() 约 7 秒就放弃, 在任何丢包的链路上都会失败; 默认值 6 (约 127 秒) 才合适, 应用应自行设置连接超时"),
                    "net.ipv4.tcp_syn_retries" => keep("fine", "合适"),
                    "net.ipv4.tcp_orphan_retries" => keep(
                        "retries for connections no process owns any more; the default 0 means 8. Lowering it frees orphans sooner under memory pressure",
                        "无进程持有的连接的重试次数; 默认 0 表示 8 次。调低可在内存紧张时更快释放孤儿连接"),
                    "net.ipv4.ip_local_port_range" => {
                        let (lo, hi) = {
                            let mut it = current.as_deref().unwrap_or("").split_whitespace().filter_map(|x| x.parse::<u64>().ok());
                            (it.next().unwrap_or(0), it.next().unwrap_or(0))
                        };
                        if lo < 10000 {
                            change("10000 65000".into(),
                                "starting below 10000 hands out ports that services listen on (the incident notes' 1024 collides with well-known ports); 10000-65000 is wide and safe",
                                "起始端口低于 10000 会分配出服务监听的端口 (事故笔记中的 1024 会与知名端口冲突); 10000-65000 既宽又安全")
                        } else if hi.saturating_sub(lo) < 20000 {
                            change(format!("{lo} 65000"),
                                "fewer than 20000 ephemeral ports per destination: busy clients run out (EADDRNOTAVAIL)",
                                "每个目的地址少于 20000 个临时端口: 繁忙的客户端会耗尽端口 (EADDRNOTAVAIL)")
                        } else {
                            keep("wide enough", "足够宽")
                        }
                    }
                    "net.ipv4.tcp_max_syn_backlog" if n.is_some_and(|v| v < 4096) => change("4096".into(),
                        "half-open handshakes kept per listener; too small drops legitimate bursts (syncookies take over past it)",
                        "每个监听端口保留的半开握手数; 过小会丢弃正常的突发连接 (超出后由 syncookies 接管)"),
                    "net.ipv4.tcp_max_syn_backlog" => keep("fine", "合适"),
                    "net.ipv4.tcp_max_tw_buckets" if n.is_some_and(|v| v < 65536) => change("262144".into(),
                        "too small: TIME-WAIT sockets are destroyed early (\"time wait bucket table overflow\"), removing the protection against old duplicate segments; the incident notes' 5000 is harmful. Reduce connection churn instead",
                        "过小: TIME-WAIT 套接字被提前销毁 (\"time wait bucket table overflow\"), 失去对旧重复报文的保护; 事故笔记中的 5000 有害。应减少频繁建连"),
                    "net.ipv4.tcp_max_tw_buckets" => keep("fine: TIME-WAIT sockets live their 60 s", "合适: TIME-WAIT 套接字可存活完整的 60 秒"),
                    "net.core.netdev_max_backlog" => keep(
                        "packets queued per CPU before the stack takes them; only matters at very high packet rates (softnet_stat drops)",
                        "协议栈处理前每个 CPU 排队的包数; 只在极高包速率时才有影响 (看 softnet_stat 丢包)"),
                    "net.core.somaxconn" if n.is_some_and(|v| v < 4096) => change("4096".into(),
                        "caps every listen() backlog; 4096 is the default since Linux 5.4",
                        "限制所有 listen() 的 backlog; 自 Linux 5.4 起默认 4096"),
                    "net.core.somaxconn" => keep("fine", "合适"),
                    "net.ipv4.tcp_retries2" if n.is_some_and(|v| v < 8) => change("8".into(),
                        "connections with unacknowledged data are dropped after very few retransmissions; RFC 1122 asks for at least 100 s (8)",
                        "有未确认数据的连接在极少重传后就被断开; RFC 1122 要求至少 100 秒 (8)"),
                    "net.ipv4.tcp_retries2" => keep(
                        "a dead peer with data in flight is given up after ~15 min at 15; prefer TCP_USER_TIMEOUT per application over lowering it for the whole host",
                        "值为 15 时, 对有在途数据的死对端约 15 分钟后放弃; 与其为整机调低, 不如在应用中设置 TCP_USER_TIMEOUT"),
                    "net.netfilter.nf_conntrack_max" => match (n, ct_count) {
                        (Some(max), Some(count)) if count.saturating_mul(2) > max => change(
                            (max.saturating_mul(2)).to_string(),
                            "the table is more than half full: when it fills, new flows are dropped at random",
                            "表已超过一半: 表满时新流会被随机丢弃"),
                        _ => keep("enough headroom for the current flows", "对当前流量余量充足"),
                    },
                    _ => keep("fine", "合适"),
                }
            };
            AuditRow {
                key,
                current,
                verdict,
                recommended,
                reason,
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
    pub en: &'static str,
    pub zh: &'static str,
}

/// A named set of settings for a kind of host, applied on top of the audit's own fixes.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    pub name: &'static str,
    pub about_en: &'static str,
    pub about_zh: &'static str,
    pub settings: &'static [ProfileSetting],
}

/// The profiles `sysctl check|plan|apply --profile NAME` know.
pub const PROFILES: [Profile; 3] = [
    Profile {
        name: "fast-dead-peers",
        about_en: "find dead peers in about 3 minutes instead of 2 hours: keepalive sockets probe after 2 minutes of silence, and data nobody acknowledges is given up after ~100 s. Services that never set SO_KEEPALIVE (the incident's FTP proxy) still need `sockdoc keepalive` or `run-with-keepalive`.",
        about_zh: "约 3 分钟而不是 2 小时发现死对端: keepalive 套接字静默 2 分钟后开始探测, 无人确认的数据约 100 秒后放弃。从不设置 SO_KEEPALIVE 的服务 (如事故中的 FTP 代理) 仍需 `sockdoc keepalive` 或 `run-with-keepalive`。",
        settings: &[
            ProfileSetting { key: "net.ipv4.tcp_keepalive_time", want: Want::AtMost(120),
                en: "first keepalive probe after 2 minutes of silence",
                zh: "静默 2 分钟后发出第一个 keepalive 探测" },
            ProfileSetting { key: "net.ipv4.tcp_keepalive_intvl", want: Want::AtMost(15),
                en: "15 s between unanswered probes",
                zh: "未应答探测间隔 15 秒" },
            ProfileSetting { key: "net.ipv4.tcp_keepalive_probes", want: Want::AtMost(4),
                en: "dropped after 4 unanswered probes: 120 + 4 x 15 = 3 minutes in all",
                zh: "4 次探测无应答后断开: 共 120 + 4 x 15 = 3 分钟" },
            ProfileSetting { key: "net.ipv4.tcp_retries2", want: Want::AtMost(8),
                en: "a peer that stops acknowledging data is given up after ~100 s (RFC 1122's minimum) instead of ~15 min",
                zh: "对端停止确认数据后约 100 秒 (RFC 1122 的下限) 而不是约 15 分钟放弃" },
        ],
    },
    Profile {
        name: "busy-server",
        about_en: "many inbound connections and accept bursts (web servers, brokers, FTP): deep listen and SYN queues, syncookies on.",
        about_zh: "大量入站连接与突发 accept (Web 服务器、消息代理、FTP): 更深的监听队列与 SYN 队列, 开启 syncookies。",
        settings: &[
            ProfileSetting { key: "net.core.somaxconn", want: Want::AtLeast(8192),
                en: "lets listen() backlogs of up to 8192 (the application must ask for it too)",
                zh: "允许 listen() 的 backlog 达到 8192 (应用自身也需设置)" },
            ProfileSetting { key: "net.ipv4.tcp_max_syn_backlog", want: Want::AtLeast(8192),
                en: "8192 half-open handshakes per listener before syncookies take over",
                zh: "每个监听端口 8192 个半开握手, 超出后由 syncookies 接管" },
            ProfileSetting { key: "net.ipv4.tcp_syncookies", want: Want::Exactly("1"),
                en: "cookies when the SYN queue overflows: a flood cannot lock real clients out",
                zh: "SYN 队列溢出时使用 cookie: 洪水无法挡住正常客户端" },
            ProfileSetting { key: "net.core.netdev_max_backlog", want: Want::AtLeast(16384),
                en: "a deeper per-CPU input queue for packet bursts",
                zh: "更深的每 CPU 输入队列, 应对突发包" },
        ],
    },
    Profile {
        name: "busy-client",
        about_en: "many outgoing connections to few destinations (proxies, crawlers, connection pools): the widest safe ephemeral range, TIME-WAIT reuse for outgoing connections, TIME-WAIT sockets kept their full 60 s.",
        about_zh: "对少数目的地址发起大量对外连接 (代理、爬虫、连接池): 最宽且安全的临时端口范围, 对外连接复用 TIME-WAIT, 并让 TIME-WAIT 套接字存活完整 60 秒。",
        settings: &[
            ProfileSetting { key: "net.ipv4.ip_local_port_range", want: Want::Exactly("10000 65535"),
                en: "55536 ports per destination, none below 10000 where services listen",
                zh: "每个目的地址 55536 个端口, 不含服务监听的 10000 以下端口" },
            ProfileSetting { key: "net.ipv4.tcp_tw_reuse", want: Want::Exactly("1"),
                en: "outgoing connections reuse TIME-WAIT ports when timestamps prove it safe",
                zh: "时间戳证明安全时, 对外连接复用 TIME-WAIT 端口" },
            ProfileSetting { key: "net.ipv4.tcp_max_tw_buckets", want: Want::AtLeast(262144),
                en: "room for 4000+ connections/s of churn without destroying TIME-WAIT early",
                zh: "可承受每秒 4000 以上的新建连接而不提前销毁 TIME-WAIT" },
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
                reason: pick(
                    lang,
                    "this kernel has no such setting here (some net.core settings exist only in the host's namespace): not applied",
                    "当前内核在此没有该参数 (部分 net.core 参数只存在于主机命名空间): 不予应用",
                )
                .to_string(),
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
        let why = format!("[{}] {}", profile.name, pick(lang, ps.en, ps.zh));
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
}
