//! Half-open ("ghost") ESTABLISHED suspects, and keepalive coverage per listening service — the
//! incident's "port 21 has no keepalive timer, sshd has" comparison, made for every service.
//!
//! A suspect is never called dead: without keepalive the kernel cannot know, and neither can we without
//! probing (`sockdoc ghosts --probe`, issue "Treat").

use std::collections::BTreeMap;

use sockdoc_diag::{Proto, Socket, State, TimerKind};

use super::{human_ms, num, percent, Finding, Input, Row, Severity};
use crate::i18n::pick;

/// Milliseconds since anything arrived from the peer (data or ACK).
fn idle_recv_ms(s: &Socket) -> Option<u64> {
    s.tcp
        .map(|t| u64::from(t.last_data_recv_ms.min(t.last_ack_recv_ms)))
}

/// The ghost rule: established TCP, no keepalive timer, nothing in flight, silent past the threshold.
pub fn is_suspect(s: &Socket, threshold_ms: u64) -> bool {
    s.proto == Proto::Tcp
        && s.state == State::Established
        && s.timer.kind != TimerKind::Keepalive
        && s.timer.kind != TimerKind::On
        && s.tcp.is_some_and(|t| t.unacked == 0)
        && idle_recv_ms(s).is_some_and(|idle| idle > threshold_ms)
}

/// The threshold in force: the user's, or the kernel's keepalive window.
pub fn threshold_ms(input: &Input) -> u64 {
    input
        .idle_threshold_ms
        .unwrap_or_else(|| input.kernel.sysctls.keepalive_window_ms())
}

/// `sport = :21` for a server-side group, `dport = :5432` for a client-side one.
fn port_filter(key: &(u32, u16, u16)) -> String {
    if key.1 != 0 {
        format!("sport = :{}", key.1)
    } else {
        format!("dport = :{}", key.2)
    }
}

