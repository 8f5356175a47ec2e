//! Connections stuck on the way out: CLOSE-WAIT leaks (the application never calls close()) and
//! peers that stopped answering while we have data in flight (retransmit timer running).

use std::collections::BTreeMap;

use sockdoc_diag::{Proto, State, TimerKind};

use super::{human_ms, num, Finding, Input, Row, Severity};
use crate::i18n::pick;

/// CLOSE-WAIT idle at least this long counts as leaked.
const LEAK_IDLE_MS: u64 = 10_000;
/// Or at least this many in one process.
const LEAK_COUNT: u64 = 100;
const LEAK_CRITICAL: u64 = 1000;

pub fn close_wait_leak(input: &Input) -> Option<Finding> {
    #[derive(Default)]
    struct G {
        name: String,
        count: u64,
        max_idle: u64,
    }
    let mut groups: BTreeMap<(u32, u16), G> = BTreeMap::new();
    let mut total = 0u64;
    for s in input
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == State::CloseWait)
    {
        total += 1;
        let (pid, name) = input.owner(s.inode);
        let g = groups.entry((pid, s.local_port)).or_default();
        g.name = name;
        g.count += 1;
        g.max_idle = g
            .max_idle
            .max(s.tcp.map_or(0, |t| u64::from(t.last_data_recv_ms)));
    }
    let mut rows: Vec<((u32, u16), G)> = groups
        .into_iter()
        .filter(|(_, g)| g.count >= LEAK_COUNT || g.max_idle >= LEAK_IDLE_MS)
        .collect();
    if rows.is_empty() {
        return None;
    }
    rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
    let leaked: u64 = rows.iter().map(|r| r.1.count).sum();
    let lang = input.lang;
    let ((pid, port), top) = (&rows[0].0, &rows[0].1);
    let title = pick(
        lang,
        format!(
            "{leaked} CLOSE-WAIT sockets: the peer closed, the application never did; most in {}/{pid} on port {port}",
            top.name
        ),
        format!(
            "{leaked} 个 CLOSE-WAIT 套接字: 对端已关闭, 应用却从未 close(); 最多的在 {}/{pid} 端口 {port}",
            top.name
        ),
    );
    let detail = pick(
        lang,
        format!(
            "{} holds {} of them, the oldest silent for {}. CLOSE-WAIT only ends when the owning process calls close().",
            top.name,
            top.count,
            human_ms(top.max_idle)
        ),
        format!(
            "{} 持有其中 {} 个, 最久的已静默 {}。CLOSE-WAIT 只有在所属进程调用 close() 后才会结束。",
            top.name,
            top.count,
            human_ms(top.max_idle)
        ),
    );
    let why = pick(
        lang,
        "This is a bug in the application (a leaked socket: an error path that returns without closing, a pool that never checks connections). No sysctl shortens CLOSE-WAIT. Destroying the sockets (ss -K) resets them but does not give the leaked file descriptors back: the process keeps them until it closes them or exits, so it will still run out of fds.".to_string(),
        "这是应用程序的缺陷 (套接字泄漏: 出错路径未关闭就返回、连接池从不检查连接)。没有任何 sysctl 能缩短 CLOSE-WAIT。销毁这些套接字 (ss -K) 只会重置连接, 并不会归还泄漏的文件描述符: 进程会一直持有它们直到关闭或退出, 因此仍会耗尽 fd。".to_string(),
    );
    let fix = vec![
        pick(
            lang,
            format!("sockdoc list -p state close-wait pid {pid}   # which peers, how long"),
            format!("sockdoc list -p state close-wait pid {pid}   # 哪些对端, 多久了"),
        ),
        pick(
            lang,
            format!(
                "Fix the close() path in {} (or restart it to release the fds now)",
                top.name
            ),
            format!(
                "修复 {} 中未调用 close() 的代码路径 (或重启它以立即释放这些 fd)",
                top.name
            ),
        ),
    ];
    let severity = if leaked >= LEAK_CRITICAL {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let groups = rows
        .into_iter()
        .map(|((pid, port), g)| {
            Row::default()
                .with("pid", pid)
                .with("process", g.name)
                .with("local_port", port)
                .with("count", g.count)
                .with("max_idle_ms", g.max_idle)
        })
        .collect();
    Some(Finding {
        id: "close-wait-leak",
        severity,
        title,
        detail,
        why,
        fix,
        evidence: vec![("close_wait", num(total))],
        groups,
    })
}

