//! Inputs for the filter target: the language's vocabulary (keywords, states, ports, addresses,
//! durations, odd characters), well-formed filters built from the grammar, their mutations, huge and
//! deeply nested inputs, and random sockets to evaluate them on.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand::RngExt;
use sockdoc_core::filter::predicate_keywords;
use sockdoc_diag::{Addr, CaState, Family, Proto, Socket, State, TcpInfo, Timer, TimerKind};

use crate::runner::Rng;

/// Words besides the language's keywords ([`keywords`](sockdoc_core::filter::keywords)): the aliases
/// the parser also takes, and words of `ss` that sockdoc does not have.
pub(super) const MORE_WORDS: &[&str] = &[
    "excl",
    "inet",
    "inet6",
    "listen",
    "autobound",
    "fwmark",
    "cgroup",
];

pub(super) const SYMBOLS: &[&str] = &[
    "(", ")", "!", "&", "&&", "|", "||", "=", "==", "!=", "<", "<=", ">", ">=", "'", "\"", "eq",
    "ne", "lt", "le", "gt", "ge", "''", "\"\"", "'( '", "' )'",
];

pub(super) const STATES: &[&str] = &[
    "established",
    "estab",
    "ESTAB",
    "syn-sent",
    "syn-recv",
    "syn_rcvd",
    "fin-wait-1",
    "fin-wait-2",
    "time-wait",
    "TIME-WAIT",
    "closed",
    "close",
    "unconn",
    "close-wait",
    "last-ack",
    "listening",
    "listen",
    "closing",
    "all",
    "connected",
    "synchronized",
    "bucket",
    "big",
    "nonsense",
];

pub(super) const PORTS: &[&str] = &[
    "0",
    "21",
    ":21",
    ":0",
    "65535",
    ":65535",
    "65536",
    ":65536",
    "ssh",
    ":ssh",
    ":https",
    "http",
    ":",
    "*",
    "-1",
    "99999999999999999999",
    "no-such-service",
];

pub(super) const ADDRS: &[&str] = &[
    "*",
    ":80",
    "*:80",
    "*:*",
    "10.0.0.0/8",
    "10.1.2.3",
    "10.1.2.3:80",
    "10.0.0.0/8:80",
    "127.0.0.1",
    "0.0.0.0/0",
    "::1",
    "::/0",
    "2001:db8::/32",
    "[::1]:80",
    "[2001:db8::/32]:80",
    "[2001:db8::]/32",
    "[*]:22",
    "::ffff:10.1.2.3",
    "fe80::1%lo",
    "1.2.3.4/33",
    "1.2.3.4/",
    "[::1",
    "[::1]x",
    "::1/129",
    "1.2.3",
    "256.1.1.1",
];

pub(super) const DURATIONS: &[&str] = &[
    "0",
    "500ms",
    "30s",
    "5m",
    "2h",
    "1d",
    "1.5s",
    "2h11m",
    "30sec",
    "5min",
    "18446744073709551615d",
    "-1s",
    "s",
    "1y",
];

pub(super) const NUMBERS: &[&str] = &[
    "0",
    "1",
    "42",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "1e3",
    "0x10",
];

/// Cgroup paths of the fake services (ids 1, 2, 3).
pub(super) const SERVICE_PATHS: &[&str] = &[
    "/system.slice/nginx.service/worker",
    "/machine.slice/libpod-4f0b2d3c5e6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e.scope",
    "/kubepods.slice/kubepods-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice/cri-containerd-4f0b2d3c5e6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e.scope",
];

pub(super) const UNITS: &[&str] = &[
    "nginx",
    "nginx.service",
    "system.slice",
    "'ngi*'",
    "*",
    "user@1000.service",
    "a/b",
    "''",
];

pub(super) const CONTAINERS: &[&str] = &[
    "web-1",
    "4f0b2d3c5e6a",
    "4F0B2D3C5E6A7B",
    "4f0b2d3c5e6",
    "nginx",
    "x/y",
];

