//! The binary part of a snapshot: sockets as fixed little-endian records and owner entries, each
//! stored as columns (every socket's first field, then every socket's second, ...): the values of
//! one field sit together, which compresses about a third smaller than whole records one after
//! another (see docs/snapshot.md). Pure: bytes in, bytes out.
//!
//! A column of field `i` starts at `count × offset(i)`, so a reader that knows the first fields
//! of a longer record (a later version appended some) finds them where it expects and skips the
//! rest: `count × (record size − known size)` bytes.

use sockdoc_diag::{Addr, CaState, Family, Proto, Socket, State, TcpInfo, Timer, TimerKind};

/// Widths of the socket record's fields, in order (docs/snapshot.md names them).
const SOCKET_FIELDS: [usize; 30] = [
    16, 16, 8, 2, 2, 1, 1, 1, 1, 4, 1, 4, 4, 4, 4, 4, 8, // socket
    1, 1, 1, 1, 1, 4, 4, 4, 4, 4, 4, 8, 8, // tcp_info
];

/// Bytes of the socket record's fields every file has (version 1 as first written).
pub const SOCKET_BASE: usize = sum(&SOCKET_FIELDS);

/// The field appended after them: when the recorder first saw the socket (ms since the epoch,
/// 0 unknown; `sockdoc snapshot` writes 0). A file with records of [`SOCKET_BASE`] bytes has none.
const FIRST_SEEN: usize = 8;

/// Bytes of one socket record as this version writes it.
pub const SOCKET_RECORD: usize = SOCKET_BASE + FIRST_SEEN;

/// Widths of an owner entry's fields: inode, pid, fd.
const OWNER_FIELDS: [usize; 3] = [4, 4, 4];

/// Bytes of one owner entry in this version.
pub const OWNER_RECORD: usize = sum(&OWNER_FIELDS);

const fn sum(w: &[usize]) -> usize {
    let mut i = 0;
    let mut n = 0;
    while i < w.len() {
        n += w[i];
        i += 1;
    }
    n
}

/// Rows of `width` bytes (`rows.len()` a multiple of it) to columns of `fields` (the writer
/// streams columns itself: [`write_socket_columns`]).
#[cfg(test)]
fn to_columns(rows: &[u8], width: usize, fields: &[usize]) -> Vec<u8> {
    let n = rows.len() / width;
    let mut out = vec![0u8; rows.len()];
    let mut off = 0;
    for &w in fields {
        let col = &mut out[n * off..n * (off + w)];
        for (k, dst) in col.chunks_exact_mut(w).enumerate() {
            let at = k * width + off;
            dst.copy_from_slice(&rows[at..at + w]);
        }
        off += w;
    }
    out
}

/// Columns of `count` records of `file_width` bytes (of which the first `fields` are known) back
/// to rows of the known width.
fn to_rows(cols: &[u8], count: usize, fields: &[usize]) -> Vec<u8> {
    let width = sum(fields);
    let mut out = vec![0u8; count * width];
    let mut off = 0;
    for &w in fields {
        let col = &cols[count * off..count * (off + w)];
        for (k, src) in col.chunks_exact(w).enumerate() {
            let at = k * width + off;
            out[at..at + w].copy_from_slice(src);
        }
        off += w;
    }
    out
}

/// The sockets as columns, written to `out` a piece of one column at a time: a snapshot of 300k
/// sockets holds no second copy of them.
/// `first_seen`, when given, holds each socket's first-seen time (the same order).
pub fn write_socket_columns(
    sockets: &[Socket],
    first_seen: Option<&[u64]>,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    // A column goes out in pieces of this many sockets (1 MiB at most).
    const PIECE: usize = 65_536;
    let widest = SOCKET_FIELDS.iter().copied().max().unwrap_or(0);
    let mut col = Vec::with_capacity(sockets.len().min(PIECE) * widest);
    for f in 0..SOCKET_FIELDS.len() {
        for piece in sockets.chunks(PIECE) {
            fill_column(piece, f, &mut col);
            out.write_all(&col)?;
        }
    }
    for (k, piece) in sockets.chunks(PIECE).enumerate() {
        col.clear();
        let times = first_seen.and_then(|t| t.get(k * PIECE..k * PIECE + piece.len()));
        match times {
            Some(times) => col.extend(times.iter().flat_map(|t| t.to_le_bytes())),
            None => col.resize(piece.len() * FIRST_SEEN, 0),
        }
        out.write_all(&col)?;
    }
    Ok(())
}

