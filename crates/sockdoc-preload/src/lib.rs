//! `libsockdoc_keepalive.so`: an `LD_PRELOAD` library that turns TCP
//! keepalive on for every TCP socket a program creates through libc's
//! `socket()`.
//!
//! What it does: exports `socket(domain, type, protocol)`, forwards the call
//! to the real `socket` (found once with `dlsym(RTLD_NEXT, "socket")`), and
//! when the request was an `AF_INET`/`AF_INET6` `SOCK_STREAM` socket with
//! protocol `0` or `IPPROTO_TCP`, sets `SO_KEEPALIVE=1`, `TCP_KEEPIDLE`,
//! `TCP_KEEPINTVL`, `TCP_KEEPCNT` (and `TCP_USER_TIMEOUT` when configured) on
//! the new descriptor. Listeners are treated too, and Linux copies these
//! options to sockets returned by `accept()`. Settings come from the
//! `SOCKDOC_KEEPALIVE_*` environment variables, read once (see [`config`](mod@config)).
//!
//! What it must not do: change what the caller sees. The return value of the
//! real `socket()` is passed back untouched (also on failure), `errno` is
//! saved and restored around our `setsockopt` calls, a failing `setsockopt`
//! is ignored (only reported in debug mode), nothing panics or unwinds
//! across the FFI boundary, and nothing is allocated on the hot path. It does
//! not interpose `setsockopt`: a program that later sets `SO_KEEPALIVE=0` or
//! its own timings wins. It does not touch non-TCP sockets (UDP, Unix,
//! raw, MPTCP, …).
//!
//! Modules:
//! - [`config`](mod@config): the `SOCKDOC_KEEPALIVE_*` variables parsed into a [`Config`],
//!   without touching sockets, allocating or panicking;
//! - this file: the exported [`socket`], the TCP check ([`is_tcp_request`])
//!   and the options written on a new socket ([`apply_keepalive`]).
//!
//! The crate is also built as an rlib so tests can reach the helpers; do not
//! link that rlib into ordinary programs, since the exported `socket` symbol
//! would then interpose libc's `socket` for the whole program.

pub mod config;

use std::ffi::{c_int, c_void};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

pub use config::Config;

type SocketFn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;

/// Cached address of the real `socket`: `UNRESOLVED`, `NOT_FOUND`, or the
/// function pointer.
static REAL_SOCKET: AtomicUsize = AtomicUsize::new(UNRESOLVED);
const UNRESOLVED: usize = 0;
const NOT_FOUND: usize = 1;

static CONFIG: OnceLock<Config> = OnceLock::new();

/// The configuration, read from the environment on first use.
pub fn config() -> &'static Config {
    CONFIG.get_or_init(|| Config::from_lookup(getenv_bytes))
}

/// `getenv` without allocation; the returned slice borrows `environ`.
fn getenv_bytes(name: &str) -> Option<&'static [u8]> {
    let mut buf = [0u8; 64];
    let bytes = name.as_bytes();
    if bytes.len() >= buf.len() || bytes.contains(&0) {
        return None;
    }
    buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
    // SAFETY: `buf` is NUL-terminated (zero-filled beyond `bytes`); getenv
    // returns NULL or a pointer into the environment block, which lives as
    // long as nobody calls setenv/unsetenv on that name.
    unsafe {
        let p = libc::getenv(buf.as_ptr().cast());
        if p.is_null() {
            None
        } else {
            Some(std::ffi::CStr::from_ptr(p).to_bytes())
        }
    }
}

/// The next `socket` in symbol lookup order (normally glibc's), cached.
fn real_socket() -> Option<SocketFn> {
    let mut addr = REAL_SOCKET.load(Ordering::Acquire);
    if addr == UNRESOLVED {
        // SAFETY: dlsym with a valid NUL-terminated name; RTLD_NEXT is valid
        // from within a shared object.
        let p = unsafe { libc::dlsym(libc::RTLD_NEXT, c"socket".as_ptr()) };
        addr = if p.is_null() { NOT_FOUND } else { p as usize };
        REAL_SOCKET.store(addr, Ordering::Release);
    }
    if addr == NOT_FOUND {
        return None;
    }
    // SAFETY: `addr` came from dlsym("socket"), whose C prototype is
    // `int socket(int, int, int)`.
    Some(unsafe { std::mem::transmute::<*mut c_void, SocketFn>(addr as *mut c_void) })
}

