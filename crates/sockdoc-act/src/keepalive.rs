//! Retrofit TCP keepalive onto a running process's socket: through a borrowed fd, set SO_KEEPALIVE and
//! the per-socket idle/interval/count (and TCP_USER_TIMEOUT only when asked). A [`Change`] names the
//! options to write; the others are never touched. Values are checked against the kernel's limits
//! before any socket is touched ([`Change::validate`]); per socket the options are read first (for the
//! audit log and for undoing), written in a fixed order, and when one write fails every option already
//! written is put back to its previous value, so a socket is changed completely or not at all.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::pidfd::borrow_socket;

/// The kernel's limit for TCP_KEEPIDLE (`MAX_TCP_KEEPIDLE`, seconds).
pub const MAX_IDLE_SECS: u32 = 32_767;
/// The kernel's limit for TCP_KEEPINTVL (`MAX_TCP_KEEPINTVL`, seconds).
pub const MAX_INTVL_SECS: u32 = 32_767;
/// The kernel's limit for TCP_KEEPCNT (`MAX_TCP_KEEPCNT`).
pub const MAX_CNT: u32 = 127;
/// TCP_USER_TIMEOUT is a non-negative C int (ms).
pub const MAX_USER_TIMEOUT_MS: u32 = i32::MAX as u32;

/// Keepalive settings of one socket, as the kernel reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    pub enabled: bool,
    /// Seconds of idleness before the first probe.
    pub idle: u32,
    /// Seconds between probes.
    pub intvl: u32,
    /// Unanswered probes before the connection is dropped.
    pub cnt: u32,
    /// TCP_USER_TIMEOUT in ms (0 = the kernel's default behaviour).
    pub user_timeout_ms: u32,
}

/// One socket option of the keepalive family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opt {
    Idle,
    Intvl,
    Cnt,
    UserTimeout,
    Enabled,
}

/// The order options are written in: timings first, SO_KEEPALIVE last, so the keepalive timer starts
/// with the new idle time (and a failure leaves SO_KEEPALIVE as it was).
pub const ORDER: [Opt; 5] = [
    Opt::Idle,
    Opt::Intvl,
    Opt::Cnt,
    Opt::UserTimeout,
    Opt::Enabled,
];

impl Opt {
    /// The kernel's name of the option.
    pub fn name(self) -> &'static str {
        match self {
            Opt::Idle => "TCP_KEEPIDLE",
            Opt::Intvl => "TCP_KEEPINTVL",
            Opt::Cnt => "TCP_KEEPCNT",
            Opt::UserTimeout => "TCP_USER_TIMEOUT",
            Opt::Enabled => "SO_KEEPALIVE",
        }
    }

    /// The range the kernel accepts, and the name of its limit.
    pub fn range(self) -> (u32, u32, &'static str) {
        match self {
            Opt::Idle => (1, MAX_IDLE_SECS, "MAX_TCP_KEEPIDLE"),
            Opt::Intvl => (1, MAX_INTVL_SECS, "MAX_TCP_KEEPINTVL"),
            Opt::Cnt => (1, MAX_CNT, "MAX_TCP_KEEPCNT"),
            Opt::UserTimeout => (0, MAX_USER_TIMEOUT_MS, "INT_MAX"),
            Opt::Enabled => (0, 1, "a boolean"),
        }
    }

    fn level_name(self) -> (libc::c_int, libc::c_int) {
        match self {
            Opt::Idle => (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
            Opt::Intvl => (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
            Opt::Cnt => (libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
            Opt::UserTimeout => (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT),
            Opt::Enabled => (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
        }
    }

    /// This option's value in `k`.
    pub fn of(self, k: &Keepalive) -> u32 {
        match self {
            Opt::Idle => k.idle,
            Opt::Intvl => k.intvl,
            Opt::Cnt => k.cnt,
            Opt::UserTimeout => k.user_timeout_ms,
            Opt::Enabled => u32::from(k.enabled),
        }
    }
}

/// Which options to write, and to what; `None` leaves the option as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Change {
    pub enabled: Option<bool>,
    pub idle: Option<u32>,
    pub intvl: Option<u32>,
    pub cnt: Option<u32>,
    pub user_timeout_ms: Option<u32>,
}

/// A value outside the kernel's range for its option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfRange {
    pub opt: Opt,
    pub value: u32,
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (lo, hi, limit) = self.opt.range();
        write!(
            f,
            "{} = {} is outside the kernel's range {lo} to {hi} ({limit})",
            self.opt.name(),
            self.value
        )
    }
}