/// The first-seen times of `count` sockets from their columns (`cols` holds `count × file_width`
/// bytes): `None` when the file's records end before them or none is known.
pub fn decode_first_seen(cols: &[u8], count: usize, file_width: usize) -> Option<Vec<u64>> {
    if file_width < SOCKET_RECORD {
        return None;
    }
    let col = cols.get(count * SOCKET_BASE..count * SOCKET_RECORD)?;
    let times: Vec<u64> = col
        .chunks_exact(FIRST_SEEN)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
        .collect();
    times.iter().any(|&t| t != 0).then_some(times)
}

/// The sockets as columns, in one buffer (see [`write_socket_columns`]).
#[cfg(test)]
pub fn encode_sockets(sockets: &[Socket]) -> Vec<u8> {
    let mut v = Vec::with_capacity(sockets.len() * SOCKET_RECORD);
    // Writing to a Vec cannot fail.
    let _ = write_socket_columns(sockets, None, &mut v);
    v
}

/// Column `f` of `piece` into `col` (the order and widths of [`SOCKET_FIELDS`]), little-endian.
/// The field is chosen once a column, not once a socket: each arm is a loop of fixed-width copies
/// (a full snapshot of 300k sockets spent ~0.1 s choosing per socket).
fn fill_column(piece: &[Socket], f: usize, col: &mut Vec<u8>) {
    fn put<const W: usize>(piece: &[Socket], col: &mut Vec<u8>, get: impl Fn(&Socket) -> [u8; W]) {
        col.clear();
        col.resize(piece.len() * W, 0);
        for (dst, s) in col.chunks_exact_mut(W).zip(piece) {
            dst.copy_from_slice(&get(s));
        }
    }
    /// A tcp_info field; zero for a socket without one.
    fn tcp<const W: usize>(piece: &[Socket], col: &mut Vec<u8>, get: impl Fn(&TcpInfo) -> [u8; W]) {
        put(piece, col, |s| s.tcp.as_ref().map_or([0; W], &get));
    }
    match f {
        0 => put(piece, col, |s| s.local.bytes),
        1 => put(piece, col, |s| s.remote.bytes),
        2 => put(piece, col, |s| s.cookie.to_le_bytes()),
        3 => put(piece, col, |s| s.local_port.to_le_bytes()),
        4 => put(piece, col, |s| s.remote_port.to_le_bytes()),
        5 => put(piece, col, |s| [s.proto as u8]),
        6 => put(piece, col, |s| [s.family as u8]),
        7 => put(piece, col, |s| [s.state as u8]),
        8 => put(piece, col, |s| [s.timer.kind as u8]),
        9 => put(piece, col, |s| s.timer.expires_ms.to_le_bytes()),
        10 => put(piece, col, |s| [s.timer.count]),
        11 => put(piece, col, |s| s.ifindex.to_le_bytes()),
        12 => put(piece, col, |s| s.inode.to_le_bytes()),
        13 => put(piece, col, |s| s.uid.to_le_bytes()),
        14 => put(piece, col, |s| s.recv_q.to_le_bytes()),
        15 => put(piece, col, |s| s.send_q.to_le_bytes()),
        16 => put(piece, col, |s| s.cgroup_id.to_le_bytes()),
        17 => put(piece, col, |s| [u8::from(s.tcp.is_some())]),
        18 => tcp(piece, col, |t| [t.ca_state as u8]),
        19 => tcp(piece, col, |t| [t.retransmits]),
        20 => tcp(piece, col, |t| [t.probes]),
        21 => tcp(piece, col, |t| [t.backoff]),
        22 => tcp(piece, col, |t| t.unacked.to_le_bytes()),
        23 => tcp(piece, col, |t| t.last_data_sent_ms.to_le_bytes()),
        24 => tcp(piece, col, |t| t.last_data_recv_ms.to_le_bytes()),
        25 => tcp(piece, col, |t| t.last_ack_recv_ms.to_le_bytes()),
        26 => tcp(piece, col, |t| t.rtt_us.to_le_bytes()),
        27 => tcp(piece, col, |t| t.total_retrans.to_le_bytes()),
        28 => tcp(piece, col, |t| { t.bytes_acked }.to_le_bytes()),
        29 => tcp(piece, col, |t| { t.bytes_received }.to_le_bytes()),
        _ => col.clear(),
    }
}

/// `count` sockets from their columns (`cols` holds `count × file_width` bytes, `file_width` at
/// least [`SOCKET_RECORD`]). A value this version does not know is an error naming the record.
pub fn decode_sockets(cols: &[u8], count: usize) -> Result<Vec<Socket>, String> {
    let rows = to_rows(cols, count, &SOCKET_FIELDS);
    rows.chunks_exact(SOCKET_BASE)
        .enumerate()
        .map(|(i, r)| socket(r).map_err(|e| format!("socket record {}: {e}", i + 1)))
        .collect()
}