pub fn unreachable_peers(input: &Input) -> Option<Finding> {
    #[derive(Default)]
    struct G {
        name: String,
        count: u64,
        max_retrans: u64,
    }
    let mut groups: BTreeMap<(u32, String), G> = BTreeMap::new();
    let mut total = 0u64;
    for s in input.sockets.iter().filter(|s| {
        s.proto == Proto::Tcp
            && s.timer.kind == TimerKind::On
            && s.timer.count > 0
            && !matches!(s.state, State::SynSent | State::SynRecv)
    }) {
        total += 1;
        let (pid, name) = input.owner(s.inode);
        let g = groups.entry((pid, s.remote_ip().to_string())).or_default();
        g.name = name;
        g.count += 1;
        g.max_retrans = g.max_retrans.max(u64::from(s.timer.count));
    }
    if total == 0 {
        return None;
    }
    let mut rows: Vec<((u32, String), G)> = groups.into_iter().collect();
    rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
    let retries2 = input.kernel.sysctls.retries2.unwrap_or(15);
    let lang = input.lang;
    let ((_, peer), top) = (&rows[0].0, &rows[0].1);
    let title = pick(
        lang,
        format!("{total} connections are retransmitting to peers that do not answer; most to {peer} ({})", top.name),
        format!("{total} 个连接正在向无响应的对端重传; 最多的指向 {peer} ({})", top.name),
    );
    let detail = pick(
        lang,
        format!(
            "Their retransmission timer is running (up to {} retransmissions so far). The kernel gives up after net.ipv4.tcp_retries2 = {retries2} retransmissions (~15 minutes at the default 15).",
            top.max_retrans
        ),
        format!(
            "这些连接的重传定时器正在运行 (已重传最多 {} 次)。内核在 net.ipv4.tcp_retries2 = {retries2} 次重传后放弃 (默认 15 次约 15 分钟)。",
            top.max_retrans
        ),
    );
    let why = pick(
        lang,
        "Data is stuck in the send queue of a connection whose peer is gone or unreachable; the application blocks or buffers meanwhile. Keepalive does not help here (it only runs on idle connections); TCP_USER_TIMEOUT does.".to_string(),
        "数据卡在对端已消失或不可达的连接的发送队列中, 应用程序因此阻塞或持续缓存。keepalive 对此无效 (它只作用于空闲连接); TCP_USER_TIMEOUT 才有效。".to_string(),
    );
    let fix = vec![
        pick(
            lang,
            format!("sockdoc list -p dst {peer} timer on   # the stuck connections"),
            format!("sockdoc list -p dst {peer} timer on   # 卡住的连接"),
        ),
        pick(
            lang,
            "Set TCP_USER_TIMEOUT in the application (e.g. 30000 ms) so it fails fast; lowering tcp_retries2 (e.g. 8, ~100 s) affects every connection on the host".to_string(),
            "在应用中设置 TCP_USER_TIMEOUT (如 30000 毫秒) 以快速失败; 调低 tcp_retries2 (如 8, 约 100 秒) 会影响本机所有连接".to_string(),
        ),
    ];
    let groups = rows
        .into_iter()
        .map(|((pid, peer), g)| {
            Row::default()
                .with("pid", pid)
                .with("process", g.name)
                .with("remote_ip", peer)
                .with("count", g.count)
                .with("max_retrans", g.max_retrans)
        })
        .collect();
    Some(Finding {
        id: "unreachable-peers",
        severity: Severity::Warning,
        title,
        detail,
        why,
        fix,
        evidence: vec![("connections", num(total)), ("tcp_retries2", num(retries2))],
        groups,
    })
}
