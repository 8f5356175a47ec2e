//! SNMP and extended TCP/IP counters of the calling thread's network namespace, from
//! `/proc/thread-self/net/{snmp,netstat,snmp6}`: listen overflows, UDP receive-buffer drops, resets,
//! current connections, and deltas between two reads.
//!
//! It only reads and parses: it writes nothing, must not read `/proc/net` or `/proc/self/net` (those
//! follow the thread group leader, not a thread that entered another namespace with `setns`), and does
//! not judge what a counter means for a diagnosis.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// The per-thread network directory: follows a namespace entered with `setns` on this thread.
pub const NET_DIR: &str = "/proc/thread-self/net";

/// Counters keyed by group (`"Tcp"`, `"TcpExt"`, `"Udp6"`, …) and name (`"ListenOverflows"`).
///
/// Groups from `snmp`/`netstat` are the line prefixes without the colon. `snmp6` names are split after
/// their first `6`: `Udp6RcvbufErrors` is `("Udp6", "RcvbufErrors")`, `Icmp6OutType133` is
/// `("Icmp6", "OutType133")`; a name with no `6` goes to group `"Snmp6"` whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    groups: BTreeMap<String, BTreeMap<String, i64>>,
}

impl Counters {
    /// Read the calling thread's namespace: `snmp` and `netstat` must exist, `snmp6` is optional
    /// (absent when IPv6 is disabled).
    pub fn read() -> io::Result<Counters> {
        Counters::read_from(Path::new(NET_DIR))
    }

