//! Property tests: printing round-trips, pushdown soundness against the kernel emulator, and parser
//! robustness on arbitrary input.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use sockdoc_diag::bytecode::{run, Subject};
use sockdoc_diag::{Addr, Family, Proto, Socket, State, TcpInfo, Timer, TimerKind};

use super::{try_parse, FakeOwners};
use crate::filter::ast::{CmpOp, Expr, HostPattern, NamePattern, Net, Pred, Side, StateSet};
use crate::filter::Filter;

fn owners() -> FakeOwners {
    FakeOwners::default()
        .with(1, 42, "vsftpd")
        .with(2, 7, "nginx")
        .with(2, 8, "Web Content")
        .with(3, 9, "(sd-pam)")
        .with(4, 10, "it's")
}

fn ip(s: &str) -> Addr {
    Addr::from_ip(s.parse().expect("test address"))
}

// ---- sockets ----

fn v4_addr() -> impl Strategy<Value = Addr> {
    prop_oneof![
        Just(ip("10.0.0.1")),
        Just(ip("10.1.2.3")),
        Just(ip("192.168.1.5")),
        Just(ip("127.0.0.1")),
        Just(ip("0.0.0.0")),
        any::<[u8; 4]>().prop_map(|b| {
            let mut a = Addr::default();
            a.bytes[..4].copy_from_slice(&b);
            a
        }),
    ]
}

fn v6_addr() -> impl Strategy<Value = Addr> {
    prop_oneof![
        Just(ip("::1")),
        Just(ip("::")),
        Just(ip("2001:db8::5")),
        Just(ip("2001:db8:1::9")),
        Just(ip("::ffff:10.1.2.3")),
        Just(ip("::ffff:192.168.1.5")),
        Just(ip("fe80::1")),
        any::<[u8; 16]>().prop_map(|bytes| Addr { bytes }),
    ]
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![
        prop::sample::select(vec![
            0u16, 1, 21, 22, 80, 443, 1023, 1024, 1025, 65534, 65535
        ]),
        any::<u16>(),
    ]
}

fn state() -> impl Strategy<Value = State> {
    prop::sample::select(State::ALL.to_vec())
}

fn timer_kind() -> impl Strategy<Value = TimerKind> {
    prop::sample::select(vec![
        TimerKind::Off,
        TimerKind::On,
        TimerKind::Keepalive,
        TimerKind::TimeWait,
        TimerKind::Persist,
    ])
}

fn duration_ms() -> impl Strategy<Value = u32> {
    prop_oneof![
        prop::sample::select(vec![
            0u32, 499, 500, 1_000, 30_000, 300_000, 7_200_000, 86_400_000
        ]),
        any::<u32>(),
    ]
}

fn tcp_info() -> impl Strategy<Value = TcpInfo> {
    (duration_ms(), duration_ms(), duration_ms(), 0u8..6, 0u32..5).prop_map(
        |(sent, recv, ack, retransmits, unacked)| TcpInfo {
            last_data_sent_ms: sent,
            last_data_recv_ms: recv,
            last_ack_recv_ms: ack,
            retransmits,
            unacked,
            ..TcpInfo::default()
        },
    )
}

fn socket() -> impl Strategy<Value = Socket> {
    let addrs = prop_oneof![
        (Just(Family::V4), v4_addr(), v4_addr()),
        (Just(Family::V6), v6_addr(), v6_addr()),
    ];
    (
        addrs,
        (port(), port()),
        (prop::bool::ANY, state(), timer_kind(), 0u8..6),
        (0u32..4, 0u32..6, 0u32..3),
        (0u32..20, 0u32..20),
        prop::option::of(tcp_info()),
    )
        .prop_map(
            |(
                (family, local, remote),
                (local_port, remote_port),
                (udp, state, kind, count),
                (ifindex, inode, uid),
                (recv_q, send_q),
                tcp,
            )| Socket {
                local,
                remote,
                cookie: 0,
                local_port,
                remote_port,
                proto: if udp { Proto::Udp } else { Proto::Tcp },
                family,
                state,
                timer: Timer {
                    kind,
                    expires_ms: 0,
                    count,
                },
                ifindex,
                inode,
                uid,
                recv_q,
                send_q,
                cgroup_id: 0,
                tcp,
            },
        )
}

// ---- filters ----

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ])
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Local), Just(Side::Remote)]
}

fn state_set() -> impl Strategy<Value = StateSet> {
    prop::collection::vec(state(), 0..5).prop_map(|v| StateSet::of(&v))
}

fn net() -> impl Strategy<Value = Net> {
    prop_oneof![
        (v4_addr(), 0u8..=32).prop_map(|(addr, prefix_len)| Net {
            family: Family::V4,
            addr,
            prefix_len
        }),
        (v6_addr(), 0u8..=128).prop_map(|(addr, prefix_len)| Net {
            family: Family::V6,
            addr,
            prefix_len
        }),
        prop::sample::select(vec![
            (Family::V4, "10.0.0.0", 8),
            (Family::V4, "10.1.2.3", 32),
            (Family::V4, "192.168.0.0", 16),
            (Family::V4, "0.0.0.0", 0),
            (Family::V4, "127.0.0.0", 8),
            (Family::V6, "::ffff:127.0.0.1", 128),
            (Family::V6, "::1", 128),
            (Family::V6, "2001:db8::", 32),
            (Family::V6, "::ffff:10.0.0.0", 104),
            (Family::V6, "::", 0),
        ])
        .prop_map(|(family, a, prefix_len)| Net {
            family,
            addr: ip(a),
            prefix_len
        }),
    ]
}

