//! 中文: doctor 的诊断结果, 由类型化的证据生成文字 (每种一个函数, 顺序同 `diagnose`)。

use crate::doctor::closing::{CloseWaitLeak, UnreachablePeers};
use crate::doctor::ghosts::{GhostSuspects, KeepaliveCoverage};
use crate::doctor::limits::{ConntrackFull, FdLimit};
use crate::doctor::listen::{ListenOverflow, SynFlood};
use crate::doctor::piles::{ClosingPiles, SynSentFanout, UdpTrouble};
use crate::doctor::ports::{EphemeralPorts, TimeWaitPressure};
use crate::doctor::sysctl::{SysctlObsolete, SysctlRisky};
use crate::doctor::{Evidence, ServiceOf};
use crate::i18n::Words;
use crate::sysctl_audit::judge::{
    self, KEEPALIVE_INTVL_MAX as INTVL, KEEPALIVE_PROBES_MAX as PROBES, KEEPALIVE_TIME_SET as IDLE,
    PORT_RANGE_HIGH_SET, PORT_RANGE_LOW_MIN, RETRIES2_MIN, SOMAXCONN_MIN,
};
use crate::units::duration_ms as human_ms;

/// The words of a finding.
pub fn words(e: &Evidence) -> Words {
    match e {
        Evidence::GhostSuspects(e) => ghost_suspects(e),
        Evidence::KeepaliveCoverage(e) => keepalive_coverage(e),
        Evidence::CloseWaitLeak(e) => close_wait_leak(e),
        Evidence::UnreachablePeers(e) => unreachable_peers(e),
        Evidence::TimeWaitPressure(e) => time_wait_pressure(e),
        Evidence::EphemeralPorts(e) => ephemeral_ports(e),
        Evidence::ListenOverflow(e) => listen_overflow(e),
        Evidence::SynFlood(e) => syn_flood(e),
        Evidence::SynSentFanout(e) => syn_sent_fanout(e),
        Evidence::ClosingPiles(e) => closing_piles(e),
        Evidence::UdpTrouble(e) => udp_trouble(e),
        Evidence::FdLimit(e) => fd_limit(e),
        Evidence::ConntrackFull(e) => conntrack_full(e),
        Evidence::SysctlObsolete(e) => sysctl_obsolete(e),
        Evidence::SysctlRisky(e) => sysctl_risky(e),
    }
}

fn s(t: &str) -> String {
    t.to_string()
}

/// 发现中对进程的称呼: `api.service (python3/1234)`、`容器 web (nginx/7)`、
/// `Pod shop/cart-0 (nginx/7)`, 未知服务时为 `python3/1234`。
fn who(process: &str, pid: u32, service: &ServiceOf) -> String {
    crate::i18n::who(process, pid, service, ("容器", "Pod", "进程未知"), false)
}

/// 括号内使用的 [`who`]: `api.service, python3/1234`。
fn who_inner(process: &str, pid: u32, service: &ServiceOf) -> String {
    crate::i18n::who(process, pid, service, ("容器", "Pod", "进程未知"), true)
}

fn restart(service: &ServiceOf) -> String {
    service
        .restart_command()
        .map_or(String::new(), |c| format!(": {c}"))
}

