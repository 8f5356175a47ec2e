//! Netfilter connection tracking of the calling thread's network namespace: table fill
//! (`net.netfilter.nf_conntrack_count` against `nf_conntrack_max`), hash size, and the per-CPU
//! statistics of `/proc/thread-self/net/stat/nf_conntrack` summed (drops when the table is full,
//! failed inserts, long hash chains).
//!
//! It only reads: it never changes a limit, never loads conntrack (no netlink, no nft), and does not
//! list the tracked connections. Conntrack being absent is an answer (`None`), not an error.

use std::io;
use std::path::Path;

use crate::sysctl;

/// Where the per-namespace statistics table lives, for the calling thread's namespace.
pub const STAT_FILE: &str = "/proc/thread-self/net/stat/nf_conntrack";

/// The conntrack table of one namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Conntrack {
    /// Entries now (`nf_conntrack_count`).
    pub count: u64,
    /// Table limit (`nf_conntrack_max`; read-only and host-wide outside the initial namespace).
    pub max: u64,
    /// Hash buckets (`nf_conntrack_buckets`).
    pub buckets: Option<u64>,
    /// Summed per-CPU statistics, when the stat file is there.
    pub stats: Option<ConntrackStats>,
}

/// Per-CPU conntrack statistics summed over all CPUs. Current kernels print `found`, `insert` (and the
/// unnamed `new`, `ignore`, `delete`) as 0 always; the ones that move are `invalid`, `insert_failed`,
/// `drop`, `early_drop`, `error`, `search_restart`, `clash_resolve` and `chain_too_long`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ConntrackStats {
    pub found: u64,
    /// Packets conntrack could not track (malformed, out of window, …).
    pub invalid: u64,
    pub insert: u64,
    /// New entries that could not be inserted (lost a race, or the chain was too long).
    pub insert_failed: u64,
    /// New connections dropped because the table was full and nothing could be evicted.
    pub drop: u64,
    /// Entries evicted early to make room for new ones (table full).
    pub early_drop: u64,
    /// Packets with errors (the `icmp_error` column).
    pub error: u64,
    /// Lookups restarted because the hash table changed under them.
    pub search_restart: u64,
    /// Insert clashes resolved by reusing the other entry (`clashres`).
    pub clash_resolve: u64,
    /// Inserts refused because a hash chain was too long (`chainlength`): too few buckets.
    pub chain_too_long: u64,
}

impl Conntrack {
    /// `count / max` (0 when `max` is 0, which the kernel takes as "no limit").
    pub fn fill(&self) -> f64 {
        if self.max == 0 {
            0.0
        } else {
            self.count as f64 / self.max as f64
        }
    }
}

/// Read the calling thread's namespace; `Ok(None)` when conntrack is not loaded in this kernel or
/// namespace (the sysctls are missing).
pub fn read() -> io::Result<Option<Conntrack>> {
    read_from(Path::new(sysctl::PROC_SYS), Path::new(STAT_FILE))
}

