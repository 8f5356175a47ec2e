//! 中文: `events` 除连接结束事件外的输出: 丢失记录、监视提示、退出时的总数和拒绝信息。

use crate::i18n::events::EventsMsg as M;

/// The template of `m`.
pub fn msg(m: M) -> &'static str {
    match m {
        M::LostSlow => "丢失 {} 个连接结束事件 (输出太慢)",
        M::LostOverflowOnce => "丢失连接结束事件 (内核缓冲区溢出 {} 次: 至少 {} 个)",
        M::LostOverflow => "丢失连接结束事件 (内核缓冲区溢出 {} 次: 至少 {} 个)",
        M::LostUnreported => "丢失 {} 个连接结束事件 (内核缓冲区溢出: 扫描见过的连接没有结束事件就消失了)",
        M::Watching => "正在监视 {} 中的连接结束; 按 Ctrl-C 停止",
        M::LostTotal => "sockdoc events: 丢失 {} 个连接结束事件 ({} 个因输出太慢, {} 个没有结束事件就消失); 内核缓冲区溢出 {} 次 (扫描未见过的连接的结束不计入)",
        M::OneNamespace => "events 只监视一个网络命名空间: 请用 --netns NAME 或 --netns-pid PID",
        M::NeedsRoot => "events 要订阅内核的套接字销毁广播, 需要 root 权限 (CAP_NET_ADMIN): 请用 sudo 运行",
        M::NoProcessFilter => "events 不能按进程过滤: 套接字结束时其所属进程已不在 (用 -p 显示扫描时看到的所属进程)",
        M::NoServiceFilter => "events 不能按 unit、container 或 pod 过滤: 套接字结束时其 cgroup 可能已不在",
        M::NoProtocol => "这个过滤条件既不匹配 TCP 也不匹配 UDP 套接字: 没有连接结束事件能通过",
        M::ScanForOwners => "-p 需要能看到所属进程的扫描: 请去掉 --scan 0",
        M::BufferRange => "--buffer 是连接结束事件的个数, 取值 1 到 16777216 (默认 65536)",
        M::KernelBufferRange => "--kernel-buffer 是以 MiB 为单位的大小, 取值 1 到 1024 (默认 32)",
        M::Stopped => "events 已停止: 无法再读取内核的广播 (见上一行)",
    }
}
