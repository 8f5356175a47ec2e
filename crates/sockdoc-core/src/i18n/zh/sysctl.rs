//! 中文: sysctl 判定保持、修改或删除一个参数的原因, 各 sysctl 配置方案的用途, 以及
//! `sysctl plan|apply|rollback` 的输出和拒绝信息。

use crate::i18n::sysctl::SysctlMsg as M;
use crate::sysctl_audit::judge::Reason;
use crate::sysctl_audit::ProfileText as T;

/// The reason, in Chinese.
pub fn reason(r: Reason) -> &'static str {
    match r {
        Reason::Fine => "合适",
        Reason::KeepaliveTimeLong => "只影响设置了 SO_KEEPALIVE 的套接字 (sshd、vsftpd、redis……); 300 秒可在几分钟而不是 2 小时内发现死掉的对端。对从不设置 SO_KEEPALIVE 的服务 (如事故中的 FTP 代理) 毫无作用。",
        Reason::KeepaliveTimeShort => "已足够短: keepalive 套接字的死对端可在几分钟内被发现",
        Reason::KeepaliveIntvlLong => "未应答探测之间的间隔秒数; 配合 5 次探测, 死对端会在首次探测后 2.5 分钟被清除",
        Reason::KeepaliveProbesMany => "连接被清除前未应答的探测次数",
        Reason::SyncookiesOff => "仅在 SYN 队列溢出时以 cookie 应答: 防止 SYN 洪水挡住正常客户端",
        Reason::SyncookiesOn => "已开启: 以 cookie 应对 SYN 洪水",
        Reason::TwReuseOn => "对外连接可复用 TIME-WAIT 端口 (启用 TCP 时间戳时安全)",
        Reason::TwReuseOff => "允许对外连接在时间戳证明安全时复用 TIME-WAIT 端口; 对入站连接没有影响 (默认值 2 仅对回环地址生效)",
        Reason::FinTimeout => "只限制孤儿 FIN-WAIT-2 套接字的时长; 它并不缩短 TIME-WAIT (固定 60 秒), 无论网上怎么说",
        Reason::SynRetriesLow => "只重试 2 次时 connect() 约 7 秒就放弃, 在任何丢包的链路上都会失败; 默认值 6 (约 127 秒) 才合适, 应用应自行设置连接超时",
        Reason::OrphanRetries => "无进程持有的连接的重试次数; 默认 0 表示 8 次。调低可在内存紧张时更快释放孤儿连接",
        Reason::PortRangeLow => "起始端口低于 10000 会分配出服务监听的端口 (事故笔记中的 1024 会与知名端口冲突); 10000-65000 既宽又安全",
        Reason::PortRangeNarrow => "每个目的地址少于 20000 个临时端口: 繁忙的客户端会耗尽端口 (EADDRNOTAVAIL)",
        Reason::PortRangeWide => "足够宽",
        Reason::SynBacklogSmall => "每个监听端口保留的半开握手数; 过小会丢弃正常的突发连接 (超出后由 syncookies 接管)",
        Reason::TwBucketsSmall => "过小: TIME-WAIT 套接字被提前销毁 (\"time wait bucket table overflow\"), 失去对旧重复报文的保护; 事故笔记中的 5000 有害。应减少频繁建连",
        Reason::TwBucketsFine => "合适: TIME-WAIT 套接字可存活完整的 60 秒",
        Reason::NetdevBacklog => "协议栈处理前每个 CPU 排队的包数; 只在极高包速率时才有影响 (看 softnet_stat 丢包)",
        Reason::SomaxconnSmall => "限制所有 listen() 的 backlog; 自 Linux 5.4 起默认 4096",
        Reason::Retries2Low => "有未确认数据的连接在极少重传后就被断开; RFC 1122 要求至少 100 秒 (8)",
        Reason::Retries2Fine => "值为 15 时, 对有在途数据的死对端约 15 分钟后放弃; 与其为整机调低, 不如在应用中设置 TCP_USER_TIMEOUT",
        Reason::ConntrackHalfFull => "表已超过一半: 表满时新流会被随机丢弃",
        Reason::ConntrackHeadroom => "对当前流量余量充足",
        Reason::ConntrackNotLoaded => "此命名空间未加载 conntrack: 无需调整",
        Reason::TwRecycleGone => "已在 Linux 4.12 中移除 (它会让 NAT 后的客户端出错), 本机配置文件中也没有设置: 无需处理; 仍推荐它的建议已经过时",
        Reason::TwRecycleConfigured => "已在 Linux 4.12 中移除: 它会丢弃 NAT 后客户端的 SYN (按主机比较时间戳); 事故笔记中的 `tcp_tw_recycle = 1` 如今毫无作用, 只会在开机时报错。对外连接请用 tcp_tw_reuse。",
        Reason::Missing => "当前内核没有此参数",
        Reason::MissingConfigured => "当前内核没有此参数, 但配置文件中设置了它",
        Reason::ProfileRefused => "当前内核在此没有该参数 (部分 net.core 参数只存在于主机命名空间): 不予应用",
    }
}