impl Change {
    /// Keepalive on with these timings; TCP_USER_TIMEOUT untouched.
    pub fn keepalive(idle: u32, intvl: u32, cnt: u32) -> Change {
        Change {
            enabled: Some(true),
            idle: Some(idle),
            intvl: Some(intvl),
            cnt: Some(cnt),
            user_timeout_ms: None,
        }
    }

    /// Every option, to the values of `k` (for putting a socket back as it was).
    pub fn exactly(k: &Keepalive) -> Change {
        Change {
            enabled: Some(k.enabled),
            idle: Some(k.idle),
            intvl: Some(k.intvl),
            cnt: Some(k.cnt),
            user_timeout_ms: Some(k.user_timeout_ms),
        }
    }

    /// The value to write for `opt`, if any.
    pub fn get(&self, opt: Opt) -> Option<u32> {
        match opt {
            Opt::Idle => self.idle,
            Opt::Intvl => self.intvl,
            Opt::Cnt => self.cnt,
            Opt::UserTimeout => self.user_timeout_ms,
            Opt::Enabled => self.enabled.map(u32::from),
        }
    }

    /// Every value within the kernel's limits (checked before any socket is touched).
    pub fn validate(&self) -> Result<(), OutOfRange> {
        for opt in ORDER {
            if let Some(value) = self.get(opt) {
                let (lo, hi, _) = opt.range();
                if !(lo..=hi).contains(&value) {
                    return Err(OutOfRange { opt, value });
                }
            }
        }
        Ok(())
    }

    /// What a socket with settings `before` has once this change is applied.
    pub fn applied_to(&self, before: &Keepalive) -> Keepalive {
        Keepalive {
            enabled: self.enabled.unwrap_or(before.enabled),
            idle: self.idle.unwrap_or(before.idle),
            intvl: self.intvl.unwrap_or(before.intvl),
            cnt: self.cnt.unwrap_or(before.cnt),
            user_timeout_ms: self.user_timeout_ms.unwrap_or(before.user_timeout_ms),
        }
    }
}

/// Where a retrofit failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Borrowing the owner's fd (pidfd_open / pidfd_getfd, or the fd is another socket now).
    Borrow,
    /// Reading the current options.
    Read,
    /// Writing this option.
    Set(Opt, u32),
}

/// A retrofit that did not happen. Options written before the failing one were put back.
#[derive(Debug)]
pub struct Failed {
    /// The settings read before writing (None when borrowing or reading failed).
    pub before: Option<Keepalive>,
    pub step: Step,
    pub error: io::Error,
    /// Options written and then put back to their `before` value, in the order they were put back.
    pub rolled_back: Vec<Opt>,
    /// An option that could not be put back, and why (the socket is then left part-changed).
    pub rollback_error: Option<(Opt, io::Error)>,
}

impl Failed {
    /// A failure at `step` before anything was written.
    pub fn at(step: Step, error: io::Error) -> Failed {
        Failed {
            before: None,
            step,
            error,
            rolled_back: Vec::new(),
            rollback_error: None,
        }
    }
}

/// An errno explained for the one line a user reads.
fn explain(step: Step, e: &io::Error) -> String {
    let hint = match (step, e.raw_os_error()) {
        (Step::Borrow, Some(libc::EPERM)) => {
            Some("borrowing the owner's fd needs root (ptrace access)")
        }
        (Step::Borrow, Some(libc::ENOSYS)) => Some("pidfd_getfd needs Linux 5.6 or newer"),
        (Step::Borrow, Some(libc::ESRCH)) => Some("its owner exited"),
        (Step::Borrow, Some(libc::EBADF)) => Some("the owner closed that fd"),
        (Step::Set(..), Some(libc::EINVAL)) => Some("the kernel refused the value (EINVAL)"),
        (Step::Set(..), Some(libc::EPERM)) => {
            Some("refused (EPERM): a cgroup BPF sockopt program or a security module forbids it")
        }
        _ => None,
    };
    hint.map_or_else(|| e.to_string(), str::to_string)
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            Step::Borrow => write!(f, "{}", explain(self.step, &self.error))?,
            Step::Read => write!(f, "reading its options: {}", self.error)?,
            Step::Set(opt, v) => write!(
                f,
                "setting {} to {v}: {}",
                opt.name(),
                explain(self.step, &self.error)
            )?,
        }
        if !self.rolled_back.is_empty() {
            let names: Vec<&str> = self.rolled_back.iter().map(|o| o.name()).collect();
            write!(f, "; {} put back", names.join(", "))?;
        }
        if let Some((opt, e)) = &self.rollback_error {
            write!(
                f,
                "; putting {} back failed ({e}): the socket is part-changed",
                opt.name()
            )?;
        }
        Ok(())
    }
}

