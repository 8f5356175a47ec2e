//! The conntrack table itself (`/proc/net/nf_conntrack` of the calling thread's namespace), read line by
//! line into counts by protocol, TCP state, source and destination — what `conntrack -L | awk | sort |
//! uniq -c` would give, without keeping the entries.

use std::collections::HashMap;
use std::io::{self, BufRead};
use std::path::Path;

/// Where the table is, when the kernel has CONFIG_NF_CONNTRACK_PROCFS.
pub const TABLE_FILE: &str = "/proc/thread-self/net/nf_conntrack";

/// Counts over every entry of the table.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TableCounts {
    pub entries: u64,
    /// `tcp`, `udp`, `icmp`... → entries.
    pub by_proto: HashMap<String, u64>,
    /// TCP state (`ESTABLISHED`, `TIME_WAIT`...) → entries.
    pub by_tcp_state: HashMap<String, u64>,
    /// Original-direction source address → entries.
    pub by_source: HashMap<String, u64>,
    /// Original-direction destination `addr:port` (port only for TCP/UDP) → entries.
    pub by_destination: HashMap<String, u64>,
    /// Entries not yet seen in both directions (`[UNREPLIED]`).
    pub unreplied: u64,
}

impl TableCounts {
    /// The same counts with each breakdown cut to its `n` largest keys (what a snapshot keeps:
    /// a table of a million entries has as many sources).
    pub fn trimmed(&self, n: usize) -> TableCounts {
        let cut = |m: &HashMap<String, u64>| top(m, n).into_iter().collect();
        TableCounts {
            entries: self.entries,
            by_proto: cut(&self.by_proto),
            by_tcp_state: cut(&self.by_tcp_state),
            by_source: cut(&self.by_source),
            by_destination: cut(&self.by_destination),
            unreplied: self.unreplied,
        }
    }
}

/// Read the table of this thread's namespace; `Ok(None)` when the kernel has no such file.
pub fn read_table() -> io::Result<Option<TableCounts>> {
    read_table_from(Path::new(TABLE_FILE))
}

pub fn read_table_from(path: &Path) -> io::Result<Option<TableCounts>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut counts = TableCounts::default();
    for line in io::BufReader::new(file).lines() {
        add_line(&mut counts, &line?);
    }
    Ok(Some(counts))
}

/// Count one entry: a line of /proc/net/nf_conntrack (`ipv4 2 tcp 6 431999 ESTABLISHED src=..
/// dst=.. sport=.. dport=.. [UNREPLIED] src=..`) or of `conntrack -L` (the same without the
/// leading `ipv4 2`). Whether it was one.
pub fn add_line(c: &mut TableCounts, line: &str) -> bool {
    let mut words = line.split_whitespace().peekable();
    if matches!(words.peek(), Some(&("ipv4" | "ipv6"))) {
        words.next();
        words.next();
    }
    let (Some(proto), Some(l4num), Some(timeout)) = (words.next(), words.next(), words.next())
    else {
        return false;
    };
    let numeric = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit());
    if !numeric(l4num) || !numeric(timeout) || !line.contains(" src=") {
        return false;
    }
    c.entries += 1;
    *c.by_proto.entry(proto.to_string()).or_default() += 1;
    let (mut src, mut dst, mut dport) = (None, None, None);
    for w in words {
        if let Some(v) = w.strip_prefix("src=") {
            if src.is_some() {
                break; // the reply direction starts
            }
            src = Some(v);
        } else if let Some(v) = w.strip_prefix("dst=") {
            dst.get_or_insert(v);
        } else if let Some(v) = w.strip_prefix("dport=") {
            dport.get_or_insert(v);
        } else if w == "[UNREPLIED]" {
            c.unreplied += 1;
        } else if proto == "tcp"
            && src.is_none()
            && w.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_')
        {
            *c.by_tcp_state.entry(w.to_string()).or_default() += 1;
        }
    }
    if let Some(s) = src {
        *c.by_source.entry(s.to_string()).or_default() += 1;
    }
    if let Some(d) = dst {
        let key = match dport {
            Some(p) => format!("{d}:{p}"),
            None => d.to_string(),
        };
        *c.by_destination.entry(key).or_default() += 1;
    }
    true
}

/// The `n` largest entries of a count map, largest first (ties by key).
pub fn top(map: &HashMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = map.iter().map(|(k, v)| (k.clone(), *v)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_real_lines() {
        let mut c = TableCounts::default();
        for l in [
            "ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.0.2 dst=10.0.0.1 sport=50000 dport=21 src=10.0.0.1 dst=10.0.0.2 sport=21 dport=50000 [ASSURED] mark=0 zone=0 use=2",
            "ipv4     2 tcp      6 119 TIME_WAIT src=10.0.0.2 dst=10.0.0.1 sport=50001 dport=21 src=10.0.0.1 dst=10.0.0.2 sport=21 dport=50001 [ASSURED] mark=0 zone=0 use=2",
            "ipv4     2 udp      17 29 src=10.0.0.3 dst=10.0.0.53 sport=4000 dport=53 [UNREPLIED] src=10.0.0.53 dst=10.0.0.3 sport=53 dport=4000 mark=0 zone=0 use=2",
            "ipv6     10 icmpv6   58 29 src=::1 dst=::1 type=128 code=0 id=1 src=::1 dst=::1 type=129 code=0 id=1 mark=0 zone=0 use=2",
            // `conntrack -L`: no leading `ipv4 2`; its summary line is not an entry.
            "tcp      6 431999 ESTABLISHED src=10.0.0.9 dst=10.0.0.1 sport=50002 dport=21 src=10.0.0.1 dst=10.0.0.9 sport=21 dport=50002 [ASSURED] mark=0 use=1",
            "conntrack v1.4.7 (conntrack-tools): 5 flow entries have been shown.",
            "garbage",
        ] {
            add_line(&mut c, l);
        }
        assert_eq!(c.entries, 5);
        assert_eq!(c.by_proto["tcp"], 3);
        assert_eq!(c.by_tcp_state["ESTABLISHED"], 2);
        assert_eq!(c.by_tcp_state["TIME_WAIT"], 1);
        assert_eq!(c.by_source["10.0.0.2"], 2);
        assert_eq!(c.by_destination["10.0.0.1:21"], 3);
        assert_eq!(c.by_destination["10.0.0.53:53"], 1);
        assert_eq!(c.by_destination["::1"], 1);
        assert_eq!(c.unreplied, 1);
        assert_eq!(top(&c.by_source, 1), vec![("10.0.0.2".to_string(), 2)]);
        let t = c.trimmed(1);
        assert_eq!((t.entries, t.by_source.len(), t.by_proto.len()), (5, 1, 1));
    }

    #[test]
    fn missing_table_is_none() {
        assert_eq!(
            read_table_from(Path::new("/nonexistent/nf_conntrack")).ok(),
            Some(None)
        );
    }
}
