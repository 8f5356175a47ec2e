//! Keys of what a long-running command (`serve`, `reap`, `events`, `top`) says when the namespace it
//! watches changes: `--netns NAME` deleted or recreated, the process of `--netns-pid` gone. The
//! words are in `en/netns.rs` and `zh/netns.rs`; a key without its line there does not compile.

use sockdoc_proc::{Asked, Netns};

use super::{fill, Lang};

/// A message about a watched namespace. Templates take `{}` (next argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetnsMsg {
    /// `sockdoc: cannot watch {what} for changes: {error}`
    CannotWatch,
    /// `sockdoc {who}: {what} now means another namespace [net:{new}] (was [net:{old}]); following it`
    Following,
    /// `{what} was recreated: now showing [net:{new}] (was [net:{old}])` (a screen's notice)
    NowShowing,
    /// `sockdoc {who}: {what} [net:{old}] {gone}; staying in it until ...`
    Staying,
    /// `{what} {gone}: still showing [net:{old}] until it comes back` (a screen's notice)
    StillShowing,
    /// `now means another namespace [net:{new}]`
    NowAnother,
    /// `{what} [net:{old}] {now}; {who} stopped rather than follow it: ...` (a daemon's last line)
    Stopped,
    /// `{what} {now}: still showing the old one [net:{old}]; ...` (a screen's notice)
    KeptOld,
    /// `netns {name}`
    WhatName,
    /// `the network namespace of pid {pid}`
    WhatPid,
    /// A name that is gone: `was deleted`.
    GoneName,
    /// A pid's namespace that is gone: `is gone (its process exited)`.
    GonePid,
}

fn template(lang: Lang, m: NetnsMsg) -> &'static str {
    match lang {
        Lang::En => super::en::netns::msg(m),
        Lang::Zh => super::zh::netns::msg(m),
    }
}

/// The text of `m` in `lang`, with `{}` placeholders filled from `args`.
pub fn text(lang: Lang, m: NetnsMsg, args: &[&str]) -> String {
    fill(template(lang, m), args)
}

/// How `ns` was asked for: `netns blue`, the namespace of a pid, or its label.
pub fn what(lang: Lang, ns: &Netns) -> String {
    match ns.asked() {
        Asked::Name(n) => text(lang, NetnsMsg::WhatName, &[n]),
        Asked::Pid(p) => text(lang, NetnsMsg::WhatPid, &[&p.to_string()]),
        Asked::Other => ns.label(),
    }
}

/// What it means that `ns` is gone, for how it was asked for.
pub fn gone(lang: Lang, ns: &Netns) -> String {
    match ns.asked() {
        Asked::Pid(_) => text(lang, NetnsMsg::GonePid, &[]),
        _ => text(lang, NetnsMsg::GoneName, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [NetnsMsg; 12] = [
        NetnsMsg::CannotWatch,
        NetnsMsg::Following,
        NetnsMsg::NowShowing,
        NetnsMsg::Staying,
        NetnsMsg::StillShowing,
        NetnsMsg::NowAnother,
        NetnsMsg::Stopped,
        NetnsMsg::KeptOld,
        NetnsMsg::WhatName,
        NetnsMsg::WhatPid,
        NetnsMsg::GoneName,
        NetnsMsg::GonePid,
    ];

    #[test]
    fn both_languages_take_the_same_arguments() {
        for m in ALL {
            let (en, zh) = (template(Lang::En, m), template(Lang::Zh, m));
            assert_eq!(en.matches("{}").count(), zh.matches("{}").count(), "{m:?}");
            assert_ne!(en, zh, "{m:?} is not translated");
        }
        let args = ["网络命名空间 blue", "4026532001", "已被删除", "serve"];
        assert_eq!(
            text(Lang::Zh, NetnsMsg::Stopped, &args),
            "网络命名空间 blue [net:4026532001] 已被删除；serve 已停止，不跟随切换：请重启它，或加 --follow-netns 运行"
        );
        let args = ["netns blue", "4026532001", "was deleted", "serve"];
        assert_eq!(
            text(Lang::En, NetnsMsg::Stopped, &args),
            "netns blue [net:4026532001] was deleted; serve stopped rather than follow it: restart it, or run it with --follow-netns"
        );
    }
}
