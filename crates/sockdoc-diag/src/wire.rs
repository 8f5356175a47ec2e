//! Wire layout of NETLINK_SOCK_DIAG messages (`linux/netlink.h`, `linux/sock_diag.h`, `linux/inet_diag.h`,
//! `linux/tcp.h`): constants, sizes and byte offsets. Pure data, no I/O.

pub const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;

pub const NLM_F_REQUEST: u16 = 0x01;
pub const NLM_F_MULTI: u16 = 0x02;
pub const NLM_F_ACK: u16 = 0x04;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_ROOT: u16 = 0x100;
pub const NLM_F_MATCH: u16 = 0x200;
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;

pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// The older request type of the TCP dump (`struct inet_diag_req`): the only one that takes
/// `AF_UNSPEC`, both families in one walk. Its replies carry this type too.
pub const TCPDIAG_GETSOCK: u16 = 18;
/// `sizeof(struct inet_diag_req)`: family, lengths, ext, the socket id, states, dbs.
pub const INET_DIAG_REQ_LEN: usize = 60;
pub const SOCK_DESTROY: u16 = 21;

/// `struct inet_diag_req_v2`.
pub const INET_DIAG_REQ_V2_LEN: usize = 56;
/// `struct inet_diag_msg`.
pub const INET_DIAG_MSG_LEN: usize = 72;
/// `struct inet_diag_sockid` within the request and the reply.
pub const SOCKID_LEN: usize = 48;

/// Request attribute carrying filter bytecode.
pub const INET_DIAG_REQ_BYTECODE: u16 = 1;

/// Reply attributes (`INET_DIAG_*`).
pub const INET_DIAG_INFO: u16 = 2;
pub const INET_DIAG_SHUTDOWN: u16 = 8;
/// The socket's cgroup v2 id (u64). Linux 5.7+ sends it with every full socket, unasked; TIME-WAIT
/// and request sockets have no cgroup and carry none.
pub const INET_DIAG_CGROUP_ID: u16 = 21;

/// `struct inet_diag_msg` offsets.
pub mod msg {
    pub const FAMILY: usize = 0;
    pub const STATE: usize = 1;
    pub const TIMER: usize = 2;
    pub const RETRANS: usize = 3;
    pub const SPORT: usize = 4;
    pub const DPORT: usize = 6;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
    pub const IF: usize = 40;
    pub const COOKIE: usize = 44;
    pub const EXPIRES: usize = 52;
    pub const RQUEUE: usize = 56;
    pub const WQUEUE: usize = 60;
    pub const UID: usize = 64;
    pub const INODE: usize = 68;
}

/// `struct tcp_info` offsets. Older kernels send a shorter struct; missing fields read as zero.
pub mod tcpi {
    pub const CA_STATE: usize = 1;
    pub const RETRANSMITS: usize = 2;
    pub const PROBES: usize = 3;
    pub const BACKOFF: usize = 4;
    pub const UNACKED: usize = 24;
    pub const LAST_DATA_SENT: usize = 44;
    pub const LAST_DATA_RECV: usize = 52;
    pub const LAST_ACK_RECV: usize = 56;
    pub const RTT: usize = 68;
    pub const TOTAL_RETRANS: usize = 100;
    pub const BYTES_ACKED: usize = 120;
    pub const BYTES_RECEIVED: usize = 128;
}

/// `INET_DIAG_BC_*` bytecode operations.
pub mod bc {
    pub const JMP: u8 = 1;
    pub const S_GE: u8 = 2;
    pub const S_LE: u8 = 3;
    pub const D_GE: u8 = 4;
    pub const D_LE: u8 = 5;
    pub const S_COND: u8 = 7;
    pub const D_COND: u8 = 8;
    pub const DEV_COND: u8 = 9;
    /// The socket's cgroup v2 id equals the u64 after the op (kernel 5.9+).
    pub const CGROUP_COND: u8 = 13;
}

/// Round up to the 4-byte netlink alignment.
pub const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

#[inline]
pub fn u16_ne(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}
#[inline]
pub fn u16_be(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
#[inline]
pub fn u32_ne(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
#[inline]
pub fn i32_ne(b: &[u8], at: usize) -> i32 {
    i32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
#[inline]
pub fn u64_ne(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(x)
}
