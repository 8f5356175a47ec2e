#!/usr/bin/env python3
"""sockdoc benchmark runner.

Creates a throw-away network namespace, fills it with N loopback sockets
(bench/holder, binary `sockdoc-holder`), then times sockdoc against ss and
netstat side by side, every command run as `ip netns exec sockdoc-bench ...`
with stdout to /dev/null. Wall time is the median of --repeat runs; peak RSS
comes from wait4() in `sockdoc-bench-exec` (see bench/holder/src/exec.rs for
why it is not measured from Python directly).

Usage (root needed for the namespace):

    sudo python3 bench/run.py --sockets 300000 [--repeat 3] [--skip-slow]

Results: a table on stdout plus bench/results/<stamp>.json and .md (and
latest.json / latest.md). The namespace and the holder are torn down on exit,
also on failure and Ctrl-C.

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NS = "sockdoc-bench"
BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
RELEASE = ROOT / "target" / "release"

# Targets (see bench/README.md).
TARGET_STATS_VS_SS = 1.5  # `sockdoc stats` vs `ss -tan`
TARGET_PROC_VS_SSP = 20.0  # `stats --by process` / `list -p` vs `ss -tanp`
TARGET_BYTES_PER_SOCKET = 200.0  # peak RSS / sockets, every sockdoc command
TARGET_DOCTOR_VS_STATS = 0.5  # `sockdoc doctor` at most 2x the time of `stats --by process`
TARGET_UNIT_VS_STATS = 1 / 1.2  # `stats --by unit` within 1.2x of plain `stats`
TARGET_UNIT_VS_PROCESS = 1.0  # `stats --by unit` faster than `stats --by process`
TARGET_SNAPSHOT_S = 1.0  # `sockdoc snapshot` of 300k sockets within 1 s ...
TARGET_SNAPSHOT_MB = 10.0  # ... in at most 10 MB
SNAPSHOT_FILE = Path(tempfile.gettempdir()) / f"sockdoc-bench-{os.getpid()}.sdsnap"
CGROUP_SLICE = "sockdoc-bench.slice"  # the holder's workers are shared out to cgroups below it
SLOW_AUTO_SKIP_ABOVE = 400_000  # ss -tanp / netstat -tanp skipped above this


# --------------------------------------------------------------------------
# Commands under test


class Cmd:
    def __init__(self, key: str, argv: list[str], tool: str, slow: bool = False,
                 ok_exit: tuple[int, ...] = (0,)):
        self.key = key  # display name, e.g. "ss -tan"
        self.argv = argv  # argv inside the namespace
        self.tool = tool  # "sockdoc" | "ss" | "netstat"
        self.slow = slow
        self.ok_exit = ok_exit  # doctor exits 1/2 when it finds warnings/critical problems
        self.runs: list[dict] = []
        self.status = "pending"  # ok | failed | skipped | pending
        self.note = ""
        self.out_lines: int | None = None

    def walls(self) -> list[float]:
        return [r["wall_s"] for r in self.runs]

    def median(self) -> float | None:
        w = self.walls()
        return statistics.median(w) if w else None

    def peak_kb(self) -> int | None:
        m = [r["maxrss_kb"] for r in self.runs]
        return max(m) if m else None

    def to_json(self, sockets: int) -> dict:
        peak = self.peak_kb()
        return {
            "command": self.key,
            "argv": self.argv,
            "tool": self.tool,
            "slow": self.slow,
            "status": self.status,
            "note": self.note,
            "runs": self.runs,
            "median_wall_s": self.median(),
            "min_wall_s": min(self.walls()) if self.runs else None,
            "peak_rss_kb": peak,
            "bytes_per_socket": (peak * 1024 / sockets) if peak and sockets else None,
            "output_lines_warmup": self.out_lines,
        }


def make_commands(sockdoc: Path | None) -> list[Cmd]:
    sd = str(sockdoc) if sockdoc else "sockdoc"
    return [
        Cmd("sockdoc stats", [sd, "stats"], "sockdoc"),
        Cmd("sockdoc stats --by process", [sd, "stats", "--by", "process"], "sockdoc"),
        Cmd("sockdoc stats --by unit", [sd, "stats", "--by", "unit"], "sockdoc"),
        Cmd("sockdoc list -p", [sd, "list", "-p"], "sockdoc"),
        Cmd("sockdoc list", [sd, "list"], "sockdoc"),
        Cmd("sockdoc ss -tan", [sd, "ss", "-tan"], "sockdoc"),
        Cmd("sockdoc ss -tanp", [sd, "ss", "-tanp"], "sockdoc"),
        Cmd("sockdoc doctor", [sd, "doctor"], "sockdoc", ok_exit=(0, 1, 2)),
        Cmd("sockdoc snapshot", [sd, "snapshot", "-o", str(SNAPSHOT_FILE)], "sockdoc"),
        Cmd("ss -tan", ["ss", "-tan"], "ss"),
        Cmd("ss -s", ["ss", "-s"], "ss"),
        Cmd("ss -tanp", ["ss", "-tanp"], "ss", slow=True),
        Cmd("ss -tanoi", ["ss", "-tanoi"], "ss"),
        Cmd("netstat -tan", ["netstat", "-tan"], "netstat"),
        Cmd("netstat -tanp", ["netstat", "-tanp"], "netstat", slow=True),
    ]


# (sockdoc command, baseline command, target speedup or None)
COMPARISONS = [
    ("sockdoc stats", "ss -tan", TARGET_STATS_VS_SS),
    ("sockdoc stats --by process", "ss -tanp", TARGET_PROC_VS_SSP),
    ("sockdoc list -p", "ss -tanp", TARGET_PROC_VS_SSP),
    ("sockdoc list", "ss -tanoi", None),
    # the same command line as ss's, answered in ss's shape
    ("sockdoc ss -tan", "ss -tan", None),
    ("sockdoc ss -tanp", "ss -tanp", TARGET_PROC_VS_SSP),
    # doctor does the census with tcp_info and owners plus two counter readings 500 ms apart:
    # it must stay within 2x of `stats --by process` (speedup >= 0.5).
    ("sockdoc doctor", "sockdoc stats --by process", TARGET_DOCTOR_VS_STATS),
    # services come from the cgroup id in every reply and one walk of the cgroup tree, no /proc walk
    ("sockdoc stats --by unit", "sockdoc stats", TARGET_UNIT_VS_STATS),
    ("sockdoc stats --by unit", "sockdoc stats --by process", TARGET_UNIT_VS_PROCESS),
]


# --------------------------------------------------------------------------
# Process bookkeeping and cleanup


class Interrupted(Exception):
    pass


class State:
    holder: subprocess.Popen | None = None
    holder_pids: list[int] = []
    pidfile: Path | None = None
    current: subprocess.Popen | None = None
    holder_errf = None  # file with the holder's stderr
    ns_created = False
    cgroups: list[Path] = []  # made for the holder's workers, removed after it stops
    cleaning = False


STATE = State()


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def on_signal(signum, _frame):
    if STATE.cleaning:
        return
    raise Interrupted(signal.Signals(signum).name)


def proc_comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def alive(pid: int) -> bool:
    # A zombie still has /proc/<pid>; check its state.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def kill_pid(pid: int, sig: int, expect_comm: str | None = None) -> None:
    """Signals one PID we started (optionally checking its name first)."""
    if expect_comm is not None and proc_comm(pid) != expect_comm:
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def read_pidfile() -> list[int]:
    if not STATE.pidfile or not STATE.pidfile.exists():
        return []
    pids = []
    for line in STATE.pidfile.read_text().split():
        if line.isdigit():
            pids.append(int(line))
    return pids


def stop_holder(timeout: float = 30.0) -> None:
    """SIGTERM the holder and its workers by PID, SIGKILL what is left."""
    h = STATE.holder
    workers = sorted(set(STATE.holder_pids) | set(read_pidfile()))
    if h is None and not workers:
        return
    if h is not None and h.poll() is None:
        kill_pid(h.pid, signal.SIGTERM)
    for pid in workers:
        kill_pid(pid, signal.SIGTERM, "sockdoc-holder")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (h is None or h.poll() is not None) and not any(alive(p) for p in workers):
            break
        time.sleep(0.1)
    else:
        log("holder did not exit in time; sending SIGKILL")
        if h is not None and h.poll() is None:
            kill_pid(h.pid, signal.SIGKILL)
        for pid in workers:
            kill_pid(pid, signal.SIGKILL, "sockdoc-holder")
        if h is not None:
            try:
                h.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
    STATE.holder = None
    STATE.holder_pids = []


def cleanup() -> None:
    STATE.cleaning = True
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    cur = STATE.current
    if cur is not None and cur.poll() is None:
        kill_pid(cur.pid, signal.SIGKILL)  # its command dies too (PDEATHSIG)
        try:
            cur.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    try:
        stop_holder()
    finally:
        if STATE.ns_created:
            r = subprocess.run(["ip", "netns", "del", NS], capture_output=True, text=True)
            if r.returncode != 0:
                log(f"warning: ip netns del {NS} failed: {r.stderr.strip()}")
            else:
                log(f"namespace {NS} deleted")
            STATE.ns_created = False
        if STATE.pidfile is not None:
            try:
                STATE.pidfile.unlink()
            except OSError:
                pass
        remove_cgroups()
        try:
            SNAPSHOT_FILE.unlink()
        except OSError:
            pass


# --------------------------------------------------------------------------
# Helpers


def run_quiet(argv: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def in_ns(argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", NS, *argv]


def meminfo() -> dict[str, int]:
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        k, v = line.split(":", 1)
        out[k] = int(v.split()[0])
    return out


def find_cargo() -> str | None:
    c = shutil.which("cargo")
    if c:
        return c
    cands = []
    user = os.environ.get("SUDO_USER")
    if user:
        cands.append(Path(os.path.expanduser(f"~{user}")) / ".cargo/bin/cargo")
    cands.append(Path("/root/.cargo/bin/cargo"))
    for p in cands:
        if p.is_file():
            return str(p)
    return None


def cargo_build(packages: list[str]) -> bool:
    cargo = find_cargo()
    if not cargo:
        log("cargo not found; cannot build")
        return False
    argv = [cargo, "build", "--release"]
    for p in packages:
        argv += ["-p", p]
    user = os.environ.get("SUDO_USER")
    if user and user != "root" and os.geteuid() == 0:
        # Build as the invoking user so target/ does not end up root-owned.
        home = os.path.expanduser(f"~{user}")
        argv = ["sudo", "-u", user, "env", f"HOME={home}", f"PATH={os.environ.get('PATH', '')}", *argv]
    log("building: " + " ".join(argv))
    r = subprocess.run(argv, cwd=ROOT)
    return r.returncode == 0


def tool_version(argv: list[str]) -> str:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def git_rev() -> str:
    try:
        r = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return r.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    if x < 0.01:
        return f"{x * 1000:.2f} ms"
    if x < 1:
        return f"{x * 1000:.0f} ms"
    return f"{x:.2f} s"


# --------------------------------------------------------------------------
# Namespace and holder


def setup_namespace(tw: int) -> None:
    r = run_quiet(["ip", "netns", "list"], check=False)
    names = [line.split()[0] for line in r.stdout.splitlines() if line.strip()]
    if NS in names:
        log(f"stale namespace {NS} found (earlier run?); removing it")
        pids = run_quiet(["ip", "netns", "pids", NS], check=False).stdout.split()
        for p in pids:
            if p.isdigit() and proc_comm(int(p)) == "sockdoc-holder":
                kill_pid(int(p), signal.SIGKILL)
        run_quiet(["ip", "netns", "del", NS])
    run_quiet(["ip", "netns", "add", NS])
    STATE.ns_created = True
    run_quiet(["ip", "-n", NS, "link", "set", "lo", "up"])
    # Namespace-local sysctls: room for our TIME-WAIT population (plus the
    # ones created at teardown) and deep accept queues.
    cur = int(run_quiet(in_ns(["sysctl", "-n", "net.ipv4.tcp_max_tw_buckets"])).stdout.strip())
    want = max(cur, 4 * tw + 65536)
    sysctls = {"net.ipv4.tcp_max_tw_buckets": want, "net.core.somaxconn": 65535}
    for k, v in sysctls.items():
        run_quiet(in_ns(["sysctl", "-q", "-w", f"{k}={v}"]))


def cgroup2_root() -> Path | None:
    """Where cgroup v2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split(" ", 1)[0] == "cgroup2":
                return Path(left.split()[4])
    return None


