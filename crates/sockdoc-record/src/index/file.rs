//! The bytes of the first-seen index file: a preamble (magic, version, the boot it belongs to),
//! then blocks, each `len u32 · crc32 u32 · payload`. A payload is the time of the scan it records
//! and groups of cookies first seen at one time: `varint scan_ms · varint groups · (varint time_ms
//! · varint count · varint cookie deltas)*`, cookies sorted within a group. A scan appends one block
//! (one group: the cookies new at that scan, maybe none); a compaction writes one block of every
//! live cookie. Decoding never trusts a length before the bytes are there.

/// The first bytes of the file.
pub const MAGIC: [u8; 8] = *b"\x89SDSEEN\n";

/// The format this build writes and the newest it reads.
pub const VERSION: u32 = 1;

/// A block may not claim more than this (a damaged length would otherwise be believed).
const MAX_BLOCK: usize = 1 << 30;

/// Cookies first seen at one time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    pub time_ms: u64,
    /// Sorted ascending.
    pub cookies: Vec<u64>,
}

/// The preamble: magic, version, and the boot id (cookies are counted from zero at every boot).
pub fn preamble(boot: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + boot.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    let b = &boot.as_bytes()[..boot.len().min(255)];
    out.push(b.len() as u8);
    out.extend_from_slice(b);
    out
}

/// Why a file is not an index this build can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Bad {
    #[error("not a sockdoc first-seen index (no magic)")]
    NotIndex,
    #[error("written by a newer sockdoc (index format {0}; this sockdoc reads up to {VERSION})")]
    Newer(u32),
    #[error("cut short in its first bytes")]
    Truncated,
}

/// The boot id of the preamble and where the blocks start.
pub fn read_preamble(bytes: &[u8]) -> Result<(String, usize), Bad> {
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        return Err(Bad::NotIndex);
    }
    let v = bytes.get(8..12).ok_or(Bad::Truncated)?;
    let version = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
    if version > VERSION || version == 0 {
        return Err(Bad::Newer(version));
    }
    let n = usize::from(*bytes.get(12).ok_or(Bad::Truncated)?);
    let boot = bytes.get(13..13 + n).ok_or(Bad::Truncated)?;
    Ok((String::from_utf8_lossy(boot).into_owned(), 13 + n))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// One block recording the scan at `scan_ms`, with `groups` (each group's cookies sorted).
pub fn block(scan_ms: u64, groups: &[Group]) -> Vec<u8> {
    let mut payload =
        Vec::with_capacity(16 + groups.iter().map(|g| g.cookies.len() * 3).sum::<usize>());
    put_varint(&mut payload, scan_ms);
    put_varint(&mut payload, groups.len() as u64);
    for g in groups {
        put_varint(&mut payload, g.time_ms);
        put_varint(&mut payload, g.cookies.len() as u64);
        let mut prev = 0u64;
        for &c in &g.cookies {
            put_varint(&mut payload, c.wrapping_sub(prev));
            prev = c;
        }
    }
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// The next block at `*at`: its scan time, and each cookie with its first-seen time given to
/// `each`. `None` (nothing consumed) when the bytes end, or the block is cut short or damaged.
pub fn next_block(bytes: &[u8], at: &mut usize, each: &mut dyn FnMut(u64, u64)) -> Option<u64> {
    let head = bytes.get(*at..*at + 8)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len > MAX_BLOCK {
        return None;
    }
    let payload = bytes.get(*at + 8..*at + 8 + len)?;
    if crc32fast::hash(payload) != crc {
        return None;
    }
    let scan = decode_payload(payload, each)?;
    *at += 8 + len;
    Some(scan)
}

fn decode_payload(p: &[u8], each: &mut dyn FnMut(u64, u64)) -> Option<u64> {
    let mut at = 0;
    let scan = get_varint(p, &mut at)?;
    let groups = get_varint(p, &mut at)?;
    for _ in 0..groups {
        let time = get_varint(p, &mut at)?;
        let n = get_varint(p, &mut at)?;
        let mut c = 0u64;
        for _ in 0..n {
            c = c.wrapping_add(get_varint(p, &mut at)?);
            each(c, time);
        }
    }
    Some(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_read_back_and_a_cut_or_flipped_one_is_refused() {
        let mut bytes = preamble("b0a7-boot");
        let g = [
            Group {
                time_ms: 1000,
                cookies: vec![3, 4, 900, u64::MAX - 1],
            },
            Group {
                time_ms: 2000,
                cookies: vec![],
            },
        ];
        bytes.extend(block(2000, &g));
        bytes.extend(block(
            3000,
            &[Group {
                time_ms: 3000,
                cookies: vec![7],
            }],
        ));
        let (boot, mut at) = read_preamble(&bytes).expect("preamble");
        assert_eq!(boot, "b0a7-boot");
        let mut got = Vec::new();
        let mut scans = Vec::new();
        while let Some(s) = next_block(&bytes, &mut at, &mut |c, t| got.push((c, t))) {
            scans.push(s);
        }
        assert_eq!(at, bytes.len());
        assert_eq!(scans, [2000, 3000]);
        assert_eq!(
            got,
            [
                (3, 1000),
                (4, 1000),
                (900, 1000),
                (u64::MAX - 1, 1000),
                (7, 3000)
            ]
        );
        // The last block cut short: the first still reads, the second is refused.
        let cut = &bytes[..bytes.len() - 1];
        let (_, mut at) = read_preamble(cut).expect("preamble");
        let mut n = 0;
        while next_block(cut, &mut at, &mut |_, _| n += 1).is_some() {}
        assert_eq!(n, 4);
        // A flipped byte fails the checksum.
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        let (_, mut at) = read_preamble(&flipped).expect("preamble");
        let mut n = 0;
        while next_block(&flipped, &mut at, &mut |_, _| n += 1).is_some() {}
        assert_eq!(n, 4);
        assert_eq!(read_preamble(b"garbage!garbage"), Err(Bad::NotIndex));
    }
}
