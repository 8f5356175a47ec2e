//! Kernel-side socket filters: `INET_DIAG_REQ_BYTECODE` programs compiled from a small expression tree.
//!
//! The kernel runs the program on every socket before it formats a reply, so a port or address filter
//! costs nothing in the reply stream. Layout rules (checked by `inet_diag_bc_audit`): every op's `yes`
//! is its own length (programs are walked linearly), `no` is a forward jump; a program accepts a socket
//! when it runs exactly to its end and rejects it when it jumps 4 bytes past the end.

use crate::record::{Addr, Family, Socket};
use crate::wire::bc;

/// The largest program [`BcExpr::compile`] builds.
pub const MAX_PROGRAM: usize = 16 * 1024;

/// A filter the kernel can run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BcExpr {
    And(Box<BcExpr>, Box<BcExpr>),
    Or(Box<BcExpr>, Box<BcExpr>),
    Not(Box<BcExpr>),
    /// Local port >= n.
    SportGe(u16),
    /// Local port <= n.
    SportLe(u16),
    /// Remote port >= n.
    DportGe(u16),
    /// Remote port <= n.
    DportLe(u16),
    /// Local address within a prefix (an IPv4 prefix also matches v4-mapped IPv6 addresses).
    Src(HostCond),
    /// Remote address within a prefix.
    Dst(HostCond),
    /// Bound to interface index.
    Dev(u32),
    /// In the cgroup v2 of this id (`INET_DIAG_BC_CGROUP_COND`: the op, then the id as a u64).
    /// Sockets without a cgroup (TIME-WAIT, request sockets) carry id 0 and never match an id.
    Cgroup(u64),
}

/// An address prefix and optional port, as in `inet_diag_hostcond`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostCond {
    /// `None` matches any family (prefix length must then be 0).
    pub family: Option<Family>,
    pub addr: Addr,
    pub prefix_len: u8,
    pub port: Option<u16>,
}

impl BcExpr {
    pub fn and(a: BcExpr, b: BcExpr) -> BcExpr {
        BcExpr::And(Box::new(a), Box::new(b))
    }
    pub fn or(a: BcExpr, b: BcExpr) -> BcExpr {
        BcExpr::Or(Box::new(a), Box::new(b))
    }
    pub fn negate(a: BcExpr) -> BcExpr {
        BcExpr::Not(Box::new(a))
    }
    /// Local port == n.
    pub fn sport_eq(n: u16) -> BcExpr {
        BcExpr::and(BcExpr::SportGe(n), BcExpr::SportLe(n))
    }
    /// Remote port == n.
    pub fn dport_eq(n: u16) -> BcExpr {
        BcExpr::and(BcExpr::DportGe(n), BcExpr::DportLe(n))
    }

    /// Compile to the kernel's bytecode; `None` when the program would exceed [`MAX_PROGRAM`] bytes
    /// (jump offsets are 16-bit, and the kernel has to copy it): filter in user space then.
    pub fn compile(&self) -> Option<Vec<u8>> {
        if self.encoded_len() > MAX_PROGRAM {
            return None;
        }
        let mut out = Vec::new();
        emit(self, &mut out);
        Some(out)
    }

    /// Length of the compiled program, without building it.
    pub fn encoded_len(&self) -> usize {
        match self {
            BcExpr::And(a, b) => a.encoded_len().saturating_add(b.encoded_len()),
            BcExpr::Or(a, b) => a
                .encoded_len()
                .saturating_add(b.encoded_len())
                .saturating_add(4),
            BcExpr::Not(a) => a.encoded_len().saturating_add(4),
            BcExpr::SportGe(_) | BcExpr::SportLe(_) | BcExpr::DportGe(_) | BcExpr::DportLe(_) => 8,
            BcExpr::Dev(_) => 8,
            BcExpr::Cgroup(_) => 12,
            BcExpr::Src(h) | BcExpr::Dst(h) => match h.family {
                None => 12,
                Some(Family::V4) => 16,
                Some(Family::V6) => 28,
            },
        }
    }
}

