//! English: what the exporter says on its log.

use crate::i18n::serve::ServeMsg as M;

/// The template of `m`.
pub fn msg(m: M) -> &'static str {
    match m {
        M::Serving => "serving {}://{}/metrics for {}; Ctrl-C to stop",
        M::Exposed => "sockdoc: warning: serving metrics on all interfaces ({}) without TLS or authentication; bind {} (or one management address) instead, or put it behind a firewall rule or an authenticating proxy",
        M::ExposedNoAuth => "sockdoc: warning: serving metrics on all interfaces ({}) over TLS but without authentication: anyone who reaches the port can read them; add basic_auth_users or client_auth_type RequireAndVerifyClientCert to the web config, or bind {}",
        M::ExposedNoTls => "sockdoc: warning: serving metrics on all interfaces ({}) with passwords but without TLS: the passwords cross the network in clear; add tls_server_config to the web config, or bind {}",
        M::WebYaml => "{}: not a web configuration file: {} (the format of node_exporter's --web.config.file: tls_server_config, http_server_config, basic_auth_users)",
        M::WebUnsupported => "{}: {} is not supported by sockdoc: remove it (it is refused rather than silently ignored)",
        M::WebBadValue => "{}: {}: \"{}\" is not allowed (use one of: {})",
        M::WebNeeds => "{}: {} needs {}",
        M::WebNoCert => "{}: {}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)",
        M::WebNoKey => "{}: {}: no PEM private key in it (-----BEGIN PRIVATE KEY-----, RSA or EC)",
        M::WebTls => "{}: the certificate, key or CA cannot be used: {}",
        M::WebHash => "{}: basic_auth_users.{}: not a bcrypt hash (make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n')",
        M::WebReloaded => "reloaded the web configuration {}",
        M::WebRejected => "sockdoc: kept the previous web configuration: {}",
    }
}