pub(super) const PODS: &[&str] = &[
    "shop/cart-7",
    "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "a/b/c",
    "/x",
    "shop/",
];

pub(super) const NAMES: &[&str] = &[
    "nginx",
    "'Web Content'",
    "\"Web Content\"",
    "'nginx*'",
    "*",
    "sshd",
    "lo",
    "1",
    "eth0",
    "no-such-if0",
    "on",
    "keepalive",
    "timewait",
    "persist",
    "off",
    "tcp",
    "udp",
    "sctp",
];

/// Characters that stress the lexer: quotes, operators, odd whitespace, multi-byte letters.
pub(super) const ODD_CHARS: &[char] = &[
    '(', ')', '!', '&', '|', '=', '<', '>', '\'', '"', ' ', '\t', '\n', '\u{a0}', '\u{3000}',
    '\u{2028}', '\u{200b}', '\u{feff}', '\u{301}', 'é', 'ß', 'İ', '中', '🦀', '\u{202e}', '\0',
    ':', '/', '[', ']', '*', '%', '\\', '-', '_', '.',
];

pub(super) fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.random_range(0..xs.len())]
}

pub(super) fn random_ip(rng: &mut Rng) -> IpAddr {
    match rng.random_range(0..5) {
        0 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        1 => IpAddr::V4(Ipv4Addr::new(10, rng.random_range(0..3), 0, rng.random())),
        2 => {
            IpAddr::V6(Ipv4Addr::new(10, rng.random_range(0..3), 0, rng.random()).to_ipv6_mapped())
        }
        3 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        _ => IpAddr::V6(Ipv6Addr::from(rng.random::<u128>())),
    }
}

pub(super) fn random_socket(rng: &mut Rng) -> Socket {
    let v6 = rng.random_bool(0.4);
    let ip = |rng: &mut Rng| loop {
        let ip = random_ip(rng);
        if ip.is_ipv6() == v6 {
            return ip;
        }
    };
    let (l, r) = (ip(rng), ip(rng));
    let proto = if rng.random_bool(0.8) {
        Proto::Tcp
    } else {
        Proto::Udp
    };
    let port = |rng: &mut Rng| match rng.random_range(0..3) {
        0 => *[21u16, 22, 80, 443, 0, 65535]
            .get(rng.random_range(0..6))
            .unwrap_or(&0),
        _ => rng.random(),
    };
    // What the kernel reports for UDP: connected or not, no timer, no tcp_info (pushdown relies on it).
    let udp = proto == Proto::Udp;
    let state = if udp {
        [State::Established, State::Close][rng.random_range(0..2)]
    } else {
        State::ALL[rng.random_range(0..State::ALL.len())]
    };
    let timer = if udp {
        Timer::default()
    } else {
        Timer {
            kind: TimerKind::from_kernel(rng.random_range(0..5)),
            expires_ms: rng.random(),
            count: rng.random_range(0..20),
        }
    };
    Socket {
        local: Addr::from_ip(l),
        remote: Addr::from_ip(r),
        cookie: rng.random(),
        local_port: port(rng),
        remote_port: port(rng),
        proto,
        family: if v6 { Family::V6 } else { Family::V4 },
        state,
        timer,
        ifindex: rng.random_range(0..4),
        inode: rng.random_range(0..50),
        uid: rng.random_range(0..3),
        recv_q: rng.random_range(0..2000),
        send_q: rng.random_range(0..2000),
        cgroup_id: rng.random_range(0..4),
        tcp: (!udp && rng.random_bool(0.7)).then(|| TcpInfo {
            ca_state: CaState::from_kernel(rng.random_range(0..6)),
            retransmits: rng.random_range(0..20),
            probes: rng.random_range(0..10),
            backoff: rng.random_range(0..10),
            unacked: rng.random_range(0..100),
            last_data_sent_ms: rng.random(),
            last_data_recv_ms: rng.random(),
            last_ack_recv_ms: rng.random(),
            rtt_us: rng.random(),
            total_retrans: rng.random(),
            bytes_acked: rng.random(),
            bytes_received: rng.random(),
        }),
    }
}

