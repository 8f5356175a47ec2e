//! Kernel settings under `/proc/sys` by their sysctl(8) names, and the `key = value` lines of the sysctl
//! configuration files that set them at boot, so a diagnosis can say what a setting is and where it
//! was configured.
//!
//! It only reads: it never writes a setting and never runs `sysctl`. Net settings
//! (`net.ipv4.*`, `net.core.*`, `net.netfilter.*`) follow the network namespace of the thread that
//! opens the file, so they must be read on the thread that entered the namespace. Names are checked
//! before use: no `..`, no empty part, no escape from the root.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Where the kernel shows its settings.
pub const PROC_SYS: &str = "/proc/sys";

/// The sysctl.d directories, highest priority first (a file in /etc masks one of the same name in
/// /run, which masks one in /usr/local/lib, …).
pub const CONFIG_DIRS: [&str; 5] = [
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
];

/// The classic single file, applied after the sysctl.d files.
pub const SYSCTL_CONF: &str = "/etc/sysctl.conf";

/// The parts of a sysctl name, as sysctl(8) reads it: the first separator decides the form. In dotted
/// form (`net.ipv4.conf.eth0/100.rp_filter`) a `/` stands for a dot inside a part (`eth0.100`); in
/// slash form (`net/ipv4/conf/eth0.100/rp_filter`) parts are split on `/` only. `None` for an empty
/// name, an empty part, a `.` or `..` part, or a NUL.
fn parts(name: &str) -> Option<Vec<String>> {
    let name = name.trim();
    if name.is_empty() || name.contains('\0') {
        return None;
    }
    let slash_form = name
        .find(['.', '/'])
        .is_some_and(|i| name.as_bytes()[i] == b'/');
    let parts: Vec<String> = if slash_form {
        name.split('/').map(str::to_string).collect()
    } else {
        name.split('.').map(|p| p.replace('/', ".")).collect()
    };
    if parts.iter().any(|p| p.is_empty() || p == "." || p == "..") {
        return None;
    }
    Some(parts)
}

/// Path under /proc/sys for a sysctl name, dotted (`net.ipv4.tcp_fin_timeout`) or slash form
/// (`net/ipv4/tcp_fin_timeout`); `None` for names that are malformed or would leave /proc/sys.
pub fn path_of(name: &str) -> Option<PathBuf> {
    path_in(Path::new(PROC_SYS), name)
}

/// Like [`path_of`] under another root (a copy of /proc/sys in tests).
pub fn path_in(root: &Path, name: &str) -> Option<PathBuf> {
    let mut p = root.to_path_buf();
    p.extend(parts(name)?);
    Some(p)
}

/// The canonical dotted form of a name (`net/ipv4/conf/eth0.100/rp_filter` →
/// `net.ipv4.conf.eth0/100.rp_filter`), to compare names written either way; `None` when malformed.
pub fn normalize(name: &str) -> Option<String> {
    let parts: Vec<String> = parts(name)?.iter().map(|p| p.replace('.', "/")).collect();
    Some(parts.join("."))
}

/// Value of a sysctl by dotted name ("net.ipv4.tcp_keepalive_time"), trimmed; `Ok(None)` if the kernel
/// has no such setting (or the name is a directory such as `net.ipv4`). A malformed name is an
/// `InvalidInput` error; a write-only setting (`net.ipv4.route.flush`) is `PermissionDenied` even for
/// root; a few settings refuse reads while unset (`net.ipv6.conf.all.stable_secret`: `EIO`).
pub fn read(name: &str) -> io::Result<Option<String>> {
    read_at(Path::new(PROC_SYS), name)
}

/// Like [`read`] under another root.
pub fn read_at(root: &Path, name: &str) -> io::Result<Option<String>> {
    let path = path_in(root, name).ok_or_else(|| bad_name(name))?;
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).trim().to_string())),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The first number of a setting (for `"32768\t60999"` use [`read_range`]).
pub fn read_u64(name: &str) -> io::Result<Option<u64>> {
    read_u64_at(Path::new(PROC_SYS), name)
}