def make_cgroups(n: int) -> list[Path]:
    """`n` service cgroups under CGROUP_SLICE for the holder's workers (none when n is 0)."""
    root = cgroup2_root()
    if n <= 0:
        return []
    if root is None:
        raise RuntimeError("no cgroup2 mount: run with --cgroups 0")
    slice_dir = root / CGROUP_SLICE
    dirs = [slice_dir / f"holder-{i}.service" for i in range(n)]
    STATE.cgroups = [slice_dir, *dirs]
    for d in STATE.cgroups:
        d.mkdir(exist_ok=True)
    return dirs


def remove_cgroups() -> None:
    """Remove the cgroups made for the holder (children first), once its processes are gone."""
    for d in reversed(STATE.cgroups):
        for _ in range(50):
            try:
                d.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)  # its last processes are still exiting
        else:
            log(f"warning: cannot remove cgroup {d}")
    STATE.cgroups = []


def start_holder(args, holder: Path) -> dict:
    fd, pf = tempfile.mkstemp(prefix="sockdoc-holder-", suffix=".pids")
    os.close(fd)
    STATE.pidfile = Path(pf)
    errf = tempfile.TemporaryFile(mode="w+")
    argv = [str(holder), "--sockets", str(args.sockets), "--pidfile", pf]
    for flag in ("time_wait", "close_wait", "udp", "workers"):
        v = getattr(args, flag)
        if v is not None:
            argv += ["--" + flag.replace("_", "-"), str(v)]
    cgroups = make_cgroups(getattr(args, "cgroups", 0) or 0)
    if cgroups:
        # `ip netns exec` remounts /sys without the cgroup2 mount: the workers reach it through
        # this process's root.
        argv += ["--cgroups", ",".join(f"/proc/{os.getpid()}/root{d}" for d in cgroups)]
    log("starting holder: " + " ".join(argv))
    mem0 = meminfo()["MemAvailable"]
    t0 = time.monotonic()
    STATE.holder = subprocess.Popen(
        in_ns(argv),
        stdout=subprocess.PIPE,
        stderr=errf,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches us; we stop it by PID
    )
    timeout = 60 + args.sockets / 5000
    line = ""
    buf = b""
    out = STATE.holder.stdout
    while True:
        left = timeout - (time.monotonic() - t0)
        if left <= 0:
            raise RuntimeError(f"holder not ready after {timeout:.0f} s")
        r, _, _ = select.select([out], [], [], min(left, 1.0))
        if r:
            chunk = os.read(out.fileno(), 4096)
            if not chunk:
                STATE.holder.wait(timeout=10)
                errf.seek(0)
                err = errf.read().strip() or f"exit status {STATE.holder.returncode}"
                raise RuntimeError(f"holder failed: {err}")
            buf += chunk
            if b"\n" in buf:
                line = buf.split(b"\n", 1)[0].decode()
                break
    ready_s = time.monotonic() - t0
    if not line.startswith("ready "):
        raise RuntimeError(f"unexpected holder output: {line!r}")
    info: dict = {"ready_line": line, "ready_wall_s": ready_s}
    for kv in line.split()[1:]:
        k, _, v = kv.partition("=")
        info[k] = [int(p) for p in v.split(",")] if k == "pids" else int(v)
    STATE.holder_pids = info.get("pids", [])
    time.sleep(0.5)  # let freed pages settle before reading MemAvailable
    mem1 = meminfo()["MemAvailable"]
    info["mem_used_kb"] = mem0 - mem1
    rss = 0
    for pid in STATE.holder_pids + [STATE.holder.pid]:
        try:
            for l in Path(f"/proc/{pid}/status").read_text().splitlines():
                if l.startswith("VmRSS:"):
                    rss += int(l.split()[1])
        except OSError:
            pass
    info["holder_rss_kb"] = rss
    STATE.holder_errf = errf
    return info