fn ghost_suspects(e: &GhostSuspects) -> Words {
    let top = &e.groups[0];
    let threshold = human_ms(e.threshold_ms);
    let total = e.suspects;
    let place = if top.local_port != 0 {
        format!("在端口 {}", top.local_port)
    } else {
        format!("连向远端端口 {}", top.remote_port)
    };
    let filter = top.port_filter();
    let who = who_inner(&top.process, top.pid, &top.service);
    let (title, seen) = if e.idle_known {
        (
            format!("{total} 个 ESTABLISHED 连接疑似半开 (超过 {threshold} 无任何收包, 且未启用 keepalive); 最多的{place} ({who})"),
            format!("这些连接没有 keepalive 定时器, 没有未确认的数据, 且超过 {threshold} 未收到任何数据或 ACK。"),
        )
    } else {
        (
            format!("{total} 个 ESTABLISHED 连接没有 keepalive 定时器 (空闲时长未知); 最多的{place} ({who})"),
            s("这些连接没有 keepalive 定时器, 也没有待发送的数据; 证据中没有 tcp_info, 无从得知它们已静默多久。"),
        )
    };
    Words {
        title,
        detail: format!("{seen}若对端已消失 (断网、关机、客户端在防火墙后被杀), 其 FIN/RST 永远不会到达, 内核会一直保留该连接。它们是嫌疑, 尚未证实已死。"),
        why: s("TCP 本身没有心跳: 未设置 SO_KEEPALIVE 时, 对端已消失的空闲连接会一直保持 ESTABLISHED, 直到进程主动关闭。每个连接占用一个文件描述符、内存, 往往还占用应用的连接名额 (如代理的最大连接数), 于是会像事故中的 FTP 代理那样积压数天。"),
        fix: vec![
            format!("sockdoc ghosts --idle {threshold}   # 列出嫌疑连接及其进程、对端和空闲时长"),
            format!("sockdoc keepalive --yes --idle {IDLE} --intvl {INTVL} --cnt {PROBES} {filter}   # 为运行中的服务开启 keepalive, 无需重启: 之后内核会自行清除死掉的对端"),
            format!(
                "sockdoc kill --dry-run dst {} {filter}   # 确认对端已不存在后立即关闭该连接",
                top.peers.first().map_or("PEER", String::as_str)
            ),
            s("根治: 在服务接受的连接上设置 SO_KEEPALIVE (及 TCP_KEEPIDLE/INTVL/CNT), 或在其配置中设置空闲超时"),
        ],
    }
}

fn keepalive_coverage(e: &KeepaliveCoverage) -> Words {
    let uncovered = e.uncovered();
    let list = uncovered
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let title = if uncovered.is_empty() {
        format!("全部 {} 个有连接的服务都已启用 keepalive", e.ports.len())
    } else {
        format!("端口 {list} 的连接全部未启用 keepalive: 那里的死客户端永远不会被发现")
    };
    let fix = match uncovered.first() {
        Some(port) => vec![
            format!("sockdoc keepalive --dry-run sport = :{port}   # 为运行中的服务补上 keepalive (确认后加 --yes)"),
            format!("在服务中开启 keepalive (对接受的连接设置 SO_KEEPALIVE; 如 socat 的 `keepalive` 选项、sshd 的 TCPKeepAlive yes), 并缩短内核探测窗口: net.ipv4.tcp_keepalive_time={IDLE}, tcp_keepalive_intvl={INTVL}, tcp_keepalive_probes={PROBES}"),
        ],
        None => Vec::new(),
    };
    Words {
        title,
        detail: s("每个监听服务的 ESTABLISHED 连接中带 keepalive 定时器的比例 (`sockdoc list` 的 Timer 列, 即 `ss -o` 中的 `timer:(keepalive,...)`)。"),
        why: s("只有设置了 SO_KEEPALIVE 的套接字才会被探测; net.ipv4.tcp_keepalive_* 对其他连接毫无作用。覆盖率为 0% 的服务完全依赖其自身的空闲超时。"),
        fix,
    }
}

fn close_wait_leak(e: &CloseWaitLeak) -> Words {
    let top = &e.groups[0];
    let (leaked, pid, port, name) = (e.leaked, top.pid, top.local_port, &top.process);
    let (holder, restart) = (who(name, pid, &top.service), restart(&top.service));
    Words {
        title: format!("{leaked} 个 CLOSE-WAIT 套接字: 对端已关闭, 应用却从未 close(); 最多的在 {holder} 端口 {port}"),
        detail: format!(
            "{holder} 持有其中 {} 个, 最久的已静默 {}。CLOSE-WAIT 只有在所属进程调用 close() 后才会结束。",
            top.count,
            human_ms(top.max_idle_ms)
        ),
        why: s("这是应用程序的缺陷 (套接字泄漏: 出错路径未关闭就返回、连接池从不检查连接)。没有任何 sysctl 能缩短 CLOSE-WAIT。销毁这些套接字 (ss -K) 只会重置连接, 并不会归还泄漏的文件描述符: 进程会一直持有它们直到关闭或退出, 因此仍会耗尽 fd。"),
        fix: vec![
            format!("sockdoc list -p state close-wait pid {pid}   # 哪些对端, 多久了"),
            format!("修复 {name} 中未调用 close() 的代码路径 (或重启它以立即释放这些 fd{restart})"),
        ],
    }
}