/// One op header: code, yes (own length), no (jump, relative to this op).
fn op(out: &mut Vec<u8>, code: u8, yes: u8, no: u16) {
    out.push(code);
    out.push(yes);
    out.extend_from_slice(&no.to_ne_bytes());
}

/// Append `e`'s program to `out`. Inside the fragment, falling off the end means "true" and jumping to
/// `end + 4` means "false".
fn emit(e: &BcExpr, out: &mut Vec<u8>) {
    let start = out.len();
    match e {
        BcExpr::SportGe(p) | BcExpr::SportLe(p) | BcExpr::DportGe(p) | BcExpr::DportLe(p) => {
            let code = match e {
                BcExpr::SportGe(_) => bc::S_GE,
                BcExpr::SportLe(_) => bc::S_LE,
                BcExpr::DportGe(_) => bc::D_GE,
                _ => bc::D_LE,
            };
            // 8 bytes: the op, then a second op whose `no` field carries the port.
            op(out, code, 8, 12);
            op(out, 0, 0, *p);
        }
        BcExpr::Src(h) | BcExpr::Dst(h) => {
            let code = if matches!(e, BcExpr::Src(_)) {
                bc::S_COND
            } else {
                bc::D_COND
            };
            let (fam, alen) = match h.family {
                None => (libc::AF_UNSPEC as u8, 0usize),
                Some(Family::V4) => (libc::AF_INET as u8, 4),
                Some(Family::V6) => (libc::AF_INET6 as u8, 16),
            };
            let len = 4 + 8 + alen;
            op(out, code, len as u8, (len + 4) as u16);
            out.push(fam);
            out.push(if alen == 0 { 0 } else { h.prefix_len });
            out.extend_from_slice(&[0, 0]);
            let port: i32 = h.port.map_or(-1, i32::from);
            out.extend_from_slice(&port.to_ne_bytes());
            out.extend_from_slice(&h.addr.bytes[..alen]);
        }
        BcExpr::Dev(ifindex) => {
            op(out, bc::DEV_COND, 8, 12);
            out.extend_from_slice(&ifindex.to_ne_bytes());
        }
        BcExpr::Cgroup(id) => {
            op(out, bc::CGROUP_COND, 12, 16);
            out.extend_from_slice(&id.to_ne_bytes());
        }
        BcExpr::And(a, b) => {
            emit(a, out);
            let a_end = out.len();
            emit(b, out);
            let end = out.len();
            // a's "false" exits (a_end + 4) must now skip b as well.
            retarget(out, start, a_end, a_end + 4, end + 4);
        }
        BcExpr::Or(a, b) => {
            emit(a, out);
            let a_end = out.len();
            // a true: jump over b to the end. a false lands at a_end + 4, the start of b.
            op(out, bc::JMP, 4, 0);
            emit(b, out);
            let end = out.len();
            let rel = (end - a_end) as u16;
            out[a_end + 2..a_end + 4].copy_from_slice(&rel.to_ne_bytes());
        }
        BcExpr::Not(a) => {
            emit(a, out);
            // a true falls into this jump to "false"; a false lands on our end, i.e. "true".
            op(out, bc::JMP, 4, 8);
        }
    }
}

/// Within `out[from..to]`, make every op whose `no` jumps to absolute `old` jump to absolute `new`.
fn retarget(out: &mut [u8], from: usize, to: usize, old: usize, new: usize) {
    let mut pos = from;
    while pos < to {
        let yes = usize::from(out[pos + 1]);
        let no = usize::from(u16::from_ne_bytes([out[pos + 2], out[pos + 3]]));
        if out[pos] != 0 && pos + no == old {
            let rel = (new - pos) as u16;
            out[pos + 2..pos + 4].copy_from_slice(&rel.to_ne_bytes());
        }
        // A port op's second word has code 0 and yes 0: step over it as part of its owner.
        pos += yes.max(4);
    }
}

/// What a program looks at in one socket (see [`run`]).
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub sport: u16,
    pub dport: u16,
    pub family: Family,
    pub src: &'a Addr,
    pub dst: &'a Addr,
    pub ifindex: u32,
    /// 0 for a socket without a cgroup.
    pub cgroup_id: u64,
}

