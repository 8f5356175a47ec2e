//! 中文：长时间运行的命令在其网络命名空间变化时说的话。

use crate::i18n::netns::NetnsMsg as M;

/// `m` 的模板。
pub fn msg(m: M) -> &'static str {
    match m {
        M::CannotWatch => "sockdoc：无法监视 {} 的变化：{}",
        M::Following => "sockdoc {}：{} 现在指向另一个命名空间 [net:{}]（原为 [net:{}]）；跟随切换（--follow-netns）",
        M::NowShowing => "{} 已被重建：现在显示 [net:{}]（原为 [net:{}]）",
        M::Staying => "sockdoc {}：{} [net:{}] {}；留在其中，直到该名称再次指向一个命名空间（--follow-netns）",
        M::StillShowing => "{} {}：仍显示 [net:{}]，直到它恢复",
        M::NowAnother => "现在指向另一个命名空间 [net:{}]",
        M::Stopped => "{} [net:{}] {}；{} 已停止，不跟随切换：请重启它，或加 --follow-netns 运行",
        M::KeptOld => "{} {}：仍显示原来的 [net:{}]；请重启，或使用 --follow-netns",
        M::WhatName => "网络命名空间 {}",
        M::WhatPid => "进程 {} 的网络命名空间",
        M::GoneName => "已被删除",
        M::GonePid => "已不存在（其进程已退出）",
    }
}
