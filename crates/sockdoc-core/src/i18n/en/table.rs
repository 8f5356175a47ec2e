//! English: the headers of the census tables (the names ss prints where ss has the column).

use crate::i18n::table::Header as H;

/// The word of `h`.
pub fn header(h: H) -> &'static str {
    match h {
        H::Netid => "Netid",
        H::State => "State",
        H::RecvQ => "Recv-Q",
        H::SendQ => "Send-Q",
        H::Local => "Local",
        H::Peer => "Peer",
        H::Process => "Process",
        H::Timer => "Timer",
        H::Idle => "Idle",
        H::Inode => "Inode",
        H::Uid => "Uid",
        H::Cookie => "Cookie",
        H::Ifindex => "If",
        H::Rtt => "RTT",
        H::Retrans => "Retrans",
        H::Unacked => "Unacked",
        H::BytesAcked => "BytesAcked",
        H::BytesReceived => "BytesRecv",
        H::Cmdline => "Cmdline",
        H::Unit => "Unit",
        H::Container => "Container",
        H::Pod => "Pod",
        H::Cgroup => "Cgroup",
        H::Age => "Age",
        H::RemoteIp => "Remote-IP",
        H::RemotePort => "Remote-Port",
        H::LocalIp => "Local-IP",
        H::LocalPort => "Local-Port",
        H::PeerPrefix => "Peer-Prefix",
    }
}
