//! Keys of what the exporter (`serve`, and `reap --metrics`) says on its log. The words are in
//! `en/serve.rs` and `zh/serve.rs`; a key without its line there does not compile. (The metrics'
//! HELP texts stay English: they are read by Prometheus, not by a person at a terminal.)

use super::{fill, Lang};

/// A message of the exporter. Templates take `{}` (next argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServeMsg {
    /// `serving {scheme}://{addr}/metrics for {namespace}; Ctrl-C to stop`
    Serving,
    /// `sockdoc: warning: serving metrics on all interfaces ({addr}) without TLS ...; bind {local} ...`
    Exposed,
    /// The same, with TLS but no authentication: `{addr}`, `{local}`.
    ExposedNoAuth,
    /// The same, with passwords but no TLS: `{addr}`, `{local}`.
    ExposedNoTls,
    /// The web config is not YAML of the format: `{path}`, `{parser's words}`.
    WebYaml,
    /// A key sockdoc does not implement: `{path}`, `{key}`.
    WebUnsupported,
    /// A value not allowed: `{path}`, `{key}`, `{value}`, `{allowed}`.
    WebBadValue,
    /// A key that needs another: `{path}`, `{key}`, `{what it needs}`.
    WebNeeds,
    /// No PEM certificate in a value: `{path}`, `{key}`.
    WebNoCert,
    /// No PEM private key in a value: `{path}`, `{key}`.
    WebNoKey,
    /// rustls refused the certificate, key or CA: `{path}`, `{reason}`.
    WebTls,
    /// A password that is not a bcrypt hash: `{path}`, `{user}`.
    WebHash,
    /// SIGHUP read the web config again: `{path}`.
    WebReloaded,
    /// SIGHUP found the web config bad and kept the old one: `{the error's line}`.
    WebRejected,
}

/// Every message (the catalogs' tests go through them all).
pub const ALL: [ServeMsg; 14] = [
    ServeMsg::Serving,
    ServeMsg::Exposed,
    ServeMsg::ExposedNoAuth,
    ServeMsg::ExposedNoTls,
    ServeMsg::WebYaml,
    ServeMsg::WebUnsupported,
    ServeMsg::WebBadValue,
    ServeMsg::WebNeeds,
    ServeMsg::WebNoCert,
    ServeMsg::WebNoKey,
    ServeMsg::WebTls,
    ServeMsg::WebHash,
    ServeMsg::WebReloaded,
    ServeMsg::WebRejected,
];

fn template(lang: Lang, m: ServeMsg) -> &'static str {
    match lang {
        Lang::En => super::en::serve::msg(m),
        Lang::Zh => super::zh::serve::msg(m),
    }
}

/// The text of `m` in `lang`, with `{}` placeholders filled from `args`.
pub fn text(lang: Lang, m: ServeMsg, args: &[&str]) -> String {
    fill(template(lang, m), args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_take_the_same_arguments() {
        for m in ALL {
            let (en, zh) = (template(Lang::En, m), template(Lang::Zh, m));
            assert_eq!(en.matches("{}").count(), zh.matches("{}").count(), "{m:?}");
        }
        assert_eq!(
            text(
                Lang::Zh,
                ServeMsg::Serving,
                &["https", "127.0.0.1:9717", "blue [net:1]"]
            ),
            "正在提供 https://127.0.0.1:9717/metrics（blue [net:1]）；按 Ctrl-C 停止"
        );
    }
}
