//! The command line's side of the census session (`sockdoc_core::session`): `-t -u -4 -6` and filter
//! words to a plan, a session over the namespaces looked at ([`session`], or [`one_ns`] for the
//! treatments' selection and re-read), census errors to exit codes.

use sockdoc_core::i18n::{text, Lang, Msg};
use std::sync::Arc;

use sockdoc_core::session::{
    self, Needs, PlanError, Protocols, Recorded, Refresh, Sample, Scope, Session,
};
use sockdoc_core::Owners;
use sockdoc_proc::{Netns, SocketOwners};

use crate::cli::Select;
use crate::error::Failure;

impl From<&Select> for Protocols {
    fn from(s: &Select) -> Protocols {
        Protocols {
            tcp: s.tcp,
            udp: s.udp,
            ipv4: s.ipv4,
            ipv6: s.ipv6,
        }
    }
}

pub fn plan_failure(e: PlanError) -> Failure {
    match e {
        PlanError::Filter(e) => Failure::usage(e.to_string()),
        PlanError::Netns(e) => Failure::netns(e),
    }
}

/// The plan of `words` for the namespaces looked at (names like `dev eth0` resolved inside the one
/// namespace, when there is one).
pub fn plan(
    scope: &Scope,
    select: &Select,
    words: &[String],
    needs: Needs,
) -> Result<session::Plan, Failure> {
    session::Plan::parse_in(&scope.namespaces, select.into(), words, needs).map_err(plan_failure)
}

/// A session over `scope` with `plan`; the owner walk as `refresh` says. Of the evidence `--from`
/// names, when it names one.
pub fn session(
    lang: Lang,
    scope: Scope,
    plan: session::Plan,
    refresh: Refresh,
) -> Result<Session, Failure> {
    session_of(lang, scope, plan, refresh, crate::scope::recorded())
}

/// A session over `scope` with `plan` of the recorded evidence `from` (which stands where the live
/// kernel stood), or of the live kernel.
pub fn session_of(
    lang: Lang,
    scope: Scope,
    plan: session::Plan,
    refresh: Refresh,
    from: Option<Arc<dyn Recorded>>,
) -> Result<Session, Failure> {
    let session = Session::new(scope, plan, refresh).map_err(|e| {
        Failure::new(
            crate::error::Exit::Io,
            text(lang, Msg::OwnerReader, &[&e.to_string()]),
        )
    })?;
    // The evidence stands where the live kernel stood. Every command that reads it samples each
    // namespace once, so the samples take its sockets over (no second copy).
    Ok(match from {
        Some(r) => session.recorded_once(r, lang),
        None => session,
    })
}

/// A session over the one namespace `ns` for `words` (the treatments' selection and re-read): owners
/// read once, with the first sample, and shared by the re-reads.
pub fn one_ns(
    lang: Lang,
    ns: &Netns,
    protocols: Protocols,
    words: &[String],
    needs: Needs,
) -> Result<Session, Failure> {
    let plan = session::Plan::parse_in(std::slice::from_ref(ns), protocols, words, needs)
        .map_err(plan_failure)?;
    session(lang, Scope::one(ns.clone()), plan, Refresh::PerRun)
}

/// One sample of `ns` by `s`; judged with `owners` when given (no new owner read).
pub fn sample(s: &Session, ns: &Netns, owners: Option<&SocketOwners>) -> Result<Sample, Failure> {
    match owners {
        Some(o) => s.sample_with(ns, o as &dyn Owners),
        None => s.sample(ns),
    }
    .map_err(Failure::census)
}
