//! The filter's syntax tree and its canonical text form.
//!
//! [`Expr`] is what the parser builds and what evaluation and pushdown walk. `And`/`Or` are n-ary so a
//! long chain of terms stays shallow. `Display` prints text that parses back to an equivalent tree
//! (explicit `and`/`or`, parentheses only where precedence needs them).

use std::fmt;

use sockdoc_diag::{Addr, Family, Proto, State, TimerKind};

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// `value OP reference`.
    pub fn test<T: Ord>(self, value: T, reference: T) -> bool {
        match self {
            CmpOp::Eq => value == reference,
            CmpOp::Ne => value != reference,
            CmpOp::Lt => value < reference,
            CmpOp::Le => value <= reference,
            CmpOp::Gt => value > reference,
            CmpOp::Ge => value >= reference,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The operator a word spells (`eq`, `geq`, ...), case-insensitively. Symbols are lexed separately.
    pub fn from_word(word: &str) -> Option<CmpOp> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CmpOp::Eq,
            "ne" | "neq" => CmpOp::Ne,
            "lt" => CmpOp::Lt,
            "le" | "leq" => CmpOp::Le,
            "gt" => CmpOp::Gt,
            "ge" | "geq" => CmpOp::Ge,
            _ => return None,
        })
    }
}

/// Which end of the connection a port or address predicate looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// `sport`, `src`.
    Local,
    /// `dport`, `dst`.
    Remote,
}

/// A set of states, one bit per state at [`State::mask_bit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StateSet(u32);

impl StateSet {
    pub const EMPTY: StateSet = StateSet(0);
    pub const ALL: StateSet = StateSet(0xffe);

    pub fn of(states: &[State]) -> StateSet {
        StateSet(states.iter().fold(0, |m, s| m | s.mask_bit()))
    }
    pub fn bits(self) -> u32 {
        self.0
    }
    pub fn contains(self, state: State) -> bool {
        self.0 & state.mask_bit() != 0
    }
    pub fn union(self, other: StateSet) -> StateSet {
        StateSet(self.0 | other.0)
    }
    pub fn intersection(self, other: StateSet) -> StateSet {
        StateSet(self.0 & other.0)
    }
    pub fn minus(self, other: StateSet) -> StateSet {
        StateSet(self.0 & !other.0)
    }
    pub fn complement(self) -> StateSet {
        Self::ALL.minus(self)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = State> {
        State::ALL.into_iter().filter(move |s| self.contains(*s))
    }
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
}

/// An address prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    pub family: Family,
    /// IPv4 in the first four bytes.
    pub addr: Addr,
    pub prefix_len: u8,
}

/// What `src`/`dst` compare against: an optional prefix and an optional port, like the kernel's
/// `inet_diag_hostcond`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostPattern {
    pub net: Option<Net>,
    pub port: Option<u16>,
}

/// A process name, possibly with `*` wildcards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamePattern(pub String);

/// One test on a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pred {
    /// The socket's state is in the set (`state`/`exclude` runs, `listening`).
    States(StateSet),
    Port {
        side: Side,
        op: CmpOp,
        port: u16,
    },
    Host {
        side: Side,
        pattern: HostPattern,
    },
    /// Bound to this interface index.
    Dev(u32),
    Proto(Proto),
    Family(Family),
    Proc(NamePattern),
    Pid(u32),
    Uid(u32),
    Inode(u32),
    /// Milliseconds since the last activity ([`sockdoc_diag::Socket::idle_ms`]).
    Idle {
        op: CmpOp,
        ms: u64,
    },
    Keepalive,
    Retrans {
        op: CmpOp,
        count: u64,
    },
    Unacked {
        op: CmpOp,
        count: u64,
    },
    RecvQ {
        op: CmpOp,
        bytes: u64,
    },
    SendQ {
        op: CmpOp,
        bytes: u64,
    },
    Timer(TimerKind),
    /// In exactly this cgroup (ss's `cgroup PATH`): `path` from the cgroup2 root, `id` its cgroup
    /// id, resolved when the filter was parsed.
    Cgroup {
        path: String,
        id: u64,
    },
    /// In this systemd unit or slice, or a cgroup below it; `nginx` also names `nginx.service`, and
    /// `*` is a wildcard.
    Unit(NamePattern),
    /// In this container: its name, or its id or an id prefix of at least 12 hex digits.
    Container(String),
    /// In this Kubernetes pod: `namespace/name`, or its uid.
    Pod(String),
}