/// A value word for `keyword`, usually well-formed.
pub(super) fn argument(rng: &mut Rng, keyword: &str) -> String {
    if rng.random_bool(0.05) {
        return random_word(rng);
    }
    match keyword {
        "state" | "exclude" => pick(rng, STATES).to_string(),
        "sport" | "dport" => match rng.random_range(0..3) {
            0 => pick(rng, PORTS).to_string(),
            1 => format!(":{}", rng.random_range(0..70_000u32)),
            _ => rng.random::<u16>().to_string(),
        },
        "src" | "dst" => match rng.random_range(0..3) {
            0 => pick(rng, ADDRS).to_string(),
            _ => {
                let ip = random_ip(rng);
                let max = if ip.is_ipv4() { 32 } else { 128 };
                let len = rng.random_range(0..=max + 2);
                match (ip, rng.random_range(0..3)) {
                    (IpAddr::V6(a), 0) => format!("[{a}/{len}]:{}", rng.random::<u16>()),
                    (a, 1) => format!("{a}/{len}"),
                    (IpAddr::V4(a), _) => format!("{a}:{}", rng.random::<u16>()),
                    (a, _) => a.to_string(),
                }
            }
        },
        "idle" => match rng.random_range(0..2) {
            0 => pick(rng, DURATIONS).to_string(),
            _ => format!(
                "{}{}",
                rng.random_range(0..100_000u64),
                pick(rng, &["ms", "s", "m", "h", "d", ""])
            ),
        },
        "proc" => pick(rng, &NAMES[..6]).to_string(),
        "dev" => pick(rng, &["lo", "1", "2", "0", "no-such-if0"]).to_string(),
        "timer" => pick(rng, &NAMES[10..15]).to_string(),
        "proto" => pick(rng, &["tcp", "udp", "TCP", "sctp"]).to_string(),
        // `/` always exists; the others are refused (no such cgroup, `..`, `//`).
        "cgroup" => pick(rng, &["/", "''", "/sdfuzz-none.slice", "/a/../b", "a//b"]).to_string(),
        "unit" => pick(rng, UNITS).to_string(),
        "container" => pick(rng, CONTAINERS).to_string(),
        "pod" => pick(rng, PODS).to_string(),
        _ => match rng.random_range(0..2) {
            0 => pick(rng, NUMBERS).to_string(),
            _ => rng.random_range(0..5000u32).to_string(),
        },
    }
}

/// A predicate written the way users write them.
pub(super) fn predicate(rng: &mut Rng) -> String {
    let k = pick(rng, predicate_keywords());
    let op = |rng: &mut Rng, all: bool| -> &'static str {
        let ops: &[&str] = if all {
            &[
                "", "=", "==", "!=", "<", "<=", ">", ">=", "eq", "ne", "lt", "le", "gt", "ge",
            ]
        } else {
            &["", "=", "!=", "==", "ne"]
        };
        ops[rng.random_range(0..ops.len())]
    };
    let mut out = k.to_string();
    match k {
        "tcp" | "udp" | "ipv4" | "ipv6" | "keepalive" | "listening" => {}
        "state" | "exclude" => {
            out.push(' ');
            out.push_str(&argument(rng, k));
            while rng.random_bool(0.3) {
                let w = if rng.random_bool(0.6) {
                    "state"
                } else {
                    "exclude"
                };
                out.push_str(&format!(" {w} {}", argument(rng, w)));
            }
        }
        "idle" => {
            let o = op(rng, true);
            let o = if o.is_empty() { ">" } else { o };
            out.push_str(&format!(" {o} {}", argument(rng, k)));
        }
        "sport" | "dport" | "retrans" | "unacked" | "recvq" | "sendq" => {
            let o = op(rng, true);
            out.push_str(&format!(" {o} {}", argument(rng, k)));
        }
        _ => {
            let o = op(rng, false);
            out.push_str(&format!(" {o} {}", argument(rng, k)));
        }
    }
    out
}