fn host_pattern() -> impl Strategy<Value = HostPattern> {
    (prop::option::of(net()), prop::option::of(port()))
        .prop_map(|(net, port)| HostPattern { net, port })
}

/// Predicates the kernel can apply: states, ports, addresses, interfaces.
fn pushable_pred() -> impl Strategy<Value = Pred> {
    prop_oneof![
        state_set().prop_map(Pred::States),
        (side(), cmp_op(), port()).prop_map(|(side, op, port)| Pred::Port { side, op, port }),
        (side(), host_pattern()).prop_map(|(side, pattern)| Pred::Host { side, pattern }),
        (0u32..4).prop_map(Pred::Dev),
    ]
}

/// Predicates only user space can decide.
fn user_space_pred() -> impl Strategy<Value = Pred> {
    let names = prop::sample::select(vec![
        "vsftpd",
        "nginx",
        "nginx*",
        "*d",
        "Web Content",
        "(sd-pam)",
        "it's",
        "*",
    ]);
    prop_oneof![
        prop_oneof![Just(Proto::Tcp), Just(Proto::Udp)].prop_map(Pred::Proto),
        prop_oneof![Just(Family::V4), Just(Family::V6)].prop_map(Pred::Family),
        names.prop_map(|n| Pred::Proc(NamePattern(n.to_string()))),
        prop::sample::select(vec![7u32, 8, 9, 10, 42, 1]).prop_map(Pred::Pid),
        (0u32..3).prop_map(Pred::Uid),
        (0u32..6).prop_map(Pred::Inode),
        (cmp_op(), duration_ms()).prop_map(|(op, ms)| Pred::Idle {
            op,
            ms: u64::from(ms)
        }),
        Just(Pred::Keepalive),
        (cmp_op(), 0u64..7).prop_map(|(op, count)| Pred::Retrans { op, count }),
        (cmp_op(), 0u64..6).prop_map(|(op, count)| Pred::Unacked { op, count }),
        (cmp_op(), 0u64..21).prop_map(|(op, bytes)| Pred::RecvQ { op, bytes }),
        (cmp_op(), 0u64..21).prop_map(|(op, bytes)| Pred::SendQ { op, bytes }),
        timer_kind().prop_map(Pred::Timer),
    ]
}

fn any_pred() -> impl Strategy<Value = Pred> {
    prop_oneof![pushable_pred(), user_space_pred()]
}

/// Random trees over `leaf`, built with the raw constructors (unflattened, double negations kept).
fn expr(leaf: impl Strategy<Value = Pred> + 'static) -> impl Strategy<Value = Expr> {
    leaf.prop_map(Expr::Pred).prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner, 2..4).prop_map(Expr::Or),
        ]
    })
}

fn filter_of(e: Expr) -> Filter {
    Filter { expr: Some(e) }
}

/// The filter's pushdown as the kernel gets it: a state mask and a compiled program.
struct KernelSide {
    mask: u32,
    code: Option<Vec<u8>>,
}

impl KernelSide {
    fn of(f: &Filter) -> KernelSide {
        KernelSide {
            mask: f.state_mask(),
            code: f.kernel_filter().and_then(|p| p.compile()),
        }
    }

    /// What the kernel would do with socket `s`.
    fn accepts(&self, s: &Socket) -> bool {
        let state_ok = self.mask & s.state.mask_bit() != 0;
        let program_ok = self.code.as_ref().is_none_or(|code| {
            let verdict = run(code, &Subject::from(s));
            verdict.expect("well-formed program")
        });
        state_ok && program_ok
    }
}

