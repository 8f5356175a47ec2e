//! Kernel filter programs: compiled layout checks against the kernel's audit rules, and the emulator in
//! `bytecode::run` agreeing with direct evaluation on random expressions.

use proptest::prelude::*;
use sockdoc_diag::bytecode::{prefix_match, run, Subject};
use sockdoc_diag::{Addr, BcExpr, Family, HostCond};

/// The kernel's `inet_diag_bc_audit`, restated: walk by `yes`, every `no` lands on an op boundary or
/// exactly at the end or 4 past it.
fn audit(prog: &[u8]) -> bool {
    let mut starts = Vec::new();
    let mut pc = 0usize;
    while pc < prog.len() {
        starts.push(pc);
        let code = prog[pc];
        let yes = usize::from(prog[pc + 1]);
        let min = match code {
            2..=5 | 9 => 8,
            13 => 12,
            7 | 8 => {
                12 + if prog[pc + 4] == 2 {
                    4
                } else if prog[pc + 4] == 10 {
                    16
                } else {
                    0
                }
            }
            _ => 4,
        };
        if yes < min || yes % 4 != 0 || pc + yes > prog.len() {
            return false;
        }
        pc += yes;
    }
    if pc != prog.len() {
        return false;
    }
    for &s in &starts {
        let no = usize::from(u16::from_ne_bytes([prog[s + 2], prog[s + 3]]));
        let target = s + no;
        let ok = target == prog.len() || target == prog.len() + 4 || starts.contains(&target);
        if !ok || no % 4 != 0 || no < 4 {
            return false;
        }
    }
    true
}

#[derive(Clone, Debug)]
struct Sock {
    sport: u16,
    dport: u16,
    family: Family,
    src: Addr,
    dst: Addr,
    ifindex: u32,
    cgroup_id: u64,
}

impl Sock {
    fn subject(&self) -> Subject<'_> {
        Subject {
            sport: self.sport,
            dport: self.dport,
            family: self.family,
            src: &self.src,
            dst: &self.dst,
            ifindex: self.ifindex,
            cgroup_id: self.cgroup_id,
        }
    }
}

fn eval(e: &BcExpr, s: &Sock) -> bool {
    match e {
        BcExpr::And(a, b) => eval(a, s) && eval(b, s),
        BcExpr::Or(a, b) => eval(a, s) || eval(b, s),
        BcExpr::Not(a) => !eval(a, s),
        BcExpr::SportGe(p) => s.sport >= *p,
        BcExpr::SportLe(p) => s.sport <= *p,
        BcExpr::DportGe(p) => s.dport >= *p,
        BcExpr::DportLe(p) => s.dport <= *p,
        BcExpr::Src(h) => host(h, s.family, &s.src, s.sport),
        BcExpr::Dst(h) => host(h, s.family, &s.dst, s.dport),
        BcExpr::Dev(i) => s.ifindex == *i,
        BcExpr::Cgroup(id) => s.cgroup_id == *id,
    }
}

fn host(h: &HostCond, family: Family, a: &Addr, port: u16) -> bool {
    if h.port.is_some_and(|p| p != port) {
        return false;
    }
    match h.family {
        None => true,
        Some(f) if f == family => prefix_match(&a.bytes, &h.addr.bytes, usize::from(h.prefix_len)),
        Some(Family::V4) => {
            let b = &a.bytes;
            b[..10].iter().all(|&x| x == 0)
                && b[10] == 0xff
                && b[11] == 0xff
                && prefix_match(&b[12..], &h.addr.bytes, usize::from(h.prefix_len))
        }
        Some(_) => false,
    }
}

fn arb_addr() -> impl Strategy<Value = Addr> {
    prop_oneof![
        Just(Addr::from_ip("10.1.2.3".parse().expect("ip"))),
        Just(Addr::from_ip("10.1.9.9".parse().expect("ip"))),
        Just(Addr::from_ip("127.0.0.1".parse().expect("ip"))),
    ]
}

