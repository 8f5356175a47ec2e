//! Evaluation: does a socket satisfy an [`Expr`]? Exact, entirely in user space.
//!
//! Address tests follow the kernel's `S_COND`/`D_COND` rules to the letter (an IPv4 prefix also matches
//! v4-mapped IPv6 addresses), so the kernel pushdown and this evaluation agree.

use sockdoc_diag::bytecode::prefix_match;
use sockdoc_diag::{Addr, Family, Socket, TimerKind};

use super::ast::{Expr, HostPattern, NamePattern, Pred, Side};
use crate::Owners;

impl Expr {
    pub fn matches(&self, s: &Socket, owners: &dyn Owners) -> bool {
        match self {
            Expr::Pred(p) => p.matches(s, owners),
            Expr::Not(e) => !e.matches(s, owners),
            Expr::And(v) => v.iter().all(|e| e.matches(s, owners)),
            Expr::Or(v) => v.iter().any(|e| e.matches(s, owners)),
        }
    }
}

impl Pred {
    pub fn matches(&self, s: &Socket, owners: &dyn Owners) -> bool {
        match self {
            Pred::States(set) => set.contains(s.state),
            Pred::Port { side, op, port } => op.test(side_port(s, *side), *port),
            Pred::Host { side, pattern } => {
                let (addr, port) = match side {
                    Side::Local => (&s.local, s.local_port),
                    Side::Remote => (&s.remote, s.remote_port),
                };
                host_matches(pattern, s.family, addr, port)
            }
            Pred::Dev(ifindex) => s.ifindex == *ifindex,
            Pred::Proto(p) => s.proto == *p,
            Pred::Family(f) => s.family == *f,
            Pred::Proc(NamePattern(pattern)) => {
                s.inode != 0 && owners.any(s.inode, &mut |_, name| glob_match(pattern, name))
            }
            Pred::Pid(want) => s.inode != 0 && owners.any(s.inode, &mut |pid, _| pid == *want),
            Pred::Uid(uid) => s.uid == *uid,
            Pred::Inode(inode) => s.inode == *inode,
            Pred::Idle { op, ms } => s
                .idle_ms()
                .is_some_and(|idle| op.test(u64::from(idle), *ms)),
            Pred::Keepalive => s.has_keepalive_timer(),
            Pred::Retrans { op, count } => op.test(retransmissions(s), *count),
            Pred::Unacked { op, count } => {
                s.tcp.is_some_and(|t| op.test(u64::from(t.unacked), *count))
            }
            Pred::RecvQ { op, bytes } => op.test(u64::from(s.recv_q), *bytes),
            Pred::SendQ { op, bytes } => op.test(u64::from(s.send_q), *bytes),
            Pred::Timer(kind) => s.timer.kind == *kind,
            // Id 0 (no cgroup) is never a cgroup's id.
            Pred::Cgroup { id, .. } => s.cgroup_id == *id,
            Pred::Unit(NamePattern(pattern)) => owners
                .service(s.cgroup_id)
                .is_some_and(|svc| svc.in_unit(pattern)),
            Pred::Container(name) => owners
                .service(s.cgroup_id)
                .is_some_and(|svc| svc.in_container(name)),
            Pred::Pod(name) => owners
                .service(s.cgroup_id)
                .is_some_and(|svc| svc.in_pod(name)),
        }
    }
}

fn side_port(s: &Socket, side: Side) -> u16 {
    match side {
        Side::Local => s.local_port,
        Side::Remote => s.remote_port,
    }
}

/// The `retrans` value: the larger of the pending retransmit/probe timer's count and tcp_info's
/// `retransmits` (consecutive retransmissions of the current segment).
pub fn retransmissions(s: &Socket) -> u64 {
    let timer = match s.timer.kind {
        TimerKind::On | TimerKind::Persist => s.timer.count,
        _ => 0,
    };
    let info = s.tcp.map_or(0, |t| t.retransmits);
    u64::from(timer.max(info))
}

/// The kernel's host condition: port (if any), then the prefix (if any); an IPv4 prefix also matches
/// a v4-mapped address on an IPv6 socket.
pub fn host_matches(pattern: &HostPattern, family: Family, addr: &Addr, port: u16) -> bool {
    if pattern.port.is_some_and(|p| p != port) {
        return false;
    }
    let Some(net) = pattern.net else {
        return true;
    };
    let bits = usize::from(net.prefix_len);
    match (net.family, family) {
        (Family::V4, Family::V4) => prefix_match(&addr.bytes[..4], &net.addr.bytes[..4], bits),
        (Family::V6, Family::V6) => prefix_match(&addr.bytes, &net.addr.bytes, bits),
        (Family::V4, Family::V6) => {
            let b = &addr.bytes;
            let mapped = b[..10].iter().all(|&x| x == 0) && b[10] == 0xff && b[11] == 0xff;
            mapped && prefix_match(&b[12..16], &net.addr.bytes[..4], bits)
        }
        (Family::V6, Family::V4) => false,
    }
}

/// Match `name` against `pattern`, where `*` stands for any run of characters.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == name;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Classic wildcard matching with one backtrack point (the last `*`).
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("nginx", "nginx"));
        assert!(!glob_match("nginx", "nginx2"));
        assert!(glob_match("nginx*", "nginx: worker"));
        assert!(glob_match("*worker", "nginx: worker"));
        assert!(glob_match("n*x*r", "nginx: worker"));
        assert!(glob_match("*", ""));
        assert!(glob_match("**a**", "bab"));
        assert!(!glob_match("a*b", "ac"));
        assert!(glob_match("a*b*c", "aXbYbc"));
        assert!(!glob_match("", "a"));
        assert!(glob_match("", ""));
    }
}
