//! In-place parser for sock_diag dump replies. It reads the bytes of one `recv` and hands each socket to a
//! callback as a stack value: no allocation per socket, no I/O, every read bounds-checked, so random bytes
//! give an error and never a panic.

use crate::record::{Addr, CaState, Family, Proto, Socket, State, TcpInfo, Timer, TimerKind};
use crate::wire::{self, msg, tcpi};
use crate::DiagError;

/// What one buffer of replies held besides sockets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Sockets handed to the callback.
    pub sockets: usize,
    /// Messages skipped because of an unknown family or state (a newer kernel).
    pub skipped: usize,
    /// `NLMSG_DONE` was seen: the dump is complete.
    pub done: bool,
    /// A message carried `NLM_F_DUMP_INTR`: the kernel's tables changed under the dump.
    pub interrupted: bool,
}

/// Parse every netlink message in `buf` (the bytes of one `recv`) from a dump of `proto` sockets.
///
/// Stops at `NLMSG_DONE`. A kernel error reply (`NLMSG_ERROR`) becomes [`DiagError::Kernel`]; bytes that do
/// not form whole messages become [`DiagError::Malformed`].
pub fn parse_replies(
    buf: &[u8],
    proto: Proto,
    on_socket: &mut dyn FnMut(&Socket),
) -> Result<Batch, DiagError> {
    let mut batch = Batch::default();
    let mut off = 0usize;
    while off < buf.len() {
        let rest = &buf[off..];
        if rest.len() < wire::NLMSG_HDRLEN {
            return Err(DiagError::Malformed {
                offset: off,
                what: "truncated netlink header",
            });
        }
        let len = wire::u32_ne(rest, 0) as usize;
        let kind = wire::u16_ne(rest, 4);
        let flags = wire::u16_ne(rest, 6);
        if len < wire::NLMSG_HDRLEN || len > rest.len() {
            return Err(DiagError::Malformed {
                offset: off,
                what: "netlink message length out of bounds",
            });
        }
        if flags & wire::NLM_F_DUMP_INTR != 0 {
            batch.interrupted = true;
        }
        let payload = &rest[wire::NLMSG_HDRLEN..len];
        match kind {
            wire::NLMSG_DONE => {
                // The payload, when present, is the dump's final status (0 or -errno).
                if payload.len() >= 4 {
                    let status = wire::i32_ne(payload, 0);
                    if status < 0 {
                        return Err(status_error(status, off));
                    }
                }
                batch.done = true;
                return Ok(batch);
            }
            wire::NLMSG_ERROR => {
                if payload.len() < 4 {
                    return Err(DiagError::Malformed {
                        offset: off,
                        what: "truncated NLMSG_ERROR",
                    });
                }
                let err = wire::i32_ne(payload, 0);
                if err != 0 {
                    return Err(status_error(err, off));
                }
            }
            wire::SOCK_DIAG_BY_FAMILY | wire::TCPDIAG_GETSOCK => match parse_socket(payload, proto)
            {
                Ok(Some(sock)) => {
                    batch.sockets += 1;
                    on_socket(&sock);
                }
                Ok(None) => batch.skipped += 1,
                Err(what) => return Err(DiagError::Malformed { offset: off, what }),
            },
            wire::NLMSG_NOOP => {}
            wire::NLMSG_OVERRUN => return Err(DiagError::Overrun),
            _ => batch.skipped += 1,
        }
        off += wire::align4(len).min(rest.len());
    }
    Ok(batch)
}

/// The largest errno a kernel reports (`MAX_ERRNO` in `linux/err.h`).
const MAX_ERRNO: i32 = 4095;

/// The error a non-zero status word stands for: `-errno` from the kernel is [`DiagError::Kernel`]; any
/// other value (positive, or below `-MAX_ERRNO` such as `i32::MIN`, which has no negation) is not
/// something a kernel sends, so the reply is malformed.
pub(crate) fn status_error(status: i32, offset: usize) -> DiagError {
    if (-MAX_ERRNO..0).contains(&status) {
        DiagError::Kernel(-status)
    } else {
        DiagError::Malformed {
            offset,
            what: "status is not an errno",
        }
    }
}

