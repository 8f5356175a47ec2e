//! File descriptor limits: the system-wide file table (`/proc/sys/fs/file-nr`), a process's
//! `RLIMIT_NOFILE` (`/proc/PID/limits`), its open descriptor count, and the processes close to running
//! out ("Too many open files" / `EMFILE` in `accept`).
//!
//! It only reads: it never changes a limit (no `prlimit`), never opens or touches another process's
//! descriptors (it lists `/proc/PID/fd`, it does not follow the links), and skips processes that exit
//! or may not be inspected instead of failing.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use crate::dirent::{for_each_entry, open_dir, parse_u32};

/// Processes with fewer open descriptors than this are never reported by [`fd_pressure`].
pub const MIN_FDS: u64 = 64;

/// The system-wide file table, `/proc/sys/fs/file-nr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FileNr {
    /// File handles allocated (in use).
    pub allocated: u64,
    /// Allocated but unused (always 0 on current kernels).
    pub free: u64,
    /// `fs.file-max`.
    pub max: u64,
}

/// Read `/proc/sys/fs/file-nr`.
pub fn file_nr() -> io::Result<FileNr> {
    let text = std::fs::read_to_string("/proc/sys/fs/file-nr")?;
    parse_file_nr(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected /proc/sys/fs/file-nr: {:?}", text.trim()),
        )
    })
}

/// Parse the three numbers of `file-nr`.
pub fn parse_file_nr(text: &str) -> Option<FileNr> {
    let mut it = text.split_whitespace().map(|w| w.parse::<u64>().ok());
    Some(FileNr {
        allocated: it.next()??,
        free: it.next()??,
        max: it.next()??,
    })
}

/// `fs.nr_open`: the ceiling for any process's hard `RLIMIT_NOFILE`.
pub fn nr_open() -> io::Result<u64> {
    let text = std::fs::read_to_string("/proc/sys/fs/nr_open")?;
    text.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "unexpected /proc/sys/fs/nr_open",
        )
    })
}

/// A process's `RLIMIT_NOFILE`; `None` means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoFile {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// `RLIMIT_NOFILE` of process `pid`, from the "Max open files" line of `/proc/PID/limits`.
pub fn nofile(pid: u32) -> io::Result<NoFile> {
    nofile_in(Path::new("/proc"), pid)
}

fn nofile_in(proc_root: &Path, pid: u32) -> io::Result<NoFile> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("limits"))?;
    parse_limits(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no \"Max open files\" line in /proc/{pid}/limits"),
        )
    })
}

/// The "Max open files" line of a `/proc/PID/limits` text; `None` when it is missing or malformed.
pub fn parse_limits(text: &str) -> Option<NoFile> {
    let rest = text
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    let mut it = rest.split_whitespace();
    let limit = |w: Option<&str>| -> Option<Option<u64>> {
        match w? {
            "unlimited" => Some(None),
            n => n.parse().ok().map(Some),
        }
    };
    Some(NoFile {
        soft: limit(it.next())?,
        hard: limit(it.next())?,
    })
}

/// Number of open descriptors of process `pid` (entries of `/proc/PID/fd`).
pub fn open_fds(pid: u32) -> io::Result<u64> {
    let proc = open_dir(None, c"/proc")?;
    count_fds(&proc, pid, &mut vec![0u8; 64 * 1024])
}

/// A process using most of its descriptor limit.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FdPressure {
    pub pid: u32,
    /// `/proc/PID/comm`.
    pub name: String,
    pub open: u64,
    pub soft: u64,
    /// `None` = unlimited.
    pub hard: Option<u64>,
}

impl FdPressure {
    /// `open / soft` (infinite for a soft limit of 0).
    pub fn fraction(&self) -> f64 {
        self.open as f64 / self.soft as f64
    }
}

/// Processes whose open descriptors are at least `ratio` (e.g. 0.8) of their soft `RLIMIT_NOFILE`,
/// fullest first. Processes with fewer than [`MIN_FDS`] descriptors or an unlimited soft limit are not
/// reported; processes that exit or deny access are skipped.
pub fn fd_pressure(ratio: f64) -> Vec<FdPressure> {
    fd_pressure_in(Path::new("/proc"), ratio)
}

