//! 中文：`sockdoc diff` 的输出。

use crate::i18n::diff::DiffMsg as M;

/// `m` 的模板。
pub fn msg(m: M) -> &'static str {
    match m {
        M::Before => "之前  {}",
        M::After => "之后  {}",
        M::Now => "现在（实时内核）",
        M::Taken => "{}，采集于 {}",
        M::Paired => "命名空间 {} ↔ {}",
        M::OnlyBefore => "命名空间 {}：仅在“之前”中",
        M::OnlyAfter => "命名空间 {}：仅在“之后”中",
        M::Connections => "连接 {} → {}：新增 {}，消失 {}，持续 {}",
        M::ByCookie => "（按地址和 socket cookie 匹配）",
        M::ByAddress => "（按地址匹配：证据中没有 socket cookie）",
        M::StateChanged => "  状态变化：{}",
        M::Keepalive => "  keepalive：{} 条持续连接新有了 keepalive 定时器，{} 条失去了",
        M::KeepaliveUnknown => "  keepalive：未比较（有一方没有定时器信息）",
        M::State => "按状态",
        M::Port => "按端口（→端口：连出到该端口的连接）",
        M::Process => "按进程",
        M::Service => "按服务",
        M::Peer => "按对端",
        M::ColBefore => "之前",
        M::ColAfter => "之后",
        M::ColChange => "变化",
        M::ColNew => "新增",
        M::ColGone => "消失",
        M::ColMoved => "转移",
        M::Unchanged => "{} 行未变（-v 显示）",
        M::Findings => "诊断结论",
        M::Appeared => "出现",
        M::Cleared => "消除",
        M::Changed => "变化",
        M::Was => "之前：{}",
        M::Same => "未变",
        M::NotCompared => "未比较",
        M::BlindBefore => "“之前”的证据无法判断此项",
        M::BlindAfter => "“之后”的证据无法判断此项",
        M::NoFindings => "两边都没有诊断结论",
        M::NothingChanged => "没有变化。",
        M::SameNow => "两边都是 `now` 等于拿内核和自己比：请把快照或转储作为“之前”（sockdoc snapshot -o before.sdsnap）",
    }
}
