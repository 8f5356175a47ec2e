//! The netlink reply parser as a fuzz target. Inputs are mostly the captured dumps of
//! `crates/sockdoc-diag/tests/data` with a few structure-aware mutations each, some messages built from
//! scratch, and some plain random bytes. Properties: no panic; never more sockets than the bytes could
//! hold; every error prints.

use rand::RngExt;
use sockdoc_diag::parse::{parse_socket, parse_tcp_info};
use sockdoc_diag::wire::{self, msg};
use sockdoc_diag::{parse_replies, DiagError, Proto};

use crate::runner::{Rng, Stats, Target};

const TCP4: &[u8] = include_bytes!("../../sockdoc-diag/tests/data/tcp4.bin");
const TCP6: &[u8] = include_bytes!("../../sockdoc-diag/tests/data/tcp6.bin");
const UDP4: &[u8] = include_bytes!("../../sockdoc-diag/tests/data/udp4.bin");

/// Values that sit on edges: lengths around the header and message sizes, sign bits, all ones.
const EDGES_U32: &[u32] = &[
    0,
    1,
    2,
    3,
    4,
    5,
    15,
    16,
    17,
    19,
    20,
    71,
    72,
    76,
    87,
    88,
    92,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fff0,
    0xffff_ffff,
];

/// Status words: real errnos and values no kernel sends.
const STATUSES: &[i32] = &[
    0,
    -1,
    -libc_errno::EPERM,
    -libc_errno::ENOENT,
    -libc_errno::EINVAL,
    -4095,
    -4096,
    1,
    4095,
    i32::MIN,
    i32::MIN + 1,
    i32::MAX,
    -0x7fff_ffff,
];

mod libc_errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const EINVAL: i32 = 22;
}

/// Message types worth trying besides random ones.
const KINDS: &[u16] = &[
    wire::NLMSG_NOOP,
    wire::NLMSG_ERROR,
    wire::NLMSG_DONE,
    wire::NLMSG_OVERRUN,
    wire::SOCK_DIAG_BY_FAMILY,
    wire::SOCK_DESTROY,
    0,
    0xffff,
];

pub struct Reply {
    seeds: Vec<(Vec<u8>, Proto)>,
}

/// One input: the bytes of a `recv` and the protocol the dump asked for.
pub struct Input {
    bytes: Vec<u8>,
    proto: Proto,
}

/// Offsets of the whole messages in `b` (walking the length fields while they are sane).
fn messages(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + wire::NLMSG_HDRLEN <= b.len() {
        let len = wire::u32_ne(b, off) as usize;
        if len < wire::NLMSG_HDRLEN || off + len > b.len() {
            break;
        }
        out.push((off, len));
        off += wire::align4(len);
    }
    out
}

/// Offsets of the attributes of the `SOCK_DIAG_BY_FAMILY` message at `(off, len)`.
fn attributes(b: &[u8], (off, len): (usize, usize)) -> Vec<usize> {
    let mut out = Vec::new();
    let body = off + wire::NLMSG_HDRLEN;
    let end = off + len;
    let mut at = body + wire::INET_DIAG_MSG_LEN;
    while at + 4 <= end {
        out.push(at);
        let alen = usize::from(wire::u16_ne(b, at));
        if alen < 4 {
            break;
        }
        at += wire::align4(alen);
    }
    out
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    if at + 4 <= b.len() {
        b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    if at + 2 <= b.len() {
        b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
    }
}

fn pick<T: Copy>(rng: &mut Rng, xs: &[T]) -> T {
    xs[rng.random_range(0..xs.len())]
}

fn random_bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    // Mostly short: the parser's edges are near the header sizes.
    let n = if rng.random_bool(0.7) {
        rng.random_range(0..=128.min(max))
    } else {
        rng.random_range(0..=max)
    };
    (0..n).map(|_| rng.random()).collect()
}

fn edge_u32(rng: &mut Rng, near: usize) -> u32 {
    match rng.random_range(0..4) {
        0 => pick(rng, EDGES_U32),
        1 => (near as u32)
            .wrapping_add(rng.random_range(0..9))
            .wrapping_sub(4),
        _ => rng.random(),
    }
}

