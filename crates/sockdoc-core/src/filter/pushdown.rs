//! Kernel pushdown and dump planning: what part of a filter the kernel can apply for us.
//!
//! The kernel applies two things to a dump: a state mask (`idiag_states`) and a bytecode program. For
//! every sub-expression we compute a [`Pushdown`]: a state set and a program whose conjunction is a
//! *superset* of the sockets the sub-expression accepts, plus whether it is *exactly* that set.
//!
//! - `and`: intersect the masks, and the programs (a side with no program is simply dropped: sound).
//! - `or`: union the masks; a program only if every side has one (the union of supersets is a superset
//!   of the union). Exact when every side is exact and the sides share one mask, or none has a program.
//!   A side whose state set is empty matches nothing and is left out.
//! - `not`: only of an exact pure-state side (complement the mask) or an exact pure-program side (negate
//!   the program); anything else pushes nothing.
//!
//! The user-space evaluation always runs afterwards, so pushdown only has to be sound, never complete.
//! This module also answers which protocols and families a filter can match at all.

use sockdoc_diag::{
    BcExpr, Family, HostCond, Proto, State, TimerKind, ALL_STATES_MASK, TCP_NEW_SYN_RECV,
};

use super::ast::{CmpOp, Expr, Pred, Side, StateSet};

/// Largest program we hand to the kernel. The kernel's jump offsets are 16 bits and the whole request
/// must fit one netlink message; real filters are far smaller.
const MAX_PROGRAM_LEN: usize = 4096;

/// What the kernel can do for one sub-expression.
#[derive(Clone, Debug)]
pub struct Pushdown {
    /// Superset of the states the sub-expression can accept.
    pub states: StateSet,
    /// Superset program; `None` means "accept everything".
    pub program: Option<BcExpr>,
    /// Compiled length of `program`.
    pub len: usize,
    /// The sub-expression accepts exactly `state ∈ states && program`.
    pub exact: bool,
}

impl Pushdown {
    fn nothing() -> Pushdown {
        Pushdown {
            states: StateSet::ALL,
            program: None,
            len: 0,
            exact: false,
        }
    }
    fn states(states: StateSet) -> Pushdown {
        Pushdown {
            states,
            program: None,
            len: 0,
            exact: true,
        }
    }
    fn program(program: BcExpr) -> Pushdown {
        let len = program.encoded_len();
        Pushdown {
            states: StateSet::ALL,
            program: Some(program),
            len,
            exact: true,
        }
    }

    /// The state mask for `idiag_states` (with the request-socket bit when SYN-RECV is in).
    pub fn kernel_states(&self) -> u32 {
        if self.states == StateSet::ALL {
            return ALL_STATES_MASK;
        }
        let mut mask = self.states.bits();
        if self.states.contains(State::SynRecv) {
            mask |= 1 << TCP_NEW_SYN_RECV;
        }
        mask
    }
}

