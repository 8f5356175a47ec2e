//! From command-line selection and filter to a census plan, and running it over the chosen namespaces.
//! The /proc walk, when needed, happens once for all namespaces (socket inodes are global).

use sockdoc_core::collect::{self, Census, CensusSpec};
use sockdoc_core::filter::Filter;
use sockdoc_core::{NoOwners, Owners};
use sockdoc_diag::{Proto, Socket};
use sockdoc_proc::{Netns, SocketOwners};

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
        let (f_tcp, f_udp) = filter.protocols();
        let any_proto = !select.tcp && !select.udp;
        let any_family = !select.ipv4 && !select.ipv6;
        let spec = CensusSpec {
            tcp: (any_proto || select.tcp) && f_tcp,
            udp: (any_proto || select.udp) && f_udp,
            v4: any_family || select.ipv4,
            v6: any_family || select.ipv6,
            tcp_info: view_needs_tcp_info || filter.needs_tcp_info(),
            states: filter.state_mask(),
            bytecode: filter.kernel_filter().map(|bc| bc.compile()),
        };
        let owners = view_needs_owners || filter.needs_processes();
        Ok(Plan {
            filter,
            spec,
            owners,
        })
    }

    /// Sockets of one namespace that pass the filter, in kernel order (TCP v4, v6, UDP v4, v6).
    /// `owners` is the walk from an earlier namespace, if any; the first walk is returned in the census.
    pub fn sockets(
        &self,
        ns: &Netns,
        owners: Option<&SocketOwners>,
    ) -> Result<(Vec<Socket>, Census<Vec<Socket>>), Failure> {
        let walk = self.owners && owners.is_none();
        let late = self.filter.needs_processes();
        let filter = &self.filter;
        let census = collect::run(&self.spec, Some(ns), walk, Vec::new, |v, s| {
            // Filters on processes wait for the walk; the rest are decided as the socket arrives.
            if late || filter.matches(s, &NoOwners) {
                v.push(*s);
            }
        })
        .map_err(Failure::census)?;
        let mut census = census;
        let mut all: Vec<Socket> = Vec::with_capacity(census.dumps.iter().map(|d| d.acc.len()).sum());
        for d in &mut census.dumps {
            all.append(&mut d.acc);
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

/// Which protocols a socket list holds, for headers.
pub fn has_proto(sockets: &[Socket], p: Proto) -> bool {
    sockets.iter().any(|s| s.proto == p)
}
