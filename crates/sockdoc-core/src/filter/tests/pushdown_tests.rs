//! Pushdown and planning tests on fixed filters: state masks, program shapes, protocol scoping.

use sockdoc_diag::bytecode::{run, Subject};
use sockdoc_diag::{Addr, BcExpr, Family, HostCond, State, ALL_STATES_MASK, TCP_NEW_SYN_RECV};

use super::parse;

/// A v4 socket with both ports `port`, for [`run`].
fn at(port: u16, a: &Addr) -> Subject<'_> {
    Subject {
        sport: port,
        dport: port,
        family: Family::V4,
        src: a,
        dst: a,
        ifindex: 0,
        cgroup_id: 0,
    }
}

fn not(a: BcExpr) -> BcExpr {
    BcExpr::Not(Box::new(a))
}

fn or(a: BcExpr, b: BcExpr) -> BcExpr {
    BcExpr::Or(Box::new(a), Box::new(b))
}

fn sport_eq(p: u16) -> BcExpr {
    BcExpr::And(Box::new(BcExpr::SportGe(p)), Box::new(BcExpr::SportLe(p)))
}

fn dport_eq(p: u16) -> BcExpr {
    BcExpr::And(Box::new(BcExpr::DportGe(p)), Box::new(BcExpr::DportLe(p)))
}

fn bits(states: &[State]) -> u32 {
    states.iter().fold(0, |m, s| m | s.mask_bit())
}

#[test]
fn state_masks() {
    let syn_recv = State::SynRecv.mask_bit() | 1 << TCP_NEW_SYN_RECV;
    let cases: &[(&str, u32)] = &[
        ("", ALL_STATES_MASK),
        ("tcp", ALL_STATES_MASK),
        ("state all", ALL_STATES_MASK),
        ("state established", bits(&[State::Established])),
        ("state syn-recv", syn_recv),
        ("state bucket", syn_recv | bits(&[State::TimeWait])),
        (
            "not state listening",
            ALL_STATES_MASK & !State::Listen.mask_bit(),
        ),
        (
            "exclude listening",
            ALL_STATES_MASK & !State::Listen.mask_bit(),
        ),
        ("state established or tcp", ALL_STATES_MASK),
        (
            "state established or state listening",
            bits(&[State::Established, State::Listen]),
        ),
        (
            "state established and sport = :22",
            bits(&[State::Established]),
        ),
        (
            "state established '( sport = :21 )'",
            bits(&[State::Established]),
        ),
        ("not ( state established and sport = :22 )", ALL_STATES_MASK),
        (
            "state established or ( state listening and sport = :22 )",
            bits(&[State::Established, State::Listen]),
        ),
        ("state established and not state established", 0),
        ("exclude all", 0),
        ("not dst *", 0),
        ("listening proc sshd", bits(&[State::Listen])),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text).state_mask(), *want, "{text:?}");
    }
}

#[test]
fn programs() {
    let v4 = |s: &str| Addr::from_ip(s.parse().unwrap());
    let cases: Vec<(&str, Option<BcExpr>)> = vec![
        ("", None),
        ("state established", None),
        ("tcp proc x idle > 5m", None),
        ("sport = :22", Some(sport_eq(22))),
        ("dport = :22", Some(dport_eq(22))),
        ("sport >= :1024", Some(BcExpr::SportGe(1024))),
        ("sport <= :1024", Some(BcExpr::SportLe(1024))),
        ("sport > :1024", Some(BcExpr::SportGe(1025))),
        ("dport < :1024", Some(BcExpr::DportLe(1023))),
        ("sport != :22", Some(not(sport_eq(22)))),
        ("sport = :22 and proc x", Some(sport_eq(22))),
        ("sport = :22 or proc x", None),
        ("state established and sport = :22", Some(sport_eq(22))),
        ("not ( state established and sport = :22 )", None),
        (
            "dst 10.0.0.0/8",
            Some(BcExpr::Dst(HostCond {
                family: Some(Family::V4),
                addr: v4("10.0.0.0"),
                prefix_len: 8,
                port: None,
            })),
        ),
        (
            "src [::1]:80",
            Some(BcExpr::Src(HostCond {
                family: Some(Family::V6),
                addr: v4("::1"),
                prefix_len: 128,
                port: Some(80),
            })),
        ),
        (
            "dst :80",
            Some(BcExpr::Dst(HostCond {
                family: None,
                addr: Addr::default(),
                prefix_len: 0,
                port: Some(80),
            })),
        ),
        ("dst *", None),
        ("not dst *", None),
        ("dev 3", Some(BcExpr::Dev(3))),
        ("not dev 3", Some(not(BcExpr::Dev(3)))),
        (
            "sport = :22 or dport = :22",
            Some(or(sport_eq(22), dport_eq(22))),
        ),
        // Supersets of each side of an `or` still make a superset of the `or`.
        (
            "( state established and sport = :22 ) or dport = :80",
            Some(or(sport_eq(22), dport_eq(80))),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text).kernel_filter(), want, "{text:?}");
    }
}