fn unreachable_peers(e: &UnreachablePeers) -> Words {
    let top = &e.groups[0];
    let (total, peer, retries2) = (e.connections, &top.remote_ip, e.tcp_retries2);
    Words {
        title: format!("{total} 个连接正在向无响应的对端重传; 最多的指向 {peer} ({})", who_inner(&top.process, top.pid, &top.service)),
        detail: format!(
            "这些连接的重传定时器正在运行 (已重传最多 {} 次)。内核在 net.ipv4.tcp_retries2 = {retries2} 次重传后放弃 (默认 15 次约 15 分钟)。",
            top.max_retrans
        ),
        why: s("数据卡在对端已消失或不可达的连接的发送队列中, 应用程序因此阻塞或持续缓存。keepalive 对此无效 (它只作用于空闲连接); TCP_USER_TIMEOUT 才有效。"),
        fix: vec![
            format!("sockdoc list -p dst {peer} timer on   # 卡住的连接"),
            format!("在应用中设置 TCP_USER_TIMEOUT (如 30000 毫秒) 以快速失败; 调低 tcp_retries2 (如 {RETRIES2_MIN}, 约 100 秒) 会影响本机所有连接"),
        ],
    }
}

fn time_wait_pressure(e: &TimeWaitPressure) -> Words {
    let (tw, pct, max, overflow) = (e.time_wait, e.percent, e.max_tw_buckets, e.overflow_delta);
    let lost = if overflow > 0 {
        format!("; 刚才的采样间隔内有 {overflow} 个被提前销毁")
    } else {
        String::new()
    };
    Words {
        title: format!("{tw} 个 TIME-WAIT 套接字, 占 net.ipv4.tcp_max_tw_buckets = {max} 的 {pct}%{lost}"),
        detail: s("TIME-WAIT 属于先关闭的一方, 持续 60 秒 (2 MSL, Linux 中固定)。表满时内核会立即销毁新的 TIME-WAIT 套接字 (TCPTimeWaitOverflow) 并记录 \"TCP: time wait bucket table overflow\"。"),
        why: s("TIME-WAIT 本身开销很小, 并能保护新连接不受旧的重复报文影响; 过小的 tcp_max_tw_buckets (如网上常推荐的 5000) 只是牺牲了这种保护。真正值得解决的是其背后频繁建连断连的行为, 以及它在客户端占用的临时端口。"),
        fix: vec![
            s("sockdoc stats state time-wait --by remote-ip,remote-port   # 谁在频繁建连"),
            s("复用连接 (HTTP keep-alive、连接池), 而不是每个请求一个连接; 两端都可控时让客户端先关闭"),
            s("对于主动发起的连接: net.ipv4.tcp_tw_reuse=1 (启用时间戳时安全)。不要再找 tcp_tw_recycle: 它会让 NAT 后的客户端连接失败, 已在 Linux 4.12 中移除。tcp_fin_timeout 并不缩短 TIME-WAIT (它只限制孤儿 FIN-WAIT-2)"),
        ],
    }
}

fn ephemeral_ports(e: &EphemeralPorts) -> Words {
    let top = &e.groups[0];
    let (n, range, worst) = (top.used, e.range_size, e.percent(top.used));
    let (lip, rip, rport) = (top.local_ip, top.remote_ip, top.remote_port);
    let (lo, hi) = (e.low, e.high);
    Words {
        title: format!("从 {lip} 到 {rip}:{rport} 已占用 {range} 个临时端口中的 {n} 个 ({worst}%): 新连接将会失败"),
        detail: format!("从同一源地址到同一目的 (地址和端口) 的每个连接都需要 net.ipv4.ip_local_port_range = {lo} {hi} 中的一个本地端口; TIME-WAIT 套接字会继续占用 60 秒。"),
        why: s("端口用尽后 connect() 会以 EADDRNOTAVAIL (\"Cannot assign requested address\") 失败, 客户端看到超时或报错。"),
        fix: vec![
            format!("sockdoc stats dst {rip} dport = :{rport} --by state   # 是 TIME-WAIT 还是活动连接?"),
            format!("复用连接 (连接池、keep-alive); 扩大范围 (net.ipv4.ip_local_port_range=\"{PORT_RANGE_LOW_MIN} {PORT_RANGE_HIGH_SET}\"); 对外连接启用 net.ipv4.tcp_tw_reuse=1; 使用更多源地址或目的端口分摊"),
        ],
    }
}