/// Whether a `socket(domain, type, protocol)` request yields a TCP socket we
/// should treat.
pub fn is_tcp_request(domain: c_int, ty: c_int, protocol: c_int) -> bool {
    let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    (domain == libc::AF_INET || domain == libc::AF_INET6)
        && base == libc::SOCK_STREAM
        && (protocol == 0 || protocol == libc::IPPROTO_TCP)
}

/// Result of [`apply_keepalive`]: the errno of each option that failed (0 =
/// applied, -1 = not requested).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    pub keepalive: c_int,
    pub idle: c_int,
    pub intvl: c_int,
    pub cnt: c_int,
    pub user_timeout: c_int,
}

impl Outcome {
    /// All requested options were applied.
    pub fn ok(&self) -> bool {
        [
            self.keepalive,
            self.idle,
            self.intvl,
            self.cnt,
            self.user_timeout,
        ]
        .iter()
        .all(|e| *e <= 0)
    }
}

fn errno_ptr() -> *mut c_int {
    // SAFETY: always returns the calling thread's errno slot.
    unsafe { libc::__errno_location() }
}

fn get_errno() -> c_int {
    // SAFETY: see errno_ptr.
    unsafe { *errno_ptr() }
}

fn set_errno(v: c_int) {
    // SAFETY: see errno_ptr.
    unsafe { *errno_ptr() = v }
}

/// `setsockopt(fd, level, name, &value)`; returns 0 or the errno.
fn set_int(fd: c_int, level: c_int, name: c_int, value: c_int) -> c_int {
    // SAFETY: passes a pointer to a live c_int with its exact size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const c_int).cast(),
            std::mem::size_of::<c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        0
    } else {
        get_errno().max(1)
    }
}

/// Set keepalive options on `fd`. `errno` is the same on return as on entry.
pub fn apply_keepalive(fd: c_int, cfg: &Config) -> Outcome {
    let saved = get_errno();
    let to_int = |v: u32| c_int::try_from(v).unwrap_or(c_int::MAX);
    let out = Outcome {
        keepalive: set_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        idle: set_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, to_int(cfg.idle)),
        intvl: set_int(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPINTVL,
            to_int(cfg.intvl),
        ),
        cnt: set_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, to_int(cfg.cnt)),
        user_timeout: match cfg.user_timeout_ms {
            Some(ms) => set_int(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, to_int(ms)),
            None => -1,
        },
    };
    set_errno(saved);
    out
}

/// Fixed-size, truncating formatter so the debug line never allocates.
struct LineBuf {
    buf: [u8; 256],
    len: usize,
}

