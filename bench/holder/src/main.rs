//! sockdoc-holder: opens and holds N loopback sockets for the sockdoc bench.
//!
//! Run it inside a throw-away network namespace (bench/run.py does that).
//! It forks worker processes (one process may hold at most ~20k fds), each
//! with its own listener on 127.0.0.1:(base+worker) and its share of the
//! ESTABLISHED / CLOSE-WAIT (+ FIN-WAIT-2 peer) / TIME-WAIT / UDP
//! populations. When everything is in place it prints one line
//!
//! ```text
//! ready sockets=300000 established=... close_wait=... fin_wait2=... time_wait=... udp=... listen=16 workers=16 setup_ms=... pids=1,2,...
//! ```
//!
//! on stdout and holds the sockets until SIGTERM/SIGINT, then kills its
//! workers and exits 0. Errors are reported as one `sockdoc-holder: error:`
//! line on stderr with a non-zero exit status.

mod sys;
mod worker;

use std::fmt::Write as _;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use worker::{Held, Settings, WorkerPlan};

const USAGE: &str = "\
usage: sockdoc-holder [options]

Opens and holds loopback sockets in the current network namespace until
SIGTERM/SIGINT. Prints `ready key=value...` on stdout once they are in place.

options:
  --sockets N       total sockets to hold (default 300000); suffixes k/M ok
  --time-wait N     client-side TIME-WAIT sockets (default 2% of --sockets)
  --close-wait N    CLOSE-WAIT sockets; each has a held FIN-WAIT-2 peer, so
                    this uses 2N sockets (default 1% of --sockets)
  --udp N           UDP sockets, half of them connected (default 1%)
  --workers K       worker processes (default: enough for ~19000 fds each)
  --fds-per-worker N  fd budget per worker (default 19000, capped by the
                    RLIMIT_NOFILE hard limit)
  --base-port P     worker w listens on 127.0.0.1:(P+w) (default 20000)
  --batch N         connections per connect/accept round (default 1024)
  --tw-refresh S    recreate TIME-WAIT batches every S seconds (default 30;
                    the kernel expires them after 60 s)
  --pidfile PATH    write worker PIDs there, one per line, as soon as forked
  --cgroups D1,D2   worker w joins cgroup v2 directory D(w mod n) before it
                    makes a socket (sockets keep the cgroup they were made in)
  -h, --help        this text

The rest of --sockets (minus one listener per worker) is ESTABLISHED
loopback connections, both ends held (2 sockets each).";

#[derive(Debug)]
struct Config {
    sockets: u64,
    time_wait: Option<u64>,
    close_wait: Option<u64>,
    udp: Option<u64>,
    workers: Option<u32>,
    fds_per_worker: u64,
    base_port: u16,
    batch: usize,
    tw_refresh: u64,
    pidfile: Option<PathBuf>,
    cgroups: Vec<PathBuf>,
}

fn parse_count(flag: &str, v: &str) -> Result<u64, String> {
    let t = v.trim().replace('_', "");
    let (digits, mult) = match t.chars().last() {
        Some('k') | Some('K') => (&t[..t.len() - 1], 1_000),
        Some('m') | Some('M') => (&t[..t.len() - 1], 1_000_000),
        _ => (&t[..], 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{flag}: not a number: {v:?}"))
}

fn parse_args(args: &[String]) -> Result<Option<Config>, String> {
    let mut c = Config {
        sockets: 300_000,
        time_wait: None,
        close_wait: None,
        udp: None,
        workers: None,
        fds_per_worker: 19_000,
        base_port: 20_000,
        batch: 1024,
        tw_refresh: 30,
        pidfile: None,
        cgroups: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let mut value = || -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value")),
            }
        };
        match flag {
            "--sockets" => c.sockets = parse_count(flag, &value()?)?,
            "--time-wait" => c.time_wait = Some(parse_count(flag, &value()?)?),
            "--close-wait" => c.close_wait = Some(parse_count(flag, &value()?)?),
            "--udp" => c.udp = Some(parse_count(flag, &value()?)?),
            "--workers" => {
                let k = parse_count(flag, &value()?)?;
                if k == 0 || k > 239 {
                    return Err("--workers must be between 1 and 239".into());
                }
                c.workers = Some(k as u32);
            }
            "--fds-per-worker" => c.fds_per_worker = parse_count(flag, &value()?)?,
            "--base-port" => {
                let p = parse_count(flag, &value()?)?;
                c.base_port = u16::try_from(p)
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or("--base-port must be 1..65535")?;
            }
            "--batch" => {
                let b = parse_count(flag, &value()?)?;
                if b == 0 || b > 65_535 {
                    return Err("--batch must be 1..65535".into());
                }
                c.batch = b as usize;
            }
            "--tw-refresh" => {
                let s = parse_count(flag, &value()?)?;
                if !(2..=58).contains(&s) {
                    return Err("--tw-refresh must be 2..58 seconds".into());
                }
                c.tw_refresh = s;
            }
            "--pidfile" => c.pidfile = Some(PathBuf::from(value()?)),
            "--cgroups" => {
                c.cgroups = value()?
                    .split(',')
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
                    .collect()
            }
            _ => return Err(format!("unknown argument {arg:?} (see --help)")),
        }
    }
    Ok(Some(c))
}