proptest! {
    // Failing seeds are saved beside this file (prop_tests.regressions), inside the filter module.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    /// (1) Printing a tree and parsing the text back gives a filter that decides every socket the same.
    #[test]
    fn printed_filters_parse_back(e in expr(any_pred()), sockets in prop::collection::vec(socket(), 8)) {
        let text = e.to_string();
        let parsed = try_parse(&text).map_err(|err| TestCaseError::fail(format!("{text:?}: {err}")))?;
        let owners = owners();
        for s in &sockets {
            prop_assert_eq!(parsed.matches(s, &owners), e.matches(s, &owners), "{} on {:?}", text, s);
        }
        // The canonical text is a fixed point.
        let again = parsed.to_string();
        let reparsed = try_parse(&again).map_err(|err| TestCaseError::fail(format!("{again:?}: {err}")))?;
        prop_assert_eq!(reparsed.to_string(), again);
    }

    /// (2) Pushdown is a sound superset for any filter; exact where it says so.
    #[test]
    fn pushdown_is_sound(e in expr(any_pred()), sockets in prop::collection::vec(socket(), 8)) {
        let f = filter_of(e);
        let exact = f.pushdown_is_exact();
        let kernel_side = KernelSide::of(&f);
        let owners = owners();
        for s in &sockets {
            let user = f.matches(s, &owners);
            let kernel = kernel_side.accepts(s);
            if user {
                prop_assert!(kernel, "kernel drops a match of {} : {:?}", f, s);
            }
            if exact {
                prop_assert_eq!(user, kernel, "exact pushdown of {} disagrees on {:?}", f, s);
            }
        }
    }

    /// (2') Filters over kernel-decidable predicates: sound, and exact whenever the pushdown says so,
    /// which it always does for pure-state and pure-program filters.
    #[test]
    fn pushable_filters_push_exactly(e in expr(pushable_pred()), sockets in prop::collection::vec(socket(), 8)) {
        let pure_states = !e.any_pred(&|p| !matches!(p, Pred::States(_)));
        let pure_program = !e.any_pred(&|p| matches!(p, Pred::States(_)));
        let f = filter_of(e);
        let exact = f.pushdown_is_exact();
        if pure_states || pure_program {
            prop_assert!(exact, "{} should push down exactly", f);
        }
        if pure_states {
            prop_assert!(f.kernel_filter().is_none());
        }
        let kernel_side = KernelSide::of(&f);
        for s in &sockets {
            let user = f.matches(s, &crate::NoOwners);
            let kernel = kernel_side.accepts(s);
            if user {
                prop_assert!(kernel, "kernel drops a match of {} : {:?}", f, s);
            }
            if exact {
                prop_assert_eq!(user, kernel, "exact pushdown of {} disagrees on {:?}", f, s);
            }
        }
    }

    /// protocols() never rules out a protocol that has a matching socket.
    #[test]
    fn protocols_are_conservative(e in expr(any_pred()), sockets in prop::collection::vec(socket(), 8)) {
        let f = filter_of(e);
        let (tcp, udp) = f.protocols();
        let (v4, v6) = f.families();
        let owners = owners();
        for s in &sockets {
            // Only sockets the kernel can report: UDP is connected or not, without timers or tcp_info.
            let mut s = *s;
            if s.proto == Proto::Udp {
                if s.state != State::Established {
                    s.state = State::Close;
                }
                s.timer = Timer::default();
                s.tcp = None;
            }
            if f.matches(&s, &owners) {
                prop_assert!(if s.proto == Proto::Tcp { tcp } else { udp }, "{} matches {:?}", f, s);
                prop_assert!(if s.family == Family::V4 { v4 } else { v6 }, "{} matches {:?}", f, s);
            }
        }
    }

    /// (3) Arbitrary text never panics the parser.
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,80}") {
        let _ = Filter::parse(&[text]);
    }

    /// (3) Arbitrary bytes (lossily decoded) never panic the parser.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let _ = Filter::parse(&[String::from_utf8_lossy(&bytes).into_owned()]);
    }

    /// (3) Word salad from the language's own vocabulary never panics, and what parses round-trips.
    #[test]
    fn word_salad_never_panics(words in prop::collection::vec(prop::sample::select(VOCABULARY.to_vec()), 0..14),
                               glue in prop::collection::vec(prop::bool::ANY, 14)) {
        let mut text = String::new();
        for (i, w) in words.iter().enumerate() {
            if i > 0 && glue[i] {
                text.push(' ');
            }
            text.push_str(w);
        }
        if let Ok(f) = try_parse(&text) {
            let canonical = f.to_string();
            let again = try_parse(&canonical).map_err(|err| TestCaseError::fail(format!("{text:?} -> {canonical:?}: {err}")))?;
            prop_assert_eq!(again.to_string(), canonical);
            let _ = (f.state_mask(), f.kernel_filter().and_then(|p| p.compile()), f.protocols());
        }
        let argv: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let _ = Filter::parse(&argv);
    }
}

const VOCABULARY: &[&str] = &[
    "state",
    "exclude",
    "established",
    "listening",
    "all",
    "bucket",
    "(",
    ")",
    "'",
    "\"",
    "!",
    "not",
    "and",
    "or",
    "&&",
    "||",
    "&",
    "|",
    "sport",
    "dport",
    "=",
    "!=",
    "<",
    ">=",
    "lt",
    ":21",
    "22",
    ":ssh",
    ":99999",
    "src",
    "dst",
    "10.0.0.0/8",
    "[::1]:80",
    "::1",
    "*",
    ":80",
    "/33",
    "[",
    "]",
    ":",
    "idle",
    "5m",
    "5x",
    "500ms",
    "proc",
    "nginx*",
    "pid",
    "42",
    "uid",
    "inode",
    "dev",
    "1",
    "tcp",
    "udp",
    "proto",
    "ipv4",
    "ipv6",
    "keepalive",
    "timer",
    "on",
    "retrans",
    "unacked",
    "recvq",
    "sendq",
    "é",
    "",
    " ",
];