/// Like [`read_u64`] under another root.
pub fn read_u64_at(root: &Path, name: &str) -> io::Result<Option<u64>> {
    let Some(v) = read_u64s_at(root, name)? else {
        return Ok(None);
    };
    v.first()
        .copied()
        .map(Some)
        .ok_or_else(|| not_numbers(name, ""))
}

/// The first two numbers of a setting: `net.ipv4.ip_local_port_range` → `(32768, 60999)`.
pub fn read_range(name: &str) -> io::Result<Option<(u64, u64)>> {
    let Some(v) = read_u64s(name)? else {
        return Ok(None);
    };
    match v[..] {
        [lo, hi, ..] => Ok(Some((lo, hi))),
        _ => Err(not_numbers(name, "two ")),
    }
}

/// All numbers of a setting: `net.ipv4.tcp_mem` → `[min, pressure, max]`. A value that is not a list
/// of unsigned numbers is an `InvalidData` error.
pub fn read_u64s(name: &str) -> io::Result<Option<Vec<u64>>> {
    read_u64s_at(Path::new(PROC_SYS), name)
}

/// Like [`read_u64s`] under another root.
pub fn read_u64s_at(root: &Path, name: &str) -> io::Result<Option<Vec<u64>>> {
    let Some(text) = read_at(root, name)? else {
        return Ok(None);
    };
    parse_u64s(&text)
        .map(Some)
        .ok_or_else(|| not_numbers(name, ""))
}

/// The whitespace-separated unsigned numbers of a value; `None` if any is not one.
pub fn parse_u64s(text: &str) -> Option<Vec<u64>> {
    text.split_whitespace().map(|w| w.parse().ok()).collect()
}

/// True when the kernel has this setting (readable or not).
pub fn exists(name: &str) -> bool {
    path_of(name).is_some_and(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
}

fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || matches!(e.raw_os_error(), Some(libc::EISDIR | libc::ENOTDIR))
}

fn bad_name(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a sysctl name: {name:?}"),
    )
}

fn not_numbers(name: &str, how_many: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("sysctl {name} is not {how_many}unsigned numbers"),
    )
}

/// One `key = value` line found in sysctl config files.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigEntry {
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// The key as written, without a leading `-` (may be in slash form or hold a glob such as
    /// `net.ipv4.conf.*.rp_filter`; compare with [`normalize`]).
    pub key: String,
    pub value: String,
    /// The line started with `-`: failures to apply it are ignored by systemd-sysctl.
    pub ignore_errors: bool,
}

/// [`config_entries`], each with whether this kernel has its key (what `sysctl check` and the
/// doctor judge config files by).
pub fn config_entries_known() -> Vec<(ConfigEntry, bool)> {
    config_entries()
        .into_iter()
        .map(|e| {
            let known = exists(&e.key);
            (e, known)
        })
        .collect()
}

/// All entries of the sysctl.d directories ([`CONFIG_DIRS`]) and /etc/sysctl.conf, in the order they are
/// applied: later entries override earlier ones for the same key.
pub fn config_entries() -> Vec<ConfigEntry> {
    let roots: Vec<PathBuf> = CONFIG_DIRS.iter().map(PathBuf::from).collect();
    config_entries_in(&roots, Some(PathBuf::from(SYSCTL_CONF)))
}

/// Entries of the `*.conf` files in `roots` (highest priority first) and then of `sysctl_conf`, in
/// systemd-sysctl order: files sorted by basename, a basename in an earlier root masking the same
/// basename in later ones (a symlink to /dev/null masks without entries); `sysctl_conf` comes last
/// unless one of those files already was it (Debian's /etc/sysctl.d/99-sysctl.conf symlink).
/// Unreadable files and directories are skipped.
pub fn config_entries_in(roots: &[PathBuf], sysctl_conf: Option<PathBuf>) -> Vec<ConfigEntry> {
    let mut entries = Vec::new();
    let mut seen = Vec::new();
    for file in config_files_in(roots, sysctl_conf) {
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if !meta.is_file() && !meta.file_type().is_char_device() {
            continue;
        }
        if meta.is_file() {
            if seen.contains(&(meta.dev(), meta.ino())) {
                continue;
            }
            seen.push((meta.dev(), meta.ino()));
        }
        if let Ok(bytes) = std::fs::read(&file) {
            entries.extend(parse_config(&file, &String::from_utf8_lossy(&bytes)));
        }
    }
    entries
}

