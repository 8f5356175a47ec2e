//! Addresses as dumps print them: `ss` (`127.0.0.1:22`, `[::1]:22`, `*:22`, `0.0.0.0:*`,
//! `10.0.0.1%eth0:53`, `[fe80::1]%eth0:546`, older `:::22`), `netstat` (`:::22`, `::1:631`,
//! `0.0.0.0:*`) and `/proc/net/tcp*` (`0100007F:0016`, 32 hex digits for IPv6 in the kernel's
//! byte order). Hand-written on bytes: the IPv4 form is parsed once per socket of a million-line
//! dump, and measured speed demands it (std's parser needs a `&str` and costs several times more).
//! It only parses: it never resolves names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One end of a socket as a dump printed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
    /// `*` or an unspecified address written without a family (`*:22`): the family comes from
    /// the other end or the protocol column.
    pub any: bool,
}

/// `a.b.c.d` on bytes.
pub(crate) fn ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    let mut out = [0u8; 4];
    let mut i = 0usize;
    for (k, slot) in out.iter_mut().enumerate() {
        if k > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut v: u32 = 0;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() || i - start == 3 {
                break;
            }
            v = v * 10 + u32::from(c - b'0');
            i += 1;
        }
        if i == start || v > 255 {
            return None;
        }
        *slot = v as u8;
    }
    (i == b.len()).then(|| Ipv4Addr::from(out))
}

fn ip_any(b: &[u8]) -> Option<IpAddr> {
    if let Some(v4) = ipv4(b) {
        return Some(IpAddr::V4(v4));
    }
    let s = std::str::from_utf8(b).ok()?;
    s.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

fn port(b: &[u8]) -> Option<u16> {
    if b == b"*" {
        return Some(0);
    }
    if b.len() > 5 {
        return None;
    }
    u16::try_from(dec(b)?).ok()
}

/// A decimal with up to three places, times 1000 (`7176.08` → 7176080, `0.031` → 31).
pub(crate) fn thousandths(b: &[u8]) -> Option<u64> {
    let (whole, frac) = match memchr::memchr(b'.', b) {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &b""[..]),
    };
    let mut v = dec(whole)? * 1000;
    let mut scale = 100;
    for &d in frac.iter().take(3) {
        if !d.is_ascii_digit() {
            return None;
        }
        v += u64::from(d - b'0') * scale;
        scale /= 10;
    }
    Some(v)
}

/// An `ss` or `netstat` endpoint: `host:port` where host may be bracketed, carry a `%iface`
/// scope, be `*`, or be an unbracketed IPv6 address (the last colon ends it).
pub(crate) fn endpoint(tok: &[u8]) -> Option<Endpoint> {
    let colon = tok.iter().rposition(|&c| c == b':')?;
    let (host, port_b) = (&tok[..colon], &tok[colon + 1..]);
    let port = port(port_b)?;
    // A `%iface` scope after the address (or inside the brackets).
    let host = match host.iter().position(|&c| c == b'%') {
        Some(p) => {
            let h = &host[..p];
            if h.first() == Some(&b'[') && h.last() != Some(&b']') {
                // `[fe80::1%eth0]`: the bracket closes after the scope.
                return endpoint_bracket_scoped(h, port);
            }
            h
        }
        None => host,
    };
    let host = match (host.first(), host.last()) {
        (Some(b'['), Some(b']')) => &host[1..host.len() - 1],
        _ => host,
    };
    if host == b"*" {
        return Some(Endpoint {
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port,
            any: true,
        });
    }
    let ip = ip_any(host)?;
    Some(Endpoint {
        ip,
        port,
        any: false,
    })
}

fn endpoint_bracket_scoped(h: &[u8], port: u16) -> Option<Endpoint> {
    let ip = ip_any(&h[1..])?;
    Some(Endpoint {
        ip,
        port,
        any: false,
    })
}

/// A `/proc/net/tcp*` endpoint: `0100007F:0016` (IPv4) or 32 hex digits and a port (IPv6), the
/// address in the kernel's byte order, four bytes at a time.
pub(crate) fn proc_endpoint(tok: &[u8]) -> Option<(IpAddr, u16)> {
    let colon = tok.iter().position(|&c| c == b':')?;
    let (addr, port_b) = (&tok[..colon], &tok[colon + 1..]);
    let port = u16::try_from(hex(port_b)?).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::try_from(hex(addr.get(i * 8..i * 8 + 8)?)?).ok()?;
        // The kernel prints each 32-bit word as a host-order number: on the little-endian hosts
        // that make nearly all dumps, the bytes in memory (network order) are its LE bytes.
        Some(w.to_le_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// A hexadecimal number of at most 16 digits.
pub(crate) fn hex(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

/// A decimal number.
pub(crate) fn dec(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str) -> Option<(String, u16, bool)> {
        endpoint(s.as_bytes()).map(|e| (e.ip.to_string(), e.port, e.any))
    }

    #[test]
    fn ss_and_netstat_forms() {
        assert_eq!(ep("127.0.0.1:22"), Some(("127.0.0.1".into(), 22, false)));
        assert_eq!(ep("0.0.0.0:*"), Some(("0.0.0.0".into(), 0, false)));
        assert_eq!(ep("[::1]:22"), Some(("::1".into(), 22, false)));
        assert_eq!(ep("[::]:*"), Some(("::".into(), 0, false)));
        assert_eq!(ep("*:22"), Some(("0.0.0.0".into(), 22, true)));
        assert_eq!(ep("*:*"), Some(("0.0.0.0".into(), 0, true)));
        assert_eq!(ep(":::22"), Some(("::".into(), 22, false)));
        assert_eq!(ep("::1:631"), Some(("::1".into(), 631, false)));
        assert_eq!(
            ep("[::ffff:10.0.0.1]:80"),
            Some(("::ffff:10.0.0.1".into(), 80, false))
        );
        assert_eq!(ep("10.0.0.1%eth0:53"), Some(("10.0.0.1".into(), 53, false)));
        assert_eq!(
            ep("[fe80::1]%eth0:546"),
            Some(("fe80::1".into(), 546, false))
        );
        assert_eq!(
            ep("[fe80::1%eth0]:546"),
            Some(("fe80::1".into(), 546, false))
        );
        assert_eq!(ep("10.0.0.256:1"), None);
        assert_eq!(ep("10.0.0.1:70000"), None);
        assert_eq!(ep("2001:db8::1:2:3:4:5:6:7"), None);
        assert_eq!(ep("10.0.0.1"), None);
    }

    #[test]
    fn proc_net_forms() {
        let (ip, port) = proc_endpoint(b"0100007F:0016").unwrap();
        assert_eq!((ip.to_string(), port), ("127.0.0.1".into(), 22));
        let (ip, _) = proc_endpoint(b"00000000000000000000000001000000:1F90").unwrap();
        assert_eq!(ip.to_string(), "::1");
        assert!(proc_endpoint(b"0100007G:0016").is_none());
    }
}
