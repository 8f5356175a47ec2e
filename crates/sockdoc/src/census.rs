//! The command line's side of the census session (`sockdoc_core::session`): `-t -u -4 -6` and filter
//! words to a plan, census errors to exit codes. [`Plan::sockets`] is the one-namespace re-read the
//! treatments use; views build a [`Session`] with [`session`].

use sockdoc_core::session::{self, Needs, PlanError, Protocols, Refresh, Scope, Session};
use sockdoc_core::Owners;
use sockdoc_diag::Socket;
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

/// A session over `scope` with `plan`; the owner walk as `refresh` says.
pub fn session(scope: Scope, plan: session::Plan, refresh: Refresh) -> Result<Session, Failure> {
    Session::new(scope, plan, refresh).map_err(|e| {
        Failure::new(
            crate::error::Exit::Io,
            format!("cannot start the owner reader: {e}"),
        )
    })
}

/// What a one-namespace census produced besides its sockets.
pub struct Census {
    pub owners: Option<SocketOwners>,
}

/// A one-namespace plan (the treatments' selection and re-read).
#[derive(Clone)]
pub struct Plan {
    inner: session::Plan,
    pub filter: sockdoc_core::filter::Filter,
}

impl Plan {
    /// The plan of `words` in the one namespace `namespaces` holds.
    pub fn new_in(
        namespaces: &[Netns],
        select: &Select,
        words: &[String],
        view_needs_owners: bool,
        view_needs_tcp_info: bool,
    ) -> Result<Plan, Failure> {
        let needs = Needs {
            owners: view_needs_owners,
            tcp_info: view_needs_tcp_info,
        };
        let inner = session::Plan::parse_in(namespaces, select.into(), words, needs)
            .map_err(plan_failure)?;
        Ok(Plan::wrap(inner))
    }

    fn wrap(inner: session::Plan) -> Plan {
        Plan {
            filter: inner.filter.clone(),
            inner,
        }
    }

    /// Sockets of `ns` that pass the filter; with `owners` (the selection's), judged with those and
    /// no new walk, else walked when the plan needs owners.
    pub fn sockets(
        &self,
        ns: &Netns,
        owners: Option<&SocketOwners>,
    ) -> Result<(Vec<Socket>, Census), sockdoc_core::collect::CensusError> {
        let s = Session::new(Scope::one(ns.clone()), self.inner.clone(), Refresh::PerRun)
            .map_err(sockdoc_core::collect::CensusError::Proc)?;
        let sample = match owners {
            Some(o) => s.sample_with(ns, o as &dyn Owners)?,
            None => s.sample(ns)?,
        };
        drop(s);
        let owners = sample
            .owners
            .and_then(|f| std::sync::Arc::try_unwrap(f.map).ok());
        Ok((sample.sockets, Census { owners }))
    }
}
