//! 中文：套接字表格的列标题。

use crate::i18n::table::Header as H;

/// `h` 的标题。
pub fn header(h: H) -> &'static str {
    match h {
        H::Netid => "协议",
        H::State => "状态",
        H::RecvQ => "接收队列",
        H::SendQ => "发送队列",
        H::Local => "本地地址",
        H::Peer => "对端地址",
        H::Process => "进程",
        H::Timer => "定时器",
        H::Idle => "空闲",
        H::Inode => "inode",
        H::Uid => "用户",
        H::Cookie => "cookie",
        H::Ifindex => "网卡",
        H::Rtt => "往返时延",
        H::Retrans => "重传",
        H::Unacked => "未确认",
        H::BytesAcked => "已确认字节",
        H::BytesReceived => "已收字节",
        H::Cmdline => "命令行",
        H::Unit => "单元",
        H::Container => "容器",
        H::Pod => "Pod",
        H::Cgroup => "cgroup",
        H::Age => "存在时长",
        H::RemoteIp => "远端 IP",
        H::RemotePort => "远端端口",
        H::LocalIp => "本地 IP",
        H::LocalPort => "本地端口",
        H::PeerPrefix => "对端网段",
    }
}
