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
    }
}
