//! Keys of what `sockdoc diff` says. The words are in `en/diff.rs` and `zh/diff.rs`; a key without
//! its line there does not compile.

use super::{fill, Lang};

/// A message of `diff`. Templates take `{}` (next argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffMsg {
    /// `before  {what}`
    Before,
    /// `after   {what}`
    After,
    /// What `now` stands for: `now (the live kernel)`.
    Now,
    /// `{path}: {host}, taken {time}`, the parts the evidence says.
    Taken,
    /// `namespace {before} ↔ {after}`
    Paired,
    /// `namespace {label}: only in the "before"`
    OnlyBefore,
    /// `namespace {label}: only in the "after"`
    OnlyAfter,
    /// `Connections {before} → {after}: {new} new, {gone} gone, {persisting} persisting`
    Connections,
    /// `(matched by addresses and socket cookie)`
    ByCookie,
    /// `(matched by addresses: the evidence has no socket cookies)`
    ByAddress,
    /// `  state changed: {list}`
    StateChanged,
    /// `  keepalive: {gained} persisting connections gained a keepalive timer, {lost} lost one`
    Keepalive,
    /// `  keepalive: not compared (a side has no timers)`
    KeepaliveUnknown,
    /// Table titles.
    State,
    Port,
    Process,
    Service,
    Peer,
    /// Column headers.
    ColBefore,
    ColAfter,
    ColChange,
    ColNew,
    ColGone,
    ColMoved,
    /// `    {n} unchanged (-v shows them)`
    Unchanged,
    /// `Findings`
    Findings,
    /// Finding fates.
    Appeared,
    Cleared,
    Changed,
    /// `was: {title}`
    Was,
    Same,
    NotCompared,
    /// `the "before" evidence could not judge it`
    BlindBefore,
    /// `the "after" evidence could not judge it`
    BlindAfter,
    /// `no findings on either side`
    NoFindings,
    /// `Nothing changed.`
    NothingChanged,
    /// `diff compares two censuses: give BEFORE and AFTER, each a snapshot, a dump or \`now\``
    SameNow,
}

fn template(lang: Lang, m: DiffMsg) -> &'static str {
    match lang {
        Lang::En => super::en::diff::msg(m),
        Lang::Zh => super::zh::diff::msg(m),
    }
}

/// The text of `m` in `lang`, with `{}` placeholders filled from `args`.
pub fn text(lang: Lang, m: DiffMsg, args: &[&str]) -> String {
    fill(template(lang, m), args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_take_the_same_arguments() {
        use DiffMsg::*;
        let filled = [
            Before,
            After,
            Taken,
            Paired,
            OnlyBefore,
            OnlyAfter,
            Connections,
        ];
        let more = [StateChanged, Keepalive, Unchanged, Was];
        for m in filled.into_iter().chain(more) {
            let (en, zh) = (template(Lang::En, m), template(Lang::Zh, m));
            assert!(en.contains("{}"), "{m:?}");
            assert_eq!(en.matches("{}").count(), zh.matches("{}").count(), "{m:?}");
        }
        assert_eq!(
            text(Lang::Zh, Connections, &["6", "5", "0", "1", "5"]),
            "连接 6 → 5：新增 0，消失 1，持续 5"
        );
    }
}