impl std::fmt::Write for LineBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for &b in s.as_bytes() {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

/// Format the one-line debug report for a treated socket.
pub fn debug_line(fd: c_int, domain: c_int, cfg: &Config, out: &Outcome) -> ([u8; 256], usize) {
    let mut l = LineBuf {
        buf: [0; 256],
        len: 0,
    };
    let family = if domain == libc::AF_INET6 {
        "inet6"
    } else {
        "inet"
    };
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let _ = write!(
        l,
        "sockdoc-keepalive: pid={pid} fd={fd} family={family} idle={} intvl={} cnt={}",
        cfg.idle, cfg.intvl, cfg.cnt
    );
    let _ = match cfg.user_timeout_ms {
        Some(ms) => write!(l, " user_timeout_ms={ms}"),
        None => write!(l, " user_timeout_ms=-"),
    };
    if out.ok() {
        let _ = write!(l, " ok");
    } else {
        let _ = write!(l, " failed:");
        for (name, e) in [
            ("SO_KEEPALIVE", out.keepalive),
            ("TCP_KEEPIDLE", out.idle),
            ("TCP_KEEPINTVL", out.intvl),
            ("TCP_KEEPCNT", out.cnt),
            ("TCP_USER_TIMEOUT", out.user_timeout),
        ] {
            if e > 0 {
                let _ = write!(l, " {name}=errno{e}");
            }
        }
    }
    // Keep the newline even if the line was truncated.
    let len = l.len.min(l.buf.len() - 1);
    if let Some(slot) = l.buf.get_mut(len) {
        *slot = b'\n';
    }
    (l.buf, len + 1)
}

fn treat(fd: c_int, domain: c_int) {
    let cfg = config();
    let out = apply_keepalive(fd, cfg);
    if cfg.debug {
        let (buf, len) = debug_line(fd, domain, cfg, &out);
        let saved = get_errno();
        // SAFETY: writes `len` initialised bytes from a live buffer.
        unsafe {
            libc::write(2, buf.as_ptr().cast(), len.min(buf.len()));
        }
        set_errno(saved);
    }
}

/// Interposed `socket(2)`.
///
/// # Safety
///
/// Same contract as libc's `socket`; meant to be called by C code through
/// the dynamic linker. The return value and `errno` are those of the real
/// `socket` call.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    let fd = match real_socket() {
        // SAFETY: forwarding the caller's arguments to the real socket().
        Some(f) => unsafe { f(domain, ty, protocol) },
        // No next `socket` (should not happen): issue the syscall ourselves.
        // SAFETY: socket(2) takes three ints.
        None => unsafe {
            libc::syscall(
                libc::SYS_socket,
                libc::c_long::from(domain),
                libc::c_long::from(ty),
                libc::c_long::from(protocol),
            ) as c_int
        },
    };
    if fd < 0 || !is_tcp_request(domain, ty, protocol) {
        return fd;
    }
    let saved = get_errno();
    // Never unwind into C: any panic is swallowed (with panic=abort builds,
    // the code above is written not to panic in the first place).
    let _ = std::panic::catch_unwind(|| treat(fd, domain));
    set_errno(saved);
    fd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_request_filter() {
        use libc::*;
        assert!(is_tcp_request(AF_INET, SOCK_STREAM, 0));
        assert!(is_tcp_request(AF_INET6, SOCK_STREAM, IPPROTO_TCP));
        assert!(is_tcp_request(
            AF_INET,
            SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
            0
        ));
        assert!(!is_tcp_request(AF_INET, SOCK_DGRAM, 0));
        assert!(!is_tcp_request(AF_INET, SOCK_SEQPACKET, 0));
        assert!(!is_tcp_request(AF_UNIX, SOCK_STREAM, 0));
        assert!(!is_tcp_request(AF_INET, SOCK_STREAM, IPPROTO_SCTP));
        assert!(!is_tcp_request(AF_INET, SOCK_STREAM, 262)); // IPPROTO_MPTCP
    }

    #[test]
    fn wrapper_treats_tcp_and_preserves_errno() {
        // SAFETY: plain socket/getsockopt/close on our own descriptors.
        unsafe {
            set_errno(4242);
            let fd = socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0);
            assert_eq!(get_errno(), 4242, "errno must survive our setsockopt calls");
            let mut v: c_int = 0;
            let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
            let rc = libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_KEEPALIVE,
                (&mut v as *mut c_int).cast(),
                &mut len,
            );
            assert_eq!((rc, v), (0, 1));
            libc::close(fd);

            // A failing socket() keeps its -1 and its errno.
            let fd = socket(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_UDP);
            assert_eq!(fd, -1);
            assert_eq!(get_errno(), libc::EPROTONOSUPPORT);
            let fd = socket(libc::AF_INET, libc::SOCK_STREAM, 12345);
            assert_eq!(fd, -1);
            assert_eq!(get_errno(), libc::EINVAL);
        }
    }

    #[test]
    fn apply_on_bad_fd_reports_and_preserves_errno() {
        set_errno(77);
        let cfg = Config {
            user_timeout_ms: Some(1000),
            ..Config::default()
        };
        let out = apply_keepalive(-1, &cfg);
        assert_eq!(get_errno(), 77);
        assert!(!out.ok());
        assert_eq!(out.keepalive, libc::EBADF);
        assert_eq!(out.user_timeout, libc::EBADF);
        let (buf, len) = debug_line(-1, libc::AF_INET6, &cfg, &out);
        let line = std::str::from_utf8(&buf[..len]).expect("debug line is ASCII");
        assert!(line.contains("family=inet6"), "{line}");
        assert!(line.contains("SO_KEEPALIVE=errno9"), "{line}");
        assert!(line.ends_with('\n'));
    }

    #[test]
    fn apply_without_user_timeout_is_ok() {
        // SAFETY: our own descriptor.
        let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_STREAM, 0) };
        assert!(fd >= 0);
        let out = apply_keepalive(fd, &Config::default());
        assert!(out.ok(), "{out:?}");
        assert_eq!(out.user_timeout, -1);
        // SAFETY: closing our own descriptor.
        unsafe { libc::close(fd) };
    }
}