def check_holder() -> None:
    h = STATE.holder
    if h is not None and h.poll() is not None:
        errf = STATE.holder_errf
        err = ""
        if errf:
            errf.seek(0)
            err = errf.read().strip()
        raise RuntimeError(f"holder exited during the run ({h.returncode}): {err}")


def foreign_fds(ours: set[int]) -> tuple[int, list[tuple[int, str, int]]]:
    """fds held by processes other than our holder (whole host).

    `ss -p`, `netstat -p` and `sockdoc ... -p` walk every /proc/PID/fd on the
    host, not just the namespace's, so another big socket holder running on
    the machine (another bench!) inflates exactly the numbers we compare.
    """
    total = 0
    big = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in ours:
            continue
        try:
            n = len(os.listdir(f"/proc/{name}/fd"))
        except OSError:
            continue
        total += n
        if n >= 1000:
            big.append((int(name), proc_comm(int(name)) or "?", n))
    big.sort(key=lambda t: -t[2])
    return total, big


def ss_summary() -> dict:
    out = run_quiet(in_ns(["ss", "-s"])).stdout
    d: dict = {"text": out}
    m = re.search(r"TCP:\s+(\d+) \(estab (\d+), closed (\d+), orphaned (\d+), timewait (\d+)\)", out)
    if m:
        d.update(zip(["tcp", "estab", "closed", "orphaned", "timewait"], map(int, m.groups())))
    m = re.search(r"^UDP\s+(\d+)", out, re.M)
    if m:
        d["udp"] = int(m.group(1))
    return d