/// A netlink message with a correct length field.
fn nlmsg(kind: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + payload.len());
    m.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(payload);
    m
}

/// An `inet_diag_msg` with random fields (family and state often valid) and random attributes.
fn diag_payload(rng: &mut Rng) -> Vec<u8> {
    let mut p: Vec<u8> = (0..wire::INET_DIAG_MSG_LEN).map(|_| rng.random()).collect();
    p[msg::FAMILY] = match rng.random_range(0..4) {
        0 => 2,
        1 => 10,
        _ => rng.random(),
    };
    if rng.random_bool(0.8) {
        p[msg::STATE] = rng.random_range(0..14);
    }
    for _ in 0..rng.random_range(0..4) {
        let data_len = match rng.random_range(0..3) {
            0 => rng.random_range(0..8),
            1 => rng.random_range(0..300),
            _ => pick(rng, &[64usize, 104, 120, 128, 136, 232, 248]),
        };
        let kind: u16 = match rng.random_range(0..3) {
            0 => wire::INET_DIAG_INFO,
            1 => rng.random_range(0..32),
            _ => rng.random(),
        };
        let mut alen = (4 + data_len) as u16;
        if rng.random_bool(0.2) {
            alen = edge_u32(rng, usize::from(alen)) as u16;
        }
        p.extend_from_slice(&alen.to_ne_bytes());
        p.extend_from_slice(&kind.to_ne_bytes());
        p.extend((0..data_len).map(|_| rng.random::<u8>()));
        if rng.random_bool(0.9) {
            p.resize(wire::align4(p.len()), 0);
        }
    }
    p
}

/// A few messages built from scratch.
fn built(rng: &mut Rng) -> Vec<u8> {
    let mut b = Vec::new();
    for _ in 0..rng.random_range(1..6) {
        let kind = if rng.random_bool(0.8) {
            pick(rng, KINDS)
        } else {
            rng.random()
        };
        let flags: u16 = match rng.random_range(0..3) {
            0 => wire::NLM_F_MULTI,
            1 => wire::NLM_F_MULTI | wire::NLM_F_DUMP_INTR,
            _ => rng.random(),
        };
        let payload = match kind {
            wire::NLMSG_ERROR | wire::NLMSG_DONE => {
                let mut p = pick(rng, STATUSES).to_ne_bytes().to_vec();
                if rng.random_bool(0.3) {
                    p.truncate(rng.random_range(0..4));
                }
                if kind == wire::NLMSG_ERROR && rng.random_bool(0.5) {
                    // The request echoed back after the status.
                    p.extend(random_bytes(rng, 72));
                }
                p
            }
            wire::SOCK_DIAG_BY_FAMILY => diag_payload(rng),
            _ => random_bytes(rng, 200),
        };
        let mut m = nlmsg(kind, flags, &payload);
        if rng.random_bool(0.15) {
            let v = edge_u32(rng, m.len());
            put_u32(&mut m, 0, v);
        }
        b.extend_from_slice(&m);
        if rng.random_bool(0.9) {
            b.resize(wire::align4(b.len()), 0);
        }
    }
    b
}