/// The config files [`config_entries_in`] reads, in order (existence of the last one not checked).
pub fn config_files_in(roots: &[PathBuf], sysctl_conf: Option<PathBuf>) -> Vec<PathBuf> {
    let mut by_name: BTreeMap<OsString, PathBuf> = BTreeMap::new();
    for root in roots {
        let Ok(rd) = std::fs::read_dir(root) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(s) = name.to_str() else { continue };
            if s.starts_with('.') || !s.ends_with(".conf") {
                continue;
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            by_name.entry(name).or_insert_with(|| e.path());
        }
    }
    let mut files: Vec<PathBuf> = by_name.into_values().collect();
    files.extend(sysctl_conf);
    files
}

/// The entries of one config file's text: `#`/`;` comments, blank lines and lines without `=` are
/// skipped.
pub fn parse_config(file: &Path, text: &str) -> Vec<ConfigEntry> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let (key, ignore_errors) = match key.strip_prefix('-') {
            Some(k) => (k.trim_start(), true),
            None => (key, false),
        };
        if key.is_empty() {
            continue;
        }
        out.push(ConfigEntry {
            file: file.to_path_buf(),
            line: i + 1,
            key: key.to_string(),
            value: value.trim().to_string(),
            ignore_errors,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary directory removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!(
                "sockdoc-sysctl-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("temp dir");
            TempDir(p)
        }
        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.0.join(rel);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).expect("mkdir");
            }
            std::fs::write(&p, text).expect("write");
            p
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn names_map_to_paths() {
        let p = |n| path_of(n).map(|p| p.to_string_lossy().into_owned());
        assert_eq!(
            p("net.ipv4.tcp_keepalive_time").as_deref(),
            Some("/proc/sys/net/ipv4/tcp_keepalive_time")
        );
        assert_eq!(
            p("net/ipv4/tcp_keepalive_time").as_deref(),
            Some("/proc/sys/net/ipv4/tcp_keepalive_time")
        );
        assert_eq!(
            p("net.ipv4.conf.eth0/100.rp_filter").as_deref(),
            Some("/proc/sys/net/ipv4/conf/eth0.100/rp_filter")
        );
        assert_eq!(
            p("net/ipv4/conf/eth0.100/rp_filter").as_deref(),
            Some("/proc/sys/net/ipv4/conf/eth0.100/rp_filter")
        );
        assert_eq!(
            p(" kernel.pid_max\n").as_deref(),
            Some("/proc/sys/kernel/pid_max")
        );
        assert_eq!(p("kernel").as_deref(), Some("/proc/sys/kernel"));
        for bad in [
            "",
            " ",
            "../x",
            "..",
            ".",
            "net..ipv4",
            "net.ipv4.",
            ".net",
            "/net/ipv4",
            "net/ipv4/",
            "net//ipv4",
            "net/../../etc/passwd",
            "net/./x",
            "a./.b",
            "a.//.b",
            "a.b\0c",
        ] {
            assert_eq!(path_of(bad), None, "{bad:?}");
        }
        assert_eq!(
            normalize("net/ipv4/conf/eth0.100/rp_filter").as_deref(),
            Some("net.ipv4.conf.eth0/100.rp_filter")
        );
        assert_eq!(
            normalize("net.core.somaxconn"),
            normalize("net/core/somaxconn")
        );
        assert_eq!(normalize("../x"), None);
    }

    #[test]
    fn live_settings() {
        let keepalive = read_u64("net.ipv4.tcp_keepalive_time").expect("read");
        assert!(keepalive.is_some_and(|v| v > 0));
        assert_eq!(
            read_u64("net/ipv4/tcp_keepalive_time").expect("read"),
            keepalive
        );
        let (lo, hi) = read_range("net.ipv4.ip_local_port_range")
            .expect("read")
            .expect("present");
        assert!(0 < lo && lo <= hi && hi <= 65535, "{lo} {hi}");
        let mem = read_u64s("net.ipv4.tcp_mem")
            .expect("read")
            .expect("present");
        assert_eq!(mem.len(), 3);
        assert!(read("net.core.somaxconn")
            .expect("read")
            .is_some_and(|v| !v.is_empty() && v.trim() == v));

        // Removed in 4.12.
        assert_eq!(read("net.ipv4.tcp_tw_recycle").expect("read"), None);
        assert_eq!(read_u64("net.ipv4.tcp_tw_recycle").expect("read"), None);
        assert_eq!(read_range("net.ipv4.tcp_tw_recycle").expect("read"), None);
        assert!(!exists("net.ipv4.tcp_tw_recycle"));
        assert!(exists("net.ipv4.tcp_keepalive_time"));
        // A directory is not a setting; nor is a path below a file.
        assert!(!exists("net.ipv4"));
        assert_eq!(read("net.ipv4").expect("read"), None);
        assert_eq!(read("net.ipv4.tcp_keepalive_time.x").expect("read"), None);

        let e = read("../etc/passwd").expect_err("malformed");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(!exists("../etc/passwd"));
        // Text where numbers are expected.
        assert_eq!(
            read_u64("net.ipv4.tcp_congestion_control")
                .expect_err("not a number")
                .kind(),
            io::ErrorKind::InvalidData
        );
        // Single number where two are expected.
        assert_eq!(
            read_range("net.ipv4.tcp_keepalive_time")
                .expect_err("one number")
                .kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn net_settings_follow_the_namespace_of_the_reading_thread() {
        // An interface of the host (other than lo) has no conf directory in a new namespace.
        let Some(iface) = std::fs::read_dir("/proc/sys/net/ipv4/conf")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .find(|n| !matches!(n.as_str(), "all" | "default" | "lo"))
        else {
            return;
        };
        let key = format!("net.ipv4.conf.{}.forwarding", iface.replace('.', "/"));
        assert!(exists(&key), "{key}");
        let seen = std::thread::spawn(move || {
            // SAFETY: unshare affects only this thread's namespaces; the thread ends right after.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return None; // not root
            }
            Some((
                exists(&key),
                read_u64("net.ipv4.conf.lo.forwarding").ok().flatten(),
                read_u64("net.core.somaxconn").ok().flatten(),
            ))
        })
        .join()
        .expect("thread");
        let Some((iface_seen, lo, somaxconn)) = seen else {
            return;
        };
        assert!(!iface_seen, "{iface} is not in a new namespace");
        assert!(lo.is_some());
        assert!(somaxconn.is_some_and(|v| v > 0));
    }

    #[test]
    fn write_only_setting_exists_but_is_not_readable() {
        // net.ipv4.route.flush has mode 0200: even root may not read it.
        if !exists("net.ipv4.route.flush") {
            return;
        }
        assert!(read("net.ipv4.route.flush").is_err());
    }

    #[test]
    fn reads_under_another_root() {
        let t = TempDir::new("root");
        t.write("net/ipv4/ip_local_port_range", "32768\t60999\n");
        t.write("net/ipv4/conf/eth0.100/rp_filter", "2\n");
        t.write("net/core/somaxconn", "  4096 \n");
        t.write("net/core/garbage", "12abc\n");
        t.write("net/core/empty", "\n");
        assert_eq!(
            read_u64s_at(&t.0, "net.ipv4.ip_local_port_range").expect("read"),
            Some(vec![32768, 60999])
        );
        assert_eq!(
            read_u64_at(&t.0, "net.ipv4.conf.eth0/100.rp_filter").expect("read"),
            Some(2)
        );
        assert_eq!(
            read_at(&t.0, "net.core.somaxconn")
                .expect("read")
                .as_deref(),
            Some("4096")
        );
        assert_eq!(read_u64_at(&t.0, "net.core.nope").expect("read"), None);
        assert!(read_u64_at(&t.0, "net.core.garbage").is_err());
        assert!(read_u64_at(&t.0, "net.core.empty").is_err());
        assert_eq!(
            read_at(&t.0, "net.core.empty").expect("read").as_deref(),
            Some("")
        );
        assert_eq!(parse_u64s("1 2\t3\n"), Some(vec![1, 2, 3]));
        assert_eq!(parse_u64s("-1"), None);
        assert_eq!(parse_u64s(""), Some(vec![]));
    }

    #[test]
    fn parses_config_lines() {
        let text = "# comment\n; also comment\n\n  net.core.somaxconn = 4096  \n\
                    -net.ipv4.tcp_tw_recycle=1\nnet.ipv4.tcp_rmem = 4096 131072 6291456\n\
                    no equals sign\n = 5\n- = 6\nnet/ipv4/conf/eth0.100/rp_filter=2\n\
                    kernel.domainname = a=b\nnet.ipv4.conf.*.rp_filter = 0\nkey.empty =\n";
        let f = Path::new("/x/test.conf");
        let e = parse_config(f, text);
        let got: Vec<(usize, &str, &str, bool)> = e
            .iter()
            .map(|e| (e.line, e.key.as_str(), e.value.as_str(), e.ignore_errors))
            .collect();
        assert_eq!(
            got,
            vec![
                (4, "net.core.somaxconn", "4096", false),
                (5, "net.ipv4.tcp_tw_recycle", "1", true),
                (6, "net.ipv4.tcp_rmem", "4096 131072 6291456", false),
                (10, "net/ipv4/conf/eth0.100/rp_filter", "2", false),
                (11, "kernel.domainname", "a=b", false),
                (12, "net.ipv4.conf.*.rp_filter", "0", false),
                (13, "key.empty", "", false),
            ]
        );
        assert!(e.iter().all(|e| e.file == f));
    }

    #[test]
    fn config_files_follow_systemd_order() {
        let t = TempDir::new("conf");
        let etc = t.0.join("etc/sysctl.d");
        let run = t.0.join("run/sysctl.d");
        let usr = t.0.join("usr/lib/sysctl.d");
        t.write(
            "usr/lib/sysctl.d/50-default.conf",
            "net.core.somaxconn = 1\nkernel.x = 1\n",
        );
        t.write("usr/lib/sysctl.d/10-first.conf", "a.b = usr\n");
        t.write("usr/lib/sysctl.d/60-masked.conf", "masked.key = 1\n");
        t.write("usr/lib/sysctl.d/README", "not.a.conf = 1\n");
        t.write("usr/lib/sysctl.d/.hidden.conf", "hidden.key = 1\n");
        t.write("run/sysctl.d/50-default.conf", "net.core.somaxconn = 2\n");
        t.write("etc/sysctl.d/70-local.conf", "net.core.somaxconn = 3\n");
        t.write("etc/sysctl.d/10-first.conf", "# override, no entries\n");
        std::fs::create_dir_all(etc.join("20-dir.conf")).expect("dir");
        std::os::unix::fs::symlink("/dev/null", etc.join("60-masked.conf")).expect("symlink");
        let conf = t.write("etc/sysctl.conf", "net.core.somaxconn = 4\n");

        let roots = vec![
            etc.clone(),
            run.clone(),
            t.0.join("usr/local/lib/sysctl.d"),
            usr,
        ];
        let files = config_files_in(&roots, Some(conf.clone()));
        assert_eq!(
            files,
            vec![
                etc.join("10-first.conf"),
                run.join("50-default.conf"),
                etc.join("60-masked.conf"),
                etc.join("70-local.conf"),
                conf.clone(),
            ]
        );
        let e = config_entries_in(&roots, Some(conf.clone()));
        let got: Vec<(&str, &str)> = e
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("net.core.somaxconn", "2"),
                ("net.core.somaxconn", "3"),
                ("net.core.somaxconn", "4")
            ]
        );
        assert_eq!(e[2].file, conf);
        assert_eq!(e[2].line, 1);

        // Debian's /etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf: read once, at the symlink's place.
        std::os::unix::fs::symlink("../sysctl.conf", etc.join("99-sysctl.conf")).expect("symlink");
        let e = config_entries_in(&roots, Some(conf.clone()));
        assert_eq!(e.len(), 3);
        assert_eq!(e[2].file, etc.join("99-sysctl.conf"));

        // Missing roots and a missing sysctl.conf are fine.
        let none = config_entries_in(&[t.0.join("nope")], Some(t.0.join("nope.conf")));
        assert!(none.is_empty());
    }

    #[test]
    fn live_config_entries_do_not_fail() {
        for e in config_entries() {
            assert!(e.line > 0 && !e.key.is_empty());
            assert!(e.file.is_absolute());
        }
    }
}