pub fn ghost_suspects(input: &Input) -> Option<Finding> {
    let threshold = threshold_ms(input);
    #[derive(Default)]
    struct G {
        name: String,
        count: u64,
        max_idle: u64,
        peers: Vec<String>,
    }
    // Server side: grouped by the listening port; client side: by the remote service port.
    let listening: std::collections::HashSet<u16> = input
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == State::Listen)
        .map(|s| s.local_port)
        .collect();
    let mut groups: BTreeMap<(u32, u16, u16), G> = BTreeMap::new();
    let mut total = 0u64;
    for s in input.sockets.iter().filter(|s| is_suspect(s, threshold)) {
        total += 1;
        let (pid, name) = input.owner(s.inode);
        let key = if listening.contains(&s.local_port) {
            (pid, s.local_port, 0)
        } else {
            (pid, 0, s.remote_port)
        };
        let g = groups.entry(key).or_default();
        g.name = name;
        g.count += 1;
        g.max_idle = g.max_idle.max(idle_recv_ms(s).unwrap_or(0));
        let peer = s.remote_ip().to_string();
        if g.peers.len() < 10 && !g.peers.contains(&peer) {
            g.peers.push(peer);
        }
    }
    if total == 0 {
        return None;
    }
    let mut rows: Vec<((u32, u16, u16), G)> = groups.into_iter().collect();
    rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
    let lang = input.lang;
    let (top_key, top) = (&rows[0].0, &rows[0].1);
    let where_en = if top_key.1 != 0 {
        format!("on port {}", top_key.1)
    } else {
        format!("to remote port {}", top_key.2)
    };
    let where_zh = if top_key.1 != 0 {
        format!("在端口 {}", top_key.1)
    } else {
        format!("连向远端端口 {}", top_key.2)
    };
    let title = pick(
        lang,
        format!(
            "{total} ESTABLISHED connections look half-open (silent > {}, no keepalive); most {where_en} ({}/{})",
            human_ms(threshold),
            top.name,
            top_key.0
        ),
        format!(
            "{total} 个 ESTABLISHED 连接疑似半开 (超过 {} 无任何收包, 且未启用 keepalive); 最多的{where_zh} ({}/{})",
            human_ms(threshold),
            top.name,
            top_key.0
        ),
    );
    let detail = pick(
        lang,
        format!(
            "These connections have no keepalive timer, nothing unacknowledged in flight, and have received no data or ACK for over {}. If the peer vanished (network cut, host powered off, client killed behind a firewall), its FIN or RST never arrived and the kernel will keep the connection forever. They are suspects, not proven dead.",
            human_ms(threshold)
        ),
        format!(
            "这些连接没有 keepalive 定时器, 没有未确认的数据, 且超过 {} 未收到任何数据或 ACK。若对端已消失 (断网、关机、客户端在防火墙后被杀), 其 FIN/RST 永远不会到达, 内核会一直保留该连接。它们是嫌疑, 尚未证实已死。",
            human_ms(threshold)
        ),
    );
    let why = pick(
        lang,
        "TCP has no heartbeat of its own: without SO_KEEPALIVE an idle connection whose peer is gone stays ESTABLISHED until the process closes it. Each one holds a file descriptor, memory and often an application slot (a proxy's connection limit), so they pile up for days, as in the incident with the FTP proxy.".to_string(),
        "TCP 本身没有心跳: 未设置 SO_KEEPALIVE 时, 对端已消失的空闲连接会一直保持 ESTABLISHED, 直到进程主动关闭。每个连接占用一个文件描述符、内存, 往往还占用应用的连接名额 (如代理的最大连接数), 于是会像事故中的 FTP 代理那样积压数天。".to_string(),
    );
    let fix = vec![
        pick(
            lang,
            format!("sockdoc ghosts --idle {}   # list the suspects with owner, peer and idle time", human_ms(threshold)),
            format!("sockdoc ghosts --idle {}   # 列出嫌疑连接及其进程、对端和空闲时长", human_ms(threshold)),
        ),
        pick(
            lang,
            format!(
                "sockdoc keepalive --yes --idle 300 --intvl 30 --cnt 5 {}   # keepalive on the running service, no restart: the kernel then drops dead peers by itself",
                port_filter(top_key)
            ),
            format!(
                "sockdoc keepalive --yes --idle 300 --intvl 30 --cnt 5 {}   # 为运行中的服务开启 keepalive, 无需重启: 之后内核会自行清除死掉的对端",
                port_filter(top_key)
            ),
        ),
        pick(
            lang,
            format!(
                "sockdoc kill --dry-run dst {} {}   # close a suspect now, once you know its peer is gone",
                top.peers.first().map_or("PEER", String::as_str),
                port_filter(top_key)
            ),
            format!(
                "sockdoc kill --dry-run dst {} {}   # 确认对端已不存在后立即关闭该连接",
                top.peers.first().map_or("PEER", String::as_str),
                port_filter(top_key)
            ),
        ),
        pick(
            lang,
            "Fix the service for good: set SO_KEEPALIVE (and TCP_KEEPIDLE/INTVL/CNT) on accepted sockets, or an idle timeout in its config".to_string(),
            "根治: 在服务接受的连接上设置 SO_KEEPALIVE (及 TCP_KEEPIDLE/INTVL/CNT), 或在其配置中设置空闲超时".to_string(),
        ),
    ];
    let groups = rows
        .into_iter()
        .map(|((pid, lport, rport), g)| {
            Row::default()
                .with("pid", pid)
                .with("process", g.name)
                .with("local_port", lport)
                .with("remote_port", rport)
                .with("count", g.count)
                .with("max_idle_ms", g.max_idle)
                .with("peers", g.peers)
        })
        .collect();
    Some(Finding {
        id: "ghost-suspects",
        severity: Severity::Warning,
        title,
        detail,
        why,
        fix,
        evidence: vec![("suspects", num(total)), ("threshold_ms", num(threshold))],
        groups,
    })
}

