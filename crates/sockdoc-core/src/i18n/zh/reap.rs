//! 中文: `sockdoc reap` 对人说的话 (`--check` 的输出、stderr 日志行、错误行), 以 [`ReapMsg`] 为键。
//! JSON 操作记录不是给人读的文字, 保持英文不变。

use crate::i18n::en::reap::ReapMsg;

/// The template of `m`.
pub fn msg(m: ReapMsg) -> &'static str {
    match m {
        ReapMsg::CheckOk => "{}: 正确, {} 条规则, 每 {} 扫描一次{}",
        ReapMsg::CheckDryRun => ", 演练模式 (dry run)",
        ReapMsg::CheckRule => "  {}: {}{}",
        ReapMsg::RuleDryRun => " (演练)",
        ReapMsg::Started => "sockdoc reap: {} 条规则, 每 {} 扫描一次, 在 {} 中{}; 操作日志: {}; SIGHUP 重新加载 {}, SIGTERM 停止",
        ReapMsg::MetricsOn => "; 指标在 {}://{}/metrics",
        ReapMsg::StandardOutput => "标准输出",
        ReapMsg::Reloaded => "sockdoc reap: 已重新加载 {}",
        ReapMsg::Rejected => "sockdoc reap: 新配置被拒绝, 继续使用原配置: {}",
        ReapMsg::ScanFailed => "sockdoc: 扫描失败: {}",
        ReapMsg::OneNamespace => "reap 只在一个网络命名空间中工作: 请用 --netns NAME 或 --netns-pid PID, 不要用 --all-netns",
        ReapMsg::NotRoot => "reap 需要 root 权限才能执行操作 (SOCK_DESTROY 需要 CAP_NET_ADMIN, pidfd_getfd 需要 ptrace 权限): 请用 sudo 运行, 或先用 --dry-run 演练",
        ReapMsg::LogOpen => "无法打开操作日志 {}: {} (可用 --log 另选路径)",
        ReapMsg::LogWrite => "无法写入操作日志 {}: {}",
        ReapMsg::LogSync => "无法同步操作日志 {}: {}",
        ReapMsg::LogStoppedKill => "无法写入操作日志 {}: {}; 已在下一次关闭连接前停止 (请释放该处空间或用 --log 另选路径)",
        ReapMsg::LogStoppedKeepalive => "无法写入操作日志 {}: {}; 已在下一次 keepalive 修改前停止 (请释放该处空间或用 --log 另选路径)",
        ReapMsg::MetricsListen => "无法在 {} 上监听 /metrics: {} (可用 --metrics 或配置中的 `metrics` 另选地址)",
        ReapMsg::MetricsHttp => "无法启动 /metrics 的 HTTP 服务: {}",
        ReapMsg::Output => "无法写入输出: {}",
        ReapMsg::FileUnreadable => "无法读取 {}: {}",
        ReapMsg::FileNotRegular => "{} 是{}, 不是配置文件: 请给出一个普通文件的路径",
        ReapMsg::KindDirectory => "一个目录",
        ReapMsg::KindCharDevice => "一个字符设备",
        ReapMsg::KindBlockDevice => "一个块设备",
        ReapMsg::KindPipe => "一个管道",
        ReapMsg::KindSocket => "一个套接字",
        ReapMsg::KindOther => "非普通文件",
        ReapMsg::FileTooLarge => "{} 大于 {} KiB, 作为配置文件太大: 请检查路径",
        ReapMsg::FileNotUtf8 => "{} 不是 UTF-8 文本 (偏移 {} 处有非法字节): 是否选错了文件?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::en::reap::msg as en;

    /// Every message takes the same arguments in both languages.
    #[test]
    fn placeholders_agree_with_english() {
        let all = [
            ReapMsg::CheckOk,
            ReapMsg::CheckDryRun,
            ReapMsg::CheckRule,
            ReapMsg::RuleDryRun,
            ReapMsg::Started,
            ReapMsg::MetricsOn,
            ReapMsg::StandardOutput,
            ReapMsg::Reloaded,
            ReapMsg::Rejected,
            ReapMsg::ScanFailed,
            ReapMsg::OneNamespace,
            ReapMsg::NotRoot,
            ReapMsg::LogOpen,
            ReapMsg::LogWrite,
            ReapMsg::LogSync,
            ReapMsg::LogStoppedKill,
            ReapMsg::LogStoppedKeepalive,
            ReapMsg::MetricsListen,
            ReapMsg::MetricsHttp,
            ReapMsg::Output,
            ReapMsg::FileUnreadable,
            ReapMsg::FileNotRegular,
            ReapMsg::KindDirectory,
            ReapMsg::KindCharDevice,
            ReapMsg::KindBlockDevice,
            ReapMsg::KindPipe,
            ReapMsg::KindSocket,
            ReapMsg::KindOther,
            ReapMsg::FileTooLarge,
            ReapMsg::FileNotUtf8,
        ];
        for m in all {
            let holes = |t: &str| t.matches("{}").count();
            assert_eq!(holes(en(m)), holes(msg(m)), "{m:?}");
        }
    }
}