fn listen_overflow(e: &ListenOverflow) -> Words {
    let (overflows, drops, somaxconn) =
        (e.listen_overflows_delta, e.listen_drops_delta, e.somaxconn);
    let title = match e.groups.first() {
        Some(g) => format!(
            "端口 {} ({}) 的 accept 队列已有 {} 个连接, backlog 为 {}: 新连接被丢弃",
            g.local_port,
            who_inner(&g.process, g.pid, &g.service),
            g.accept_queue,
            g.backlog
        ),
        None => format!(
            "刚才的采样间隔内有 {overflows} 个连接因 accept 队列已满被丢弃 (ListenOverflows)"
        ),
    };
    Words {
        title,
        detail: format!("监听套接字的 Recv-Q 是 accept 队列 (握手已完成、等待 accept()), Send-Q 是 backlog (listen() 参数与 net.core.somaxconn = {somaxconn} 的较小值)。采样间隔内 ListenOverflows 增加 {overflows}, ListenDrops 增加 {drops}。"),
        why: s("队列满时内核会忽略客户端最后的 ACK (或 SYN); 客户端看到连接超时并以 1 秒、3 秒、7 秒……重试, 而服务器看起来很空闲。常见原因是应用 accept 太慢 (工作线程阻塞、线程太少), 而不是 backlog 太小。"),
        fix: vec![
            s("sockdoc list listening recvq '>' 0   # 哪些监听端口在积压"),
            format!("查明进程为何不 accept (工作线程卡住、CPU 不足); 若突发流量正常, 再调大应用的 backlog 和 net.core.somaxconn (如 {SOMAXCONN_MIN})"),
        ],
    }
}

fn syn_flood(e: &SynFlood) -> Words {
    let top = &e.groups[0];
    let (n, port, b) = (top.syn_recv, top.local_port, top.backlog);
    let (total, syncookies, max_syn) = (e.syn_recv, e.syncookies, e.tcp_max_syn_backlog);
    let mut fix = vec![format!("sockdoc stats state syn-recv sport = :{port} --by remote-ip,peer-prefix   # 来自单一来源还是众多来源?")];
    if syncookies == 0 {
        fix.push(format!(
            "{}   # 队列满时以 cookie 应答",
            judge::set_command(
                "net.ipv4.tcp_syncookies",
                &judge::SYNCOOKIES_SET.to_string()
            )
        ));
    }
    fix.push(s("在上游过滤洪水 (按来源的 nftables 限速: `tcp flags syn limit rate over 100/second drop`); 对正常的突发流量调大 tcp_max_syn_backlog 和 listen backlog"));
    Words {
        title: format!("端口 {port} 上有 {n} 个半开握手 (SYN-RECV) (backlog {b}): SYN 洪水攻击, 或客户端最后的 ACK 丢失"),
        detail: format!(
            "共 {total} 个 SYN-RECV。net.ipv4.tcp_syncookies = {syncookies}, net.ipv4.tcp_max_syn_backlog = {max_syn}; 采样间隔内 TCPReqQFullDrop 增加 {}, SyncookiesSent 增加 {}。",
            e.req_q_full_drop_delta, e.syncookies_sent_delta
        ),
        why: s("每个 SYN-RECV 会在多次 SYN-ACK 重传期间 (net.ipv4.tcp_synack_retries) 占用一个请求槽位。SYN 队列满后, 除非 syncookies 生效, 正常客户端将无法连接。"),
        fix,
    }
}

fn syn_sent_fanout(e: &SynSentFanout) -> Words {
    let top = &e.groups[0];
    let (total, hosts, pid, name, top_dest) = (
        e.syn_sent,
        e.hosts,
        top.pid,
        &top.process,
        &top.top_destination,
    );
    let holder = who(name, pid, &top.service);
    let detail = s("SYN-SENT 表示我方的 SYN 尚未得到应答; 内核会重试 net.ipv4.tcp_syn_retries 次 (默认 6 次约 2 分钟) 后 connect() 才失败。");
    if e.scanning {
        Words {
            title: format!("{total} 个连接尝试 (SYN-SENT) 指向 {hosts} 个不同主机, 大多来自 {holder}: 扫描或蠕虫式行为"),
            detail,
            why: s("很少有正常程序会向大量不应答的主机发起连接: 这正是扫描器和蠕虫的特征, 首先要排除主机已被入侵。"),
            fix: vec![
                format!("sockdoc list -p state syn-sent pid {pid}   # 它连向哪里"),
                format!("ls -l /proc/{pid}/exe; cat /proc/{pid}/cmdline   # 程序的真实身份"),
            ],
        }
    } else {
        Words {
            title: format!("{total} 个连接尝试 (SYN-SENT) 卡在 {hosts} 个主机上, 大多由 {holder} 发往 {top_dest}: 上游不可达"),
            detail,
            why: s("丢弃 SYN 的后端、DNS 或代理 (宕机、被防火墙拦截、黑洞路由) 会让每个调用方都等满 SYN 重试时间; 线程和连接池随之被占满。"),
            fix: vec![
                format!("sockdoc list -p state syn-sent   # 哪些调用方在等待 {top_dest}"),
                s("检查上游 (是否在线? 是否被防火墙拦截? 路由是否正确?), 并为客户端设置短于内核 SYN 重试时间的连接超时"),
            ],
        }
    }
}

