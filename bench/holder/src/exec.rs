//! sockdoc-bench-exec: run one command, report its wall time and peak RSS.
//!
//! usage: sockdoc-bench-exec [--stdout PATH] -- CMD [ARGS...]
//!
//! Forks, sends the child's stdout to /dev/null (or PATH), execs CMD, waits
//! with wait4() and prints one line on stdout:
//!
//! ```text
//! wall_ns=123456 maxrss_kb=2345 utime_us=100 stime_us=200 status=exit:0
//! ```
//!
//! Why not time from Python directly: on exec the kernel folds the old
//! address space's RSS high-water mark into the process's ru_maxrss, and a
//! child forked or vforked from Python starts out with Python's address
//! space, so every measurement would be at least Python's RSS (~10 MB,
//! i.e. 30+ bytes/socket at 300k sockets). Forking from this small process
//! keeps that floor at ~1 MB. The child gets PR_SET_PDEATHSIG(SIGKILL) so
//! killing this wrapper never leaves the command behind.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

fn fail(msg: &str) -> ! {
    eprintln!("sockdoc-bench-exec: error: {msg}");
    std::process::exit(125);
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let mut stdout_path = CString::new("/dev/null").unwrap_or_default();
    let mut cmd: Vec<CString> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_bytes() {
            b"--stdout" => {
                let p = args.next().unwrap_or_else(|| fail("--stdout needs a path"));
                stdout_path = CString::new(p.as_bytes()).unwrap_or_else(|_| fail("bad path"));
            }
            b"--" => {
                for c in args.by_ref() {
                    cmd.push(
                        CString::new(c.as_bytes()).unwrap_or_else(|_| fail("NUL in argument")),
                    );
                }
            }
            b"-h" | b"--help" => {
                println!("usage: sockdoc-bench-exec [--stdout PATH] -- CMD [ARGS...]");
                return;
            }
            _ => fail(&format!(
                "unexpected argument {a:?} (put the command after --)"
            )),
        }
    }
    if cmd.is_empty() {
        fail("no command given (usage: sockdoc-bench-exec [--stdout PATH] -- CMD [ARGS...])");
    }
    let mut argv: Vec<*const libc::c_char> = cmd.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    let parent = unsafe { libc::getpid() };

    let start = Instant::now();
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        fail(&format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // Child: only async-signal-safe calls from here on.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            if libc::getppid() != parent {
                libc::_exit(125);
            }
            let fd = libc::open(
                stdout_path.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
                0o644,
            );
            if fd < 0 || libc::dup2(fd, libc::STDOUT_FILENO) < 0 {
                let msg = b"sockdoc-bench-exec: error: cannot open stdout target\n";
                libc::write(libc::STDERR_FILENO, msg.as_ptr().cast(), msg.len());
                libc::_exit(125);
            }
            if fd != libc::STDOUT_FILENO {
                libc::close(fd);
            }
            libc::execvp(argv[0], argv.as_ptr());
            let msg = b"sockdoc-bench-exec: error: exec failed\n";
            libc::write(libc::STDERR_FILENO, msg.as_ptr().cast(), msg.len());
            libc::_exit(127);
        }
    }

    let mut status = 0;
    // SAFETY: rusage is plain data.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            fail(&format!("wait4: {e}"));
        }
    }
    let wall = start.elapsed();
    let st = if libc::WIFEXITED(status) {
        format!("exit:{}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("signal:{}", libc::WTERMSIG(status))
    } else {
        format!("raw:{status}")
    };
    let us = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    println!(
        "wall_ns={} maxrss_kb={} utime_us={} stime_us={} status={st}",
        wall.as_nanos(),
        ru.ru_maxrss,
        us(ru.ru_utime),
        us(ru.ru_stime)
    );
}