/// TIME-WAIT connections per creation/refresh batch.
const TW_BATCH: usize = 256;
/// fds kept free in each worker for stdio, pipes and slack.
const FD_SLACK: u64 = 32;

struct Plan {
    workers: Vec<WorkerPlan>,
}

/// Splits `total` into `k` near-equal shares.
fn split(total: u64, k: u32, i: u32) -> u64 {
    let k = k as u64;
    let i = i as u64;
    total / k + u64::from(i < total % k)
}

fn make_plan(c: &Config, budget: u64) -> Result<Plan, String> {
    let tw = c.time_wait.unwrap_or(c.sockets * 2 / 100);
    let cw = c.close_wait.unwrap_or(c.sockets / 100);
    let udp = c.udp.unwrap_or(c.sockets / 100);
    let transient = 2 * TW_BATCH.min(tw as usize) as u64;
    let per_worker_max = budget.saturating_sub(FD_SLACK + transient);
    if per_worker_max < 16 {
        return Err(format!("fd budget per worker ({budget}) is too small"));
    }

    let build = |k: u32| -> Result<Plan, String> {
        let fixed = tw + 2 * cw + udp + k as u64;
        if fixed > c.sockets {
            return Err(format!(
                "sub-populations (time-wait {tw} + 2x close-wait {cw} + udp {udp} + {k} listeners = {fixed}) \
                 exceed --sockets {}",
                c.sockets
            ));
        }
        let est_conns = (c.sockets - fixed) / 2;
        let workers = (0..k)
            .map(|i| WorkerPlan {
                index: i,
                established: split(est_conns, k, i),
                close_wait: split(cw, k, i),
                time_wait: split(tw, k, i),
                udp: split(udp, k, i),
            })
            .collect();
        Ok(Plan { workers })
    };
    let fits = |p: &Plan| p.workers.iter().all(|w| w.held_fds() <= per_worker_max);

    if let Some(k) = c.workers {
        let plan = build(k)?;
        if !fits(&plan) {
            let need = plan.workers.iter().map(|w| w.held_fds()).max().unwrap_or(0);
            return Err(format!(
                "{k} workers would need {need} fds each (+{} transient), over the budget of {budget}; \
                 use more --workers",
                FD_SLACK + transient
            ));
        }
        return Ok(plan);
    }
    // Smallest k whose per-worker share fits the budget.
    let fds = 2 * ((c.sockets.saturating_sub(tw + udp)) / 2) + udp;
    let mut k = fds.div_ceil(per_worker_max).max(1) as u32;
    loop {
        if k > 239 {
            return Err("more than 239 workers needed; raise --fds-per-worker".into());
        }
        let plan = build(k)?;
        if fits(&plan) {
            return Ok(plan);
        }
        k += 1;
    }
}

struct Child {
    index: u32,
    pid: libc::pid_t,
    /// Report pipe from the worker while it builds; None once read.
    report: Option<OwnedFd>,
    buf: Vec<u8>,
    exited: bool,
}

