//! English: what a long-running command says when its namespace changes.

use crate::i18n::netns::NetnsMsg as M;

/// The template of `m`.
pub fn msg(m: M) -> &'static str {
    match m {
        M::CannotWatch => "sockdoc: cannot watch {} for changes: {}",
        M::Following => "sockdoc {}: {} now means another namespace [net:{}] (was [net:{}]); following it (--follow-netns)",
        M::NowShowing => "{} was recreated: now showing [net:{}] (was [net:{}])",
        M::Staying => "sockdoc {}: {} [net:{}] {}; staying in it until the name means a namespace again (--follow-netns)",
        M::StillShowing => "{} {}: still showing [net:{}] until it comes back",
        M::NowAnother => "now means another namespace [net:{}]",
        M::Stopped => "{} [net:{}] {}; {} stopped rather than follow it: restart it, or run it with --follow-netns",
        M::KeptOld => "{} {}: still showing the old one [net:{}]; restart, or use --follow-netns",
        M::WhatName => "netns {}",
        M::WhatPid => "the network namespace of pid {}",
        M::GoneName => "was deleted",
        M::GonePid => "is gone (its process exited)",
    }
}
