//! The typed evidence of every finding kind, one variant each: the detectors fill it, the catalog
//! words it, `serve` and `top` read its fields, and the JSON writer shows its numbers and rows under
//! the documented keys (docs/json-schema.md).

use super::{closing, ghosts, limits, listen, piles, ports, sysctl, Row};

/// What each kind of evidence tells the writers.
pub trait Kind {
    /// The finding's stable id.
    const ID: &'static str;
    /// Key numbers under stable keys (the JSON `evidence` object).
    fn numbers(&self) -> Vec<(&'static str, i64)>;
    /// Breakdown rows, largest first (the JSON `groups` array).
    fn rows(&self) -> Vec<Row> {
        Vec::new()
    }
}

macro_rules! evidence {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// The evidence of one finding.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Evidence {
            $($variant($ty),)*
        }

        impl Evidence {
            /// The finding's stable id.
            pub fn id(&self) -> &'static str {
                match self {
                    $(Evidence::$variant(_) => <$ty as Kind>::ID,)*
                }
            }

            /// Key numbers under stable keys.
            pub fn numbers(&self) -> Vec<(&'static str, i64)> {
                match self {
                    $(Evidence::$variant(e) => e.numbers(),)*
                }
            }

            /// Breakdown rows, largest first.
            pub fn rows(&self) -> Vec<Row> {
                match self {
                    $(Evidence::$variant(e) => e.rows(),)*
                }
            }
        }

        $(impl From<$ty> for Evidence {
            fn from(e: $ty) -> Evidence {
                Evidence::$variant(e)
            }
        })*
    };
}

evidence! {
    GhostSuspects(ghosts::GhostSuspects),
    KeepaliveCoverage(ghosts::KeepaliveCoverage),
    CloseWaitLeak(closing::CloseWaitLeak),
    UnreachablePeers(closing::UnreachablePeers),
    TimeWaitPressure(ports::TimeWaitPressure),
    EphemeralPorts(ports::EphemeralPorts),
    ListenOverflow(listen::ListenOverflow),
    SynFlood(listen::SynFlood),
    SynSentFanout(piles::SynSentFanout),
    ClosingPiles(piles::ClosingPiles),
    UdpTrouble(piles::UdpTrouble),
    FdLimit(limits::FdLimit),
    ConntrackFull(limits::ConntrackFull),
    SysctlObsolete(sysctl::SysctlObsolete),
    SysctlRisky(sysctl::SysctlRisky),
}