/// A well-formed filter of at most `depth` levels.
pub(super) fn expr(rng: &mut Rng, depth: u32) -> String {
    if depth == 0 {
        return predicate(rng);
    }
    match rng.random_range(0..10) {
        0..=3 => predicate(rng),
        4 => format!("{} {}", pick(rng, &["not", "!"]), expr(rng, depth - 1)),
        5 => format!("( {} )", expr(rng, depth - 1)),
        6 => {
            let inner = expr(rng, depth - 1);
            // A quoted group holds no quote of the same kind.
            if !inner.contains('\'') {
                format!("'{inner}'")
            } else if !inner.contains('"') {
                format!("\"{inner}\"")
            } else {
                format!("( {inner} )")
            }
        }
        7 => format!("{} {}", expr(rng, depth - 1), expr(rng, depth - 1)),
        8 => format!(
            "{} {} {}",
            expr(rng, depth - 1),
            pick(rng, &["and", "&&", "&", "AND"]),
            expr(rng, depth - 1)
        ),
        _ => format!(
            "{} {} {}",
            expr(rng, depth - 1),
            pick(rng, &["or", "||", "|", "OR"]),
            expr(rng, depth - 1)
        ),
    }
}

pub(super) fn random_word(rng: &mut Rng) -> String {
    let n = rng.random_range(0..12);
    (0..n)
        .map(|_| match rng.random_range(0..3) {
            0 => ODD_CHARS[rng.random_range(0..ODD_CHARS.len())],
            1 => char::from(rng.random_range(0x20..0x7f_u8)),
            _ => char::from_u32(rng.random_range(0..0x11_0000)).unwrap_or('\u{fffd}'),
        })
        .collect()
}

/// Change a few characters of `text`.
pub(super) fn mutate_text(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..rng.random_range(1..4) {
        let at = rng.random_range(0..=chars.len());
        match rng.random_range(0..4) {
            0 if at < chars.len() => {
                chars.remove(at);
            }
            1 if at < chars.len() => chars[at] = ODD_CHARS[rng.random_range(0..ODD_CHARS.len())],
            2 if at + 1 < chars.len() => chars.swap(at, at + 1),
            _ => chars.insert(at, ODD_CHARS[rng.random_range(0..ODD_CHARS.len())]),
        }
    }
    chars.into_iter().collect()
}

/// Very long or very deep inputs.
pub(super) fn huge(rng: &mut Rng) -> String {
    let n = rng.random_range(1..4000);
    match rng.random_range(0..6) {
        0 => "x".repeat(rng.random_range(100..200_000)),
        1 => format!("proc {}", "é".repeat(rng.random_range(100..100_000))),
        2 => {
            let d = rng.random_range(30..200);
            format!("{}sport = :1{}", "( ".repeat(d), " )".repeat(d))
        }
        3 => format!("{}keepalive", "not ".repeat(rng.random_range(30..200))),
        4 => vec!["sport = :1"; n].join(" or "),
        _ => {
            let d = rng.random_range(20..120);
            let mut s = String::from("tcp");
            for i in 0..d {
                let q = if i % 2 == 0 { '\'' } else { '"' };
                s = format!("{q}{s}{q}");
            }
            s
        }
    }
}

/// Split `text` into shell words at spaces, at random; sometimes add empty words.
pub(super) fn split(rng: &mut Rng, text: String) -> Vec<String> {
    if rng.random_bool(0.5) {
        return vec![text];
    }
    let mut words = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c == ' ' && rng.random_bool(0.5) {
            words.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    words.push(cur);
    if rng.random_bool(0.05) {
        let at = rng.random_range(0..=words.len());
        words.insert(at, pick(rng, &["", " ", "\t"]).to_string());
    }
    words
}