/// Compute the pushdown of `e`.
pub fn pushdown(e: &Expr) -> Pushdown {
    match e {
        Expr::Pred(p) => pred_pushdown(p),
        Expr::And(terms) => {
            let parts: Vec<Pushdown> = terms.iter().map(pushdown).collect();
            let states = parts
                .iter()
                .fold(StateSet::ALL, |m, p| m.intersection(p.states));
            // No state can pass every conjunct: the conjunction matches nothing, exactly.
            if states.is_empty() {
                return Pushdown::states(StateSet::EMPTY);
            }
            let mut exact = parts.iter().all(|p| p.exact);
            let mut programs = Vec::new();
            let mut len = 0;
            for part in parts {
                if let Some(program) = part.program {
                    if len + part.len <= MAX_PROGRAM_LEN {
                        len += part.len;
                        programs.push(program);
                    } else {
                        // Dropping a conjunct keeps the superset; it just stops being exact.
                        exact = false;
                    }
                }
            }
            Pushdown {
                states,
                program: balanced(programs, and),
                len,
                exact,
            }
        }
        Expr::Or(terms) => {
            // A side with no possible state matches nothing: leave it out.
            let parts: Vec<Pushdown> = terms
                .iter()
                .map(pushdown)
                .filter(|p| !p.states.is_empty())
                .collect();
            if parts.is_empty() {
                return Pushdown::states(StateSet::EMPTY);
            }
            let states = parts.iter().fold(StateSet::EMPTY, |m, p| m.union(p.states));
            let all_exact = parts.iter().all(|p| p.exact);
            let same_states = parts.iter().all(|p| p.states == parts[0].states);
            let any_unfiltered = parts.iter().any(|p| p.program.is_none());
            // One JMP per `or` node joins the sides.
            let len = parts.iter().map(|p| p.len).sum::<usize>() + 4 * (parts.len() - 1);
            if any_unfiltered || len > MAX_PROGRAM_LEN {
                let no_programs = parts.iter().all(|p| p.program.is_none());
                let exact = all_exact && (no_programs || (same_states && any_unfiltered));
                return Pushdown {
                    states,
                    program: None,
                    len: 0,
                    exact,
                };
            }
            let programs = parts.into_iter().filter_map(|p| p.program).collect();
            Pushdown {
                states,
                program: balanced(programs, or),
                len,
                exact: all_exact && same_states,
            }
        }
        Expr::Not(inner) => {
            let part = pushdown(inner);
            if !part.exact {
                return Pushdown::nothing();
            }
            match part.program {
                None => Pushdown::states(part.states.complement()),
                Some(program)
                    if part.states == StateSet::ALL && part.len + 4 <= MAX_PROGRAM_LEN =>
                {
                    Pushdown {
                        states: StateSet::ALL,
                        program: Some(not(program)),
                        len: part.len + 4,
                        exact: true,
                    }
                }
                Some(_) => Pushdown::nothing(),
            }
        }
    }
}

fn pred_pushdown(p: &Pred) -> Pushdown {
    match p {
        Pred::States(set) => Pushdown::states(*set),
        Pred::Port { side, op, port } => Pushdown::program(port_program(*side, *op, *port)),
        // `src *`: always true, nothing to run.
        Pred::Host { pattern, .. } if pattern.net.is_none() && pattern.port.is_none() => {
            Pushdown::states(StateSet::ALL)
        }
        Pred::Host { side, pattern } => {
            let cond = HostCond {
                family: pattern.net.map(|n| n.family),
                addr: pattern.net.map(|n| n.addr).unwrap_or_default(),
                prefix_len: pattern.net.map_or(0, |n| n.prefix_len),
                port: pattern.port,
            };
            Pushdown::program(match side {
                Side::Local => BcExpr::Src(cond),
                Side::Remote => BcExpr::Dst(cond),
            })
        }
        Pred::Dev(ifindex) => Pushdown::program(BcExpr::Dev(*ifindex)),
        Pred::Cgroup { id, .. } => Pushdown::program(BcExpr::Cgroup(*id)),
        _ => Pushdown::nothing(),
    }
}

fn and(a: BcExpr, b: BcExpr) -> BcExpr {
    BcExpr::And(Box::new(a), Box::new(b))
}

fn or(a: BcExpr, b: BcExpr) -> BcExpr {
    BcExpr::Or(Box::new(a), Box::new(b))
}

fn not(a: BcExpr) -> BcExpr {
    BcExpr::Not(Box::new(a))
}

/// A program that accepts nothing: `not (sport >= 0)`.
fn never() -> BcExpr {
    not(BcExpr::SportGe(0))
}

/// `port OP n` as kernel comparisons (which only know `>=` and `<=`).
fn port_program(side: Side, op: CmpOp, n: u16) -> BcExpr {
    let ge = |p| match side {
        Side::Local => BcExpr::SportGe(p),
        Side::Remote => BcExpr::DportGe(p),
    };
    let le = |p| match side {
        Side::Local => BcExpr::SportLe(p),
        Side::Remote => BcExpr::DportLe(p),
    };
    let eq = || and(ge(n), le(n));
    match op {
        CmpOp::Eq => eq(),
        CmpOp::Ne => not(eq()),
        CmpOp::Ge => ge(n),
        CmpOp::Le => le(n),
        CmpOp::Lt => n.checked_sub(1).map_or_else(never, le),
        CmpOp::Gt => n.checked_add(1).map_or_else(never, ge),
    }
}