impl Pred {
    /// True when the predicate needs process attribution.
    pub fn needs_processes(&self) -> bool {
        matches!(self, Pred::Proc(_) | Pred::Pid(_))
    }

    /// True when the predicate reads `tcp_info`.
    pub fn needs_tcp_info(&self) -> bool {
        matches!(
            self,
            Pred::Idle { .. } | Pred::Retrans { .. } | Pred::Unacked { .. }
        )
    }

    /// True when the predicate reads timers (`keepalive`, `timer KIND`).
    pub fn needs_timers(&self) -> bool {
        matches!(self, Pred::Keepalive | Pred::Timer(_))
    }

    /// True when the predicate names services (unit, container, pod): the sockets' cgroups must be
    /// named first. `cgroup PATH` compares ids and needs no names.
    pub fn needs_services(&self) -> bool {
        matches!(self, Pred::Unit(_) | Pred::Container(_) | Pred::Pod(_))
    }
}

/// A filter expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    Pred(Pred),
    Not(Box<Expr>),
    /// All of (at least two terms).
    And(Vec<Expr>),
    /// Any of (at least two terms).
    Or(Vec<Expr>),
}

impl Expr {
    /// `not e`; a double negation cancels out.
    pub fn negate(e: Expr) -> Expr {
        match e {
            Expr::Not(inner) => *inner,
            other => Expr::Not(Box::new(other)),
        }
    }

    /// Conjunction of `terms` (nested conjunctions are flattened). `terms` must not be empty.
    pub fn all(terms: Vec<Expr>) -> Expr {
        Self::join(terms, true)
    }

    /// Disjunction of `terms` (nested disjunctions are flattened). `terms` must not be empty.
    pub fn any(terms: Vec<Expr>) -> Expr {
        Self::join(terms, false)
    }

    fn join(terms: Vec<Expr>, conjunction: bool) -> Expr {
        let mut flat = Vec::with_capacity(terms.len());
        for t in terms {
            match t {
                Expr::And(inner) if conjunction => flat.extend(inner),
                Expr::Or(inner) if !conjunction => flat.extend(inner),
                other => flat.push(other),
            }
        }
        if flat.len() == 1 {
            if let Some(only) = flat.pop() {
                return only;
            }
        }
        if conjunction {
            Expr::And(flat)
        } else {
            Expr::Or(flat)
        }
    }

    /// True when any predicate in the tree satisfies `f`.
    pub fn any_pred(&self, f: &dyn Fn(&Pred) -> bool) -> bool {
        match self {
            Expr::Pred(p) => f(p),
            Expr::Not(e) => e.any_pred(f),
            Expr::And(v) | Expr::Or(v) => v.iter().any(|e| e.any_pred(f)),
        }
    }

    /// Binding strength when printed: or < and < not/atom.
    fn precedence(&self) -> u8 {
        match self {
            Expr::Or(_) => 0,
            Expr::And(_) => 1,
            Expr::Not(_) | Expr::Pred(_) => 2,
        }
    }

