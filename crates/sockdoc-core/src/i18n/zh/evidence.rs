//! 中文：sockdoc 对记录下来的证据说的话。

use crate::i18n::evidence::EvidenceMsg as M;

/// `m` 的模板。
pub fn msg(m: M) -> &'static str {
    match m {
        M::NoTcpInfoTimers => "证据中没有 tcp_info（ss 未加 -i）：空闲时间未知；疑似幽灵连接仅按缺少 keepalive 定时器判断",
        M::NoTcpInfo => "证据中没有 tcp_info（ss 未加 -i）：空闲时间未知",
        M::NoTimers => "证据中没有定时器（ss 未加 -o）：无法判断 keepalive 和疑似幽灵连接",
        M::NoOwners => "证据中没有所属进程（ss 未加 -p）：不显示进程名",
        M::CountersOnce => "内核计数器只读了一次：无法判断每秒的丢弃和溢出",
        M::NoSysctls => "证据中没有 sysctl（sysctl -a）：无法评判内核参数",
        M::NotAllStates => "并非所有状态都被导出（使用了 state 过滤）：总数只涵盖导出的部分",
        M::NoStateColumn => "导出内容没有 State 列：其套接字按 ESTAB 计数",
        M::NoBacklogs => "证据中没有监听队列上限（netstat 和 /proc/net 不显示，ss 显示）：无法判断 accept 队列是否已满",
        M::NoListeners => "证据中没有监听套接字：连接两端中低于临时端口范围的较小端口被视为其服务端口",
        M::Unread => "证据中有 {} 行无法读取",
        M::UnreadFirst => "证据中有 {} 行无法读取（第一行：{}:{}：{}）",
        M::NoCgroups => "证据中没有 cgroup 信息：无法得知 systemd 单元或容器",
        M::RestsOn => "{}，来自 {}（{}）",
        M::RestsOnTitle => "依据：{}",
    }
}
