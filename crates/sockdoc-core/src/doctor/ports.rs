//! TIME-WAIT pressure against `tcp_max_tw_buckets`, and ephemeral-port exhaustion per destination
//! against `ip_local_port_range` — with the right remedies and the folklore ones that are wrong.

use std::collections::HashMap;

use sockdoc_diag::{Addr, Proto, State};

use super::{num, percent, Finding, Input, Row, Severity};
use crate::i18n::pick;

pub fn time_wait_pressure(input: &Input) -> Option<Finding> {
    let tw = input
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == State::TimeWait)
        .count() as u64;
    let max = input.kernel.sysctls.max_tw_buckets?;
    let overflow = input.kernel.delta("TcpExt", "TCPTimeWaitOverflow");
    let pct = percent(tw, max);
    let severity = if overflow > 0 || pct >= 90 {
        Severity::Critical
    } else if pct >= 50 {
        Severity::Warning
    } else {
        return None;
    };
    let lang = input.lang;
    let title = pick(
        lang,
        format!(
            "{tw} TIME-WAIT sockets, {pct}% of net.ipv4.tcp_max_tw_buckets = {max}{}",
            if overflow > 0 {
                format!("; {overflow} destroyed early in the last interval")
            } else {
                String::new()
            }
        ),
        format!(
            "{tw} 个 TIME-WAIT 套接字, 占 net.ipv4.tcp_max_tw_buckets = {max} 的 {pct}%{}",
            if overflow > 0 {
                format!("; 刚才的采样间隔内有 {overflow} 个被提前销毁")
            } else {
                String::new()
            }
        ),
    );
    let detail = pick(
        lang,
        "TIME-WAIT belongs to the side that closes first and lasts 60 s (2 MSL, fixed in Linux). When the table is full the kernel destroys new TIME-WAIT sockets at once (TCPTimeWaitOverflow) and logs \"TCP: time wait bucket table overflow\".".to_string(),
        "TIME-WAIT 属于先关闭的一方, 持续 60 秒 (2 MSL, Linux 中固定)。表满时内核会立即销毁新的 TIME-WAIT 套接字 (TCPTimeWaitOverflow) 并记录 \"TCP: time wait bucket table overflow\"。".to_string(),
    );
    let why = pick(
        lang,
        "TIME-WAIT itself is cheap and protects new connections from old duplicate segments; a tiny tcp_max_tw_buckets (such as the 5000 blog posts recommend) only trades that safety away. The cost worth fixing is the connection churn behind it, and the ephemeral ports it pins on the client side.".to_string(),
        "TIME-WAIT 本身开销很小, 并能保护新连接不受旧的重复报文影响; 过小的 tcp_max_tw_buckets (如网上常推荐的 5000) 只是牺牲了这种保护。真正值得解决的是其背后频繁建连断连的行为, 以及它在客户端占用的临时端口。".to_string(),
    );
    let fix = vec![
        pick(lang, "sockdoc stats state time-wait --by remote-ip,remote-port   # who churns connections".to_string(), "sockdoc stats state time-wait --by remote-ip,remote-port   # 谁在频繁建连".to_string()),
        pick(lang, "Reuse connections (HTTP keep-alive, connection pools) instead of one connection per request; let the client close first where you control both sides".to_string(), "复用连接 (HTTP keep-alive、连接池), 而不是每个请求一个连接; 两端都可控时让客户端先关闭".to_string()),
        pick(lang, "For outgoing connections: net.ipv4.tcp_tw_reuse=1 (safe with timestamps). Do not look for tcp_tw_recycle: it broke clients behind NAT and was removed in Linux 4.12. tcp_fin_timeout does not shorten TIME-WAIT (it only limits orphaned FIN-WAIT-2)".to_string(), "对于主动发起的连接: net.ipv4.tcp_tw_reuse=1 (启用时间戳时安全)。不要再找 tcp_tw_recycle: 它会让 NAT 后的客户端连接失败, 已在 Linux 4.12 中移除。tcp_fin_timeout 并不缩短 TIME-WAIT (它只限制孤儿 FIN-WAIT-2)".to_string()),
    ];
    Some(Finding {
        id: "time-wait-pressure",
        severity,
        title,
        detail,
        why,
        fix,
        evidence: vec![
            ("time_wait", num(tw)),
            ("max_tw_buckets", num(max)),
            ("overflow_delta", overflow),
        ],
        groups: Vec::new(),
    })
}