fn arb_leaf() -> impl Strategy<Value = BcExpr> {
    let port = prop_oneof![
        Just(0u16),
        Just(21),
        Just(80),
        Just(1024),
        Just(65535),
        any::<u16>()
    ];
    prop_oneof![
        port.clone().prop_map(BcExpr::SportGe),
        port.clone().prop_map(BcExpr::SportLe),
        port.clone().prop_map(BcExpr::DportGe),
        port.clone().prop_map(BcExpr::DportLe),
        (arb_addr(), 0u8..=32, proptest::option::of(Just(80u16))).prop_map(
            |(addr, prefix_len, port)| {
                BcExpr::Src(HostCond {
                    family: Some(Family::V4),
                    addr,
                    prefix_len,
                    port,
                })
            }
        ),
        (arb_addr(), 0u8..=32).prop_map(|(addr, prefix_len)| {
            BcExpr::Dst(HostCond {
                family: Some(Family::V4),
                addr,
                prefix_len,
                port: None,
            })
        }),
        Just(BcExpr::Dst(HostCond {
            family: None,
            addr: Addr::default(),
            prefix_len: 0,
            port: Some(21)
        })),
        (1u32..3).prop_map(BcExpr::Dev),
        (0u64..3).prop_map(BcExpr::Cgroup),
    ]
}

fn arb_expr() -> impl Strategy<Value = BcExpr> {
    arb_leaf().prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| BcExpr::and(a, b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| BcExpr::or(a, b)),
            inner.prop_map(BcExpr::negate),
        ]
    })
}

fn arb_sock() -> impl Strategy<Value = Sock> {
    let port = prop_oneof![
        Just(0u16),
        Just(21),
        Just(80),
        Just(1024),
        Just(65535),
        any::<u16>()
    ];
    (
        port.clone(),
        port,
        arb_addr(),
        arb_addr(),
        any::<bool>(),
        1u32..3,
        0u64..3,
    )
        .prop_map(|(sport, dport, src, dst, mapped, ifindex, cgroup_id)| {
            if mapped {
                let v6 = |a: Addr| {
                    let mut b = [0u8; 16];
                    b[10] = 0xff;
                    b[11] = 0xff;
                    b[12..].copy_from_slice(&a.bytes[..4]);
                    Addr { bytes: b }
                };
                Sock {
                    sport,
                    dport,
                    family: Family::V6,
                    src: v6(src),
                    dst: v6(dst),
                    ifindex,
                    cgroup_id,
                }
            } else {
                Sock {
                    sport,
                    dport,
                    family: Family::V4,
                    src,
                    dst,
                    ifindex,
                    cgroup_id,
                }
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
    #[test]
    fn compiled_programs_pass_audit_and_agree(e in arb_expr(), s in arb_sock()) {
        let prog = e.compile().expect("program fits");
        prop_assert!(audit(&prog), "audit failed for {e:?}: {prog:?}");
        let got = run(&prog, &s.subject());
        prop_assert_eq!(got, Some(eval(&e, &s)), "{:?} on {:?}", e, s);
    }
}

fn sock(sport: u16, cgroup_id: u64) -> Sock {
    Sock {
        sport,
        dport: 5,
        family: Family::V4,
        src: Addr::default(),
        dst: Addr::default(),
        ifindex: 0,
        cgroup_id,
    }
}

#[test]
fn port_equality_program() {
    let p = BcExpr::sport_eq(21).compile().expect("program fits");
    assert_eq!(run(&p, &sock(21, 0).subject()), Some(true));
    assert_eq!(run(&p, &sock(22, 0).subject()), Some(false));
    assert_eq!(run(&p, &sock(20, 0).subject()), Some(false));
}

/// `INET_DIAG_BC_CGROUP_COND` (13): the op with `yes` 12, then the id in host order.
#[test]
fn cgroup_program_layout() {
    let id = 0x0102_0304_0506_0708u64;
    let p = BcExpr::Cgroup(id).compile().expect("program fits");
    let mut want = vec![13u8, 12];
    want.extend_from_slice(&16u16.to_ne_bytes());
    want.extend_from_slice(&id.to_ne_bytes());
    assert_eq!(p, want);
    assert!(audit(&p));
    assert_eq!(run(&p, &sock(1, id).subject()), Some(true));
    assert_eq!(run(&p, &sock(1, id + 1).subject()), Some(false));
    assert_eq!(run(&p, &sock(1, 0).subject()), Some(false));
}