/// Combine `items` pairwise into a balanced tree (depth log n, so compiling stays shallow).
fn balanced(mut items: Vec<BcExpr>, join: fn(BcExpr, BcExpr) -> BcExpr) -> Option<BcExpr> {
    while items.len() > 1 {
        let mut next = Vec::with_capacity(items.len().div_ceil(2));
        let mut it = items.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => join(a, b),
                None => a,
            });
        }
        items = next;
    }
    items.pop()
}

/// Whether some socket of a given protocol and family could satisfy an expression, and whether some
/// could fail it. Both answers may err towards `true`, never towards `false`.
///
/// It relies on what the kernel reports: UDP sockets are only ESTABLISHED (connected) or UNCONN, have
/// no pending timer and no tcp_info.
#[derive(Clone, Copy, Debug)]
struct Possible {
    can_match: bool,
    can_fail: bool,
}

const EITHER: Possible = Possible {
    can_match: true,
    can_fail: true,
};

fn possible(e: &Expr, proto: Proto, family: Family) -> Possible {
    match e {
        Expr::Pred(p) => pred_possible(p, proto, family),
        Expr::Not(inner) => {
            let p = possible(inner, proto, family);
            Possible {
                can_match: p.can_fail,
                can_fail: p.can_match,
            }
        }
        Expr::And(terms) => {
            let parts: Vec<Possible> = terms.iter().map(|t| possible(t, proto, family)).collect();
            Possible {
                can_match: parts.iter().all(|p| p.can_match),
                can_fail: parts.iter().any(|p| p.can_fail),
            }
        }
        Expr::Or(terms) => {
            let parts: Vec<Possible> = terms.iter().map(|t| possible(t, proto, family)).collect();
            Possible {
                can_match: parts.iter().any(|p| p.can_match),
                can_fail: parts.iter().all(|p| p.can_fail),
            }
        }
    }
}

fn exactly(holds: bool) -> Possible {
    Possible {
        can_match: holds,
        can_fail: !holds,
    }
}

fn pred_possible(p: &Pred, proto: Proto, family: Family) -> Possible {
    let udp = proto == Proto::Udp;
    match p {
        Pred::Proto(want) => exactly(*want == proto),
        Pred::Family(want) => exactly(*want == family),
        Pred::States(set) => {
            let reachable = if udp {
                StateSet::of(&[State::Established, State::Close])
            } else {
                StateSet::ALL
            };
            Possible {
                can_match: !set.intersection(reachable).is_empty(),
                can_fail: !reachable.minus(*set).is_empty(),
            }
        }
        Pred::Keepalive if udp => exactly(false),
        Pred::Timer(kind) if udp => exactly(*kind == TimerKind::Off),
        Pred::Idle { .. } | Pred::Unacked { .. } if udp => exactly(false),
        Pred::Retrans { op, count } if udp => exactly(op.test(0, *count)),
        _ => EITHER,
    }
}

/// (tcp, udp): which protocols can match `e`.
pub fn protocols(e: &Expr) -> (bool, bool) {
    let can = |proto| {
        [Family::V4, Family::V6]
            .into_iter()
            .any(|f| possible(e, proto, f).can_match)
    };
    (can(Proto::Tcp), can(Proto::Udp))
}

/// (ipv4, ipv6): which families can match `e`.
pub fn families(e: &Expr) -> (bool, bool) {
    let can = |family| {
        [Proto::Tcp, Proto::Udp]
            .into_iter()
            .any(|p| possible(e, p, family).can_match)
    };
    (can(Family::V4), can(Family::V6))
}