/// One structure-aware edit of `b`.
fn mutate(rng: &mut Rng, b: &mut Vec<u8>) {
    let msgs = messages(b);
    match rng.random_range(0..12) {
        // Bit flip.
        0 if !b.is_empty() => {
            let at = rng.random_range(0..b.len());
            b[at] ^= 1 << rng.random_range(0..8);
        }
        // A byte set.
        1 if !b.is_empty() => {
            let at = rng.random_range(0..b.len());
            b[at] = rng.random();
        }
        // A 16- or 32-bit word set to an edge value.
        2 if b.len() >= 4 => {
            let at = rng.random_range(0..b.len() - 3);
            let v = edge_u32(rng, b.len() - at);
            if rng.random_bool(0.5) {
                put_u32(b, at, v);
            } else {
                put_u16(b, at, v as u16);
            }
        }
        // Cut.
        3 => {
            let at = rng.random_range(0..=b.len());
            b.truncate(at);
        }
        // A message's length field.
        4 if !msgs.is_empty() => {
            let (off, len) = pick(rng, &msgs);
            let v = edge_u32(rng, len);
            put_u32(b, off, v);
        }
        // A message's type and flags.
        5 if !msgs.is_empty() => {
            let (off, _) = pick(rng, &msgs);
            let kind = if rng.random_bool(0.6) {
                pick(rng, KINDS)
            } else {
                rng.random()
            };
            put_u16(b, off + 4, kind);
            if rng.random_bool(0.5) {
                let flags = rng.random();
                put_u16(b, off + 6, flags);
            }
        }
        // A status word at an extreme, in place or as a new message.
        6 => edit_status(rng, b, &msgs),
        // An attribute's length or type.
        7 => edit_attribute(rng, b, &msgs),
        // Family or state of a socket message.
        8 if !msgs.is_empty() => {
            let (off, len) = pick(rng, &msgs);
            if len >= wire::NLMSG_HDRLEN + 2 {
                let field = off + wire::NLMSG_HDRLEN + rng.random_range(0..2);
                b[field] = if rng.random_bool(0.5) {
                    rng.random_range(0..16)
                } else {
                    rng.random()
                };
            }
        }
        // Duplicate or drop a message.
        9 if !msgs.is_empty() => {
            let (off, len) = pick(rng, &msgs);
            let end = (off + wire::align4(len)).min(b.len());
            if rng.random_bool(0.5) {
                let copy = b[off..end].to_vec();
                let to = pick(rng, &msgs).0;
                b.splice(to..to, copy);
            } else {
                b.drain(off..end);
            }
        }
        // Random bytes in or at the end.
        10 => {
            let junk = random_bytes(rng, 64);
            let at = rng.random_range(0..=b.len());
            b.splice(at..at, junk);
        }
        // A freshly built message spliced in.
        _ => {
            let m = built(rng);
            let at = if msgs.is_empty() || rng.random_bool(0.3) {
                b.len()
            } else {
                pick(rng, &msgs).0
            };
            b.splice(at..at, m);
        }
    }
}

/// A status word at an extreme, in place of a message's or as a new message.
fn edit_status(rng: &mut Rng, b: &mut Vec<u8>, msgs: &[(usize, usize)]) {
    let status = pick(rng, STATUSES);
    let kind = if rng.random_bool(0.5) {
        wire::NLMSG_DONE
    } else {
        wire::NLMSG_ERROR
    };
    let m = nlmsg(kind, wire::NLM_F_MULTI, &status.to_ne_bytes());
    match msgs.len() {
        0 => b.extend_from_slice(&m),
        _ => {
            let (off, len) = pick(rng, msgs);
            if rng.random_bool(0.5) && len >= 20 {
                put_u16(b, off + 4, kind);
                put_u32(b, off + 16, status as u32);
            } else {
                b.splice(off..off, m);
            }
        }
    }
}

/// An attribute's length or type, in one of the socket messages.
fn edit_attribute(rng: &mut Rng, b: &mut [u8], msgs: &[(usize, usize)]) {
    let socks: Vec<(usize, usize)> = msgs
        .iter()
        .copied()
        .filter(|&(off, len)| {
            len >= wire::NLMSG_HDRLEN + wire::INET_DIAG_MSG_LEN
                && wire::u16_ne(b, off + 4) == wire::SOCK_DIAG_BY_FAMILY
        })
        .collect();
    if socks.is_empty() {
        return;
    }
    let m = pick(rng, &socks);
    let attrs = attributes(b, m);
    if attrs.is_empty() {
        return;
    }
    let at = pick(rng, &attrs);
    if rng.random_bool(0.7) {
        let cur = usize::from(wire::u16_ne(b, at));
        let v = edge_u32(rng, cur) as u16;
        put_u16(b, at, v);
    } else {
        let kind = if rng.random_bool(0.5) {
            wire::INET_DIAG_INFO | (rng.random_range(0..4u16) << 14)
        } else {
            rng.random()
        };
        put_u16(b, at + 2, kind);
    }
}

