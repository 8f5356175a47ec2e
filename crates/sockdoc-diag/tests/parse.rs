//! Parser tests on captured dump bytes (tests/data, captured with `examples/capture.rs` from a namespace
//! holding known sockets), hand-made edge cases, and property-based fuzzing of the reply parser.

use proptest::prelude::*;
use sockdoc_diag::wire::{self, msg};
use sockdoc_diag::{parse_replies, DiagError, Family, Proto, Socket, State, TimerKind};

const TCP4: &[u8] = include_bytes!("data/tcp4.bin");
const TCP6: &[u8] = include_bytes!("data/tcp6.bin");
const UDP4: &[u8] = include_bytes!("data/udp4.bin");

fn parse_all(buf: &[u8], proto: Proto) -> Result<(Vec<Socket>, bool), DiagError> {
    let mut out = Vec::new();
    let batch = parse_replies(buf, proto, &mut |s| out.push(*s))?;
    Ok((out, batch.done))
}

#[test]
fn captured_tcp4_dump() {
    let (socks, done) = parse_all(TCP4, Proto::Tcp).expect("fixture parses");
    assert!(done, "dump ends with NLMSG_DONE");
    assert_eq!(socks.len(), 5);
    let listen: Vec<_> = socks.iter().filter(|s| s.state == State::Listen).collect();
    assert_eq!(listen.len(), 1);
    assert_eq!(listen[0].local_port, 8080);
    assert_eq!(listen[0].local_addr().to_string(), "127.0.0.1:8080");
    assert_eq!(listen[0].send_q, 16, "a listener's Send-Q is its backlog");
    let est: Vec<_> = socks
        .iter()
        .filter(|s| s.state == State::Established)
        .collect();
    assert_eq!(est.len(), 4);
    for s in &socks {
        assert_eq!(s.family, Family::V4);
        assert!(s.inode > 0 && s.cookie > 0);
        let info = s.tcp.expect("tcp_info was requested");
        if s.state == State::Established {
            assert!(info.rtt_us > 0);
        }
    }
    // The client that sent "hello": 5 bytes + SYN acknowledged.
    let sender = est
        .iter()
        .find(|s| s.remote_port == 8080 && s.tcp.is_some_and(|t| t.bytes_acked == 6))
        .expect("the sending client");
    assert_eq!(sender.timer.kind, TimerKind::Off);
    let receiver = est
        .iter()
        .find(|s| s.local_port == 8080 && s.remote_port == sender.local_port)
        .expect("its server end");
    assert_eq!(receiver.tcp.map(|t| t.bytes_received), Some(5));
    // The client with SO_KEEPALIVE and TCP_KEEPIDLE 600 s.
    let ka: Vec<_> = est.iter().filter(|s| s.has_keepalive_timer()).collect();
    assert_eq!(ka.len(), 1);
    assert!(ka[0].timer.expires_ms > 590_000 && ka[0].timer.expires_ms <= 600_000);
    assert_eq!(ka[0].timer.count, 0);
}

#[test]
fn captured_tcp6_and_udp4_dumps() {
    let (socks, _) = parse_all(TCP6, Proto::Tcp).expect("tcp6 fixture");
    assert_eq!(socks.len(), 1);
    assert_eq!(socks[0].local_addr().to_string(), "[::1]:8443");
    assert_eq!(socks[0].state, State::Listen);
    let (socks, _) = parse_all(UDP4, Proto::Udp).expect("udp4 fixture");
    assert_eq!(socks.len(), 2);
    let unconn = socks
        .iter()
        .find(|s| s.state == State::Close)
        .expect("bound socket");
    assert_eq!(unconn.local_port, 5353);
    let conn = socks
        .iter()
        .find(|s| s.state == State::Established)
        .expect("connected socket");
    assert_eq!(conn.remote_port, 5353);
    assert!(socks
        .iter()
        .all(|s| s.tcp.is_none() && s.proto == Proto::Udp));
}

/// The first message of the tcp4 fixture.
fn first_message() -> Vec<u8> {
    let len = wire::u32_ne(TCP4, 0) as usize;
    TCP4[..len].to_vec()
}

#[test]
fn truncated_message_is_an_error() {
    let m = first_message();
    for cut in [1, 8, 15, 16, 40, 87, m.len() - 1] {
        let r = parse_replies(&m[..cut], Proto::Tcp, &mut |_| {});
        assert!(
            matches!(r, Err(DiagError::Malformed { .. })),
            "cut at {cut}: {r:?}"
        );
    }
}