/// Like [`read`] with the sysctl root (normally /proc/sys) and the stat file given.
pub fn read_from(proc_sys: &Path, stat_file: &Path) -> io::Result<Option<Conntrack>> {
    let Some(count) = sysctl::read_u64_at(proc_sys, "net.netfilter.nf_conntrack_count")? else {
        return Ok(None);
    };
    let Some(max) = sysctl::read_u64_at(proc_sys, "net.netfilter.nf_conntrack_max")? else {
        return Ok(None);
    };
    let buckets = sysctl::read_u64_at(proc_sys, "net.netfilter.nf_conntrack_buckets")?;
    let stats = match std::fs::read_to_string(stat_file) {
        Ok(text) => parse_stat(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    Ok(Some(Conntrack {
        count,
        max,
        buckets,
        stats,
    }))
}

/// Sum the CPU rows of a `stat/nf_conntrack` text (a header line of column names, then one row of hex
/// numbers per possible CPU). Columns are found by name; a missing column or a short row counts 0; rows
/// with a token that is not hex are skipped. `None` without a header line.
pub fn parse_stat(text: &str) -> Option<ConntrackStats> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next()?.split_whitespace().collect();
    if header.iter().all(|w| u64::from_str_radix(w, 16).is_ok()) {
        return None;
    }
    let mut s = ConntrackStats::default();
    for row in lines {
        let Some(values) = row
            .split_whitespace()
            .map(|w| u64::from_str_radix(w, 16).ok())
            .collect::<Option<Vec<u64>>>()
        else {
            continue;
        };
        for (name, v) in header.iter().zip(values) {
            let field = match *name {
                "found" => &mut s.found,
                "invalid" => &mut s.invalid,
                "insert" => &mut s.insert,
                "insert_failed" => &mut s.insert_failed,
                "drop" => &mut s.drop,
                "early_drop" => &mut s.early_drop,
                "icmp_error" | "error" => &mut s.error,
                "search_restart" => &mut s.search_restart,
                "clashres" => &mut s.clash_resolve,
                "chainlength" => &mut s.chain_too_long,
                _ => continue,
            };
            *field = field.saturating_add(v);
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../tests/data/net/stat/nf_conntrack");

    const HEADER: &str = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n";

    #[test]
    fn parses_real_table() {
        assert!(REAL.starts_with(HEADER));
        // Two CPUs with 0x14 entries each row (the count repeats: it is not per CPU), all stats 0.
        assert_eq!(parse_stat(REAL), Some(ConntrackStats::default()));
    }

    #[test]
    fn sums_cpu_rows_by_column_name() {
        let text = format!(
            "{HEADER}\
             00000046  00000001 00000002 00000000 00000003 00000000 00000000 00000004 00000005 00000006 00000007 00000008 00000009  00000000 00000000 00000000 0000000a\n\
             00000046  00000010 00000020 00000000 00000030 00000000 00000000 00000040 00000050 00000060 00000070 00000080 00000090  00000000 00000000 00000000 000000a0\n\
             00000046  ffffffff\n\
             00000046  zzzzzzzz 00000001\n"
        );
        let s = parse_stat(&text).expect("stats");
        assert_eq!(
            s,
            ConntrackStats {
                found: 0x22,
                invalid: 0x33,
                insert: 0x55,
                insert_failed: 0x66,
                drop: 0x77,
                early_drop: 0x88,
                error: 0x99,
                search_restart: 0xaa,
                clash_resolve: 0x11 + 0xffff_ffff,
                chain_too_long: 0x44,
            }
        );
    }

    #[test]
    fn older_layouts_and_garbage() {
        // Older kernels: other columns, "searched", "delete_list"; names decide, not positions.
        let old = "entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n\
                   00000010  00000100 00000200 00000001 00000002 00000000 00000000 00000000 00000003 00000004 00000005 00000006 00000007  00000000 00000000 00000000 00000008\n";
        let s = parse_stat(old).expect("stats");
        assert_eq!((s.found, s.invalid, s.insert), (0x200, 2, 3));
        assert_eq!((s.insert_failed, s.drop, s.early_drop), (4, 5, 6));
        assert_eq!((s.error, s.search_restart), (7, 8));
        assert_eq!((s.clash_resolve, s.chain_too_long), (0, 0));

        // Only some columns: the others are 0.
        let few = parse_stat("drop early_drop\n1 2\n3\n").expect("stats");
        assert_eq!((few.drop, few.early_drop, few.invalid), (4, 2, 0));

        assert_eq!(parse_stat(""), None);
        assert_eq!(parse_stat("\n\n"), None);
        assert_eq!(parse_stat("00000001 00000002\n"), None, "no header");
        assert_eq!(parse_stat(HEADER), Some(ConntrackStats::default()));
    }

    #[test]
    fn reads_fixture_and_tolerates_missing_conntrack() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        struct Cleanup(std::path::PathBuf);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let t = std::env::temp_dir().join(format!("sockdoc-conntrack-{}", std::process::id()));
        let _cleanup = Cleanup(t.clone());
        let nf = t.join("net/netfilter");
        std::fs::create_dir_all(&nf).expect("mkdir");
        let stat = data.join("net/stat/nf_conntrack");
        {
            // No sysctls: not loaded.
            assert_eq!(read_from(&t, &stat).expect("read"), None);
            std::fs::write(nf.join("nf_conntrack_count"), "20\n").expect("write");
            std::fs::write(nf.join("nf_conntrack_max"), "262144\n").expect("write");
            let ct = read_from(&t, &t.join("no-stat"))
                .expect("read")
                .expect("loaded");
            assert_eq!(
                (ct.count, ct.max, ct.buckets, ct.stats),
                (20, 262144, None, None)
            );
            std::fs::write(nf.join("nf_conntrack_buckets"), "262144\n").expect("write");
            let ct = read_from(&t, &stat).expect("read").expect("loaded");
            assert_eq!(ct.buckets, Some(262144));
            assert_eq!(ct.stats, Some(ConntrackStats::default()));
            assert!((ct.fill() - 20.0 / 262144.0).abs() < 1e-12);
            std::fs::write(nf.join("nf_conntrack_count"), "lots\n").expect("write");
            assert!(read_from(&t, &stat).is_err());
        }
    }

    #[test]
    fn live_read_is_ok_either_way() {
        match read().expect("conntrack read") {
            None => assert!(!sysctl::exists("net.netfilter.nf_conntrack_count")),
            Some(ct) => {
                assert!(ct.max > 0, "{ct:?}");
                assert!(ct.buckets.is_some_and(|b| b > 0), "{ct:?}");
                assert!(ct.stats.is_some(), "{ct:?}");
            }
        }
        assert_eq!(Conntrack::default().fill(), 0.0);
    }

    #[test]
    fn fresh_namespace_starts_empty() {
        let seen = std::thread::spawn(|| {
            // SAFETY: unshare affects only this thread's namespaces; the thread ends right after.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return None; // not root
            }
            Some(read())
        })
        .join()
        .expect("thread");
        let Some(seen) = seen else { return };
        if let Some(ct) = seen.expect("read in a fresh namespace") {
            assert_eq!(ct.count, 0, "{ct:?}");
            assert_eq!(ct.stats.map(|s| s.drop), Some(0), "{ct:?}");
        }
    }
}