/// What a sysctl profile is for, or why it wants one of its settings.
pub fn profile(t: T) -> &'static str {
    match t {
        T::FastDeadPeers => "约 3 分钟而不是 2 小时发现死对端: keepalive 套接字静默 2 分钟后开始探测, 无人确认的数据约 100 秒后放弃。从不设置 SO_KEEPALIVE 的服务 (如事故中的 FTP 代理) 仍需 `sockdoc keepalive` 或 `run-with-keepalive`。",
        T::FastKeepaliveTime => "静默 2 分钟后发出第一个 keepalive 探测",
        T::FastKeepaliveIntvl => "未应答探测间隔 15 秒",
        T::FastKeepaliveProbes => "4 次探测无应答后断开: 共 120 + 4 x 15 = 3 分钟",
        T::FastRetries2 => "对端停止确认数据后约 100 秒 (RFC 1122 的下限) 而不是约 15 分钟放弃",
        T::BusyServer => "大量入站连接与突发 accept (Web 服务器、消息代理、FTP): 更深的监听队列与 SYN 队列, 开启 syncookies。",
        T::ServerSomaxconn => "允许 listen() 的 backlog 达到 8192 (应用自身也需设置)",
        T::ServerSynBacklog => "每个监听端口 8192 个半开握手, 超出后由 syncookies 接管",
        T::ServerSyncookies => "SYN 队列溢出时使用 cookie: 洪水无法挡住正常客户端",
        T::ServerNetdevBacklog => "更深的每 CPU 输入队列, 应对突发包",
        T::BusyClient => "对少数目的地址发起大量对外连接 (代理、爬虫、连接池): 最宽且安全的临时端口范围, 对外连接复用 TIME-WAIT, 并让 TIME-WAIT 套接字存活完整 60 秒。",
        T::ClientPortRange => "每个目的地址 55536 个端口, 不含服务监听的 10000 以下端口",
        T::ClientTwReuse => "时间戳证明安全时, 对外连接复用 TIME-WAIT 端口",
        T::ClientTwBuckets => "可承受每秒 4000 以上的新建连接而不提前销毁 TIME-WAIT",
    }
}

/// The template of `m`.
pub fn msg(m: M) -> &'static str {
    match m {
        M::HostWide => "全局设置: 主机上的值 {} 对所有网络命名空间生效; 请在主机上检查和修改",
        M::OneNamespace => "sysctl 一次只处理一个网络命名空间: 请用 --netns NAME 或 --netns-pid PID, 不要用 --all-netns",
        M::RollbackNoProfile => "rollback 恢复 apply 备份的内容, 与配置方案无关: 请去掉 --profile",
        M::ThisHost => "本机",
        M::OnThisHost => "在本机",
        M::InNamespace => "在{}中",
        M::NsNamed => "网络命名空间 {} (net:{})",
        M::NsOfPid => "进程 {} 所在的网络命名空间 (net:{})",
        M::NsUnnamed => "未命名的网络命名空间 (net:{})",
        M::HostLoaded => "{} 会在开机和 `sysctl --system` 时加载到本机, {} 的参数不能写在那里: 请选择其他文件 (例如 {})",
        M::NotAFilePath => "{} 不是文件路径",
        M::Exists => "{} 已存在: 加 --force 以替换它",
        M::StaleRemoved => "已删除 {}, 它是一次被中断的 sockdoc 运行留下的",
        M::StaleKept => "无法删除 {} (一次被中断的 sockdoc 运行留下的): {}",
        M::WriteConf => "写入 {}",
        M::WriteNoFile => "不写文件 (网络命名空间的参数只在运行时生效; 要保留请加 --conf FILE, 例如 {})",
        M::WillSet => "将{1}设置 {0} 个运行时参数, 并{2}",
        M::WouldSet => "演练: 将{1}设置 {0} 个运行时参数, 并{2}",
        M::NothingToChange => "没有需要修改的参数",
        M::EarlierApply => "上一次 apply 仍然生效 ({}): 请先运行 `sockdoc sysctl rollback`",
        M::CannotReadKey => "无法读取 {}: {}",
        M::Applied => "已{1}应用 {0} 个参数; {2}; 备份在 {3} (sockdoc sysctl rollback 可撤销)",
        M::WroteConf => "已写入 {}",
        M::NoFileWritten => "未写入文件",
        M::NothingToRollBack => "没有可回滚的内容: 没有备份 {}",
        M::BackupDamaged => "备份 {} 已损坏: {}",
        M::RestoredAnd => "已恢复 {} 个参数和 {}",
        M::Restored => "已恢复 {} 个参数",
        M::ActApply => "应用参数",
        M::ActRollBack => "回滚参数",
        M::RootWhy => "要写入 /proc/sys 以及 /etc 和 /var/lib 下的文件",
        M::RefuseNoYes => "没有 --yes, 拒绝对 {1} 个参数执行「{0}」(标准输入不是终端)",
        M::Prompt => "对这 {1} 个参数执行「{0}」? [y/N] ",
    }
}
