//! Piles that are not leaks of one process: SYN-SENT fan-out (a scanner or worm, or one dead upstream),
//! connections stuck closing (FIN-WAIT-1/2, LAST-ACK, CLOSING) and orphans against `tcp_max_orphans`,
//! and UDP: sockets hoarded by a process, datagrams dropped for lack of receive buffer.

use std::collections::{BTreeMap, BTreeSet};

use sockdoc_diag::{Proto, State};

use super::{num, percent, Finding, Input, Row, Severity};
use crate::i18n::pick;

/// SYN-SENT sockets from which fan-out is reported.
const SYN_SENT_MIN: u64 = 16;
/// Distinct destination hosts that make SYN-SENT look like scanning.
const SCAN_HOSTS: usize = 16;

pub fn syn_sent_fanout(input: &Input) -> Option<Finding> {
    #[derive(Default)]
    struct G {
        name: String,
        count: u64,
        hosts: BTreeSet<String>,
        dests: BTreeMap<String, u64>,
    }
    let mut groups: BTreeMap<u32, G> = BTreeMap::new();
    let mut total = 0u64;
    let mut all_hosts = BTreeSet::new();
    for s in input
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == State::SynSent)
    {
        total += 1;
        let (pid, name) = input.owner(s.inode);
        let g = groups.entry(pid).or_default();
        g.name = name;
        g.count += 1;
        let host = s.remote_ip().to_string();
        all_hosts.insert(host.clone());
        g.hosts.insert(host);
        *g.dests.entry(s.remote_addr().to_string()).or_default() += 1;
    }
    if total < SYN_SENT_MIN {
        return None;
    }
    let mut rows: Vec<(u32, G)> = groups.into_iter().collect();
    rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
    let (pid, top) = (&rows[0].0, &rows[0].1);
    let scanning = all_hosts.len() >= SCAN_HOSTS;
    let top_dest = top
        .dests
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(d, _)| d.clone())
        .unwrap_or_default();
    let lang = input.lang;
    let hosts = all_hosts.len();
    let title = if scanning {
        pick(
            lang,
            format!("{total} connection attempts (SYN-SENT) to {hosts} different hosts, most from {}/{pid}: scanning or worm-like behaviour", top.name),
            format!("{total} 个连接尝试 (SYN-SENT) 指向 {hosts} 个不同主机, 大多来自 {}/{pid}: 扫描或蠕虫式行为", top.name),
        )
    } else {
        pick(
            lang,
            format!("{total} connection attempts (SYN-SENT) hang towards {hosts} host(s), most to {top_dest} from {}/{pid}: an unreachable upstream", top.name),
            format!("{total} 个连接尝试 (SYN-SENT) 卡在 {hosts} 个主机上, 大多由 {}/{pid} 发往 {top_dest}: 上游不可达", top.name),
        )
    };
    let detail = pick(
        lang,
        "SYN-SENT means our SYN got no answer yet; the kernel retries net.ipv4.tcp_syn_retries times (~2 minutes at the default 6) before connect() fails.".to_string(),
        "SYN-SENT 表示我方的 SYN 尚未得到应答; 内核会重试 net.ipv4.tcp_syn_retries 次 (默认 6 次约 2 分钟) 后 connect() 才失败。".to_string(),
    );
    let why = if scanning {
        pick(
            lang,
            "Few legitimate programs open connections to many hosts that do not answer: this is how scanners and worms look, and a compromised host is the first thing to rule out.".to_string(),
            "很少有正常程序会向大量不应答的主机发起连接: 这正是扫描器和蠕虫的特征, 首先要排除主机已被入侵。".to_string(),
        )
    } else {
        pick(
            lang,
            "A backend, DNS or proxy that drops SYNs (down, firewalled, blackholed) leaves every caller waiting for the full SYN retry time; threads and connection pools fill up behind it.".to_string(),
            "丢弃 SYN 的后端、DNS 或代理 (宕机、被防火墙拦截、黑洞路由) 会让每个调用方都等满 SYN 重试时间; 线程和连接池随之被占满。".to_string(),
        )
    };
    let fix = if scanning {
        vec![
            pick(
                lang,
                format!("sockdoc list -p state syn-sent pid {pid}   # where it connects"),
                format!("sockdoc list -p state syn-sent pid {pid}   # 它连向哪里"),
            ),
            pick(
                lang,
                format!(
                    "ls -l /proc/{pid}/exe; cat /proc/{pid}/cmdline   # what the program really is"
                ),
                format!("ls -l /proc/{pid}/exe; cat /proc/{pid}/cmdline   # 程序的真实身份"),
            ),
        ]
    } else {
        vec![
            pick(lang, format!("sockdoc list -p state syn-sent   # which callers wait on {top_dest}"), format!("sockdoc list -p state syn-sent   # 哪些调用方在等待 {top_dest}")),
            pick(lang, "Check the upstream (is it up? firewalled? routed?), and give clients a connect timeout shorter than the kernel's SYN retries".to_string(), "检查上游 (是否在线? 是否被防火墙拦截? 路由是否正确?), 并为客户端设置短于内核 SYN 重试时间的连接超时".to_string()),
        ]
    };
    let groups = rows
        .into_iter()
        .map(|(pid, g)| {
            let top = g
                .dests
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(d, _)| d.clone())
                .unwrap_or_default();
            Row::default()
                .with("pid", pid)
                .with("process", g.name)
                .with("count", g.count)
                .with("hosts", g.hosts.len())
                .with("top_destination", top)
        })
        .collect();
    Some(Finding {
        id: "syn-sent-fanout",
        severity: Severity::Warning,
        title,
        detail,
        why,
        fix,
        evidence: vec![
            ("syn_sent", num(total)),
            ("hosts", num(hosts)),
            ("scanning", i64::from(scanning)),
        ],
        groups,
    })
}

