//! Listeners under pressure: full accept queues (the application does not accept fast enough) and SYN
//! floods (request sockets piling up in SYN-RECV). Counters are judged as growth over the sampling
//! interval, never as totals since boot.

use std::collections::BTreeMap;

use sockdoc_diag::{Proto, State};

use super::{num, Finding, Input, Row, Severity};
use crate::i18n::pick;

pub fn listen_overflow(input: &Input) -> Option<Finding> {
    let overflows = input.kernel.delta("TcpExt", "ListenOverflows");
    let drops = input.kernel.delta("TcpExt", "ListenDrops");
    let mut rows: Vec<(u16, u32, String, u32, u32, Severity)> = Vec::new();
    for s in input
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == State::Listen)
    {
        let (queue, backlog) = (s.recv_q, s.send_q);
        let sev = if queue > 0 && queue >= backlog {
            Severity::Critical
        } else if queue > 0 && u64::from(queue) * 2 >= u64::from(backlog) {
            Severity::Warning
        } else {
            continue;
        };
        let (pid, name) = input.owner(s.inode);
        rows.push((s.local_port, pid, name, queue, backlog, sev));
    }
    if rows.is_empty() && overflows == 0 {
        return None;
    }
    rows.sort_by(|a, b| b.5.cmp(&a.5).then(b.3.cmp(&a.3)).then(a.0.cmp(&b.0)));
    let severity = rows
        .iter()
        .map(|r| r.5)
        .max()
        .unwrap_or(Severity::Warning)
        .max(if overflows > 0 {
            // Connections were dropped while we watched: that is an outage, not a risk.
            Severity::Critical
        } else {
            Severity::Info
        });
    let lang = input.lang;
    let somaxconn = input.kernel.sysctls.somaxconn.unwrap_or(4096);
    let title = match rows.first() {
        Some((port, pid, name, q, b, _)) => pick(
            lang,
            format!("Accept queue of port {port} ({name}/{pid}) holds {q} connections for a backlog of {b}: new connections are dropped"),
            format!("端口 {port} ({name}/{pid}) 的 accept 队列已有 {q} 个连接, backlog 为 {b}: 新连接被丢弃"),
        ),
        None => pick(
            lang,
            format!("{overflows} connections were dropped because an accept queue was full (ListenOverflows) in the last interval"),
            format!("刚才的采样间隔内有 {overflows} 个连接因 accept 队列已满被丢弃 (ListenOverflows)"),
        ),
    };
    let detail = pick(
        lang,
        format!("A listener's Recv-Q is its accept queue (handshakes done, waiting for accept()), Send-Q its backlog (min of listen()'s argument and net.core.somaxconn = {somaxconn}). ListenOverflows grew by {overflows}, ListenDrops by {drops} during the interval."),
        format!("监听套接字的 Recv-Q 是 accept 队列 (握手已完成、等待 accept()), Send-Q 是 backlog (listen() 参数与 net.core.somaxconn = {somaxconn} 的较小值)。采样间隔内 ListenOverflows 增加 {overflows}, ListenDrops 增加 {drops}。"),
    );
    let why = pick(
        lang,
        "When the queue is full the kernel ignores the client's final ACK (or SYN); clients see connect timeouts and retries of 1 s, 3 s, 7 s... while the server looks idle. The usual cause is an application that accepts too slowly (blocked workers, too few threads), not the backlog size.".to_string(),
        "队列满时内核会忽略客户端最后的 ACK (或 SYN); 客户端看到连接超时并以 1 秒、3 秒、7 秒……重试, 而服务器看起来很空闲。常见原因是应用 accept 太慢 (工作线程阻塞、线程太少), 而不是 backlog 太小。".to_string(),
    );
    let fix = vec![
        pick(lang, "sockdoc list listening recvq '>' 0   # which listeners are backed up".to_string(), "sockdoc list listening recvq '>' 0   # 哪些监听端口在积压".to_string()),
        pick(lang, "Find why the process does not accept (stuck workers, CPU); then raise the backlog in the application and net.core.somaxconn (e.g. 4096) if bursts are legitimate".to_string(), "查明进程为何不 accept (工作线程卡住、CPU 不足); 若突发流量正常, 再调大应用的 backlog 和 net.core.somaxconn (如 4096)".to_string()),
    ];
    let groups = rows
        .into_iter()
        .map(|(port, pid, name, q, b, _)| {
            Row::default()
                .with("local_port", port)
                .with("pid", pid)
                .with("process", name)
                .with("accept_queue", q)
                .with("backlog", b)
        })
        .collect();
    Some(Finding {
        id: "listen-overflow",
        severity,
        title,
        detail,
        why,
        fix,
        evidence: vec![
            ("listen_overflows_delta", overflows),
            ("listen_drops_delta", drops),
        ],
        groups,
    })
}