/// Body of a forked worker; never returns.
fn worker_main(
    plan: &WorkerPlan,
    settings: &Settings,
    cgroups: &[PathBuf],
    report: OwnedFd,
    inherited: &[RawFd],
    parent: libc::pid_t,
) -> ! {
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        if libc::getppid() != parent {
            libc::_exit(1);
        }
        for &fd in inherited {
            libc::close(fd);
        }
    }
    let fd = report.as_raw_fd();
    let fail = |msg: String| -> ! {
        let _ = sys::write_all(fd, format!("err {msg}\n").as_bytes());
        unsafe { libc::_exit(1) }
    };
    if let Err(e) = sys::set_sigmask(libc::SIG_SETMASK, &sys::sigset(&[])) {
        fail(format!("sigprocmask: {e}"));
    }
    // stdout belongs to the parent's "ready" protocol.
    if let Err(e) = sys::redirect_to_devnull(libc::STDOUT_FILENO) {
        fail(format!("redirecting stdout: {e}"));
    }
    if let Err(e) = sys::raise_nofile() {
        fail(format!("raising RLIMIT_NOFILE: {e}"));
    }
    // Before any socket: a socket keeps the cgroup of the process that made it.
    if !cgroups.is_empty() {
        let procs = cgroups[plan.index as usize % cgroups.len()].join("cgroup.procs");
        if let Err(e) = std::fs::write(&procs, "0") {
            fail(format!("joining {}: {e}", procs.display()));
        }
    }
    let held = match Held::build(plan, settings) {
        Ok(h) => h,
        Err(e) => fail(e),
    };
    let line = format!(
        "ok established={} close_wait={} time_wait={} udp={} setup_ms={}\n",
        held.established,
        held.close_wait,
        held.time_wait,
        held.udp,
        held.setup.as_millis()
    );
    if sys::write_all(fd, line.as_bytes()).is_err() {
        unsafe { libc::_exit(1) };
    }
    drop(report);
    let msg = held.hold(settings);
    eprintln!("sockdoc-holder: error: worker {}: {msg}", plan.index);
    unsafe { libc::_exit(1) }
}