/// A little-endian reader over one record.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.rest.split_at(N);
        self.rest = rest;
        let mut a = [0u8; N];
        a.copy_from_slice(head);
        a
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
}

fn socket(r: &[u8]) -> Result<Socket, String> {
    let mut c = Cursor { rest: r };
    let local = Addr { bytes: c.take() };
    let remote = Addr { bytes: c.take() };
    let cookie = c.u64();
    let (local_port, remote_port) = (c.u16(), c.u16());
    let proto = match c.u8() {
        6 => Proto::Tcp,
        17 => Proto::Udp,
        n => return Err(format!("unknown protocol {n}")),
    };
    let family = match c.u8() {
        n if n == Family::V4 as u8 => Family::V4,
        n if n == Family::V6 as u8 => Family::V6,
        n => return Err(format!("unknown address family {n}")),
    };
    let state = c.u8();
    let state = State::from_kernel(state).ok_or(format!("unknown state {state}"))?;
    let timer = Timer {
        kind: TimerKind::from_kernel(c.u8()),
        expires_ms: c.u32(),
        count: c.u8(),
    };
    let (ifindex, inode, uid, recv_q, send_q) = (c.u32(), c.u32(), c.u32(), c.u32(), c.u32());
    let cgroup_id = c.u64();
    let has_tcp = c.u8() != 0;
    let tcp = TcpInfo {
        ca_state: CaState::from_kernel(c.u8()),
        retransmits: c.u8(),
        probes: c.u8(),
        backoff: c.u8(),
        unacked: c.u32(),
        last_data_sent_ms: c.u32(),
        last_data_recv_ms: c.u32(),
        last_ack_recv_ms: c.u32(),
        rtt_us: c.u32(),
        total_retrans: c.u32(),
        bytes_acked: c.u64(),
        bytes_received: c.u64(),
    };
    Ok(Socket {
        local,
        remote,
        cookie,
        local_port,
        remote_port,
        proto,
        family,
        state,
        timer,
        ifindex,
        inode,
        uid,
        recv_q,
        send_q,
        cgroup_id,
        tcp: has_tcp.then_some(tcp),
    })
}

/// The owner entries as columns (inode, pid, fd), written to `out` a piece at a time.
pub fn write_owner_columns(
    owners: &[(u32, u32, u32)],
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    const PIECE: usize = 65_536;
    let mut col = Vec::with_capacity(owners.len().min(PIECE) * 4);
    for f in 0..OWNER_FIELDS.len() {
        let mut values = owners.iter().map(|&(inode, pid, fd)| [inode, pid, fd][f]);
        loop {
            col.clear();
            for v in values.by_ref().take(PIECE) {
                col.extend_from_slice(&v.to_le_bytes());
            }
            if col.is_empty() {
                break;
            }
            out.write_all(&col)?;
        }
    }
    Ok(())
}

/// `count` owner entries from their columns.
pub fn decode_owners(cols: &[u8], count: usize) -> Vec<(u32, u32, u32)> {
    let rows = to_rows(cols, count, &OWNER_FIELDS);
    rows.chunks_exact(OWNER_RECORD)
        .map(|r| {
            let mut c = Cursor { rest: r };
            (c.u32(), c.u32(), c.u32())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_is_the_documented_size() {
        assert_eq!(SOCKET_BASE, 126);
        assert_eq!(SOCKET_RECORD, 134);
        assert_eq!(OWNER_RECORD, 12);
    }

    #[test]
    fn each_field_has_its_documented_width() {
        let s = Socket::tcp(
            State::Established,
            "127.0.0.1:80".parse().expect("addr"),
            "127.0.0.1:4242".parse().expect("addr"),
        );
        for (f, &w) in SOCKET_FIELDS.iter().enumerate() {
            let mut v = vec![1];
            fill_column(std::slice::from_ref(&s), f, &mut v);
            assert_eq!(v.len(), w, "field {f}");
        }
        let mut v = vec![1];
        fill_column(std::slice::from_ref(&s), SOCKET_FIELDS.len(), &mut v);
        assert!(v.is_empty(), "no field past the last");
    }

    #[test]
    fn columns_and_rows_are_inverse() {
        let rows: Vec<u8> = (0..=255u8).cycle().take(SOCKET_BASE * 7).collect();
        let cols = to_columns(&rows, SOCKET_BASE, &SOCKET_FIELDS);
        assert_eq!(to_rows(&cols, 7, &SOCKET_FIELDS), rows);
        // The first field's column is the first 16 bytes of every row.
        assert_eq!(&cols[16..32], &rows[SOCKET_BASE..SOCKET_BASE + 16]);
    }
}