/// SYN-RECV sockets on one port from which a flood is reported.
const SYN_FLOOD_MIN: u64 = 64;

pub fn syn_flood(input: &Input) -> Option<Finding> {
    let mut per_port: BTreeMap<u16, u64> = BTreeMap::new();
    let mut backlog: BTreeMap<u16, u32> = BTreeMap::new();
    let mut total = 0u64;
    for s in input.sockets.iter().filter(|s| s.proto == Proto::Tcp) {
        match s.state {
            State::SynRecv => {
                total += 1;
                *per_port.entry(s.local_port).or_default() += 1;
            }
            State::Listen => {
                let b = backlog.entry(s.local_port).or_default();
                *b = (*b).max(s.send_q);
            }
            _ => {}
        }
    }
    let mut rows: Vec<(u16, u64, u32)> = per_port
        .into_iter()
        .filter(|(_, n)| *n >= SYN_FLOOD_MIN)
        .map(|(p, n)| (p, n, backlog.get(&p).copied().unwrap_or(0)))
        .collect();
    if rows.is_empty() {
        return None;
    }
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let critical = rows.iter().any(|&(_, n, b)| b > 0 && n >= u64::from(b));
    let severity = if critical {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let k = &input.kernel.sysctls;
    let syncookies = k.syncookies.unwrap_or(1);
    let max_syn = k.max_syn_backlog.unwrap_or(0);
    let (port, n, b) = rows[0];
    let lang = input.lang;
    let title = pick(
        lang,
        format!("{n} half-open handshakes (SYN-RECV) on port {port} (backlog {b}): a SYN flood, or clients whose final ACK is lost"),
        format!("端口 {port} 上有 {n} 个半开握手 (SYN-RECV) (backlog {b}): SYN 洪水攻击, 或客户端最后的 ACK 丢失"),
    );
    let detail = pick(
        lang,
        format!("{total} SYN-RECV in all. net.ipv4.tcp_syncookies = {syncookies}, net.ipv4.tcp_max_syn_backlog = {max_syn}; TCPReqQFullDrop grew by {} and SyncookiesSent by {} during the interval.", input.kernel.delta("TcpExt", "TCPReqQFullDrop"), input.kernel.delta("TcpExt", "SyncookiesSent")),
        format!("共 {total} 个 SYN-RECV。net.ipv4.tcp_syncookies = {syncookies}, net.ipv4.tcp_max_syn_backlog = {max_syn}; 采样间隔内 TCPReqQFullDrop 增加 {}, SyncookiesSent 增加 {}。", input.kernel.delta("TcpExt", "TCPReqQFullDrop"), input.kernel.delta("TcpExt", "SyncookiesSent")),
    );
    let why = pick(
        lang,
        "Each SYN-RECV holds a request slot for several SYN-ACK retransmissions (net.ipv4.tcp_synack_retries). When the SYN queue fills, legitimate clients cannot connect unless syncookies answer for it.".to_string(),
        "每个 SYN-RECV 会在多次 SYN-ACK 重传期间 (net.ipv4.tcp_synack_retries) 占用一个请求槽位。SYN 队列满后, 除非 syncookies 生效, 正常客户端将无法连接。".to_string(),
    );
    let mut fix = vec![pick(
        lang,
        format!("sockdoc stats state syn-recv sport = :{port} --by remote-ip,peer-prefix   # one source or many?"),
        format!("sockdoc stats state syn-recv sport = :{port} --by remote-ip,peer-prefix   # 来自单一来源还是众多来源?"),
    )];
    if syncookies == 0 {
        fix.push(pick(
            lang,
            "sysctl -w net.ipv4.tcp_syncookies=1   # answer with cookies when the queue is full"
                .to_string(),
            "sysctl -w net.ipv4.tcp_syncookies=1   # 队列满时以 cookie 应答".to_string(),
        ));
    }
    fix.push(pick(
        lang,
        "Filter floods upstream (nftables rate limits per source: `tcp flags syn limit rate over 100/second drop`); raise tcp_max_syn_backlog and the listen backlog for legitimate bursts".to_string(),
        "在上游过滤洪水 (按来源的 nftables 限速: `tcp flags syn limit rate over 100/second drop`); 对正常的突发流量调大 tcp_max_syn_backlog 和 listen backlog".to_string(),
    ));
    let groups = rows
        .iter()
        .map(|&(p, n, b)| {
            Row::default()
                .with("local_port", p)
                .with("syn_recv", n)
                .with("backlog", b)
        })
        .collect();
    Some(Finding {
        id: "syn-flood",
        severity,
        title,
        detail,
        why,
        fix,
        evidence: vec![
            ("syn_recv", num(total)),
            ("syncookies", num(syncookies)),
            ("tcp_max_syn_backlog", num(max_syn)),
        ],
        groups,
    })
}