impl Target for Reply {
    const NAME: &'static str = "reply";
    const STATS: &'static [&'static str] = &[
        "parsed",
        "sockets",
        "malformed",
        "kernel-error",
        "overrun",
        "done",
        "interrupted",
    ];
    type Input = Input;

    fn new() -> Self {
        let mut seeds = vec![
            (TCP4.to_vec(), Proto::Tcp),
            (TCP6.to_vec(), Proto::Tcp),
            (UDP4.to_vec(), Proto::Udp),
        ];
        // Each captured message alone, too.
        for (dump, proto) in [(TCP4, Proto::Tcp), (TCP6, Proto::Tcp), (UDP4, Proto::Udp)] {
            for (off, len) in messages(dump) {
                seeds.push((dump[off..off + len].to_vec(), proto));
            }
        }
        Reply { seeds }
    }

    fn generate(&mut self, rng: &mut Rng) -> Input {
        let roll = rng.random_range(0..100);
        let (mut bytes, mut proto) = if roll < 8 {
            (random_bytes(rng, 4096), Proto::Tcp)
        } else if roll < 20 {
            (built(rng), Proto::Tcp)
        } else {
            let (b, p) = &self.seeds[rng.random_range(0..self.seeds.len())];
            (b.clone(), *p)
        };
        if roll >= 8 {
            for _ in 0..rng.random_range(1..=8) {
                mutate(rng, &mut bytes);
            }
        }
        if rng.random_bool(0.1) {
            proto = if proto == Proto::Tcp {
                Proto::Udp
            } else {
                Proto::Tcp
            };
        }
        Input { bytes, proto }
    }

    fn check(&mut self, input: &Input, stats: &mut Stats) -> Result<(), String> {
        let b = &input.bytes;
        let mut sockets = 0usize;
        let mut sink = 0u64;
        let result = parse_replies(b, input.proto, &mut |s| {
            sockets += 1;
            // Touch what the views read, so a bad record shows here and not in a view.
            sink = sink
                .wrapping_add(u64::from(s.local_addr().port()))
                .wrapping_add(u64::from(s.remote_addr().port()))
                .wrapping_add(u64::from(s.idle_ms().unwrap_or(0)))
                .wrapping_add(u64::from(s.has_keepalive_timer()))
                .wrapping_add(s.state.ss_name().len() as u64);
        });
        std::hint::black_box(sink);
        if sockets > b.len() / (wire::NLMSG_HDRLEN + wire::INET_DIAG_MSG_LEN) {
            return Err(format!(
                "{sockets} sockets from {} bytes: more than the bytes can hold",
                b.len()
            ));
        }
        stats.0[1] += sockets as u64;
        match result {
            Ok(batch) => {
                stats.bump(0);
                if batch.sockets != sockets {
                    return Err(format!(
                        "batch says {} sockets, the callback saw {sockets}",
                        batch.sockets
                    ));
                }
                if batch.done {
                    stats.bump(5);
                }
                if batch.interrupted {
                    stats.bump(6);
                }
            }
            Err(e) => {
                match e {
                    DiagError::Malformed { offset, .. } => {
                        stats.bump(2);
                        if offset >= b.len().max(1) {
                            return Err(format!("error at byte {offset} of {}", b.len()));
                        }
                    }
                    DiagError::Kernel(errno) => {
                        stats.bump(3);
                        if !(1..=4095).contains(&errno) {
                            return Err(format!("kernel error with errno {errno}"));
                        }
                    }
                    DiagError::Overrun => stats.bump(4),
                    _ => {}
                }
                if e.to_string().is_empty() {
                    return Err("an error that prints nothing".into());
                }
            }
        }
        // The socket and tcp_info parsers alone, on the payload of the first message.
        if b.len() > wire::NLMSG_HDRLEN {
            let _ = std::hint::black_box(parse_socket(&b[wire::NLMSG_HDRLEN..], input.proto));
            let _ = std::hint::black_box(parse_tcp_info(&b[wire::NLMSG_HDRLEN..]));
        }
        Ok(())
    }

    fn to_bytes(input: &Input) -> Vec<u8> {
        input.bytes.clone()
    }

    fn describe(input: &Input) -> String {
        let hex: Vec<String> = input
            .bytes
            .iter()
            .take(96)
            .map(|x| format!("{x:02x}"))
            .collect();
        let more = if input.bytes.len() > 96 { " ..." } else { "" };
        format!(
            "{:?}, {} bytes: {}{more}",
            input.proto,
            input.bytes.len(),
            hex.join("")
        )
    }
}