#[test]
fn port_edges_compile_to_constants() {
    let never = parse("sport < :0").kernel_filter().unwrap();
    let never_too = parse("dport > :65535").kernel_filter().unwrap();
    let always = parse("sport >= :0").kernel_filter().unwrap();
    let a = Addr::default();
    for port in [0u16, 1, 80, 65534, 65535] {
        for prog in [&never, &never_too] {
            assert_eq!(
                run(&prog.compile().expect("program fits"), &at(port, &a)),
                Some(false)
            );
        }
        assert_eq!(
            run(&always.compile().expect("program fits"), &at(port, &a)),
            Some(true)
        );
    }
}

#[test]
fn exactness() {
    let cases = [
        ("", true),
        ("sport = :22", true),
        ("state established sport = :22 dst 10.0.0.0/8", true),
        ("state established or state listening", true),
        ("not state listening", true),
        ("not sport = :22", true),
        (
            "state established sport = :22 or state established dport = :22",
            true,
        ),
        ("state established or state listening sport = :22", false),
        (
            "state established sport = :22 or state listening sport = :22",
            false,
        ),
        ("state established or sport = :22", false),
        ("sport = :22 or proc x", false),
        ("sport = :22 proc x", false),
        ("not ( state established sport = :22 )", false),
        ("tcp", false),
        ("sport = :22 or exclude all", true),
        ("sport = :22 or not src *", true),
        // An exact side with no program and the same states absorbs the other side.
        ("state established or state established sport = :22", true),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text).pushdown_is_exact(), want, "{text:?}");
    }
}

#[test]
fn oversized_programs_are_not_pushed() {
    let ors = (1..=2000)
        .map(|p| format!("sport = :{p}"))
        .collect::<Vec<_>>()
        .join(" or ");
    assert_eq!(parse(&ors).kernel_filter(), None);
    // A long conjunction keeps the conjuncts that fit.
    let ands = (1..=2000)
        .map(|p| format!("sport != :{p}"))
        .collect::<Vec<_>>()
        .join(" ");
    let f = parse(&ands);
    let prog = f.kernel_filter().expect("some conjuncts pushed");
    assert!(prog.encoded_len() <= 4096);
    assert_eq!(
        prog.compile().expect("program fits").len(),
        prog.encoded_len()
    );
    assert!(!f.pushdown_is_exact());
}

#[test]
fn protocols() {
    let cases = [
        ("", (true, true)),
        ("tcp", (true, false)),
        ("proto udp", (false, true)),
        ("not tcp", (false, true)),
        ("tcp udp", (false, false)),
        ("tcp or udp", (true, true)),
        ("state listening", (true, false)),
        ("state established", (true, true)),
        ("state unconn", (true, true)),
        ("state time-wait or udp", (true, true)),
        ("state connected", (true, true)),
        ("state bucket", (true, false)),
        ("keepalive", (true, false)),
        ("not keepalive", (true, true)),
        ("timer on", (true, false)),
        ("timer off", (true, true)),
        ("not timer off", (true, false)),
        ("idle > 5m", (true, false)),
        ("unacked > 0", (true, false)),
        ("retrans > 0", (true, false)),
        ("retrans = 0", (true, true)),
        ("sport = :53", (true, true)),
        ("udp and state listening", (false, false)),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text).protocols(), want, "{text:?}");
    }
}

#[test]
fn families() {
    let cases = [
        ("", (true, true)),
        ("ipv4", (true, false)),
        ("ipv6", (false, true)),
        ("not ipv6", (true, false)),
        ("ipv4 ipv6", (false, false)),
        // An IPv4 prefix also matches v4-mapped IPv6 sockets.
        ("src 10.0.0.0/8", (true, true)),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text).families(), want, "{text:?}");
    }
}
