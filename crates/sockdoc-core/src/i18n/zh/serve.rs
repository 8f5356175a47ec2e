//! 中文：指标导出器在日志中说的话。

use crate::i18n::serve::ServeMsg as M;

/// `m` 的模板。
pub fn msg(m: M) -> &'static str {
    match m {
        M::Serving => "正在提供 {}://{}/metrics（{}）；按 Ctrl-C 停止",
        M::Exposed => "sockdoc：警告：正在所有网络接口（{}）上提供指标，没有 TLS 也没有认证；请改为绑定 {}（或一个管理地址），或用防火墙规则、带认证的代理保护它",
        M::ExposedNoAuth => "sockdoc：警告：正在所有网络接口（{}）上通过 TLS 提供指标，但没有认证：能连到该端口的人都能读取；请在 web 配置中加上 basic_auth_users 或 client_auth_type RequireAndVerifyClientCert，或改为绑定 {}",
        M::ExposedNoTls => "sockdoc：警告：正在所有网络接口（{}）上提供指标，有密码但没有 TLS：密码以明文在网络上传输；请在 web 配置中加上 tls_server_config，或改为绑定 {}",
        M::WebYaml => "{}：不是有效的 web 配置文件：{}（格式同 node_exporter 的 --web.config.file：tls_server_config、http_server_config、basic_auth_users）",
        M::WebUnsupported => "{}：sockdoc 不支持 {}：请删除它（宁可拒绝，也不默默忽略）",
        M::WebBadValue => "{}：{}：不允许 \"{}\"（可选：{}）",
        M::WebNeeds => "{}：{} 需要 {}",
        M::WebNoCert => "{}：{}：其中没有 PEM 证书（-----BEGIN CERTIFICATE-----）",
        M::WebNoKey => "{}：{}：其中没有 PEM 私钥（-----BEGIN PRIVATE KEY-----，RSA 或 EC）",
        M::WebTls => "{}：证书、私钥或 CA 无法使用：{}",
        M::WebHash => "{}：basic_auth_users.{}：不是 bcrypt 哈希（可用此命令生成：htpasswd -nBC 10 \"\" | tr -d ':\\n'）",
        M::WebReloaded => "已重新读取 web 配置 {}",
        M::WebRejected => "sockdoc：保留之前的 web 配置：{}",
    }
}