    /// Read from a directory laid out like `/proc/thread-self/net` (for tests and other mounts).
    pub fn read_from(dir: &Path) -> io::Result<Counters> {
        let snmp = std::fs::read_to_string(dir.join("snmp"))?;
        let netstat = std::fs::read_to_string(dir.join("netstat"))?;
        let mut c = Counters::parse(&snmp, &netstat);
        match std::fs::read_to_string(dir.join("snmp6")) {
            Ok(text) => c.add_snmp6(&text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(c)
    }

    /// Parse the text of `snmp` and `netstat` (same format: a header line of names and a line of values
    /// per group). Tolerant: a header without its value line, a value line whose length differs from its
    /// header, and garbage lines are skipped.
    pub fn parse(snmp: &str, netstat: &str) -> Counters {
        let mut c = Counters::default();
        c.add_table(snmp);
        c.add_table(netstat);
        c
    }

    /// Add the pairs of `Group: names…` / `Group: values…` lines of an snmp/netstat-style text.
    pub fn add_table(&mut self, text: &str) {
        let mut header: Option<(&str, Vec<&str>)> = None;
        for line in text.lines() {
            let Some((group, rest)) = line.split_once(':') else {
                header = None;
                continue;
            };
            let group = group.trim();
            if group.is_empty() || group.contains(char::is_whitespace) {
                header = None;
                continue;
            }
            let tokens: Vec<&str> = rest.split_whitespace().collect();
            let values: Option<Vec<i64>> = tokens.iter().map(|t| parse_value(t)).collect();
            match (header.take(), values) {
                (Some((g, names)), Some(values)) if g == group => {
                    if names.len() == values.len() {
                        let map = self.groups.entry(group.to_string()).or_default();
                        for (n, v) in names.into_iter().zip(values) {
                            map.insert(n.to_string(), v);
                        }
                    }
                }
                // A line of numbers with no header before it: nothing to name them by.
                (_, Some(_)) => {}
                (_, None) => header = Some((group, tokens)),
            }
        }
    }

    /// Add the `Name value` lines of `snmp6`; lines that are not exactly a name and a number are skipped.
    pub fn add_snmp6(&mut self, text: &str) {
        for line in text.lines() {
            let mut it = line.split_whitespace();
            let (Some(name), Some(value), None) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let Some(value) = parse_value(value) else {
                continue;
            };
            let (group, name) = match name.find('6') {
                Some(i) if i + 1 < name.len() => name.split_at(i + 1),
                _ => ("Snmp6", name),
            };
            self.groups
                .entry(group.to_string())
                .or_default()
                .insert(name.to_string(), value);
        }
    }

    /// One counter: `get("TcpExt", "ListenOverflows")`, `get("Udp", "RcvbufErrors")`.
    pub fn get(&self, group: &str, name: &str) -> Option<i64> {
        self.groups.get(group)?.get(name).copied()
    }

    /// All counters as `(group, name, value)`, ordered by group then name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, i64)> + '_ {
        self.groups
            .iter()
            .flat_map(|(g, m)| m.iter().map(move |(n, v)| (g.as_str(), n.as_str(), *v)))
    }

    /// Set one counter (counters read elsewhere: a snapshot file).
    pub fn set(&mut self, group: &str, name: &str, value: i64) {
        self.groups
            .entry(group.to_string())
            .or_default()
            .insert(name.to_string(), value);
    }

    /// Number of counters.
    pub fn len(&self) -> usize {
        self.groups.values().map(BTreeMap::len).sum()
    }

    /// True when nothing was parsed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `self - earlier` for every counter present in both (saturating at the `i64` bounds). Gauges and
    /// settings (see [`is_gauge`]: `Tcp.CurrEstab`, `Tcp.MaxConn` = -1, `Ip.DefaultTTL`, …) keep
    /// `self`'s value. A counter that went down (the namespace was recreated) gives a negative delta.
    /// The per-type ICMP counters (see [`is_sparse`]) are printed by the kernel only once non-zero, so
    /// one missing from `earlier` counts as 0 there.
    pub fn delta(&self, earlier: &Counters) -> Counters {
        let mut out = Counters::default();
        let none = BTreeMap::new();
        for (group, names) in &self.groups {
            let before = earlier.groups.get(group).unwrap_or(&none);
            let mut map = BTreeMap::new();
            for (name, &now) in names {
                let then = match before.get(name) {
                    Some(&then) => then,
                    None if is_sparse(group, name) => 0,
                    None => continue,
                };
                let v = if is_gauge(group, name) {
                    now
                } else {
                    now.saturating_sub(then)
                };
                map.insert(name.clone(), v);
            }
            if !map.is_empty() {
                out.groups.insert(group.clone(), map);
            }
        }
        out
    }
}

/// True for counters the kernel leaves out while they are 0: `IcmpMsg` (`InType3`, `OutType0`, …) in
/// `snmp` and `Icmp6InType*` / `Icmp6OutType*` in `snmp6`. The set of counters therefore differs
/// between namespaces and over time.
pub fn is_sparse(group: &str, name: &str) -> bool {
    group == "IcmpMsg"
        || (group == "Icmp6" && (name.starts_with("InType") || name.starts_with("OutType")))
}

/// True for values that are a current level or a setting rather than a running count, so a delta keeps
/// the later value.
pub fn is_gauge(group: &str, name: &str) -> bool {
    matches!(
        (group, name),
        ("Ip", "Forwarding")
            | ("Ip", "DefaultTTL")
            | ("Tcp", "RtoAlgorithm")
            | ("Tcp", "RtoMin")
            | ("Tcp", "RtoMax")
            | ("Tcp", "MaxConn")
            | ("Tcp", "CurrEstab")
            | ("MPTcpExt", "MPCurrEstab")
    )
}

/// A counter value: signed (`MaxConn` is -1); an unsigned value beyond `i64` saturates.
fn parse_value(s: &str) -> Option<i64> {
    s.parse::<i64>()
        .ok()
        .or_else(|| s.parse::<u64>().ok().map(|_| i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP: &str = include_str!("../tests/data/net/snmp");
    const NETSTAT: &str = include_str!("../tests/data/net/netstat");
    const SNMP6: &str = include_str!("../tests/data/net/snmp6");

    #[test]
    fn parses_real_snmp_and_netstat() {
        let c = Counters::parse(SNMP, NETSTAT);
        assert_eq!(c.get("Tcp", "MaxConn"), Some(-1));
        assert_eq!(c.get("Tcp", "RtoMax"), Some(120000));
        assert_eq!(c.get("Tcp", "ActiveOpens"), Some(39));
        assert_eq!(c.get("Tcp", "OutRsts"), Some(10));
        assert_eq!(c.get("Udp", "InDatagrams"), Some(42));
        assert_eq!(c.get("Udp", "RcvbufErrors"), Some(0));
        assert_eq!(c.get("Ip", "OutTransmits"), Some(1083));
        assert_eq!(c.get("IcmpMsg", "InType3"), Some(1));
        assert_eq!(c.get("TcpExt", "TW"), Some(29));
        assert_eq!(c.get("TcpExt", "ListenOverflows"), Some(0));
        assert_eq!(c.get("TcpExt", "TCPHPHits"), Some(39));
        assert_eq!(c.get("TcpExt", "TCPAODroppedIcmps"), Some(0));
        assert_eq!(c.get("IpExt", "InOctets"), Some(38908771));
        assert_eq!(c.get("MPTcpExt", "MPCurrEstab"), Some(0));
        assert_eq!(c.get("TcpExt", "NoSuchCounter"), None);
        assert_eq!(c.get("NoSuchGroup", "TW"), None);
        // Every header name got a value.
        let names: usize = SNMP
            .lines()
            .chain(NETSTAT.lines())
            .step_by(2)
            .map(|l| l.split_whitespace().count() - 1)
            .sum();
        assert_eq!(c.len(), names);
    }

    #[test]
    fn parses_real_snmp6() {
        let mut c = Counters::default();
        c.add_snmp6(SNMP6);
        assert_eq!(c.len(), 90);
        assert_eq!(c.get("Ip6", "InReceives"), Some(19));
        assert_eq!(c.get("Ip6", "OutRequests"), Some(28));
        assert_eq!(c.get("Udp6", "RcvbufErrors"), Some(0));
        assert_eq!(c.get("UdpLite6", "MemErrors"), Some(0));
        assert!(c.get("Icmp6", "InMsgs").is_some());
    }

    #[test]
    fn reads_fixture_dir_and_live_namespace() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/net");
        let c = Counters::read_from(&dir).expect("fixture");
        assert_eq!(c.get("Tcp", "MaxConn"), Some(-1));
        assert_eq!(c.get("Ip6", "InReceives"), Some(19));

        let live = Counters::read().expect("live counters");
        assert_eq!(live.get("Tcp", "MaxConn"), Some(-1));
        assert!(live.get("Tcp", "CurrEstab").is_some_and(|v| v >= 0));
        assert!(live.get("TcpExt", "ListenOverflows").is_some());
        assert!(live.get("Udp", "RcvbufErrors").is_some());

        assert!(Counters::read_from(&dir.join("no-such-dir")).is_err());
    }

    #[test]
    fn follows_the_namespace_of_the_reading_thread() {
        let host = Counters::read().expect("host counters");
        let fresh = std::thread::spawn(|| {
            // SAFETY: unshare affects only this thread's namespaces; the thread ends right after.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return None; // not root
            }
            Some(Counters::read())
        })
        .join()
        .expect("thread");
        let Some(fresh) = fresh else { return };
        let fresh = fresh.expect("fresh namespace counters");
        // A new namespace with only a down loopback has seen no traffic at all.
        assert_eq!(fresh.get("Ip", "InReceives"), Some(0));
        assert_eq!(fresh.get("Tcp", "ActiveOpens"), Some(0));
        assert_eq!(fresh.get("TcpExt", "TW"), Some(0));
        let dense = |c: &Counters| c.iter().filter(|(g, n, _)| !is_sparse(g, n)).count();
        assert_eq!(dense(&fresh), dense(&host));
        // The host's own thread still sees the host.
        assert!(
            Counters::read().expect("host").get("Ip", "InReceives") >= host.get("Ip", "InReceives")
        );
    }

    #[test]
    fn tolerates_garbage_and_missing_lines() {
        let snmp = "garbage without colon\n\
                    Tcp: A B C\n\
                    Tcp: 1 2\n\
                    Udp: InDatagrams NoPorts\n\
                    Udp: 5 x\n\
                    Ip: Forwarding\n\
                    Icmp: InMsgs\n\
                    Icmp: 7\n\
                    : 1 2\n\
                    Orphan: 1 2 3\n\
                    Two Words: A\nTwo Words: 1\n\
                    Last: Header only";
        let c = Counters::parse(snmp, "");
        assert_eq!(c.get("Tcp", "A"), None, "length mismatch skipped");
        assert_eq!(c.get("Udp", "InDatagrams"), None, "non-number skipped");
        assert_eq!(c.get("Ip", "Forwarding"), None, "header without values");
        assert_eq!(c.get("Icmp", "InMsgs"), Some(7));
        assert_eq!(c.len(), 1);
        assert!(Counters::parse("", "").is_empty());

        let mut c = Counters::default();
        c.add_snmp6("Ip6InReceives 3\nIp6Bad x\nIp6Extra 1 2\n\nNoDigit 4\nTail6 5\n6 6\n");
        assert_eq!(c.get("Ip6", "InReceives"), Some(3));
        assert_eq!(c.get("Snmp6", "NoDigit"), Some(4));
        assert_eq!(c.get("Snmp6", "Tail6"), Some(5));
        assert_eq!(c.get("Snmp6", "6"), Some(6));
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn huge_unsigned_values_saturate() {
        let c = Counters::parse("IpExt: InOctets\nIpExt: 18446744073709551615\n", "");
        assert_eq!(c.get("IpExt", "InOctets"), Some(i64::MAX));
    }

    #[test]
    fn delta_subtracts_counters_and_keeps_gauges() {
        let a = Counters::parse(
            "Tcp: MaxConn CurrEstab ActiveOpens\nTcp: -1 10 100\nUdp: RcvbufErrors\nUdp: 4\n",
            "TcpExt: ListenOverflows Gone\nTcpExt: 5 1\n",
        );
        let b = Counters::parse(
            "Tcp: MaxConn CurrEstab ActiveOpens\nTcp: -1 7 130\nUdp: RcvbufErrors\nUdp: 1\n",
            "TcpExt: ListenOverflows New\nTcpExt: 12 3\nIpExt: InOctets\nIpExt: 9\n",
        );
        let d = b.delta(&a);
        assert_eq!(d.get("Tcp", "MaxConn"), Some(-1));
        assert_eq!(d.get("Tcp", "CurrEstab"), Some(7));
        assert_eq!(d.get("Tcp", "ActiveOpens"), Some(30));
        assert_eq!(d.get("TcpExt", "ListenOverflows"), Some(7));
        assert_eq!(
            d.get("Udp", "RcvbufErrors"),
            Some(-3),
            "reset shows as negative"
        );
        assert_eq!(d.get("TcpExt", "Gone"), None);
        assert_eq!(d.get("TcpExt", "New"), None);
        assert_eq!(d.get("IpExt", "InOctets"), None);
        assert_eq!(d.len(), 5);

        // ICMP per-type counters appear when they first count.
        let mut before = Counters::parse("Icmp: InMsgs\nIcmp: 1\n", "");
        before.add_snmp6("Icmp6InMsgs 1\n");
        let mut after = Counters::parse(
            "Icmp: InMsgs\nIcmp: 3\nIcmpMsg: InType3 OutType0\nIcmpMsg: 2 5\n",
            "",
        );
        after.add_snmp6("Icmp6InMsgs 2\nIcmp6OutType135 4\nIcmp6Other 9\n");
        let d = after.delta(&before);
        assert_eq!(d.get("Icmp", "InMsgs"), Some(2));
        assert_eq!(d.get("IcmpMsg", "InType3"), Some(2));
        assert_eq!(d.get("IcmpMsg", "OutType0"), Some(5));
        assert_eq!(d.get("Icmp6", "InMsgs"), Some(1));
        assert_eq!(d.get("Icmp6", "OutType135"), Some(4));
        assert_eq!(d.get("Icmp6", "Other"), None);

        let lo = Counters::parse("X: a\nX: -9223372036854775808\n", "");
        let hi = Counters::parse("X: a\nX: 9223372036854775807\n", "");
        assert_eq!(hi.delta(&lo).get("X", "a"), Some(i64::MAX));
        assert_eq!(lo.delta(&hi).get("X", "a"), Some(i64::MIN));

        let real = Counters::parse(SNMP, NETSTAT);
        let zero = real.delta(&real);
        assert_eq!(zero.len(), real.len());
        assert!(zero.iter().all(|(g, n, v)| if is_gauge(g, n) {
            real.get(g, n) == Some(v)
        } else {
            v == 0
        }));
    }
}
