//! 中文：完全无法读取的证据得到的那一行。

use crate::i18n::bad_evidence::BadEvidenceMsg as M;

/// `m` 的模板。
pub fn msg(m: M) -> &'static str {
    match m {
        M::Missing => "无法读取 {}: 文件或目录不存在: 请给出 ss 或 netstat 输出、sosreport 或 sockdoc 快照的路径",
        M::Denied => "无法读取 {}: 权限不足: 请用 sudo 运行, 或让该文件可读",
        M::CannotRead => "无法读取 {}: {}",
        M::Empty => "{} 是空的: 没有可判断的内容",
        M::Binary => "{} 不是文本 (二进制文件?): 请给出 ss 或 netstat 输出、/proc/net 文件、sosreport 或 sockdoc 快照",
        M::Unknown => "{}: 无法识别的格式 (支持 ss、netstat、/proc/net、sysctl -a、limits、sosreport 或 sockdoc 快照): {}",
        M::WhyFirstLine => "其第一行为 {}; 请按工具原样输出提供, 包括表头",
        M::WhyHead => "其前 1 MiB 中没有任何可识别的内容, 其余部分未读取 (第一行为 {}); 请按工具原样输出提供, 包括表头",
        M::WhyDirectory => "其中没有任何 ss 或 netstat 输出、/proc/net、sysctl -a 或 limits 文件",
        M::WhyArchive => "该归档中没有 ss 或 netstat 输出、/proc/net 文件、sysctl -a 或 limits",
        M::Snapshot => "{}: {}",
        M::SnapNot => "不是 sockdoc 快照 (开头没有快照标识)",
        M::SnapNewer => "由更新版本的 sockdoc 写入 (快照格式 {}; 本版本最多读取 {}): 请用更新的 sockdoc 读取",
        M::SnapTruncated => "文件不完整 (被截断, 可能是复制中断): 请重新复制或重新拍摄快照",
        M::SnapCorrupt => "已损坏 ({}): 请重新复制或重新拍摄快照",
    }
}