/// Parse one `inet_diag_msg` and its attributes. `Ok(None)` for a family or state this build does not know.
pub fn parse_socket(p: &[u8], proto: Proto) -> Result<Option<Socket>, &'static str> {
    if p.len() < wire::INET_DIAG_MSG_LEN {
        return Err("truncated inet_diag_msg");
    }
    let family = match i32::from(p[msg::FAMILY]) {
        libc::AF_INET => Family::V4,
        libc::AF_INET6 => Family::V6,
        _ => return Ok(None),
    };
    let Some(state) = State::from_kernel(p[msg::STATE]) else {
        return Ok(None);
    };
    let addr_len = if family == Family::V4 { 4 } else { 16 };
    let mut local = Addr::default();
    let mut remote = Addr::default();
    local.bytes[..addr_len].copy_from_slice(&p[msg::SRC..msg::SRC + addr_len]);
    remote.bytes[..addr_len].copy_from_slice(&p[msg::DST..msg::DST + addr_len]);
    let cookie = u64::from(wire::u32_ne(p, msg::COOKIE))
        | (u64::from(wire::u32_ne(p, msg::COOKIE + 4)) << 32);
    let mut sock = Socket {
        local,
        remote,
        cookie,
        local_port: wire::u16_be(p, msg::SPORT),
        remote_port: wire::u16_be(p, msg::DPORT),
        proto,
        family,
        state,
        timer: Timer {
            kind: TimerKind::from_kernel(p[msg::TIMER]),
            expires_ms: wire::u32_ne(p, msg::EXPIRES),
            count: p[msg::RETRANS],
        },
        ifindex: wire::u32_ne(p, msg::IF),
        inode: wire::u32_ne(p, msg::INODE),
        uid: wire::u32_ne(p, msg::UID),
        recv_q: wire::u32_ne(p, msg::RQUEUE),
        send_q: wire::u32_ne(p, msg::WQUEUE),
        cgroup_id: 0,
        tcp: None,
    };
    let mut off = wire::INET_DIAG_MSG_LEN;
    while off + 4 <= p.len() {
        let alen = usize::from(wire::u16_ne(p, off));
        let akind = wire::u16_ne(p, off + 2) & 0x3fff;
        if alen < 4 || off + alen > p.len() {
            return Err("attribute length out of bounds");
        }
        if akind == wire::INET_DIAG_INFO && proto == Proto::Tcp {
            sock.tcp = Some(parse_tcp_info(&p[off + 4..off + alen]));
        } else if akind == wire::INET_DIAG_CGROUP_ID && alen >= 12 {
            sock.cgroup_id = wire::u64_ne(p, off + 4);
        }
        off += wire::align4(alen);
    }
    Ok(Some(sock))
}

/// Read the fields sockdoc uses from a `struct tcp_info` of any length; fields past its end are zero.
pub fn parse_tcp_info(b: &[u8]) -> TcpInfo {
    let u8_at = |at: usize| b.get(at).copied().unwrap_or(0);
    let u32_at = |at: usize| {
        if at + 4 <= b.len() {
            wire::u32_ne(b, at)
        } else {
            0
        }
    };
    let u64_at = |at: usize| {
        if at + 8 <= b.len() {
            wire::u64_ne(b, at)
        } else {
            0
        }
    };
    TcpInfo {
        ca_state: CaState::from_kernel(u8_at(tcpi::CA_STATE)),
        retransmits: u8_at(tcpi::RETRANSMITS),
        probes: u8_at(tcpi::PROBES),
        backoff: u8_at(tcpi::BACKOFF),
        unacked: u32_at(tcpi::UNACKED),
        last_data_sent_ms: u32_at(tcpi::LAST_DATA_SENT),
        last_data_recv_ms: u32_at(tcpi::LAST_DATA_RECV),
        last_ack_recv_ms: u32_at(tcpi::LAST_ACK_RECV),
        rtt_us: u32_at(tcpi::RTT),
        total_retrans: u32_at(tcpi::TOTAL_RETRANS),
        bytes_acked: u64_at(tcpi::BYTES_ACKED),
        bytes_received: u64_at(tcpi::BYTES_RECEIVED),
    }
}