def count_states() -> dict[str, int]:
    """Per-state TCP counts (+ UDP) from a full `ss -tanH` / `ss -uanH` dump."""
    counts: dict[str, int] = {}
    for proto, argv in (("tcp", ["ss", "-tanH"]), ("udp", ["ss", "-uanH"])):
        p = subprocess.Popen(in_ns(argv), stdout=subprocess.PIPE, text=True)
        STATE.current = p
        assert p.stdout is not None
        for line in p.stdout:
            st = line.split(None, 1)[0] if line.strip() else ""
            key = st if proto == "tcp" else "UDP"
            counts[key] = counts.get(key, 0) + 1
        p.wait()
        STATE.current = None
    return counts


def verify(info: dict) -> tuple[dict, int, list[str]]:
    counts = count_states()
    expect = {
        "ESTAB": info.get("established", 0),
        "CLOSE-WAIT": info.get("close_wait", 0),
        "FIN-WAIT-2": info.get("fin_wait2", 0),
        "TIME-WAIT": info.get("time_wait", 0),
        "LISTEN": info.get("listen", 0),
        "UDP": info.get("udp", 0),
    }
    problems = []
    for k, want in expect.items():
        got = counts.get(k, 0)
        if want and abs(got - want) > max(2, want // 100):
            problems.append(f"{k}: expected {want}, ss shows {got}")
    total = sum(counts.values())
    return {"expected": expect, "ss_counts": counts}, total, problems


# --------------------------------------------------------------------------
# Timing


def run_timed(exec_helper: Path, cmd: Cmd, timeout: float, stdout_to: str | None = None) -> dict:
    argv = [str(exec_helper)]
    if stdout_to:
        argv += ["--stdout", stdout_to]
    argv += ["--", *cmd.argv]
    p = subprocess.Popen(in_ns(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    STATE.current = p
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_pid(p.pid, signal.SIGKILL)  # the command dies with it (PDEATHSIG)
        p.communicate()
        STATE.current = None
        raise RuntimeError(f"timed out after {timeout:.0f} s")
    STATE.current = None  # left set on Ctrl-C so cleanup() kills it
    res = {}
    for kv in out.split():
        k, _, v = kv.partition("=")
        res[k] = v
    if "wall_ns" not in res:
        raise RuntimeError(f"measurement failed: {err.strip() or out.strip()}")
    if res.get("status") not in {f"exit:{c}" for c in cmd.ok_exit}:
        first = err.strip().splitlines()[:3]
        raise RuntimeError(f"{res.get('status')}: {' | '.join(first)}")
    return {
        "wall_s": int(res["wall_ns"]) / 1e9,
        "maxrss_kb": int(res["maxrss_kb"]),
        "user_s": int(res["utime_us"]) / 1e6,
        "sys_s": int(res["stime_us"]) / 1e6,
    }


def warmup(exec_helper: Path, cmd: Cmd, tmpdir: str, expected_sockets: int) -> None:
    """One untimed run with output to a file: warms caches, counts lines."""
    path = os.path.join(tmpdir, "out.txt")
    try:
        run_timed(exec_helper, cmd, timeout=900, stdout_to=path)
        n = 0
        with open(path, "rb") as f:
            for _ in f:
                n += 1
        cmd.out_lines = n
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    if cmd.tool == "sockdoc":
        if cmd.key.startswith("sockdoc list") and n < expected_sockets // 2:
            cmd.note = f"suspicious: printed {n} lines for ~{expected_sockets} sockets"
        elif n == 0:
            cmd.note = "suspicious: no output"


# --------------------------------------------------------------------------
# Reporting


def comparisons(cmds: dict[str, Cmd]) -> list[dict]:
    rows = []
    for sd_key, base_key, target in COMPARISONS:
        sd, base = cmds[sd_key], cmds[base_key]
        a = sd.median() if sd.status == "ok" else None
        b = base.median() if base.status == "ok" else None
        speedup = (b / a) if a and b else None
        if speedup is None:
            verdict = "n/a"
        elif target is None:
            verdict = "info"
        else:
            verdict = "PASS" if speedup >= target else "FAIL"
        rows.append(
            {
                "sockdoc": sd_key,
                "baseline": base_key,
                "sockdoc_s": a,
                "baseline_s": b,
                "speedup": speedup,
                "target": target,
                "verdict": verdict,
            }
        )
    return rows


def snapshot_note(c: Cmd | None, sockets: int) -> None:
    """The snapshot's file size and the targets (time and size) in its row's note; the file goes."""
    if c is None or c.status != "ok":
        return
    try:
        size = SNAPSHOT_FILE.stat().st_size
        SNAPSHOT_FILE.unlink()
    except OSError as e:
        c.note = f"no file: {e}"
        return
    med = c.median() or 0.0
    ok = med <= TARGET_SNAPSHOT_S and size / 1e6 <= TARGET_SNAPSHOT_MB
    c.note = (
        f"file {size / 1e6:.1f} MB ({size / max(sockets, 1):.1f} B/socket); "
        f"goal <= {TARGET_SNAPSHOT_S:g} s and <= {TARGET_SNAPSHOT_MB:g} MB: {'PASS' if ok else 'FAIL'}"
    )


def memory_checks(cmds: dict[str, Cmd], sockets: int) -> list[dict]:
    rows = []
    for c in cmds.values():
        if c.tool != "sockdoc":
            continue
        peak = c.peak_kb() if c.status == "ok" else None
        bps = peak * 1024 / sockets if peak and sockets else None
        verdict = "n/a" if bps is None else ("PASS" if bps < TARGET_BYTES_PER_SOCKET else "FAIL")
        rows.append({"command": c.key, "peak_rss_kb": peak, "bytes_per_socket": bps, "verdict": verdict})
    return rows


def markdown(meta: dict, cmds: dict[str, Cmd], comps: list[dict], mems: list[dict]) -> str:
    sockets = meta["sockets_measured"]
    L = []
    L.append(
        f"### sockdoc bench, {meta['date']} — {sockets:,} sockets "
        f"({meta['machine']}, kernel {meta['kernel']}, {meta['repeat']} runs, median)"
    )
    L.append("")
    L.append("| Command | Runs | Median wall | Min wall | Peak RSS | Bytes/socket | Notes |")
    L.append("|---|---:|---:|---:|---:|---:|---|")
    for c in cmds.values():
        peak = c.peak_kb()
        bps = f"{peak * 1024 / sockets:.0f}" if peak and sockets else "-"
        rss = f"{peak / 1024:.1f} MiB" if peak else "-"
        note = c.status if c.status != "ok" else ""
        if c.note:
            note = f"{note}: {c.note}" if note else c.note
        L.append(
            f"| `{c.key}` | {len(c.runs)} | {fmt_s(c.median())} | "
            f"{fmt_s(min(c.walls()) if c.runs else None)} | {rss} | {bps} | {note} |"
        )
    L.append("")
    L.append("| Target | sockdoc | Baseline | Speedup | Goal | Result |")
    L.append("|---|---:|---:|---:|---:|---|")
    for r in comps:
        sp = "-" if not r["speedup"] else f"{r['speedup']:.2f}x" if r["speedup"] < 10 else f"{r['speedup']:.0f}x"
        goal = f">= {r['target']:g}x" if r["target"] else "-"
        L.append(
            f"| `{r['sockdoc']}` vs `{r['baseline']}` | {fmt_s(r['sockdoc_s'])} | "
            f"{fmt_s(r['baseline_s'])} | {sp} | {goal} | {r['verdict']} |"
        )
    for m in mems:
        bps = f"{m['bytes_per_socket']:.0f} B" if m["bytes_per_socket"] else "-"
        L.append(
            f"| `{m['command']}` peak memory per socket | {bps} | | | "
            f"< {TARGET_BYTES_PER_SOCKET:g} B | {m['verdict']} |"
        )
    L.append("")
    h = meta["holder"]
    mem_kb = h.get("mem_used_kb", 0)
    ram = f"~{mem_kb / 1024:.0f} MiB RAM" if mem_kb > 0 else "RAM n/a (MemAvailable noisy)"
    L.append(
        f"Holder: {h.get('workers')} workers, ready in {h.get('ready_wall_s', 0):.1f} s, {ram} "
        f"(ESTAB {h.get('established')}, CLOSE-WAIT {h.get('close_wait')}, "
        f"FIN-WAIT-2 {h.get('fin_wait2')}, TIME-WAIT {h.get('time_wait')}, "
        f"UDP {h.get('udp')}, LISTEN {h.get('listen')})."
    )
    L.append("")
    L.append(
        f"Load average (1 min) {meta['loadavg_start'][0]:.2f} at start, "
        f"{meta['loadavg_end'][0]:.2f} at end; sockdoc {meta['git_rev']}, {meta['ss_version']}, "
        f"{meta['netstat_version']}. fds held by other processes on the host: "
        f"{h.get('host_other_fds', 0):,} (scanned by every -p command)."
    )
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sockets", type=int, default=300_000, help="total sockets to hold (default 300000)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per command; median reported (default 3)")
    ap.add_argument("--skip-slow", action="store_true", help="skip ss -tanp and netstat -tanp")
    ap.add_argument(
        "--force-slow",
        action="store_true",
        help=f"run ss -tanp / netstat -tanp even above {SLOW_AUTO_SKIP_ABOVE} sockets",
    )
    ap.add_argument("--sockdoc", type=Path, help="sockdoc binary (default target/release/sockdoc)")
    ap.add_argument("--holder", type=Path, help="holder binary (default target/release/sockdoc-holder)")
    ap.add_argument("--only-baselines", action="store_true", help="time ss/netstat only")
    ap.add_argument("--no-build", action="store_true", help="never call cargo build")
    ap.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up run")
    ap.add_argument("--time-wait", type=int, help="holder --time-wait")
    ap.add_argument("--close-wait", type=int, help="holder --close-wait")
    ap.add_argument("--udp", type=int, help="holder --udp")
    ap.add_argument("--workers", type=int, help="holder --workers")
    ap.add_argument(
        "--cgroups", type=int, default=4,
        help=f"share the holder's workers out to N cgroups {CGROUP_SLICE}/holder-I.service (default 4; 0: none)",
    )
    ap.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    a = ap.parse_args()
    if a.repeat < 1:
        ap.error("--repeat must be >= 1")
    return a


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print("run.py: needs root (network namespace): sudo python3 bench/run.py ...", file=sys.stderr)
        return 2
    for tool in ("ip", "ss", "sysctl"):
        if not shutil.which(tool):
            print(f"run.py: {tool} not found", file=sys.stderr)
            return 2
    if not shutil.which("netstat"):
        log("netstat missing: apt-get install -y net-tools")
        subprocess.run(["apt-get", "install", "-y", "net-tools"], stdout=subprocess.DEVNULL)

    holder = args.holder or RELEASE / "sockdoc-holder"
    exec_helper = RELEASE / "sockdoc-bench-exec"
    sockdoc = args.sockdoc or RELEASE / "sockdoc"
    want_sockdoc = not args.only_baselines
    missing_holder = not holder.is_file() or not exec_helper.is_file()
    missing_sockdoc = want_sockdoc and not sockdoc.is_file()
    if (missing_holder or missing_sockdoc) and not args.no_build:
        pkgs = ["sockdoc-bench-holder"] if missing_holder else []
        if missing_sockdoc and args.sockdoc is None:
            pkgs.append("sockdoc")
        if pkgs and not cargo_build(pkgs) and "sockdoc" in pkgs and missing_holder:
            cargo_build(["sockdoc-bench-holder"])  # sockdoc may not build yet
    if not holder.is_file() or not exec_helper.is_file():
        print(f"run.py: {holder} / {exec_helper} missing; build with "
              "cargo build --release -p sockdoc-bench-holder", file=sys.stderr)
        return 2
    if want_sockdoc and not sockdoc.is_file():
        log(f"sockdoc binary {sockdoc} not found: sockdoc rows will be 'pending'")
        want_sockdoc = False

    cmds = {c.key: c for c in make_commands(sockdoc if want_sockdoc else None)}
    slow_ok = not args.skip_slow and (args.sockets <= SLOW_AUTO_SKIP_ABOVE or args.force_slow)
    for c in cmds.values():
        if c.tool == "sockdoc" and not want_sockdoc:
            c.status = "pending"
            c.note = "skipped (--only-baselines)" if args.only_baselines else "binary not built"
        elif c.tool == "netstat" and not shutil.which("netstat"):
            c.status = "skipped"
            c.note = "netstat not installed"
        elif c.slow and not slow_ok:
            c.status = "skipped"
            c.note = "--skip-slow" if args.skip_slow else f"> {SLOW_AUTO_SKIP_ABOVE} sockets (use --force-slow)"
        else:
            c.status = "todo"
    todo = [c for c in cmds.values() if c.status == "todo"]

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    tw = args.time_wait if args.time_wait is not None else args.sockets * 2 // 100
    started = dt.datetime.now()
    load_start = os.getloadavg()
    if load_start[0] > 1.0:
        log(f"warning: load average {load_start[0]:.1f} before starting; timings will be noisy")
    try:
        setup_namespace(tw)
        info = start_holder(args, holder)
        log(info["ready_line"].split(" pids=")[0])
        log(
            f"holder ready in {info['ready_wall_s']:.2f} s; RAM used ~{info['mem_used_kb'] / 1024:.0f} MiB "
            f"({info['mem_used_kb'] * 1024 / max(info.get('sockets', 1), 1):.0f} B/socket, mostly kernel); "
            f"holder processes RSS {info['holder_rss_kb'] / 1024:.1f} MiB"
        )
        ours = set(STATE.holder_pids) | {STATE.holder.pid}
        other_fds, big = foreign_fds(ours)
        info["host_other_fds"] = other_fds
        if other_fds > max(20_000, args.sockets // 10):
            top = ", ".join(f"{c}[{p}]={n}" for p, c, n in big[:5])
            log(f"warning: other processes on this host hold {other_fds} fds ({top}); "
                "every -p command scans them too, so -p timings are inflated")
        before = ss_summary()
        print(before["text"].rstrip(), file=sys.stderr)
        ver, sockets, problems = verify(info)
        log(f"ss counts: {ver['ss_counts']} (total {sockets})")
        if problems:
            for p in problems:
                log("verification mismatch: " + p)
            raise RuntimeError("population does not match what the holder reported")
        log("verification OK")

        with tempfile.TemporaryDirectory(prefix="sockdoc-bench-") as tmpdir:
            if not args.no_warmup:
                for c in todo:
                    if c.slow:
                        continue
                    check_holder()
                    log(f"warm-up: {c.key}")
                    try:
                        warmup(exec_helper, c, tmpdir, sockets)
                    except RuntimeError as e:
                        c.status = "failed"
                        c.note = str(e)
                        log(f"  {c.key}: FAILED: {e}")
            for r in range(args.repeat):
                for c in todo:
                    if c.slow or c.status == "failed":
                        continue
                    check_holder()
                    try:
                        res = run_timed(exec_helper, c, timeout=900)
                    except RuntimeError as e:
                        c.status = "failed"
                        c.note = str(e)
                        log(f"  {c.key}: FAILED: {e}")
                        continue
                    c.runs.append(res)
                    log(f"run {r + 1}/{args.repeat}: {c.key:28s} {fmt_s(res['wall_s']):>10s}  "
                        f"{res['maxrss_kb'] / 1024:7.1f} MiB")
            for c in todo:
                if not c.slow:
                    continue
                check_holder()
                log(f"slow (once): {c.key} ...")
                try:
                    res = run_timed(exec_helper, c, timeout=3600)
                except RuntimeError as e:
                    c.status = "failed"
                    c.note = str(e)
                    log(f"  {c.key}: FAILED: {e}")
                    continue
                c.runs.append(res)
                log(f"once: {c.key:28s} {fmt_s(res['wall_s']):>10s}  {res['maxrss_kb'] / 1024:7.1f} MiB")
        for c in todo:
            if c.status == "todo":
                c.status = "ok"
        snapshot_note(cmds.get("sockdoc snapshot"), sockets)
        check_holder()
        after = ss_summary()
        log(f"after timing: ss -s TCP {after.get('tcp')} estab {after.get('estab')} "
            f"timewait {after.get('timewait')} udp {after.get('udp')}")
    except Interrupted as e:
        log(f"interrupted ({e}); cleaning up")
        return 130
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        log(f"error: {e}")
        return 1
    finally:
        cleanup()

    mem = meminfo()
    meta = {
        "date": started.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{os.cpu_count()}-core, {mem['MemTotal'] / 1024 / 1024:.0f} GiB",
        "cpu": next(
            (l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
             if l.startswith("model name")),
            platform.machine(),
        ),
        "kernel": platform.release(),
        "git_rev": git_rev(),
        "ss_version": tool_version(["ss", "-V"]),
        "netstat_version": tool_version(["netstat", "-V"]),
        "sockets_requested": args.sockets,
        "sockets_measured": sockets,
        "repeat": args.repeat,
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "holder": {k: v for k, v in info.items() if k != "pids"},
        "verification": ver,
        "ss_s_before": before,
        "ss_s_after": after,
    }
    comps = comparisons(cmds)
    mems = memory_checks(cmds, sockets)
    md = markdown(meta, cmds, comps, mems)
    result = {
        "meta": meta,
        "commands": [c.to_json(sockets) for c in cmds.values()],
        "comparisons": comps,
        "memory": mems,
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{started.strftime('%Y%m%d-%H%M%S')}-{args.sockets}"
    (args.results_dir / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.results_dir / f"{stem}.md").write_text(md)
    shutil.copyfile(args.results_dir / f"{stem}.json", args.results_dir / "latest.json")
    shutil.copyfile(args.results_dir / f"{stem}.md", args.results_dir / "latest.md")
    print()
    print(md)
    log(f"results: {args.results_dir / stem}.json / .md")
    failed = [r for r in comps + mems if r["verdict"] == "FAIL"]
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
