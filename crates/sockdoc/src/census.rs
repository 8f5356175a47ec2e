//! From command-line selection and filter to a census plan, and running it over the chosen namespaces.
//! The /proc walk, when needed, happens once for all namespaces (socket inodes are global).

use sockdoc_core::collect::{self, Census, CensusError, CensusSpec, DumpHint};
use sockdoc_core::filter::Filter;
use sockdoc_core::{NoOwners, Owners};
use sockdoc_diag::Socket;
use sockdoc_proc::{Netns, NetnsError, SocketOwners};

use crate::cli::Select;
use crate::error::Failure;

/// What to collect for a view.
pub struct Plan {
    pub filter: Filter,
    pub spec: CensusSpec,
    pub owners: bool,
}

impl Plan {
    /// Parse the filter and work out what the kernel must send.
    pub fn new(
        select: &Select,
        filter_words: &[String],
        view_needs_owners: bool,
        view_needs_tcp_info: bool,
    ) -> Result<Plan, Failure> {
        let filter = Filter::parse(filter_words).map_err(|e| Failure::usage(e.to_string()))?;
        Ok(Plan::for_filter(
            select,
            filter,
            view_needs_owners,
            view_needs_tcp_info,
        ))
    }

    /// Like [`Plan::new`], for a filter already built (the reaper's rules, a tree of values).
    pub fn for_filter(
        select: &Select,
        filter: Filter,
        view_needs_owners: bool,
        view_needs_tcp_info: bool,
    ) -> Plan {
        let (f_tcp, f_udp) = filter.protocols();
        let (f_v4, f_v6) = filter.families();
        let states = filter.state_mask();
        let any_proto = !select.tcp && !select.udp;
        let any_family = !select.ipv4 && !select.ipv6;
        let spec = CensusSpec {
            // A filter no socket can pass (e.g. `udp and state listening`) dumps nothing.
            tcp: (any_proto || select.tcp) && f_tcp && states != 0,
            udp: (any_proto || select.udp) && f_udp && states != 0,
            v4: (any_family || select.ipv4) && f_v4,
            v6: (any_family || select.ipv6) && f_v6,
            tcp_info: view_needs_tcp_info || filter.needs_tcp_info(),
            states,
            bytecode: filter.kernel_filter().and_then(|bc| bc.compile()),
        };
        let owners = view_needs_owners || filter.needs_processes();
        Plan {
            filter,
            spec,
            owners,
        }
    }

    /// Like [`Plan::new`], but interface names in the filter (`dev eth0`) are resolved inside the one
    /// namespace looked at, where they have their meaning.
    pub fn new_in(
        namespaces: &[Netns],
        select: &Select,
        filter_words: &[String],
        view_needs_owners: bool,
        view_needs_tcp_info: bool,
    ) -> Result<Plan, Failure> {
        let make = || Plan::new(select, filter_words, view_needs_owners, view_needs_tcp_info);
        match namespaces {
            [ns] if !ns.current => crate::scope::in_ns(ns, make),
            _ => make(),
        }
    }

    /// Sockets of one namespace that pass the filter, in kernel order (TCP v4, v6, UDP v4, v6).
    /// `owners` is the walk from an earlier namespace, if any; the first walk is returned in the census.
    pub fn sockets(
        &self,
        ns: &Netns,
        owners: Option<&SocketOwners>,
    ) -> Result<(Vec<Socket>, Census<Vec<Socket>>), CensusError> {
        let walk = self.owners && owners.is_none();
        let late = self.filter.needs_processes();
        let filter = &self.filter;
        // Unfiltered dumps are sized from the kernel's own count, so the buffer never grows by copying.
        let presize = self.filter.is_empty();
        let make = |h: DumpHint| {
            if presize {
                Vec::with_capacity(h.estimate)
            } else {
                Vec::new()
            }
        };
        let census = collect::run(&self.spec, Some(ns), walk, make, |v, s| {
            // Filters on processes wait for the walk; the rest are decided as the socket arrives.
            if late || filter.matches(s, &NoOwners) {
                v.push(*s);
            }
        })?;
        let mut census = census;
        // Join the dumps into the first one's buffer: the largest (TCP v4) is not copied again.
        let rest: usize = census.dumps.iter().skip(1).map(|d| d.acc.len()).sum();
        let mut all = census
            .dumps
            .first_mut()
            .map(|d| std::mem::take(&mut d.acc))
            .unwrap_or_default();
        all.reserve_exact(rest);
        for d in census.dumps.iter_mut().skip(1) {
            all.append(&mut d.acc);
            d.acc = Vec::new();
        }
        if late {
            let o: &dyn Owners = match (owners, &census.owners) {
                (Some(o), _) | (None, Some(o)) => o,
                (None, None) => &NoOwners,
            };
            all.retain(|s| filter.matches(s, o));
        }
        Ok((all, census))
    }
}

/// With `--all-netns`, a namespace that disappears between listing and census (its last process exited)
/// is skipped with a note instead of failing the whole run.
pub fn skip_vanished<T>(
    r: Result<T, CensusError>,
    all_netns: bool,
    ns: &Netns,
    notes: &mut Vec<String>,
) -> Result<Option<T>, Failure> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(CensusError::Netns(NetnsError::NoSuchPid(_) | NetnsError::NoSuchName(_)))
            if all_netns =>
        {
            notes.push(format!(
                "namespace {} vanished during the census",
                ns.label()
            ));
            Ok(None)
        }
        Err(e) => Err(Failure::census(e)),
    }
}