/// SIGTERM to every live worker, wait up to 10 s, then SIGKILL stragglers.
fn stop_workers(children: &mut [Child]) {
    for c in children.iter().filter(|c| !c.exited) {
        unsafe { libc::kill(c.pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut killed = false;
    loop {
        for c in children.iter_mut().filter(|c| !c.exited) {
            let mut st = 0;
            let r = unsafe { libc::waitpid(c.pid, &mut st, libc::WNOHANG) };
            if r == c.pid || r < 0 {
                c.exited = true;
            }
        }
        if children.iter().all(|c| c.exited) {
            return;
        }
        if !killed && Instant::now() > deadline {
            for c in children.iter().filter(|c| !c.exited) {
                unsafe { libc::kill(c.pid, libc::SIGKILL) };
            }
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn parse_kv(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn run(c: Config) -> Result<i32, String> {
    let hard = sys::raise_nofile().map_err(|e| format!("raising RLIMIT_NOFILE: {e}"))?;
    let budget = c.fds_per_worker.min(hard);
    let plan = make_plan(&c, budget)?;
    let settings = Settings {
        base_port: c.base_port,
        batch: c.batch,
        tw_batch: TW_BATCH,
        tw_refresh: Duration::from_secs(c.tw_refresh),
    };
    if c.base_port as u64 + plan.workers.len() as u64 > 65_536 {
        return Err("--base-port + workers exceeds port 65535".into());
    }

    let start = Instant::now();
    let sigs = sys::sigset(&[libc::SIGTERM, libc::SIGINT, libc::SIGCHLD]);
    sys::set_sigmask(libc::SIG_BLOCK, &sigs).map_err(|e| format!("sigprocmask: {e}"))?;
    let sfd = sys::signalfd(&sigs).map_err(|e| format!("signalfd: {e}"))?;
    let parent = unsafe { libc::getpid() };

    let mut children: Vec<Child> = Vec::new();
    for wp in &plan.workers {
        let (r, w) = sys::pipe().map_err(|e| format!("pipe: {e}"))?;
        let mut inherited: Vec<RawFd> = children
            .iter()
            .filter_map(|c| c.report.as_ref().map(|f| f.as_raw_fd()))
            .collect();
        inherited.push(sfd.as_raw_fd());
        inherited.push(r.as_raw_fd());
        match unsafe { libc::fork() } {
            -1 => {
                let e = std::io::Error::last_os_error();
                stop_workers(&mut children);
                return Err(format!("fork: {e}"));
            }
            0 => worker_main(wp, &settings, &c.cgroups, w, &inherited, parent),
            pid => {
                drop(w);
                children.push(Child {
                    index: wp.index,
                    pid,
                    report: Some(r),
                    buf: Vec::new(),
                    exited: false,
                });
            }
        }
    }

    if let Some(path) = &c.pidfile {
        let mut s = String::new();
        for ch in &children {
            let _ = writeln!(s, "{}", ch.pid);
        }
        if let Err(e) = std::fs::write(path, s) {
            stop_workers(&mut children);
            return Err(format!("writing pidfile {}: {e}", path.display()));
        }
    }

    let mut ready = false;
    let mut ok_lines: Vec<String> = Vec::new();
    loop {
        let mut pfds = vec![libc::pollfd {
            fd: sfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let mut owners = vec![usize::MAX];
        for (i, ch) in children.iter().enumerate() {
            if let Some(r) = &ch.report {
                pfds.push(libc::pollfd {
                    fd: r.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
                owners.push(i);
            }
        }
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            stop_workers(&mut children);
            return Err(format!("poll: {e}"));
        }

        // Worker reports.
        for (p, &owner) in pfds.iter().zip(&owners).skip(1) {
            if p.revents == 0 {
                continue;
            }
            let ch = &mut children[owner];
            let Some(r) = &ch.report else { continue };
            let mut buf = [0u8; 512];
            let got = sys::read_some(r.as_raw_fd(), &mut buf).unwrap_or(0);
            ch.buf.extend_from_slice(&buf[..got]);
            if let Some(nl) = ch.buf.iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&ch.buf[..nl]).into_owned();
                ch.report = None;
                if let Some(msg) = line.strip_prefix("err ") {
                    let msg = format!("worker {} (pid {}): {msg}", ch.index, ch.pid);
                    stop_workers(&mut children);
                    return Err(msg);
                }
                ok_lines.push(line);
            } else if got == 0 {
                let msg = format!("worker {} (pid {}) died before reporting", ch.index, ch.pid);
                stop_workers(&mut children);
                return Err(msg);
            }
        }

        if !ready && ok_lines.len() == children.len() {
            ready = true;
            let sum = |k: &str| ok_lines.iter().map(|l| parse_kv(l, k)).sum::<u64>();
            let (est, cw, tw, udp) = (
                sum("established"),
                sum("close_wait"),
                sum("time_wait"),
                sum("udp"),
            );
            let k = children.len() as u64;
            let total = 2 * est + 2 * cw + tw + udp + k;
            let pids: Vec<String> = children.iter().map(|c| c.pid.to_string()).collect();
            // A closed stdout must not kill us (println! would panic).
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "ready sockets={total} established={} close_wait={cw} fin_wait2={cw} time_wait={tw} \
                 udp={udp} listen={k} workers={k} setup_ms={} pids={}",
                2 * est,
                start.elapsed().as_millis(),
                pids.join(",")
            );
            let _ = out.flush();
        }

        // Signals.
        if pfds[0].revents != 0 {
            let got = sys::read_signals(&sfd).map_err(|e| format!("reading signalfd: {e}"))?;
            if got.iter().any(|&s| s == libc::SIGTERM || s == libc::SIGINT) {
                stop_workers(&mut children);
                return Ok(0);
            }
            // SIGCHLD: find out who died.
            for i in 0..children.len() {
                if children[i].exited {
                    continue;
                }
                let mut st = 0;
                let r = unsafe { libc::waitpid(children[i].pid, &mut st, libc::WNOHANG) };
                if r == children[i].pid {
                    children[i].exited = true;
                    // Before "ready" a failing worker normally reports on its
                    // pipe; let that message win if it is still unread.
                    if children[i].report.is_some() {
                        continue;
                    }
                    let msg = format!(
                        "worker {} (pid {}) {}",
                        children[i].index,
                        children[i].pid,
                        sys::describe_status(st)
                    );
                    stop_workers(&mut children);
                    return Err(msg);
                }
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match parse_args(&args) {
        Ok(None) => {
            println!("{USAGE}");
            0
        }
        Ok(Some(c)) => match run(c) {
            Ok(code) => code,
            Err(msg) => {
                eprintln!("sockdoc-holder: error: {msg}");
                1
            }
        },
        Err(msg) => {
            eprintln!("sockdoc-holder: error: {msg}");
            2
        }
    };
    std::process::exit(code);
}
