//! 中文: [`Msg`] 的消息 (模板, `{}` 按顺序填入)、sysctl 判定的原因和 doctor 的诊断结果。

pub mod bad_evidence;
pub mod diff;
pub mod events;
pub mod evidence;
pub mod findings;
pub mod netns;
pub mod reap;
pub mod record;
pub mod serve;
pub mod sysctl;
pub mod table;
pub mod top;
pub mod treat;
pub mod usage;

use super::Msg;

/// The template of `m`.
pub fn msg(m: Msg) -> &'static str {
    match m {
        Msg::ProtoTotal => "{}: {} 个套接字",
        Msg::GroupTitle => "按 {0} 分组 (共 {2} 组中的前 {1} 组):",
        Msg::Count => "数量",
        Msg::States => "状态",
        Msg::More => "(其余 {} 组)",
        Msg::CgroupRowsNote => "  (-: 没有 cgroup 的套接字: TIME-WAIT、SYN-RECV; cgroup #ID: 已被删除, 或不在本 cgroup 命名空间内)",
        Msg::NoContainer => "(不在容器内)",
        Msg::NoPeer => "(无对端: 监听或未连接)",
        Msg::NoPod => "(不在 Pod 内)",
        Msg::Namespace => "== 网络命名空间 {} ==",
        Msg::Note => "提示: {}",
        Msg::NotRoot => "提示: 非 root 运行: 查看其他用户套接字的所属进程和其他网络命名空间需要 root 权限 (请用 sudo 运行)",
        Msg::NotRootOwners => "提示: 非 root 运行: 其他用户的 {} 个进程的套接字未显示所属进程; 读取其 /proc/PID/fd 需要 root 权限 (请用 sudo 运行)",
        Msg::KeepaliveWindow => "keepalive 探测窗口",
        Msg::Ports => "临时端口",
        Msg::Files => "文件句柄",
        Msg::SevCritical => "严重",
        Msg::SevWarning => "警告",
        Msg::SevInfo => "信息",
        Msg::NoTcp => "没有 TCP 套接字",
        Msg::Healthy => "健康:",
        Msg::NoProblems => "未发现连接问题",
        Msg::Counted => "{} 个严重问题, {} 个警告",
        Msg::Why => "原因:",
        Msg::Fix => "处理:",
        Msg::MoreRows => "… 其余 {} 行",
        Msg::NotInKernel => "(当前内核没有)",
        Msg::NotInEvidence => "(证据中没有)",
        Msg::NotInNamespace => "(此命名空间中没有)",
        Msg::NoSysctlEvidence => "证据中没有可检查的 sysctl 值: 请加上该主机的 `sysctl -a` 输出 (或使用 sockdoc 快照)",
        Msg::Keep => "保持",
        Msg::ChangeTo => "改为 {}",
        Msg::Change => "修改",
        Msg::RemoveFromConfig => "从配置中删除",
        Msg::NotHere => "(此处没有)",
        Msg::Refused => "拒绝",
        Msg::ConfigUnknown => "配置文件中存在、但当前内核没有的参数:",
        Msg::Wrote => "已写入 {}; 用 sysctl --system 加载",
        Msg::ProfileAbout => "配置方案 {}: {}",
        Msg::EventFrom => "从 {} 结束",
        Msg::EventEnded => "已结束",
        Msg::LivedBetween => "存活 {}-{}",
        Msg::LivedAtLeast => "存活 >{}",
        Msg::LivedUnder => "存活 <{}",
        Msg::EventBytes => "已确认 {} 字节, 已接收 {} 字节, 重传 {} 次",
        Msg::EventPid => "进程 {}",
        Msg::CtNotInEvidence => "证据中没有 conntrack: 请加上 `sysctl -a` (表的占用)、/proc/net/nf_conntrack 或 `conntrack -L` (表项), 或使用 sockdoc 快照",
        Msg::CtCountOnly => "conntrack: {} 条 (证据中没有上限)",
        Msg::CtInactive => "此命名空间未启用 conntrack: 没有被跟踪的连接",
        Msg::CtByProto => "按协议:",
        Msg::CtByTcpState => "按 TCP 状态:",
        Msg::CtTopSources => "主要来源:",
        Msg::CtTopDestinations => "主要目的地:",
        Msg::CtUnreplied => "{} 个表项从未收到应答 ([UNREPLIED])",
        Msg::CannotFile => "无法{} {}: {}",
        Msg::FileRead => "读取",
        Msg::FileWrite => "写入",
        Msg::FileCreate => "创建",
        Msg::FileRemove => "删除",
        Msg::FileOpenAuditLog => "打开审计日志",
        Msg::FileReadAuditLog => "读取审计日志",
        Msg::FileWriteAuditLog => "写入审计日志",
        Msg::BadDuration => "时长 '{}' ({} 的值) 无效: 请按 sockdoc 显示时长的写法 (850ms、30s、5m12s、2h11m、1.5s) 或直接写秒数",
        Msg::AllNetnsRoot => "--all-netns 要进入其他网络命名空间, 需要 root 权限 (CAP_SYS_ADMIN): 请用 sudo 运行",
        Msg::FromReadOnly => "--from 用于判读证据: 它只能与 doctor、analyze、stats、list、ghosts (不带 --probe)、conntrack 和 sysctl check 一起使用, 不能用于操作或监视实时内核的命令 (diff 的证据作为 BEFORE 和 AFTER 给出)",
        Msg::DoctorFlagsFirst => "写在子命令之前的 --idle、--interval 和 -v 属于 doctor: 请把它们放到子命令名之后",
        Msg::OwnerReader => "无法启动所属进程读取线程: {}",
        Msg::UnknownBy => "未知的 --by 分组 '{}': 可用 state、remote-ip、remote-port、local-ip、local-port、process、unit、container、pod、cgroup 或 peer-prefix",
        Msg::UnknownColumn => "未知的列 '{}': 可用 netid,state,recvq,sendq,local,peer,process,timer,idle,inode,uid,cookie,ifindex,rtt,retrans,unacked,bytes-acked,bytes-received,cmdline,unit,container,pod,cgroup",
        Msg::CsvOnly => "--format csv 只用于 list、ss、stats 和 ghosts: 这里请用 --format json (或 --json)",
        Msg::CsvNotJson => "--format csv 与 --json 要求了两种格式: 请只给一种",
        Msg::IntervalMax => "--interval 最多为 60s",
        Msg::ProbeOneNamespace => "--probe 一次只在一个网络命名空间中执行: 请用 --netns NAME 或 --netns-pid PID",
        Msg::ServeOneNamespace => "serve 只监视一个网络命名空间: 请用 --netns NAME 或 --netns-pid PID",
        Msg::CtUnreadable => "无法读取 conntrack {}: {}",
        Msg::CtCounters => "计数",
        Msg::CtTable => "表",
        Msg::RunNeedsCommand => "run-with-keepalive 需要一个命令: sockdoc run-with-keepalive -- CMD ARGS...",
        Msg::PreloadMissing => "在 sockdoc 所在目录和 /usr/lib/sockdoc 中都找不到 {}: 请先构建 (cargo build --release -p sockdoc-preload) 或设置 SOCKDOC_PRELOAD",
        Msg::CannotStart => "无法启动 {}: {}",
        Msg::SnapWritten => "快照 {}：{} 个套接字，{} 个网络命名空间，{}（每个套接字 {} 字节）",
        Msg::SnapTimes => "耗时：普查 {}，编码 {}，压缩 {}，写入 {}",
        Msg::FileWriteSnapshot => "写入快照",
    }
}
