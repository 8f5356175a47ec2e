//! English: what the exporter says on its log.

use crate::i18n::serve::ServeMsg as M;

/// The template of `m`.
pub fn msg(m: M) -> &'static str {
    match m {
        M::Serving => "serving http://{}/metrics for {}; Ctrl-C to stop",
        M::Exposed => "sockdoc: warning: serving metrics on all interfaces ({}) without TLS or authentication; bind {} (or one management address) instead, or put it behind a firewall rule or an authenticating proxy",
    }
}
