//! What the doctor reads besides sockets, from text: `sysctl -a` (`key = value`; the keys of
//! [`Sysctls`] and `fs.file-nr`), descriptor limits (`/proc/PID/limits`' `Max open files` line,
//! `ulimit -a`'s `open files (-n) 1024` or `-n: file descriptors 1024`), and `netstat -s`, whose
//! sentences map to the kernel's counter names as below (a line `Name: value`, as netstat prints
//! the counters it has no sentence for, keeps its name):
//!
//! | `netstat -s` line | counter |
//! |---|---|
//! | `N times the listen queue of a socket overflowed` | `TcpExt.ListenOverflows` |
//! | `N SYNs to LISTEN sockets dropped` (or `ignored`) | `TcpExt.ListenDrops` |
//! | `N SYN cookies sent` / `received` | `TcpExt.SyncookiesSent` / `SyncookiesRecv` |
//! | `N invalid SYN cookies received` | `TcpExt.SyncookiesFailed` |
//! | `N packet receive errors` | `Udp.InErrors` |
//! | `N receive buffer errors` / `send buffer errors` | `Udp.RcvbufErrors` / `SndbufErrors` |
//! | `N packets received` / `sent` (Udp) | `Udp.InDatagrams` / `OutDatagrams` |
//! | `N packets to unknown port received` | `Udp.NoPorts` |
//! | `N active connection openings` / `passive ...` | `Tcp.ActiveOpens` / `PassiveOpens` |
//! | `N failed connection attempts` | `Tcp.AttemptFails` |
//! | `N connection resets received` | `Tcp.EstabResets` |
//! | `N connections established` | `Tcp.CurrEstab` |
//! | `N segments retransmitted` | `Tcp.RetransSegs` |
//! | `N resets sent` | `Tcp.OutRsts` |
//! | `N connections reset due to unexpected data` / `early user close` | `TcpExt.TCPAbortOnData` / `TCPAbortOnClose` |
//! | `N connections aborted due to timeout` | `TcpExt.TCPAbortOnTimeout` |
//! | `TCPReqQFullDrop: N`, `TCPTimeWaitOverflow: N`, ... | the name given |

use sockdoc_core::doctor::kernel::Sysctls;
use sockdoc_proc::conntrack::Conntrack;

use crate::collect::NsBuild;
use sockdoc_proc::counters::Counters;
use sockdoc_proc::limits::{FileNr, NoFile};

/// A `sysctl -a` line: `net.ipv4.tcp_keepalive_time = 7200` (also `/`-separated keys).
pub(crate) fn sysctl_line(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line.split_once(" = ")?;
    let k = k.trim();
    let ok = !k.is_empty()
        && k.contains(['.', '/'])
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'/' | b'*'));
    ok.then(|| (k, v.trim()))
}

/// Set what a sysctl tells; whether the doctor reads it.
pub(crate) fn apply_sysctl(
    key: &str,
    val: &str,
    s: &mut Sysctls,
    file_nr: &mut Option<FileNr>,
) -> bool {
    let key = key.replace('/', ".");
    if sockdoc_core::sysctl_audit::KEYS.contains(&key.as_str()) {
        let collapsed = val.split_whitespace().collect::<Vec<_>>().join(" ");
        s.values.insert(key.clone(), collapsed);
    }
    let n = || {
        val.split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
    };
    let slot = match key.as_str() {
        "net.ipv4.tcp_keepalive_time" => &mut s.keepalive_time,
        "net.ipv4.tcp_keepalive_probes" => &mut s.keepalive_probes,
        "net.ipv4.tcp_keepalive_intvl" => &mut s.keepalive_intvl,
        "net.ipv4.tcp_max_tw_buckets" => &mut s.max_tw_buckets,
        "net.ipv4.tcp_retries2" => &mut s.retries2,
        "net.ipv4.tcp_syncookies" => &mut s.syncookies,
        "net.ipv4.tcp_max_syn_backlog" => &mut s.max_syn_backlog,
        "net.core.somaxconn" => &mut s.somaxconn,
        "net.ipv4.tcp_fin_timeout" => &mut s.fin_timeout,
        "net.ipv4.tcp_tw_reuse" => &mut s.tw_reuse,
        "net.ipv4.tcp_max_orphans" => &mut s.max_orphans,
        "net.ipv4.ip_local_port_range" => {
            let mut it = val.split_whitespace().map(|v| v.parse::<u64>().ok());
            if let (Some(Some(lo)), Some(Some(hi))) = (it.next(), it.next()) {
                s.port_range = Some((lo, hi));
            }
            return true;
        }
        "fs.file-nr" => {
            *file_nr = sockdoc_proc::limits::parse_file_nr(val);
            return true;
        }
        _ => return false,
    };
    *slot = n();
    true
}