/// Sockets in closing states from which a pile is reported.
const CLOSING_MIN: u64 = 100;

pub fn closing_piles(input: &Input) -> Option<Finding> {
    let closing = [
        State::FinWait1,
        State::FinWait2,
        State::LastAck,
        State::Closing,
    ];
    let mut per_state: BTreeMap<State, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
    for s in input
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && closing.contains(&s.state))
    {
        let e = per_state.entry(s.state).or_default();
        e.0 += 1;
        *e.1.entry(s.remote_ip().to_string()).or_default() += 1;
    }
    let total: u64 = per_state.values().map(|v| v.0).sum();
    // Orphans are counted host-wide by the kernel, and tcp_max_orphans exists only in the host's own
    // namespace: they are judged only where the limit is known.
    let orphans = input.kernel.sockstat.tcp_orphan;
    let max_orphans = input.kernel.sysctls.max_orphans.unwrap_or(0);
    let orphan_pct = percent(orphans, max_orphans);
    let orphan_en = if max_orphans > 0 {
        format!("; {orphans} orphans (host-wide) of tcp_max_orphans {max_orphans}")
    } else {
        String::new()
    };
    let orphan_zh = if max_orphans > 0 {
        format!("; 孤儿连接 {orphans} 个 (全机), tcp_max_orphans 为 {max_orphans}")
    } else {
        String::new()
    };
    let severity = if orphan_pct >= 90 {
        Severity::Critical
    } else if orphan_pct >= 50 || total >= CLOSING_MIN {
        Severity::Warning
    } else {
        return None;
    };
    let lang = input.lang;
    let count = |st: State| per_state.get(&st).map_or(0, |v| v.0);
    let title = pick(
        lang,
        format!(
            "{total} connections stuck closing (FIN-WAIT-1 {}, FIN-WAIT-2 {}, LAST-ACK {}, CLOSING {}){orphan_en}",
            count(State::FinWait1), count(State::FinWait2), count(State::LastAck), count(State::Closing)
        ),
        format!(
            "{total} 个连接卡在关闭过程中 (FIN-WAIT-1 {}, FIN-WAIT-2 {}, LAST-ACK {}, CLOSING {}){orphan_zh}",
            count(State::FinWait1), count(State::FinWait2), count(State::LastAck), count(State::Closing)
        ),
    );
    let detail = pick(
        lang,
        "FIN-WAIT-1 and LAST-ACK wait for the peer to acknowledge our FIN (an unreachable or overloaded peer); FIN-WAIT-2 waits for the peer's FIN (the peer application does not close); orphans are such sockets no process holds any more.".to_string(),
        "FIN-WAIT-1 和 LAST-ACK 在等待对端确认我方的 FIN (对端不可达或过载); FIN-WAIT-2 在等待对端的 FIN (对端应用未关闭); 孤儿连接是已无进程持有的此类套接字。".to_string(),
    );
    let why = pick(
        lang,
        "Each holds kernel memory; past tcp_max_orphans the kernel resets orphans at once (\"too many orphaned sockets\") and under memory pressure it starts dropping. Lowering tcp_fin_timeout shortens only orphaned FIN-WAIT-2; tcp_orphan_retries bounds FIN-WAIT-1 orphans.".to_string(),
        "每个都占用内核内存; 超过 tcp_max_orphans 后内核会立即重置孤儿连接 (\"too many orphaned sockets\"), 内存紧张时开始丢包。调低 tcp_fin_timeout 只缩短孤儿 FIN-WAIT-2; tcp_orphan_retries 限制 FIN-WAIT-1 孤儿连接。".to_string(),
    );
    let fix = vec![
        pick(lang, "sockdoc stats state fin-wait-1 state fin-wait-2 state last-ack state closing --by remote-ip,state   # which peers".to_string(), "sockdoc stats state fin-wait-1 state fin-wait-2 state last-ack state closing --by remote-ip,state   # 哪些对端".to_string()),
        pick(lang, "For a peer that never closes (FIN-WAIT-2 held by a process): fix the peer, or shut the connections down with a timeout; for unreachable peers (FIN-WAIT-1, LAST-ACK): net.ipv4.tcp_orphan_retries=3".to_string(), "对于从不关闭的对端 (进程持有的 FIN-WAIT-2): 修复对端, 或用超时关闭连接; 对于不可达的对端 (FIN-WAIT-1、LAST-ACK): net.ipv4.tcp_orphan_retries=3".to_string()),
    ];
    let groups = per_state
        .iter()
        .map(|(st, (n, peers))| {
            let top = peers
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(p, _)| p.clone())
                .unwrap_or_default();
            Row::default()
                .with("state", st.key())
                .with("count", *n)
                .with("top_remote_ip", top)
        })
        .collect();
    Some(Finding {
        id: "closing-piles",
        severity,
        title,
        detail,
        why,
        fix,
        evidence: vec![
            ("fin_wait_1", num(count(State::FinWait1))),
            ("fin_wait_2", num(count(State::FinWait2))),
            ("last_ack", num(count(State::LastAck))),
            ("closing", num(count(State::Closing))),
            ("orphans", num(orphans)),
            ("max_orphans", num(max_orphans)),
        ],
        groups,
    })
}