impl<'a> From<&'a Socket> for Subject<'a> {
    fn from(s: &'a Socket) -> Subject<'a> {
        Subject {
            sport: s.local_port,
            dport: s.remote_port,
            family: s.family,
            src: &s.local,
            dst: &s.remote,
            ifindex: s.ifindex,
            cgroup_id: s.cgroup_id,
        }
    }
}

/// Run a compiled program the way the kernel does, for tests: `Some(true)` accept, `Some(false)` reject,
/// `None` when the program is malformed.
pub fn run(prog: &[u8], sock: &Subject<'_>) -> Option<bool> {
    let Subject {
        sport,
        dport,
        family,
        src,
        dst,
        ifindex,
        cgroup_id,
    } = *sock;
    let mut pc = 0usize;
    let len = prog.len();
    while pc < len {
        let code = *prog.get(pc)?;
        let yes_off = usize::from(*prog.get(pc + 1)?);
        let no_off = usize::from(u16::from_ne_bytes([*prog.get(pc + 2)?, *prog.get(pc + 3)?]));
        let arg16 = |at: usize| -> Option<u16> {
            Some(u16::from_ne_bytes([*prog.get(at + 2)?, *prog.get(at + 3)?]))
        };
        let yes = match code {
            bc::JMP => false,
            bc::S_GE => sport >= arg16(pc + 4)?,
            bc::S_LE => sport <= arg16(pc + 4)?,
            bc::D_GE => dport >= arg16(pc + 4)?,
            bc::D_LE => dport <= arg16(pc + 4)?,
            bc::DEV_COND => {
                let b = prog.get(pc + 4..pc + 8)?;
                ifindex == u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
            }
            bc::CGROUP_COND => {
                let b: [u8; 8] = prog.get(pc + 4..pc + 12)?.try_into().ok()?;
                cgroup_id == u64::from_ne_bytes(b)
            }
            bc::S_COND | bc::D_COND => {
                let fam = *prog.get(pc + 4)?;
                let plen = usize::from(*prog.get(pc + 5)?);
                let pb = prog.get(pc + 8..pc + 12)?;
                let port = i32::from_ne_bytes([pb[0], pb[1], pb[2], pb[3]]);
                let (p, addr) = if code == bc::S_COND {
                    (sport, src)
                } else {
                    (dport, dst)
                };
                let want = prog.get(pc + 12..pc + yes_off)?;
                hostcond_match(fam, plen, port, want, p, family, addr)
            }
            _ => return None,
        };
        let step = if yes { yes_off } else { no_off };
        if step == 0 {
            return None;
        }
        pc += step;
    }
    match pc - len {
        0 => Some(true),
        4 => Some(false),
        _ => None,
    }
}

fn hostcond_match(
    fam: u8,
    plen: usize,
    port: i32,
    want: &[u8],
    p: u16,
    family: Family,
    addr: &Addr,
) -> bool {
    if port != -1 && port != i32::from(p) {
        return false;
    }
    let sock_fam = family as u8;
    if fam != libc::AF_UNSPEC as u8 && fam != sock_fam {
        if family == Family::V6 && fam == libc::AF_INET as u8 {
            let b = &addr.bytes;
            let mapped = b[..10].iter().all(|&x| x == 0) && b[10] == 0xff && b[11] == 0xff;
            return mapped && prefix_match(&b[12..16], want, plen);
        }
        return false;
    }
    plen == 0 || prefix_match(&addr.bytes, want, plen)
}

/// True when the first `bits` bits of `a` and `b` agree.
pub fn prefix_match(a: &[u8], b: &[u8], bits: usize) -> bool {
    let full = bits / 8;
    if a.len() < full || b.len() < full {
        return false;
    }
    if a[..full] != b[..full] {
        return false;
    }
    let rem = bits % 8;
    if rem == 0 {
        return true;
    }
    match (a.get(full), b.get(full)) {
        (Some(x), Some(y)) => {
            let mask = 0xffu8 << (8 - rem);
            x & mask == y & mask
        }
        _ => false,
    }
}