pub fn ephemeral_ports(input: &Input) -> Option<Finding> {
    let (lo, hi) = input.kernel.sysctls.port_range?;
    if hi < lo {
        return None;
    }
    let range = hi - lo + 1;
    let mut used: HashMap<(Addr, Addr, u16, sockdoc_diag::Family), u64> = HashMap::new();
    for s in input.sockets.iter().filter(|s| {
        s.proto == Proto::Tcp
            && s.state != State::Listen
            && s.remote_port != 0
            && (lo..=hi).contains(&u64::from(s.local_port))
    }) {
        *used
            .entry((s.local, s.remote, s.remote_port, s.family))
            .or_default() += 1;
    }
    let mut rows: Vec<_> = used
        .into_iter()
        .filter(|(_, n)| percent(*n, range) >= 50)
        .collect();
    if rows.is_empty() {
        return None;
    }
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let worst = percent(rows[0].1, range);
    let severity = if worst >= 85 {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let ((l, r, rport, fam), n) = &rows[0];
    let (lip, rip) = (l.to_ip(*fam), r.to_ip(*fam));
    let lang = input.lang;
    let title = pick(
        lang,
        format!("{n} of {range} ephemeral ports ({worst}%) in use from {lip} to {rip}:{rport}: new connections there will fail"),
        format!("从 {lip} 到 {rip}:{rport} 已占用 {range} 个临时端口中的 {n} 个 ({worst}%): 新连接将会失败"),
    );
    let detail = pick(
        lang,
        format!("Each connection to one destination (address and port) from one source address needs its own local port from net.ipv4.ip_local_port_range = {lo} {hi}; TIME-WAIT sockets keep theirs for 60 s."),
        format!("从同一源地址到同一目的 (地址和端口) 的每个连接都需要 net.ipv4.ip_local_port_range = {lo} {hi} 中的一个本地端口; TIME-WAIT 套接字会继续占用 60 秒。"),
    );
    let why = pick(
        lang,
        "When the range is used up, connect() fails with EADDRNOTAVAIL (\"Cannot assign requested address\") and clients see timeouts or errors.".to_string(),
        "端口用尽后 connect() 会以 EADDRNOTAVAIL (\"Cannot assign requested address\") 失败, 客户端看到超时或报错。".to_string(),
    );
    let fix = vec![
        pick(lang, format!("sockdoc stats dst {rip} dport = :{rport} --by state   # TIME-WAIT or live connections?"), format!("sockdoc stats dst {rip} dport = :{rport} --by state   # 是 TIME-WAIT 还是活动连接?")),
        pick(lang, "Reuse connections (pooling, keep-alive); widen the range (net.ipv4.ip_local_port_range=\"10000 65000\"); net.ipv4.tcp_tw_reuse=1 for outgoing connections; spread over more source addresses or destination ports".to_string(), "复用连接 (连接池、keep-alive); 扩大范围 (net.ipv4.ip_local_port_range=\"10000 65000\"); 对外连接启用 net.ipv4.tcp_tw_reuse=1; 使用更多源地址或目的端口分摊".to_string()),
    ];
    let groups = rows
        .iter()
        .take(20)
        .map(|((l, r, rport, fam), n)| {
            Row::default()
                .with("local_ip", l.to_ip(*fam).to_string())
                .with("remote_ip", r.to_ip(*fam).to_string())
                .with("remote_port", *rport)
                .with("used", *n)
                .with("range_size", range)
                .with("percent", percent(*n, range))
        })
        .collect();
    Some(Finding {
        id: "ephemeral-port-exhaustion",
        severity,
        title,
        detail,
        why,
        fix,
        evidence: vec![("range_size", num(range))],
        groups,
    })
}
