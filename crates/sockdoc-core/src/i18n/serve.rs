//! Keys of what the exporter (`serve`, and `reap --metrics`) says on its log. The words are in
//! `en/serve.rs` and `zh/serve.rs`; a key without its line there does not compile. (The metrics'
//! HELP texts stay English: they are read by Prometheus, not by a person at a terminal.)

use super::{fill, Lang};

/// A message of the exporter. Templates take `{}` (next argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServeMsg {
    /// `serving http://{addr}/metrics for {namespace}; Ctrl-C to stop`
    Serving,
    /// `sockdoc: warning: serving metrics on all interfaces ({addr}) without TLS ...; bind {local} ...`
    Exposed,
}

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
        for m in [ServeMsg::Serving, ServeMsg::Exposed] {
            let (en, zh) = (template(Lang::En, m), template(Lang::Zh, m));
            assert_eq!(en.matches("{}").count(), zh.matches("{}").count(), "{m:?}");
        }
        assert_eq!(
            text(
                Lang::Zh,
                ServeMsg::Serving,
                &["127.0.0.1:9717", "blue [net:1]"]
            ),
            "正在提供 http://127.0.0.1:9717/metrics（blue [net:1]）；按 Ctrl-C 停止"
        );
    }
}