/// UDP sockets in one process from which hoarding is reported.
const UDP_HOARD: u64 = 1000;

pub fn udp(input: &Input) -> Option<Finding> {
    let rcvbuf =
        input.kernel.delta("Udp", "RcvbufErrors") + input.kernel.delta("Udp6", "RcvbufErrors");
    let inerr = input.kernel.delta("Udp", "InErrors") + input.kernel.delta("Udp6", "InErrors");
    #[derive(Default)]
    struct G {
        name: String,
        count: u64,
        ports: BTreeSet<u16>,
        max_recv_q: u32,
    }
    let mut groups: BTreeMap<u32, G> = BTreeMap::new();
    let mut total = 0u64;
    for s in input.sockets.iter().filter(|s| s.proto == Proto::Udp) {
        total += 1;
        let (pid, name) = input.owner(s.inode);
        let g = groups.entry(pid).or_default();
        g.name = name;
        g.count += 1;
        g.ports.insert(s.local_port);
        g.max_recv_q = g.max_recv_q.max(s.recv_q);
    }
    let hoarders = groups.values().filter(|g| g.count >= UDP_HOARD).count();
    if rcvbuf == 0 && inerr == 0 && hoarders == 0 {
        return None;
    }
    let mut rows: Vec<(u32, G)> = groups
        .into_iter()
        .filter(|(_, g)| g.count >= UDP_HOARD || (rcvbuf > 0 && g.max_recv_q > 0))
        .collect();
    rows.sort_by(|a, b| {
        b.1.max_recv_q
            .cmp(&a.1.max_recv_q)
            .then(b.1.count.cmp(&a.1.count))
            .then(a.0.cmp(&b.0))
    });
    let lang = input.lang;
    let title = if rcvbuf > 0 || inerr > 0 {
        pick(
            lang,
            format!("{rcvbuf} UDP datagrams dropped for lack of receive buffer ({inerr} input errors) in the last interval"),
            format!("刚才的采样间隔内有 {rcvbuf} 个 UDP 数据报因接收缓冲区不足被丢弃 ({inerr} 个输入错误)"),
        )
    } else {
        let (pid, g) = (&rows[0].0, &rows[0].1);
        pick(
            lang,
            format!(
                "{}/{pid} holds {} UDP sockets on {} ports",
                g.name,
                g.count,
                g.ports.len()
            ),
            format!(
                "{}/{pid} 持有 {} 个 UDP 套接字, 涉及 {} 个端口",
                g.name,
                g.count,
                g.ports.len()
            ),
        )
    };
    let detail = pick(
        lang,
        format!("{total} UDP sockets in all. A socket's Recv-Q is what it has not read yet; when it reaches the socket's receive buffer, new datagrams are dropped (Udp RcvbufErrors)."),
        format!("共 {total} 个 UDP 套接字。套接字的 Recv-Q 是尚未读取的数据; 达到接收缓冲区上限后, 新的数据报会被丢弃 (Udp RcvbufErrors)。"),
    );
    let why = pick(
        lang,
        "UDP has no flow control: a reader that falls behind loses data silently (DNS, syslog, metrics, media). Thousands of UDP sockets in one process usually mean a socket per request that is never closed.".to_string(),
        "UDP 没有流量控制: 读取跟不上时数据会被悄悄丢弃 (DNS、syslog、监控指标、音视频)。一个进程中成千上万的 UDP 套接字通常意味着每个请求一个套接字且从不关闭。".to_string(),
    );
    let fix = vec![
        pick(lang, "sockdoc list -p udp recvq '>' 0   # the sockets that fall behind".to_string(), "sockdoc list -p udp recvq '>' 0   # 读取跟不上的套接字".to_string()),
        pick(lang, "Read faster (more workers, SO_REUSEPORT), enlarge the buffer (SO_RCVBUF in the application, net.core.rmem_max / rmem_default), or close per-request sockets".to_string(), "加快读取 (更多工作线程、SO_REUSEPORT), 增大缓冲区 (应用中的 SO_RCVBUF, net.core.rmem_max / rmem_default), 或关闭按请求创建的套接字".to_string()),
    ];
    let severity = Severity::Warning;
    let groups = rows
        .into_iter()
        .take(20)
        .map(|(pid, g)| {
            Row::default()
                .with("pid", pid)
                .with("process", g.name)
                .with("sockets", g.count)
                .with("ports", g.ports.len())
                .with("max_recv_q", g.max_recv_q)
        })
        .collect();
    Some(Finding {
        id: "udp-trouble",
        severity,
        title,
        detail,
        why,
        fix,
        evidence: vec![
            ("rcvbuf_errors_delta", rcvbuf),
            ("in_errors_delta", inerr),
            ("udp_sockets", num(total)),
        ],
        groups,
    })
}