pub fn keepalive_coverage(input: &Input) -> Option<Finding> {
    // Listening ports and who listens.
    let mut listeners: BTreeMap<u16, (u32, String)> = BTreeMap::new();
    for s in input
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == State::Listen)
    {
        listeners
            .entry(s.local_port)
            .or_insert_with(|| input.owner(s.inode));
    }
    let mut counts: BTreeMap<u16, (u64, u64)> = BTreeMap::new();
    for s in input
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == State::Established)
    {
        if listeners.contains_key(&s.local_port) {
            let c = counts.entry(s.local_port).or_default();
            c.0 += 1;
            if s.has_keepalive_timer() {
                c.1 += 1;
            }
        }
    }
    if counts.is_empty() {
        return None;
    }
    let mut rows: Vec<(u16, u64, u64)> = counts.into_iter().map(|(p, (n, k))| (p, n, k)).collect();
    // Least covered first, then busiest.
    rows.sort_by(|a, b| {
        percent(a.2, a.1)
            .cmp(&percent(b.2, b.1))
            .then(b.1.cmp(&a.1))
            .then(a.0.cmp(&b.0))
    });
    let uncovered: Vec<String> = rows
        .iter()
        .filter(|r| r.2 == 0)
        .map(|r| r.0.to_string())
        .collect();
    let lang = input.lang;
    let title = if uncovered.is_empty() {
        pick(
            lang,
            format!(
                "Keepalive is on for connections of all {} busy services",
                rows.len()
            ),
            format!("全部 {} 个有连接的服务都已启用 keepalive", rows.len()),
        )
    } else {
        pick(
            lang,
            format!(
                "No keepalive on any connection of port(s) {}: dead clients there are never detected",
                uncovered.join(", ")
            ),
            format!(
                "端口 {} 的连接全部未启用 keepalive: 那里的死客户端永远不会被发现",
                uncovered.join(", ")
            ),
        )
    };
    let detail = pick(
        lang,
        "Share of each listening service's ESTABLISHED connections with a keepalive timer (the Timer column of `sockdoc list`, `timer:(keepalive,...)` in `ss -o`).".to_string(),
        "每个监听服务的 ESTABLISHED 连接中带 keepalive 定时器的比例 (`sockdoc list` 的 Timer 列, 即 `ss -o` 中的 `timer:(keepalive,...)`)。".to_string(),
    );
    let why = pick(
        lang,
        "Only sockets with SO_KEEPALIVE are ever probed; net.ipv4.tcp_keepalive_* change nothing for the others. Services at 0% rely entirely on their own idle timeouts.".to_string(),
        "只有设置了 SO_KEEPALIVE 的套接字才会被探测; net.ipv4.tcp_keepalive_* 对其他连接毫无作用。覆盖率为 0% 的服务完全依赖其自身的空闲超时。".to_string(),
    );
    let fix = match uncovered.first() {
        Some(port) => vec![
            pick(
                lang,
                format!("sockdoc keepalive --dry-run sport = :{port}   # retrofit keepalive onto the live service (then --yes)"),
                format!("sockdoc keepalive --dry-run sport = :{port}   # 为运行中的服务补上 keepalive (确认后加 --yes)"),
            ),
            pick(
                lang,
                "Turn keepalive on in the service (SO_KEEPALIVE on accepted sockets; e.g. socat's `keepalive` option, sshd's TCPKeepAlive yes) and shorten the kernel window: net.ipv4.tcp_keepalive_time=300, tcp_keepalive_intvl=30, tcp_keepalive_probes=5".to_string(),
                "在服务中开启 keepalive (对接受的连接设置 SO_KEEPALIVE; 如 socat 的 `keepalive` 选项、sshd 的 TCPKeepAlive yes), 并缩短内核探测窗口: net.ipv4.tcp_keepalive_time=300, tcp_keepalive_intvl=30, tcp_keepalive_probes=5".to_string(),
            ),
        ],
        None => Vec::new(),
    };
    let groups = rows
        .iter()
        .map(|&(port, n, k)| {
            let (pid, name) = listeners.get(&port).cloned().unwrap_or((0, "-".into()));
            Row::default()
                .with("local_port", port)
                .with("pid", pid)
                .with("process", name)
                .with("connections", n)
                .with("with_keepalive", k)
                .with("percent", percent(k, n))
        })
        .collect();
    Some(Finding {
        id: "keepalive-coverage",
        severity: Severity::Info,
        title,
        detail,
        why,
        fix,
        evidence: vec![("services", num(rows.len()))],
        groups,
    })
}