/// The conntrack table's fill from `sysctl -a` (`net.netfilter.nf_conntrack_count`, `_max`,
/// `_buckets`) into `ct`; whether `key` was one of them.
pub(crate) fn conntrack_sysctl(key: &str, val: &str, ct: &mut Option<Conntrack>) -> bool {
    let n = || val.trim().parse::<u64>().ok();
    let key = key.replace('/', ".");
    let Some(name) = key.strip_prefix("net.netfilter.nf_conntrack_") else {
        return false;
    };
    match name {
        "count" => ct.get_or_insert_with(Conntrack::default).count = n().unwrap_or(0),
        "max" => ct.get_or_insert_with(Conntrack::default).max = n().unwrap_or(0),
        "buckets" => ct.get_or_insert_with(Conntrack::default).buckets = n(),
        _ => return false,
    }
    true
}

/// A line of `conntrack -S` (`cpu=0 found=0 invalid=3 ... drop=0 early_drop=0 ...`), summed into
/// `ct`'s statistics; whether it was one.
pub(crate) fn conntrack_stats(line: &str, ct: &mut Option<Conntrack>) -> bool {
    if !line.starts_with("cpu=") || !line.contains(" drop=") {
        return false;
    }
    let stats = ct
        .get_or_insert_with(Conntrack::default)
        .stats
        .get_or_insert_with(Default::default);
    for (k, v) in line.split_whitespace().filter_map(|w| w.split_once('=')) {
        let Ok(v) = v.parse::<u64>() else { continue };
        let slot = match k {
            "found" => &mut stats.found,
            "invalid" => &mut stats.invalid,
            "insert" => &mut stats.insert,
            "insert_failed" => &mut stats.insert_failed,
            "drop" => &mut stats.drop,
            "early_drop" => &mut stats.early_drop,
            "error" => &mut stats.error,
            "search_restart" => &mut stats.search_restart,
            "clash_resolve" => &mut stats.clash_resolve,
            "chaintoolong" => &mut stats.chain_too_long,
            _ => continue,
        };
        *slot += v;
    }
    true
}

/// A descriptor limit line: `/proc/PID/limits`' `Max open files  1024  524288  files`, or
/// `ulimit -a`'s `open files                      (-n) 1024` / `-n: file descriptors  1024`
/// (ulimit shows the soft limit only).
pub(crate) fn nofile(line: &str) -> Option<NoFile> {
    if line.starts_with("Max open files") {
        return sockdoc_proc::limits::parse_limits(line);
    }
    let val = if let Some(rest) = line.strip_prefix("open files") {
        rest.trim().strip_prefix("(-n)")?
    } else if let Some(rest) = line.strip_prefix("-n:") {
        rest.trim().strip_prefix("file descriptors")?
    } else {
        return None;
    };
    let soft = match val.trim() {
        "unlimited" => None,
        v => Some(v.parse().ok()?),
    };
    Some(NoFile { soft, hard: None })
}

/// Whether a line is one `/proc/PID/limits` or `ulimit -a` prints (read, but not kept).
pub(crate) fn is_limits_line(line: &str) -> bool {
    line.starts_with("Limit ") && line.contains("Soft Limit")
        || line.starts_with("Max ")
        || line.contains(" (-") && line.contains(") ")
        || line.len() > 3 && line.starts_with('-') && line.as_bytes()[2] == b':'
}

