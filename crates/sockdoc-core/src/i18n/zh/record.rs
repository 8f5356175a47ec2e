//! 中文：飞行记录器及读取其目录的视图的输出。

use crate::i18n::record::RecordMsg as M;

/// `m` 的模板。
pub fn msg(m: M) -> &'static str {
    match m {
        M::Started => "正在记录 {} 个网络命名空间，每 {} 一次，写入 {}（每 {} 一个完整快照，每 {} 读取一次 tcp_info，最多 {}，保留 {}）；首次发现索引：已知 {} 个 socket",
        M::Stopped => "记录器已停止，共扫描 {} 次：平均每次 {} CPU 时间，索引 {} 个 socket，磁盘占用 {}",
        M::Warning => "警告：{}",
        M::ScanFailed => "扫描失败（下个间隔重试）：{}",
        M::WriteFailed => "无法写入 {}（目录 {}）：{}",
        M::Skipped => "已跳过 {}：{}",
        M::AgeSeen => "≥ {}（首次发现于 {}）",
        M::AgeUnknown => "未知",
        M::NoIndex => "{} 中没有首次发现索引（sockdoc record 是否在该目录运行？）：连接时长未知",
        M::IndexUnread => "首次发现索引：{}；连接时长未知",
        M::IndexLastScan => "首次发现索引 {}：最后一次扫描于 {}；此后建立的连接显示为未知",
        M::Replaying => "回放 {}，时间 {}：完整快照 {}（采集于 {}）；诊断记录于 {}",
        M::NoMinute => "回放 {}，时间 {}：该时间及之前没有记录的诊断",
        M::NoSnapshot => "{}：{} 及之前没有完整快照（最早的是 {}）；请用更晚的 --at",
        M::BadAt => "--at {}：不是时间；请用 RFC 3339（2026-11-01T14:03:00Z）、本地日期时间（2026-11-01 14:03）、今天的 HH:MM，或 -2h",
        M::AtNeedsDir => "--at 需要 --from DIR，即 sockdoc record 写入的目录",
        M::RecordedTitle => "记录于 {} 的诊断：",
        M::RecordedNone => "{} 没有记录到问题：当时正常",
        M::BadSize => "--max-size {}：不是大小；请给出字节数或单位，如 512MiB、1GiB、2GB",
        M::BadEvery => "--every 至少为 1s，且 --full-every 和 --info-every 不小于 --every",
        M::IdleAsOf => "空闲时间来自 {} 读取的 tcp_info（早 {}），并按此后经过的时间累加；其后新建的连接：空闲时间未知",
    }
}