/// A retrofit that happened: the settings before, and as read back afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    pub before: Keepalive,
    pub after: Keepalive,
}

fn getsockopt_int(fd: &OwnedFd, level: libc::c_int, name: libc::c_int) -> io::Result<u32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: valid fd, pointers to a live c_int and its length.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // The kernel never reports a negative value for these options.
    u32::try_from(v).map_err(|_| io::Error::from_raw_os_error(libc::ERANGE))
}

/// Write one option.
pub fn set(fd: &OwnedFd, opt: Opt, v: u32) -> io::Result<()> {
    let (level, name) = opt.level_name();
    let v = libc::c_int::try_from(v).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: valid fd, pointer to a live c_int of the given size.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Read a socket's keepalive settings.
pub fn read(fd: &OwnedFd) -> io::Result<Keepalive> {
    let get = |opt: Opt| {
        let (level, name) = opt.level_name();
        getsockopt_int(fd, level, name)
    };
    Ok(Keepalive {
        enabled: get(Opt::Enabled)? != 0,
        idle: get(Opt::Idle)?,
        intvl: get(Opt::Intvl)?,
        cnt: get(Opt::Cnt)?,
        user_timeout_ms: get(Opt::UserTimeout)?,
    })
}

/// Apply `change` to the socket `fd`: read, write the options asked for in [`ORDER`], read again.
/// On a failed write the options already written are put back.
pub fn apply(fd: &OwnedFd, change: &Change) -> Result<Applied, Failed> {
    let before = read(fd).map_err(|e| Failed::at(Step::Read, e))?;
    apply_with(fd, change, before, &mut |fd, opt, v| set(fd, opt, v))
}

/// [`apply`] when the caller has just read the options (`before`), as the treat path does to put
/// them in the intent record: the read is not repeated.
pub fn apply_from(fd: &OwnedFd, change: &Change, before: Keepalive) -> Result<Applied, Failed> {
    apply_with(fd, change, before, &mut |fd, opt, v| set(fd, opt, v))
}

/// [`apply`] with the write of one option supplied by the caller (tests inject failures here).
fn apply_with(
    fd: &OwnedFd,
    change: &Change,
    before: Keepalive,
    set: &mut dyn FnMut(&OwnedFd, Opt, u32) -> io::Result<()>,
) -> Result<Applied, Failed> {
    let mut written: Vec<Opt> = Vec::new();
    for opt in ORDER {
        let Some(v) = change.get(opt) else { continue };
        if let Err(error) = set(fd, opt, v) {
            let mut rolled_back = Vec::new();
            let mut rollback_error = None;
            for &w in written.iter().rev() {
                match set(fd, w, w.of(&before)) {
                    Ok(()) => rolled_back.push(w),
                    Err(e) => {
                        rollback_error = Some((w, e));
                        break;
                    }
                }
            }
            return Err(Failed {
                before: Some(before),
                step: Step::Set(opt, v),
                error,
                rolled_back,
                rollback_error,
            });
        }
        written.push(opt);
    }
    // Read back what the kernel now holds; if even that fails, report what was written.
    let after = read(fd).unwrap_or_else(|_| change.applied_to(&before));
    Ok(Applied { before, after })
}

/// Write every option of `k` (putting a socket back as it was), all or nothing.
pub fn write(fd: &OwnedFd, k: &Keepalive) -> io::Result<()> {
    apply(fd, &Change::exactly(k))
        .map(|_| ())
        .map_err(|f| f.error)
}

/// Borrow socket `inode` held as `fd` by `pid` (a failure explained as a [`Failed`] at [`Step::Borrow`]).
pub fn borrow(pid: u32, fd: u32, inode: u32) -> Result<OwnedFd, Failed> {
    borrow_socket(pid, fd, inode).map_err(|e| Failed::at(Step::Borrow, e))
}

/// Apply `change` to socket `inode` held as `fd` by `pid`.
pub fn retrofit(pid: u32, fd: u32, inode: u32, change: &Change) -> Result<Applied, Failed> {
    apply(&borrow(pid, fd, inode)?, change)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// A connected socket of this process: (listener, client, our borrowed duplicate, fd, inode).
    fn connection() -> (
        std::net::TcpListener,
        std::net::TcpStream,
        OwnedFd,
        u32,
        u32,
    ) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let fd = u32::try_from(c.as_raw_fd()).expect("fd");
        let dup = crate::pidfd::dup_from(std::process::id(), fd).expect("dup");
        let inode = u32::try_from(crate::pidfd::socket_inode(&dup).expect("inode")).expect("u32");
        (l, c, dup, fd, inode)
    }

    #[test]
    fn retrofit_on_our_own_connection_and_back() {
        let (_l, _c, dup, fd, inode) = connection();
        set(&dup, Opt::UserTimeout, 30_000).expect("the app's TCP_USER_TIMEOUT");
        let before = read(&dup).expect("read");
        let change = Change::keepalive(61, 7, 3);
        let done = retrofit(std::process::id(), fd, inode, &change).expect("retrofit");
        assert_eq!(done.before, before);
        assert!(!before.enabled);
        let want = Keepalive {
            enabled: true,
            idle: 61,
            intvl: 7,
            cnt: 3,
            user_timeout_ms: 30_000,
        };
        assert_eq!(done.after, want, "TCP_USER_TIMEOUT untouched");
        assert_eq!(read(&dup).expect("read"), want);
        write(&dup, &before).expect("restore");
        assert_eq!(read(&dup).expect("read"), before);
    }

    #[test]
    fn limits_are_checked_up_front() {
        assert!(Change::keepalive(32_767, 32_767, 127).validate().is_ok());
        let e = Change::keepalive(300, 99_999, 5)
            .validate()
            .expect_err("intvl");
        assert_eq!(e.opt, Opt::Intvl);
        assert!(e.to_string().contains("MAX_TCP_KEEPINTVL"), "{e}");
        assert_eq!(
            Change::keepalive(40_000, 30, 5)
                .validate()
                .map_err(|e| e.opt),
            Err(Opt::Idle)
        );
        assert_eq!(
            Change::keepalive(300, 30, 128)
                .validate()
                .map_err(|e| e.opt),
            Err(Opt::Cnt)
        );
        assert_eq!(
            Change::keepalive(0, 30, 5).validate().map_err(|e| e.opt),
            Err(Opt::Idle)
        );
        let big = Change {
            user_timeout_ms: Some(u32::MAX),
            ..Change::default()
        };
        assert_eq!(big.validate().map_err(|e| e.opt), Err(Opt::UserTimeout));
    }

    #[test]
    fn the_kernel_limits_are_the_ones_named() {
        // One past each limit is refused by the kernel itself; the limit is accepted.
        let (_l, _c, dup, _, _) = connection();
        for opt in [Opt::Idle, Opt::Intvl, Opt::Cnt] {
            let (_, hi, _) = opt.range();
            set(&dup, opt, hi).unwrap_or_else(|e| panic!("{} = {hi}: {e}", opt.name()));
            let e = set(&dup, opt, hi + 1).expect_err("over the limit");
            assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{}", opt.name());
        }
    }

    #[test]
    fn a_failure_part_way_puts_back_what_was_written() {
        let (_l, _c, dup, _, _) = connection();
        set(&dup, Opt::UserTimeout, 30_000).expect("the app's TCP_USER_TIMEOUT");
        let before = read(&dup).expect("read");
        let change = Change {
            user_timeout_ms: Some(1000),
            ..Change::keepalive(100, 10, 4)
        };
        // The third write (TCP_KEEPCNT) fails as the kernel would.
        let mut n = 0;
        let failed = apply_with(
            &dup,
            &change,
            read(&dup).expect("read"),
            &mut |fd, opt, v| {
                n += 1;
                if n == 3 {
                    Err(io::Error::from_raw_os_error(libc::EINVAL))
                } else {
                    set(fd, opt, v)
                }
            },
        )
        .expect_err("the injected failure");
        assert_eq!(failed.before, Some(before), "before is known");
        assert_eq!(failed.step, Step::Set(Opt::Cnt, 4));
        assert_eq!(failed.rolled_back, vec![Opt::Intvl, Opt::Idle]);
        assert!(failed.rollback_error.is_none());
        assert_eq!(read(&dup).expect("read"), before, "nothing left changed");
        let text = failed.to_string();
        assert!(
            text.contains("TCP_KEEPCNT") && text.contains("EINVAL") && text.contains("put back"),
            "{text}"
        );
    }

    #[test]
    fn options_not_asked_for_are_not_written() {
        let (_l, _c, dup, _, _) = connection();
        let mut seen = Vec::new();
        let change = Change {
            idle: Some(50),
            ..Change::default()
        };
        apply_with(
            &dup,
            &change,
            read(&dup).expect("read"),
            &mut |fd, opt, v| {
                seen.push(opt);
                set(fd, opt, v)
            },
        )
        .expect("apply");
        assert_eq!(seen, vec![Opt::Idle]);
    }
}