/// A `netstat -s` section line (`Tcp:`, `TcpExt:`), its group.
pub(crate) fn netstat_s_section(line: &str) -> Option<&str> {
    let g = line.strip_suffix(':')?;
    (!g.is_empty() && !line.starts_with(' ') && g.bytes().all(|c| c.is_ascii_alphanumeric()))
        .then_some(g)
}

/// One indented line of a `netstat -s` section `group` into `c`; whether it was one (a
/// sentence with no counter name above is read and left aside).
pub(crate) fn netstat_s_line(group: &str, line: &str, c: &mut Counters) -> bool {
    if !line.starts_with(' ') && !line.starts_with('\t') {
        return false;
    }
    let t = line.trim();
    if t.ends_with(':') {
        // A sub-heading (`ICMP input histogram:`).
        return true;
    }
    if let Some((name, v)) = t.split_once(": ") {
        if let (true, Ok(v)) = (!name.contains(' '), v.trim().parse::<i64>()) {
            c.set(group, name, v);
            return true;
        }
    }
    let Some((n, phrase)) = t.split_once(' ') else {
        return false;
    };
    let Ok(n) = n.parse::<i64>() else {
        // `Quick ack mode was activated 12 times` and the like: a sentence without a mapped name.
        return t.bytes().any(|c| c.is_ascii_digit());
    };
    if let Some((g, name)) = sentence(group, phrase) {
        c.set(g, name, n);
    }
    true
}

fn sentence(group: &str, phrase: &str) -> Option<(&'static str, &'static str)> {
    Some(match (group, phrase) {
        (_, "times the listen queue of a socket overflowed") => ("TcpExt", "ListenOverflows"),
        (_, "SYNs to LISTEN sockets dropped" | "SYNs to LISTEN sockets ignored") => {
            ("TcpExt", "ListenDrops")
        }
        (_, "SYN cookies sent") => ("TcpExt", "SyncookiesSent"),
        (_, "SYN cookies received") => ("TcpExt", "SyncookiesRecv"),
        (_, "invalid SYN cookies received") => ("TcpExt", "SyncookiesFailed"),
        (_, "connections reset due to unexpected data") => ("TcpExt", "TCPAbortOnData"),
        (_, "connections reset due to early user close") => ("TcpExt", "TCPAbortOnClose"),
        (_, "connections aborted due to timeout") => ("TcpExt", "TCPAbortOnTimeout"),
        ("Udp", "packet receive errors") => ("Udp", "InErrors"),
        ("Udp", "receive buffer errors") => ("Udp", "RcvbufErrors"),
        ("Udp", "send buffer errors") => ("Udp", "SndbufErrors"),
        ("Udp", "packets received") => ("Udp", "InDatagrams"),
        ("Udp", "packets sent") => ("Udp", "OutDatagrams"),
        ("Udp", "packets to unknown port received") => ("Udp", "NoPorts"),
        ("Tcp", "active connection openings" | "active connections openings") => {
            ("Tcp", "ActiveOpens")
        }
        ("Tcp", "passive connection openings") => ("Tcp", "PassiveOpens"),
        ("Tcp", "failed connection attempts") => ("Tcp", "AttemptFails"),
        ("Tcp", "connection resets received") => ("Tcp", "EstabResets"),
        ("Tcp", "connections established") => ("Tcp", "CurrEstab"),
        ("Tcp", "segments retransmitted" | "segments retransmited") => ("Tcp", "RetransSegs"),
        ("Tcp", "resets sent") => ("Tcp", "OutRsts"),
        _ => return None,
    })
}

