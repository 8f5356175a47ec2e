//! 中文：指标导出器在日志中说的话。

use crate::i18n::serve::ServeMsg as M;

/// `m` 的模板。
pub fn msg(m: M) -> &'static str {
    match m {
        M::Serving => "正在提供 http://{}/metrics（{}）；按 Ctrl-C 停止",
        M::Exposed => "sockdoc：警告：正在所有网络接口（{}）上提供指标，没有 TLS 也没有认证；请改为绑定 {}（或一个管理地址），或用防火墙规则、带认证的代理保护它",
    }
}