/// The first message rebuilt with each attribute's data passed through `f` (`None` drops it).
fn rebuild_attrs(mut f: impl FnMut(u16, Vec<u8>) -> Option<Vec<u8>>) -> Vec<u8> {
    let m = first_message();
    let body = &m[wire::NLMSG_HDRLEN..];
    let mut attrs = Vec::new();
    let mut off = wire::INET_DIAG_MSG_LEN;
    while off + 4 <= body.len() {
        let alen = usize::from(wire::u16_ne(body, off));
        let kind = wire::u16_ne(body, off + 2);
        if let Some(data) = f(kind, body[off + 4..off + alen].to_vec()) {
            attrs.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
            attrs.extend_from_slice(&kind.to_ne_bytes());
            attrs.extend_from_slice(&data);
            attrs.resize(wire::align4(attrs.len()), 0);
        }
        off += wire::align4(alen);
    }
    let mut out = m[..wire::NLMSG_HDRLEN + wire::INET_DIAG_MSG_LEN].to_vec();
    out.extend_from_slice(&attrs);
    let len = out.len() as u32;
    out[..4].copy_from_slice(&len.to_ne_bytes());
    out
}

#[test]
fn short_tcp_info_reads_missing_fields_as_zero() {
    // The first message with its INET_DIAG_INFO attribute cut to 64 bytes (an old kernel).
    let out = rebuild_attrs(|kind, mut data| {
        if kind == wire::INET_DIAG_INFO {
            data.truncate(64);
        }
        Some(data)
    });
    let (full, _) = parse_all(&first_message(), Proto::Tcp).expect("full");
    let (short, _) = parse_all(&out, Proto::Tcp).expect("short");
    let (f, s) = (full[0].tcp.expect("info"), short[0].tcp.expect("info"));
    assert_eq!(
        s.last_data_sent_ms, f.last_data_sent_ms,
        "fields inside 64 bytes survive"
    );
    assert_eq!(s.rtt_us, 0, "rtt is past byte 64");
    assert_eq!({ s.bytes_acked }, 0);
    assert_eq!({ s.bytes_received }, 0);
}

#[test]
fn cgroup_id_is_read_and_its_absence_is_zero() {
    // The fixtures were captured from processes in the root cgroup (id 1); every full socket has one.
    for (buf, proto) in [(TCP4, Proto::Tcp), (TCP6, Proto::Tcp), (UDP4, Proto::Udp)] {
        let (socks, _) = parse_all(buf, proto).expect("fixture");
        assert!(socks.iter().all(|s| s.cgroup_id == 1), "{socks:?}");
    }
    let id: u64 = 0x0000_0001_0000_0abc;
    let set = rebuild_attrs(|kind, data| {
        Some(if kind == wire::INET_DIAG_CGROUP_ID {
            id.to_ne_bytes().to_vec()
        } else {
            data
        })
    });
    assert_eq!(parse_all(&set, Proto::Tcp).expect("set").0[0].cgroup_id, id);
    // None sent (TIME-WAIT, request sockets, kernels before 5.7), or too short to be one: 0.
    let none = rebuild_attrs(|kind, data| (kind != wire::INET_DIAG_CGROUP_ID).then_some(data));
    assert_eq!(
        parse_all(&none, Proto::Tcp).expect("none").0[0].cgroup_id,
        0
    );
    let short = rebuild_attrs(|kind, mut data| {
        if kind == wire::INET_DIAG_CGROUP_ID {
            data.truncate(4);
        }
        Some(data)
    });
    assert_eq!(
        parse_all(&short, Proto::Tcp).expect("short").0[0].cgroup_id,
        0
    );
}

fn nlmsg(kind: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(payload);
    m
}

#[test]
fn kernel_error_and_done_status() {
    let err = nlmsg(wire::NLMSG_ERROR, 0, &(-libc::EINVAL).to_ne_bytes());
    assert!(matches!(
        parse_replies(&err, Proto::Tcp, &mut |_| {}),
        Err(DiagError::Kernel(libc::EINVAL))
    ));
    let done_bad = nlmsg(wire::NLMSG_DONE, 0, &(-libc::EPERM).to_ne_bytes());
    assert!(matches!(
        parse_replies(&done_bad, Proto::Tcp, &mut |_| {}),
        Err(DiagError::Kernel(libc::EPERM))
    ));
    let done = nlmsg(wire::NLMSG_DONE, wire::NLM_F_MULTI, &0i32.to_ne_bytes());
    let b = parse_replies(&done, Proto::Tcp, &mut |_| {}).expect("done");
    assert!(b.done && !b.interrupted);
}

