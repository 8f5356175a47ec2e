//! The filter language as a fuzz target. Inputs: well-formed filters built from the grammar (so the
//! deeper stages run), those with a few characters changed, random sequences of the language's words
//! and symbols (every word of `--help` included), random unicode and bytes, and very long or deeply
//! nested inputs, split into shell words at random.
//!
//! Properties: no panic; an error prints as one line of bounded length whatever the input's size; a
//! filter that parses prints as text that parses back to the same text and the same decisions; its
//! kernel part (state mask, protocols, families, compiled bytecode run as the kernel runs it) accepts
//! every socket the filter accepts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand::RngExt;
use sockdoc_core::filter::{help_text, keywords, predicate_keywords, Filter};
use sockdoc_core::Owners;
use sockdoc_diag::bytecode::run;
use sockdoc_diag::{
    parse_replies, Addr, CaState, Family, Proto, Socket, State, TcpInfo, Timer, TimerKind,
};

use crate::runner::{Rng, Stats, Target};

/// The longest error message accepted, in bytes, whatever the input: errors quote the offending word
/// shortened, never whole.
const MAX_ERROR_LEN: usize = 600;

/// Words besides the language's keywords ([`keywords`]): the aliases the parser also takes, and
/// words of `ss` that sockdoc does not have.
const MORE_WORDS: &[&str] = &[
    "excl",
    "inet",
    "inet6",
    "listen",
    "autobound",
    "fwmark",
    "cgroup",
];

const SYMBOLS: &[&str] = &[
    "(", ")", "!", "&", "&&", "|", "||", "=", "==", "!=", "<", "<=", ">", ">=", "'", "\"", "eq",
    "ne", "lt", "le", "gt", "ge", "''", "\"\"", "'( '", "' )'",
];