fn closing_piles(e: &ClosingPiles) -> Words {
    let orphans = if e.max_orphans > 0 {
        format!(
            "; 孤儿连接 {} 个 (全机), tcp_max_orphans 为 {}",
            e.orphans, e.max_orphans
        )
    } else {
        String::new()
    };
    Words {
        title: format!(
            "{} 个连接卡在关闭过程中 (FIN-WAIT-1 {}, FIN-WAIT-2 {}, LAST-ACK {}, CLOSING {}){orphans}",
            e.total(), e.fin_wait_1, e.fin_wait_2, e.last_ack, e.closing
        ),
        detail: s("FIN-WAIT-1 和 LAST-ACK 在等待对端确认我方的 FIN (对端不可达或过载); FIN-WAIT-2 在等待对端的 FIN (对端应用未关闭); 孤儿连接是已无进程持有的此类套接字。"),
        why: s("每个都占用内核内存; 超过 tcp_max_orphans 后内核会立即重置孤儿连接 (\"too many orphaned sockets\"), 内存紧张时开始丢包。调低 tcp_fin_timeout 只缩短孤儿 FIN-WAIT-2; tcp_orphan_retries 限制 FIN-WAIT-1 孤儿连接。"),
        fix: vec![
            s("sockdoc stats state fin-wait-1 state fin-wait-2 state last-ack state closing --by remote-ip,state   # 哪些对端"),
            s("对于从不关闭的对端 (进程持有的 FIN-WAIT-2): 修复对端, 或用超时关闭连接; 对于不可达的对端 (FIN-WAIT-1、LAST-ACK): net.ipv4.tcp_orphan_retries=3"),
        ],
    }
}

fn udp_trouble(e: &UdpTrouble) -> Words {
    let (rcvbuf, inerr, total) = (e.rcvbuf_errors_delta, e.in_errors_delta, e.udp_sockets);
    let title = match e.groups.first() {
        Some(g) if rcvbuf == 0 && inerr == 0 => format!(
            "{} 持有 {} 个 UDP 套接字, 涉及 {} 个端口",
            who(&g.process, g.pid, &g.service),
            g.sockets,
            g.ports
        ),
        _ => format!(
            "刚才的采样间隔内有 {rcvbuf} 个 UDP 数据报因接收缓冲区不足被丢弃 ({inerr} 个输入错误)"
        ),
    };
    Words {
        title,
        detail: format!("共 {total} 个 UDP 套接字。套接字的 Recv-Q 是尚未读取的数据; 达到接收缓冲区上限后, 新的数据报会被丢弃 (Udp RcvbufErrors)。"),
        why: s("UDP 没有流量控制: 读取跟不上时数据会被悄悄丢弃 (DNS、syslog、监控指标、音视频)。一个进程中成千上万的 UDP 套接字通常意味着每个请求一个套接字且从不关闭。"),
        fix: vec![
            s("sockdoc list -p udp recvq '>' 0   # 读取跟不上的套接字"),
            s("加快读取 (更多工作线程、SO_REUSEPORT), 增大缓冲区 (应用中的 SO_RCVBUF, net.core.rmem_max / rmem_default), 或关闭按请求创建的套接字"),
        ],
    }
}