/// A status word no kernel sends (`i32::MIN` has no negation; positive values are not errnos) is a
/// malformed reply, not a panic or a made-up errno. These exact 20 bytes (NLMSG_DONE, status i32::MIN)
/// panicked debug and test builds.
#[test]
fn status_of_i32_min_is_malformed_not_a_panic() {
    let done_min: [u8; 20] = [
        0x14, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x80,
    ];
    let r = parse_replies(&done_min, Proto::Tcp, &mut |_| {});
    assert!(
        matches!(r, Err(DiagError::Malformed { offset: 0, .. })),
        "{r:?}"
    );
    for status in [i32::MIN, i32::MIN + 1, -4096, 1, i32::MAX] {
        let err = nlmsg(wire::NLMSG_ERROR, 0, &status.to_ne_bytes());
        let r = parse_replies(&err, Proto::Tcp, &mut |_| {});
        assert!(
            matches!(r, Err(DiagError::Malformed { .. })),
            "NLMSG_ERROR {status}: {r:?}"
        );
        let done = nlmsg(wire::NLMSG_DONE, 0, &status.to_ne_bytes());
        let r = parse_replies(&done, Proto::Tcp, &mut |_| {});
        if status < 0 {
            assert!(
                matches!(r, Err(DiagError::Malformed { .. })),
                "DONE {status}: {r:?}"
            );
        } else {
            assert!(r.is_ok_and(|b| b.done), "DONE {status}");
        }
    }
    // The largest errno still reads as one.
    let max = nlmsg(wire::NLMSG_ERROR, 0, &(-4095i32).to_ne_bytes());
    assert!(matches!(
        parse_replies(&max, Proto::Tcp, &mut |_| {}),
        Err(DiagError::Kernel(4095))
    ));
}

#[test]
fn interrupted_dump_is_flagged_and_unknown_state_skipped() {
    let mut m = first_message();
    let flags = wire::u16_ne(&m, 6) | wire::NLM_F_DUMP_INTR;
    m[6..8].copy_from_slice(&flags.to_ne_bytes());
    let b = parse_replies(&m, Proto::Tcp, &mut |_| {}).expect("parses");
    assert!(b.interrupted);
    let mut m = first_message();
    m[wire::NLMSG_HDRLEN + msg::STATE] = 99;
    let b = parse_replies(&m, Proto::Tcp, &mut |_| {}).expect("parses");
    assert_eq!((b.sockets, b.skipped), (0, 1));
}

#[test]
fn new_syn_recv_is_reported_as_syn_recv() {
    let mut m = first_message();
    m[wire::NLMSG_HDRLEN + msg::STATE] = sockdoc_diag::TCP_NEW_SYN_RECV;
    let (s, _) = parse_all(&m, Proto::Tcp).expect("parses");
    assert_eq!(s[0].state, State::SynRecv);
    assert_eq!(s[0].state.ss_name(), "SYN-RECV");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Random bytes: an error or a result, never a panic.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut n = 0usize;
        let _ = parse_replies(&bytes, Proto::Tcp, &mut |_| n += 1);
    }

    /// The captured dump with bytes flipped, cut or extended: never a panic, and never more sockets than
    /// messages could hold.
    #[test]
    fn mutated_dump_never_panics(
        flips in proptest::collection::vec((0usize..2060, any::<u8>()), 0..12),
        cut in 0usize..2100,
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut b = TCP4.to_vec();
        for (at, v) in flips {
            if at < b.len() { b[at] = v; }
        }
        b.truncate(cut.min(b.len()));
        b.extend_from_slice(&tail);
        let mut n = 0usize;
        let _ = parse_replies(&b, Proto::Tcp, &mut |_| n += 1);
        prop_assert!(n <= b.len() / (wire::NLMSG_HDRLEN + wire::INET_DIAG_MSG_LEN));
    }

    /// Any tcp_info length parses.
    #[test]
    fn tcp_info_of_any_length(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = sockdoc_diag::parse::parse_tcp_info(&bytes);
    }
}