const STATES: &[&str] = &[
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

const PORTS: &[&str] = &[
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

const ADDRS: &[&str] = &[
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

const DURATIONS: &[&str] = &[
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

const NUMBERS: &[&str] = &[
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

const NAMES: &[&str] = &[
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
const ODD_CHARS: &[char] = &[
    '(', ')', '!', '&', '|', '=', '<', '>', '\'', '"', ' ', '\t', '\n', '\u{a0}', '\u{3000}',
    '\u{2028}', '\u{200b}', '\u{feff}', '\u{301}', 'é', 'ß', 'İ', '中', '🦀', '\u{202e}', '\0',
    ':', '/', '[', ']', '*', '%', '\\', '-', '_', '.',
];

pub struct FilterTarget {
    /// The language's keywords and [`MORE_WORDS`].
    words: Vec<&'static str>,
    vocab: Vec<String>,
    samples: Vec<Socket>,
}

/// Owners for evaluation: a few names, one with a space, by inode.
struct FakeOwners;

impl Owners for FakeOwners {
    fn any(&self, inode: u32, f: &mut dyn FnMut(u32, &str) -> bool) -> bool {
        const NAMES: &[&str] = &["nginx", "Web Content", "sshd", "a*b", "vsftpd"];
        if inode == 0 {
            return false;
        }
        let name = NAMES[inode as usize % NAMES.len()];
        f(inode % 1000, name) || (inode.is_multiple_of(3) && f(inode % 1000 + 1, "worker"))
    }
}

fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.random_range(0..xs.len())]
}

fn random_ip(rng: &mut Rng) -> IpAddr {
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

fn random_socket(rng: &mut Rng) -> Socket {
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
fn argument(rng: &mut Rng, keyword: &str) -> String {
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
        _ => match rng.random_range(0..2) {
            0 => pick(rng, NUMBERS).to_string(),
            _ => rng.random_range(0..5000u32).to_string(),
        },
    }
}

/// A predicate written the way users write them.
fn predicate(rng: &mut Rng) -> String {
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
fn expr(rng: &mut Rng, depth: u32) -> String {
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

fn random_word(rng: &mut Rng) -> String {
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
fn mutate_text(rng: &mut Rng, text: &str) -> String {
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
fn huge(rng: &mut Rng) -> String {
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
fn split(rng: &mut Rng, text: String) -> Vec<String> {
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

impl Target for FilterTarget {
    const NAME: &'static str = "filter";
    const STATS: &'static [&'static str] =
        &["parsed", "rejected", "with-bytecode", "matched", "empty"];
    type Input = Vec<String>;

    fn new() -> Self {
        let words: Vec<&'static str> = keywords().chain(MORE_WORDS.iter().copied()).collect();
        let mut vocab: Vec<String> = words
            .iter()
            .chain(SYMBOLS)
            .chain(STATES)
            .chain(PORTS)
            .chain(ADDRS)
            .chain(DURATIONS)
            .chain(NUMBERS)
            .chain(NAMES)
            .map(|s| s.to_string())
            .collect();
        // Every word of the filter reference.
        vocab.extend(help_text().split_whitespace().map(str::to_string));
        vocab.sort();
        vocab.dedup();
        let mut samples = Vec::new();
        for (dump, proto) in [
            (
                &include_bytes!("../../sockdoc-diag/tests/data/tcp4.bin")[..],
                Proto::Tcp,
            ),
            (
                &include_bytes!("../../sockdoc-diag/tests/data/tcp6.bin")[..],
                Proto::Tcp,
            ),
            (
                &include_bytes!("../../sockdoc-diag/tests/data/udp4.bin")[..],
                Proto::Udp,
            ),
        ] {
            // The fixtures parse (the diag tests prove it); an error leaves fewer samples.
            let _ = parse_replies(dump, proto, &mut |s| samples.push(*s));
        }
        FilterTarget {
            words,
            vocab,
            samples,
        }
    }

    fn generate(&mut self, rng: &mut Rng) -> Vec<String> {
        let text = match rng.random_range(0..100) {
            0..=34 => {
                let d = rng.random_range(0..5);
                expr(rng, d)
            }
            35..=49 => {
                let d = rng.random_range(0..4);
                let e = expr(rng, d);
                mutate_text(rng, &e)
            }
            50..=84 => {
                let n = if rng.random_bool(0.9) {
                    rng.random_range(0..12)
                } else {
                    rng.random_range(0..300)
                };
                let mut words = Vec::with_capacity(n);
                for _ in 0..n {
                    words.push(match rng.random_range(0..10) {
                        0..=6 => self.vocab[rng.random_range(0..self.vocab.len())].clone(),
                        7 => {
                            let k = pick(rng, &self.words);
                            argument(rng, k)
                        }
                        8 => pick(rng, SYMBOLS).to_string(),
                        _ => random_word(rng),
                    });
                }
                let sep = if rng.random_bool(0.9) { " " } else { "" };
                words.join(sep)
            }
            85..=91 => random_word(rng) + &random_word(rng),
            92..=96 => {
                let bytes: Vec<u8> = (0..rng.random_range(0..64)).map(|_| rng.random()).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            _ => huge(rng),
        };
        split(rng, text)
    }

    fn check(&mut self, words: &Vec<String>, stats: &mut Stats) -> Result<(), String> {
        let filter = match Filter::parse(words) {
            Err(e) => {
                stats.bump(1);
                let msg = e.to_string();
                if msg.len() > MAX_ERROR_LEN {
                    return Err(format!(
                        "error message of {} bytes: {}...",
                        msg.len(),
                        msg.chars().take(120).collect::<String>()
                    ));
                }
                if msg.contains('\n') {
                    return Err(format!("error message of several lines: {msg:?}"));
                }
                return Ok(());
            }
            Ok(f) => f,
        };
        stats.bump(0);
        if filter.is_empty() {
            stats.bump(4);
        }
        let _ = (filter.needs_processes(), filter.needs_tcp_info());
        let mask = filter.state_mask();
        let (tcp, udp) = filter.protocols();
        let (v4, v6) = filter.families();
        let program = filter.kernel_filter().and_then(|bc| {
            let _ = bc.encoded_len();
            bc.compile()
        });
        if program.is_some() {
            stats.bump(2);
        }
        // Printed and parsed back: the same text and the same decisions.
        let text = filter.to_string();
        let again = Filter::parse(std::slice::from_ref(&text))
            .map_err(|e| format!("canonical text {text:?} does not parse: {e}"))?;
        if again.to_string() != text {
            return Err(format!(
                "canonical text {text:?} prints back as {:?}",
                again.to_string()
            ));
        }
        let owners = FakeOwners;
        for s in &self.samples {
            check_socket(
                &filter,
                &again,
                s,
                mask,
                (tcp, udp),
                (v4, v6),
                &program,
                &owners,
                stats,
            )?;
        }
        // A few random sockets, from a generator seeded by the input (reproducible from the input).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for w in words {
            for b in w.bytes().take(256) {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
        }
        let mut rng = <Rng as rand::SeedableRng>::seed_from_u64(h);
        for _ in 0..4 {
            let s = random_socket(&mut rng);
            check_socket(
                &filter,
                &again,
                &s,
                mask,
                (tcp, udp),
                (v4, v6),
                &program,
                &owners,
                stats,
            )?;
        }
        Ok(())
    }

    fn to_bytes(words: &Vec<String>) -> Vec<u8> {
        // One word per line, as `xargs -d '\n'` would pass them back.
        words.join("\n").into_bytes()
    }

    fn describe(words: &Vec<String>) -> String {
        let d = format!("{words:?}");
        if d.len() > 300 {
            let cut: String = d.chars().take(300).collect();
            format!("{cut}... ({} bytes)", d.len())
        } else {
            d
        }
    }
}

/// The filter's decision on `s` against its kernel part and its reprinted self.
#[allow(clippy::too_many_arguments)]
fn check_socket(
    filter: &Filter,
    again: &Filter,
    s: &Socket,
    mask: u32,
    (tcp, udp): (bool, bool),
    (v4, v6): (bool, bool),
    program: &Option<Vec<u8>>,
    owners: &dyn Owners,
    stats: &mut Stats,
) -> Result<(), String> {
    let m = filter.matches(s, owners);
    if again.matches(s, owners) != m {
        return Err(format!(
            "the reprinted filter {again} decides {} {} -> {} differently",
            s.state.key(),
            s.local_addr(),
            s.remote_addr()
        ));
    }
    if !m {
        return Ok(());
    }
    stats.bump(3);
    let where_ = || {
        format!(
            "{} {} -> {}",
            s.state.key(),
            s.local_addr(),
            s.remote_addr()
        )
    };
    if mask & s.state.mask_bit() == 0 {
        return Err(format!(
            "state mask {mask:#x} drops a matching {}",
            where_()
        ));
    }
    let proto_ok = match s.proto {
        Proto::Tcp => tcp,
        Proto::Udp => udp,
    };
    let family_ok = match s.family {
        Family::V4 => v4,
        Family::V6 => v6,
    };
    if !proto_ok || !family_ok {
        return Err(format!(
            "protocol/family pushdown drops a matching {}",
            where_()
        ));
    }
    if let Some(prog) = program {
        let verdict = run(
            prog,
            s.local_port,
            s.remote_port,
            s.family,
            &s.local,
            &s.remote,
            s.ifindex,
        );
        if verdict != Some(true) {
            return Err(format!(
                "kernel bytecode says {verdict:?} for a matching {}",
                where_()
            ));
        }
    }
    Ok(())
}
