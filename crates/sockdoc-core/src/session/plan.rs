//! A census plan: from the user's protocol flags and filter to what the kernel must send (protocols,
//! families, state mask, compiled filter program, tcp_info) and whether owners are needed.

use sockdoc_proc::{Netns, NetnsError};

use crate::collect::CensusSpec;
use crate::filter::{Filter, FilterError};

/// The `-t -u -4 -6` flags: none set means all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Protocols {
    pub tcp: bool,
    pub udp: bool,
    pub ipv4: bool,
    pub ipv6: bool,
}

impl Protocols {
    /// TCP only (treatments act on TCP connections).
    pub const TCP: Protocols = Protocols {
        tcp: true,
        udp: false,
        ipv4: false,
        ipv6: false,
    };
}

/// What a view needs besides the sockets the filter asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Process owners (a column, a grouping, a finding that names processes).
    pub owners: bool,
    /// tcp_info (idle times, retransmits, RTT).
    pub tcp_info: bool,
    /// Services (systemd unit, container, pod) from the sockets' cgroup ids: a walk of the cgroup
    /// tree, no /proc fd walk.
    pub cgroups: bool,
}

impl Needs {
    /// Everything doctor judges with: owners, tcp_info and services.
    pub const DOCTOR: Needs = Needs {
        owners: true,
        tcp_info: true,
        cgroups: true,
    };
}

/// What to collect.
#[derive(Clone)]
pub struct Plan {
    pub filter: Filter,
    pub spec: CensusSpec,
    /// Owners are needed (by the view or by the filter).
    pub owners: bool,
    /// Services are needed (by the view, or by a filter on `unit`, `container`, `pod`): each sample
    /// names its sockets' cgroups.
    pub cgroups: bool,
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error(transparent)]
    Netns(#[from] NetnsError),
}

impl Plan {
    /// Parse the filter words and work out what the kernel must send.
    pub fn parse(protocols: Protocols, words: &[String], needs: Needs) -> Result<Plan, PlanError> {
        Ok(Plan::for_filter(protocols, Filter::parse(words)?, needs))
    }

    /// Like [`Plan::parse`], but names in the filter that mean something only inside a namespace
    /// (`dev eth0`) are resolved inside the one namespace looked at.
    pub fn parse_in(
        namespaces: &[Netns],
        protocols: Protocols,
        words: &[String],
        needs: Needs,
    ) -> Result<Plan, PlanError> {
        match namespaces {
            // Recorded evidence is never entered: its names mean nothing on this host anyway.
            [ns] if ns.recorded_index().is_none() => {
                super::scope::within(ns, || Plan::parse(protocols, words, needs))
            }
            _ => Plan::parse(protocols, words, needs),
        }
    }

    /// The plan of a filter already built (the reaper's rules, a tree of values).
    pub fn for_filter(protocols: Protocols, filter: Filter, needs: Needs) -> Plan {
        let (f_tcp, f_udp) = filter.protocols();
        let (f_v4, f_v6) = filter.families();
        let states = filter.state_mask();
        let any_proto = !protocols.tcp && !protocols.udp;
        let any_family = !protocols.ipv4 && !protocols.ipv6;
        let spec = CensusSpec {
            // A filter no socket can pass (e.g. `udp and state listening`) dumps nothing.
            tcp: (any_proto || protocols.tcp) && f_tcp && states != 0,
            udp: (any_proto || protocols.udp) && f_udp && states != 0,
            v4: (any_family || protocols.ipv4) && f_v4,
            v6: (any_family || protocols.ipv6) && f_v6,
            tcp_info: needs.tcp_info || filter.needs_tcp_info(),
            states,
            bytecode: filter.kernel_filter().and_then(|bc| bc.compile()),
        };
        let owners = needs.owners || filter.needs_processes();
        let cgroups = needs.cgroups || filter.needs_services();
        Plan {
            filter,
            spec,
            owners,
            cgroups,
        }
    }

    /// Every socket, with what the view needs.
    pub fn everything(needs: Needs) -> Plan {
        Plan::for_filter(Protocols::default(), Filter::default(), needs)
    }
}