    fn fmt_at(&self, f: &mut fmt::Formatter<'_>, min_precedence: u8) -> fmt::Result {
        if self.precedence() < min_precedence {
            f.write_str("( ")?;
            self.fmt_at(f, 0)?;
            return f.write_str(" )");
        }
        match self {
            Expr::Pred(p) => write!(f, "{p}"),
            Expr::Not(e) => {
                f.write_str("not ")?;
                e.fmt_at(f, 2)
            }
            Expr::And(v) | Expr::Or(v) => {
                let (sep, child) = if matches!(self, Expr::And(_)) {
                    (" and ", 2)
                } else {
                    (" or ", 1)
                };
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    e.fmt_at(f, child)?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_at(f, 0)
    }
}

impl fmt::Display for StateSet {
    /// The shortest `state`/`exclude` run that spells the set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == StateSet::ALL {
            return f.write_str("state all");
        }
        if self.is_empty() {
            return f.write_str("exclude all");
        }
        let (word, states) = if self.len() <= StateSet::ALL.len() / 2 {
            ("state", *self)
        } else {
            ("exclude", self.complement())
        };
        for (i, s) in states.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{word} {}", s.key())?;
        }
        Ok(())
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr.to_ip(self.family))?;
        let full = match self.family {
            Family::V4 => 32,
            Family::V6 => 128,
        };
        if self.prefix_len != full {
            write!(f, "/{}", self.prefix_len)?;
        }
        Ok(())
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.net, self.port) {
            (None, None) => f.write_str("*"),
            (None, Some(p)) => write!(f, ":{p}"),
            (Some(net), None) => write!(f, "{net}"),
            (Some(net), Some(p)) if net.family == Family::V6 => write!(f, "[{net}]:{p}"),
            (Some(net), Some(p)) => write!(f, "{net}:{p}"),
        }
    }
}

/// Write `ms` in the largest unit that divides it evenly.
fn fmt_duration(f: &mut fmt::Formatter<'_>, ms: u64) -> fmt::Result {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    for (size, unit) in UNITS {
        let (count, rest) = (ms / size, ms % size);
        if count != 0 && rest == 0 {
            return write!(f, "{count}{unit}");
        }
    }
    write!(f, "{ms}ms")
}

/// A name (process, unit, container, pod, cgroup path) as a filter word: bare when the lexer would keep it whole and the parser would not
/// read it as a comparison (`lt`, `ge`, ...), quoted otherwise.
fn fmt_name(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    let bare = !name.is_empty()
        && !name.chars().any(super::lex::is_special)
        && CmpOp::from_word(name).is_none();
    if bare {
        f.write_str(name)
    } else if name.contains('\'') {
        write!(f, "\"{name}\"")
    } else {
        write!(f, "'{name}'")
    }
}

impl fmt::Display for Pred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side_word = |side: Side, local: &'static str, remote: &'static str| match side {
            Side::Local => local,
            Side::Remote => remote,
        };
        match self {
            Pred::States(set) => write!(f, "{set}"),
            Pred::Port { side, op, port } => write!(
                f,
                "{} {} :{port}",
                side_word(*side, "sport", "dport"),
                op.symbol()
            ),
            Pred::Host { side, pattern } => {
                write!(f, "{} {pattern}", side_word(*side, "src", "dst"))
            }
            Pred::Dev(ifindex) => write!(f, "dev {ifindex}"),
            Pred::Proto(p) => f.write_str(p.name()),
            Pred::Family(fam) => f.write_str(fam.name()),
            Pred::Proc(NamePattern(name)) => {
                f.write_str("proc ")?;
                fmt_name(f, name)
            }
            Pred::Pid(n) => write!(f, "pid {n}"),
            Pred::Uid(n) => write!(f, "uid {n}"),
            Pred::Inode(n) => write!(f, "inode {n}"),
            Pred::Idle { op, ms } => {
                write!(f, "idle {} ", op.symbol())?;
                fmt_duration(f, *ms)
            }
            Pred::Keepalive => f.write_str("keepalive"),
            Pred::Retrans { op, count } => write!(f, "retrans {} {count}", op.symbol()),
            Pred::Unacked { op, count } => write!(f, "unacked {} {count}", op.symbol()),
            Pred::RecvQ { op, bytes } => write!(f, "recvq {} {bytes}", op.symbol()),
            Pred::SendQ { op, bytes } => write!(f, "sendq {} {bytes}", op.symbol()),
            Pred::Timer(kind) => write!(f, "timer {}", kind.name()),
            Pred::Cgroup { path, .. } => {
                f.write_str("cgroup ")?;
                fmt_name(f, path)
            }
            Pred::Unit(NamePattern(name)) => {
                f.write_str("unit ")?;
                fmt_name(f, name)
            }
            Pred::Container(name) => {
                f.write_str("container ")?;
                fmt_name(f, name)
            }
            Pred::Pod(name) => {
                f.write_str("pod ")?;
                fmt_name(f, name)
            }
        }
    }
}
