//! `/proc/net/sockstat{,6}` totals of the calling thread's network namespace: a cheap estimate of how many
//! sockets a dump will return, so buffers are sized once.

/// Socket counts from sockstat files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SockStat {
    pub tcp_inuse: u64,
    /// TCP sockets no process holds any more (closed with data or FIN in flight).
    pub tcp_orphan: u64,
    pub tcp_tw: u64,
    pub tcp6_inuse: u64,
    pub udp_inuse: u64,
    pub udp6_inuse: u64,
    /// `sockstat` (IPv4) and `sockstat6` could be read: the counts of a family are known, not zero
    /// for want of the file.
    pub read_v4: bool,
    pub read_v6: bool,
}

impl SockStat {
    /// Read the calling thread's namespace's totals; missing files read as zero.
    pub fn read() -> SockStat {
        let mut s = SockStat::default();
        if let Ok(text) = std::fs::read_to_string("/proc/thread-self/net/sockstat") {
            s.tcp_inuse = field(&text, "TCP:", "inuse");
            s.tcp_orphan = field(&text, "TCP:", "orphan");
            s.tcp_tw = field(&text, "TCP:", "tw");
            s.udp_inuse = field(&text, "UDP:", "inuse");
            s.read_v4 = true;
        }
        if let Ok(text) = std::fs::read_to_string("/proc/thread-self/net/sockstat6") {
            s.tcp6_inuse = field(&text, "TCP6:", "inuse");
            s.udp6_inuse = field(&text, "UDP6:", "inuse");
            s.read_v6 = true;
        }
        s
    }
}

/// The number after `key` on the line starting with `line`.
fn field(text: &str, line: &str, key: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(line))
        .and_then(|l| {
            let mut it = l.split_whitespace();
            while let Some(w) = it.next() {
                if w == key {
                    return it.next().and_then(|v| v.parse().ok());
                }
            }
            None
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sockstat_lines() {
        let t = "sockets: used 10\nTCP: inuse 5 orphan 0 tw 7 alloc 9 mem 1\nUDP: inuse 3 mem 0\n";
        assert_eq!(field(t, "TCP:", "inuse"), 5);
        assert_eq!(field(t, "TCP:", "tw"), 7);
        assert_eq!(field(t, "UDP:", "inuse"), 3);
        assert_eq!(field(t, "RAW:", "inuse"), 0);
    }
}