/// Like [`fd_pressure`] for a proc filesystem mounted at `proc_root`.
pub fn fd_pressure_in(proc_root: &Path, ratio: f64) -> Vec<FdPressure> {
    let Ok(root_c) = std::ffi::CString::new(proc_root.as_os_str().as_encoded_bytes()) else {
        return Vec::new();
    };
    let Ok(proc) = open_dir(None, &root_c) else {
        return Vec::new();
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut pids = Vec::with_capacity(1024);
    if for_each_entry(&proc, &mut buf, |name| pids.extend(parse_u32(name))).is_err() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for pid in pids {
        // Since Linux 6.2 the size of /proc/PID/fd is the number of open descriptors, counted from
        // the fd bitmap: the very count RLIMIT_NOFILE is checked against (descriptors being
        // installed included), in one stat. Older kernels say 0: the listing is counted instead.
        let open = match fd_dir_size(&proc, pid) {
            Ok(0) => match count_fds(&proc, pid, &mut buf) {
                Ok(n) => n,
                Err(_) => continue,
            },
            Ok(n) => n,
            Err(_) => continue,
        };
        if open < MIN_FDS {
            continue;
        }
        let Ok(NoFile {
            soft: Some(soft),
            hard,
        }) = nofile_in(proc_root, pid)
        else {
            continue;
        };
        if !at_least(open, soft, ratio) {
            continue;
        }
        let name = std::fs::read_to_string(proc_root.join(pid.to_string()).join("comm"))
            .map(|s| s.trim_end_matches('\n').to_string())
            .unwrap_or_default();
        out.push(FdPressure {
            pid,
            name,
            open,
            soft,
            hard,
        });
    }
    out.sort_by(|a, b| {
        b.fraction()
            .total_cmp(&a.fraction())
            .then(a.pid.cmp(&b.pid))
    });
    out
}

fn at_least(open: u64, soft: u64, ratio: f64) -> bool {
    open as f64 >= ratio * soft as f64
}

/// "PID/fd" as a C string, without allocating.
fn fd_path(pid: u32, buf: &mut [u8; 24]) -> &CStr {
    let mut digits = [0u8; 10];
    let mut n = pid;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[i] = digits[len - 1 - i];
    }
    buf[len..len + 4].copy_from_slice(b"/fd\0");
    // The buffer holds digits, "/fd" and one NUL: always a valid C string.
    CStr::from_bytes_until_nul(&buf[..len + 4]).unwrap_or(c"")
}

/// Size reported by stat of `PID/fd` under the open /proc.
pub(crate) fn fd_dir_size(proc: &OwnedFd, pid: u32) -> io::Result<u64> {
    let mut pb = [0u8; 24];
    let path = fd_path(pid, &mut pb);
    // SAFETY: zeroed stat filled by fstatat; NUL-terminated relative path under a valid dir fd.
    let size = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstatat(proc.as_raw_fd(), path.as_ptr(), &mut st, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        st.st_size
    };
    Ok(u64::try_from(size).unwrap_or(0))
}

