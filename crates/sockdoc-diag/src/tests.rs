//! The dump request's encodings: one family under `SOCK_DIAG_BY_FAMILY`, both under the older
//! `TCPDIAG_GETSOCK`.

use super::*;

/// Both families: the older request, `struct inet_diag_req` (family, lengths, ext, id,
/// states, dbs) under `TCPDIAG_GETSOCK`; one family: `inet_diag_req_v2` under
/// `SOCK_DIAG_BY_FAMILY`. The same ext bit, states and "no cookie" id in both.
#[test]
fn both_families_use_the_older_request() {
    let states = State::Established.mask_bit() | State::SynRecv.mask_bit();
    let one = DumpRequest {
        states,
        tcp_info: true,
        ..DumpRequest::all(Proto::Tcp, Family::V4)
    };
    let both = DumpRequest {
        both_families: true,
        ..one.clone()
    };
    let (m1, m2) = (one.encode(7), both.encode(7));
    let h = wire::NLMSG_HDRLEN;
    assert_eq!(m1.len(), h + wire::INET_DIAG_REQ_V2_LEN);
    assert_eq!(m2.len(), h + wire::INET_DIAG_REQ_LEN);
    assert_eq!(wire::u32_ne(&m2, 0) as usize, m2.len());
    assert_eq!(wire::u16_ne(&m1, 4), wire::SOCK_DIAG_BY_FAMILY);
    assert_eq!(wire::u16_ne(&m2, 4), wire::TCPDIAG_GETSOCK);
    let ext = 1u8 << (wire::INET_DIAG_INFO - 1);
    // v2: family, protocol, ext, pad, states, id.
    assert_eq!(
        &m1[h..h + 3],
        &[libc::AF_INET as u8, libc::IPPROTO_TCP as u8, ext]
    );
    // The older: AF_UNSPEC, no prefix lengths, ext, id, states, dbs.
    assert_eq!(&m2[h..h + 4], &[libc::AF_UNSPEC as u8, 0, 0, ext]);
    let want = states | 1 << TCP_NEW_SYN_RECV;
    assert_eq!(wire::u32_ne(&m1, h + 4), want);
    assert_eq!(wire::u32_ne(&m2, h + 4 + wire::SOCKID_LEN), want);
    assert_eq!(wire::u32_ne(&m2, h + 8 + wire::SOCKID_LEN), 0);
    // The id's cookie is "none" (all ones) in both.
    let cookie = |m: &[u8], at: usize| (wire::u32_ne(m, at), wire::u32_ne(m, at + 4));
    let none = (u32::MAX, u32::MAX);
    assert_eq!(cookie(&m1, h + 8 + wire::SOCKID_LEN - 8), none);
    assert_eq!(cookie(&m2, h + 4 + wire::SOCKID_LEN - 8), none);
    // A UDP request never takes the older form (it has none).
    let udp = DumpRequest {
        both_families: true,
        ..DumpRequest::all(Proto::Udp, Family::V4)
    };
    assert_eq!(wire::u16_ne(&udp.encode(1), 4), wire::SOCK_DIAG_BY_FAMILY);
}