/// A line of `sysctl -a` into `ns` (what the doctor reads, the audited values, the conntrack
/// table's fill): (whether the line was sysctl's, whether it was a setting).
pub(crate) fn sysctl_into(ns: &mut NsBuild, line: &str) -> (bool, bool) {
    let Some((k, v)) = sysctl_line(line) else {
        // `sysctl: permission denied on key ...` and the like: sysctl's own complaints.
        return (line.starts_with("sysctl: "), false);
    };
    let mut file_nr = None;
    let kernel = ns.kernel();
    if apply_sysctl(k, v, &mut kernel.sysctls, &mut file_nr) && file_nr.is_some() {
        kernel.file_nr = file_nr;
    }
    conntrack_sysctl(k, v, &mut kernel.conntrack_after);
    (true, true)
}

/// An entry of `/proc/net/nf_conntrack` or `conntrack -L` (or the latter's summary line), or a
/// line of `conntrack -S`, into `ns`; whether it was one.
pub(crate) fn conntrack_into(ns: &mut NsBuild, line: &str) -> bool {
    if conntrack_stats(line, &mut ns.kernel().conntrack_after) {
        return true;
    }
    let table = ns.conntrack_table.get_or_insert_with(Default::default);
    sockdoc_proc::conntrack_table::add_line(table, line) || line.starts_with("conntrack v")
}

/// A line of `/proc/PID/limits` or `ulimit -a` into `ns` (the limit of `pid` when the file
/// said whose); whether it was one.
pub(crate) fn limits_into(ns: &mut NsBuild, pid: Option<u32>, line: &str) -> bool {
    if let Some(l) = nofile(line) {
        ns.nofile.push((pid, l));
        return true;
    }
    is_limits_line(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctls_and_limits() {
        let mut s = Sysctls::default();
        let mut f = None;
        let (k, v) = sysctl_line("net.ipv4.ip_local_port_range = 32768\t60999").unwrap();
        assert!(apply_sysctl(k, v, &mut s, &mut f));
        let (k, v) = sysctl_line("net.ipv4.tcp_keepalive_time = 300").unwrap();
        assert!(apply_sysctl(k, v, &mut s, &mut f));
        let (k, v) = sysctl_line("fs.file-nr = 1234\t0\t9223372036854775807").unwrap();
        assert!(apply_sysctl(k, v, &mut s, &mut f));
        assert_eq!(s.port_range, Some((32768, 60999)));
        assert_eq!(s.keepalive_time, Some(300));
        assert_eq!(f.map(|f| f.allocated), Some(1234));
        assert!(sysctl_line("tcp 0 0 1.2.3.4:5 = x").is_none());
        assert_eq!(
            nofile("open files                          (-n) 1024").and_then(|n| n.soft),
            Some(1024)
        );
        assert_eq!(
            nofile("-n: file descriptors               4096").and_then(|n| n.soft),
            Some(4096)
        );
        let l = nofile("Max open files            1024                 524288               files")
            .unwrap();
        assert_eq!((l.soft, l.hard), (Some(1024), Some(524288)));
    }

    #[test]
    fn netstat_s_sentences_map_to_counters() {
        let mut c = Counters::default();
        assert_eq!(netstat_s_section("TcpExt:"), Some("TcpExt"));
        assert!(netstat_s_line(
            "TcpExt",
            "    1234 times the listen queue of a socket overflowed",
            &mut c
        ));
        assert!(netstat_s_line(
            "TcpExt",
            "    1240 SYNs to LISTEN sockets dropped",
            &mut c
        ));
        assert!(netstat_s_line("TcpExt", "    TCPReqQFullDrop: 7", &mut c));
        assert!(netstat_s_line(
            "TcpExt",
            "    Quick ack mode was activated 12 times",
            &mut c
        ));
        assert!(netstat_s_line(
            "Udp",
            "    99 receive buffer errors",
            &mut c
        ));
        assert!(!netstat_s_line("Udp", "tcp 0 0", &mut c));
        assert_eq!(c.get("TcpExt", "ListenOverflows"), Some(1234));
        assert_eq!(c.get("TcpExt", "ListenDrops"), Some(1240));
        assert_eq!(c.get("TcpExt", "TCPReqQFullDrop"), Some(7));
        assert_eq!(c.get("Udp", "RcvbufErrors"), Some(99));
    }
}