/// Entries of `PID/fd` under the open /proc.
fn count_fds(proc: &OwnedFd, pid: u32, buf: &mut [u8]) -> io::Result<u64> {
    let mut pb = [0u8; 24];
    let dir = open_dir(Some(proc), fd_path(pid, &mut pb))?;
    let mut n = 0u64;
    for_each_entry(&dir, buf, |_| n += 1)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};

    const LIMITS: &str = include_str!("../tests/data/limits");

    /// Kills the child by its pid when the test ends, passed or failed.
    struct Kill(Child);

    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn parses_real_limits() {
        assert_eq!(
            parse_limits(LIMITS),
            Some(NoFile {
                soft: Some(20000),
                hard: Some(20000)
            })
        );
    }

    #[test]
    fn parses_limits_edge_cases() {
        let unlimited = "Limit                     Soft Limit           Hard Limit           Units     \n\
                         Max open files            unlimited            unlimited            files     \n";
        assert_eq!(
            parse_limits(unlimited),
            Some(NoFile {
                soft: None,
                hard: None
            })
        );
        let mixed = "Max open files            1024                 unlimited            files\n";
        assert_eq!(
            parse_limits(mixed),
            Some(NoFile {
                soft: Some(1024),
                hard: None
            })
        );
        assert_eq!(parse_limits(""), None);
        assert_eq!(parse_limits("Max processes 10 10 processes\n"), None);
        assert_eq!(parse_limits("Max open files            1024\n"), None);
        assert_eq!(
            parse_limits("Max open files            lots  lots files\n"),
            None
        );
        assert_eq!(
            parse_limits("Max open files            -1  10 files\n"),
            None
        );
    }

    #[test]
    fn parses_file_nr() {
        assert_eq!(
            parse_file_nr("464\t0\t2466170\n"),
            Some(FileNr {
                allocated: 464,
                free: 0,
                max: 2466170
            })
        );
        assert_eq!(parse_file_nr("464\t0\n"), None);
        assert_eq!(parse_file_nr("a b c\n"), None);
        assert_eq!(parse_file_nr(""), None);
        let live = file_nr().expect("file-nr");
        assert!(live.allocated > 0 && live.max >= live.allocated, "{live:?}");
        assert!(nr_open().expect("nr_open") >= 1024);
    }

    #[test]
    fn live_self_limits_and_fds() {
        let me = std::process::id();
        let lim = nofile(me).expect("own limits");
        // SAFETY: getrlimit into a zeroed struct.
        let rl = unsafe {
            let mut rl: libc::rlimit = std::mem::zeroed();
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl), 0);
            rl
        };
        assert_eq!(lim.soft, Some(rl.rlim_cur));
        assert_eq!(lim.hard, Some(rl.rlim_max));
        assert!(open_fds(me).expect("own fds") >= 3);
        assert!(open_fds(u32::MAX).is_err());
        assert!(nofile(u32::MAX).is_err());
    }

    #[test]
    fn fd_path_formats() {
        let mut b = [0u8; 24];
        assert_eq!(fd_path(0, &mut b), c"0/fd");
        assert_eq!(fd_path(1234, &mut b), c"1234/fd");
        assert_eq!(fd_path(u32::MAX, &mut b), c"4294967295/fd");
    }

    #[test]
    fn fd_pressure_finds_a_process_near_its_limit() {
        let script = "import resource, sys, time\n\
                      soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n\
                      resource.setrlimit(resource.RLIMIT_NOFILE, (100, hard))\n\
                      files = [open('/dev/null') for _ in range(90)]\n\
                      print('ready', flush=True)\n\
                      time.sleep(30)\n";
        let child = match Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("skipping: cannot run python3: {e}");
                return;
            }
        };
        let mut child = Kill(child);
        let pid = child.0.id();
        let mut line = String::new();
        let stdout = child.0.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("ready line");
        assert_eq!(line.trim(), "ready");

        let exact = open_fds(pid).expect("child fds");
        // 90 files and stdin/stdout/stderr.
        assert!((93..100).contains(&exact), "{exact}");
        let proc = open_dir(None, c"/proc").expect("/proc");
        let size = fd_dir_size(&proc, pid).expect("stat");
        assert!(size == 0 || size >= exact, "stat size {size} < {exact}");

        let lim = nofile(pid).expect("child limits");
        assert_eq!(lim.soft, Some(100));
        let found = fd_pressure(0.8);
        let me = found.iter().find(|p| p.pid == pid).expect("child reported");
        assert_eq!(me.open, exact);
        assert_eq!(me.soft, 100);
        assert_eq!(me.hard, lim.hard);
        assert!(me.name.starts_with("python"), "{}", me.name);
        assert!(me.fraction() >= 0.9);
        assert!(found
            .iter()
            .all(|p| p.open >= MIN_FDS && p.fraction() >= 0.8));
        assert!(found.windows(2).all(|w| w[0].fraction() >= w[1].fraction()));

        // Above its fill level it is not reported.
        assert!(fd_pressure(0.99).iter().all(|p| p.pid != pid));
        assert!(fd_pressure_in(Path::new("/nonexistent"), 0.8).is_empty());
    }
}