fn fd_limit(e: &FdLimit) -> Words {
    let title = match (e.groups.first(), e.file_nr) {
        (Some(g), _) => format!(
            "{}/{} 已打开 {} 个文件描述符中的 {} 个 ({}%): 达到上限后 accept() 和 connect() 将以 EMFILE 失败",
            g.process, g.pid, g.soft, g.open, g.percent
        ),
        (None, Some((allocated, max))) => format!(
            "系统文件表已用 {}% ({allocated} / fs.file-max {max})",
            crate::doctor::percent(allocated, max)
        ),
        (None, None) => String::new(),
    };
    let fix = match e.groups.first() {
        Some(g) => vec![
            format!("sockdoc stats pid {} --by state   # 是泄漏的 CLOSE-WAIT 还是活动连接?", g.pid),
            format!("prlimit --pid {} --nofile=65536:65536   # 立即调高; 在服务单元中设置 LimitNOFILE= 使其永久生效", g.pid),
        ],
        None => Vec::new(),
    };
    Words {
        title,
        detail: format!(
            "{} 个进程已用到其 RLIMIT_NOFILE 软限制的 80% 或以上。",
            e.groups.len()
        ),
        why: s("每个套接字都是一个文件描述符。描述符耗尽的服务器无法 accept; 客户端在 accept 队列中排队直至超时, 进程还可能因 accept() 出错而空转。"),
        fix,
    }
}

fn conntrack_full(e: &ConntrackFull) -> Words {
    let lost = if e.drop_delta > 0 {
        format!("; 刚才的采样间隔内丢弃了 {} 个包", e.drop_delta)
    } else {
        String::new()
    };
    Words {
        title: format!(
            "conntrack 表已用 {}% ({} / nf_conntrack_max {}){lost}",
            e.percent, e.count, e.max
        ),
        detail: s("每个被跟踪的流 (任何状态的 TCP, 包括 TIME-WAIT, 以及 UDP) 在超时前都占用一个表项。"),
        why: s("表满时内核会丢弃新流的第一个包 (\"nf_conntrack: table full, dropping packet\"): 新连接随机失败, 而已有连接正常。"),
        fix: vec![
            s("conntrack -S; conntrack -L -o extended | awk '{print $3, $4}' | sort | uniq -c | sort -rn | head   # 是什么占满了它"),
            s("调大 net.netfilter.nf_conntrack_max (每项约 300 字节), 缩短 nf_conntrack_tcp_timeout_time_wait / _established, 或用 `notrack` 规则豁免繁忙的本地流量"),
        ],
    }
}

fn sysctl_obsolete(e: &SysctlObsolete) -> Words {
    let first = &e.settings[0];
    let gone = |o: &crate::doctor::sysctl::ObsoleteSetting| {
        if o.is_tw_recycle() {
            "已在 Linux 4.12 中移除: 它会丢弃 NAT 后客户端的连接 (按主机的时间戳); 对外连接请用 tcp_tw_reuse"
        } else {
            "当前内核没有此参数: 启动时 `sysctl -p` / systemd-sysctl 会报错"
        }
    };
    Words {
        title: format!(
            "配置文件中有 {} 个当前内核不存在的 sysctl 参数, 如 {} ({})",
            e.settings.len(),
            first.key,
            first.file.display()
        ),
        detail: e
            .settings
            .iter()
            .map(|o| {
                format!(
                    "{}:{} {} = {} — {}",
                    o.file.display(),
                    o.line,
                    o.key,
                    o.value,
                    gone(o)
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        why: s(
            "照搬旧建议的调优在这里毫无作用, 还掩盖了原本的意图; 开机时的 sysctl 会因这些行报错。",
        ),
        fix: e
            .settings
            .iter()
            .map(|o| format!("删除 {} 第 {} 行 ({})", o.file.display(), o.line, o.key))
            .collect(),
    }
}

fn sysctl_risky(e: &SysctlRisky) -> Words {
    let keys = e
        .settings
        .iter()
        .map(|r| r.key)
        .collect::<Vec<_>>()
        .join(", ");
    Words {
        title: format!("{} 个有风险的内核参数: {keys}", e.settings.len()),
        detail: e
            .settings
            .iter()
            .map(|r| {
                format!(
                    "{} = {}: {}",
                    r.key,
                    r.value,
                    super::sysctl::reason(r.reason)
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        why: s("这些值常见于照搬的调优指南, 只会让连接问题更糟。"),
        fix: e
            .settings
            .iter()
            .map(|r| judge::set_command(r.key, &r.recommended))
            .collect(),
    }
}
