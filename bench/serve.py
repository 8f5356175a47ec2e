#!/usr/bin/env python3
"""`sockdoc serve` against node_exporter's tcpstat collector, side by side on the same sockets.

In the throw-away namespace `sockdoc-bench-serve` (loopback only), starts the load holder
(`sockdoc-holder --sockets N`, see bench/README.md), then, one exporter at a time, in the same
namespace:

* `prometheus-node-exporter --collector.disable-defaults --collector.tcpstat` (Debian's package;
  per-state counts only),
* `sockdoc serve` with its defaults (a scrape re-reads the socket table and kernel state; the /proc
  owner walk and the doctor run on their own cadences, --owners-every and --doctor-every),
* `sockdoc serve --owners-every 0s` (the /proc walk on every scrape),
* `sockdoc serve --doctor-every 0s` (the doctor's tcp_info census on every scrape),
* `sockdoc serve --owners-every 0s --doctor-every 0s` (everything on every scrape).

All run at once, each on its own loopback port. Each gets one untimed first scrape, then they are
scraped in turn, --scrapes rounds, so every exporter sees the same machine while other load comes and
goes. CPU per scrape is the growth of utime + stime in /proc/PID/stat across its scrapes divided by
their number; memory is VmHWM (peak RSS) from /proc/PID/status at the end. The steady cost of the
default exporter at a Prometheus scrape interval (15, 30 and 60 s; the target is checked at
--interval) is the fast scrape
plus the measured extra cost of an owner walk and of a doctor run, each times the share of scrapes
that run one (interval / cadence, at most 1).

    sudo python3 bench/serve.py [--sockets 300000] [--scrapes 10] [--interval 30]

Results: a Markdown table on stdout, bench/results/serve-<stamp>.json and .md (and
serve-latest.md). Exporters, the holder and the namespace are stopped by PID and deleted on exit,
also on failure and Ctrl-C. Exit status: 0 ok, 3 a target failed, 1 error, 130 interrupted.

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # noqa: E402  (bench/run.py: namespace, holder, cleanup)

R.NS = "sockdoc-bench-serve"  # run.py's helpers read the module global at call time
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
SERVE_PORT = 19717
NODE_PORT = 19100
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Targets (the issue): CPU per scrape at most half of node_exporter's tcpstat, peak RSS < 60 MB.
TARGET_CPU_RATIO = 0.5
TARGET_RSS_MB = 60.0

EXPORTERS: list[tuple[str, list[str]]] = [
    ("node_exporter tcpstat", []),
    ("sockdoc serve", []),
    ("sockdoc serve --owners-every 0s", ["--owners-every", "0s"]),
    ("sockdoc serve --doctor-every 0s", ["--doctor-every", "0s"]),
    ("sockdoc serve --owners-every 0s --doctor-every 0s", ["--owners-every", "0s", "--doctor-every", "0s"]),
]

RUNNING: list[subprocess.Popen] = []  # exporters to stop on the way out


def enter_namespace(name: str) -> None:
    """Move this (single-threaded) process into the bench namespace, so scrapes reach its loopback."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def scrape(port: int, timeout: float = 60.0) -> tuple[float, bytes]:
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    body = b"".join(chunks)
    if not body.startswith(b"HTTP/1.1 200") and not body.startswith(b"HTTP/1.0 200"):
        raise RuntimeError(f"scrape of :{port} failed: {body[:200]!r}")
    return time.monotonic() - t0, body


def wait_port(port: int, proc: subprocess.Popen, errf, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            errf.seek(0)
            raise RuntimeError(f"exporter exited ({proc.returncode}): {errf.read().strip()[:500]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on :{port} after {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        R.kill_pid(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            R.kill_pid(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    if proc in RUNNING:
        RUNNING.remove(proc)


def series(body: bytes, prefix: str) -> float | None:
    for line in body.decode(errors="replace").splitlines():
        if line.startswith(prefix):
            try:
                return float(line.rsplit(" ", 1)[1])
            except ValueError:
                return None
    return None


class Exporter:
    """One exporter process under test, with what was measured of it."""

    def __init__(self, name: str, argv: list[str], port: int):
        self.name, self.argv, self.port = name, argv, port
        self.errf = tempfile.TemporaryFile(mode="w+")
        self.proc: subprocess.Popen | None = None
        self.cpu_ticks = 0
        self.walls: list[float] = []
        self.body = b""
        self.first_cpu = 0.0
        self.first_wall = 0.0
        self.idle_kb = 0

    def start(self) -> None:
        # Already inside the namespace: the exporter inherits it.
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.errf, start_new_session=True)
        RUNNING.append(self.proc)
        wait_port(self.port, self.proc, self.errf)
        self.idle_kb = status_kb(self.proc.pid, "VmHWM")

    def scrape(self) -> tuple[float, float]:
        """One scrape: (CPU seconds it cost the exporter, wall seconds)."""
        assert self.proc is not None
        c0 = cpu_ticks(self.proc.pid)
        wall, self.body = scrape(self.port)
        return (cpu_ticks(self.proc.pid) - c0) / CLK_TCK, wall

    def result(self, scrapes: int) -> dict:
        assert self.proc is not None
        pid = self.proc.pid
        if self.name.startswith("node"):
            est = series(self.body, 'node_tcp_connection_states{state="established"}')
        else:
            est = series(self.body, 'sockdoc_sockets{proto="tcp",family="ipv4",state="established"}')
        return {
            "exporter": self.name,
            "argv": self.argv,
            "first_scrape_cpu_s": self.first_cpu,
            "first_scrape_wall_s": self.first_wall,
            "cpu_per_scrape_s": self.cpu_ticks / CLK_TCK / scrapes,
            "wall_median_s": statistics.median(self.walls),
            "scrapes": scrapes,
            "vmhwm_kb": status_kb(pid, "VmHWM"),
            "vmrss_kb": status_kb(pid, "VmRSS"),
            "idle_vmhwm_kb": self.idle_kb,
            "body_bytes": len(self.body),
            "established_reported": est,
        }


def measure(exporters: list[Exporter], scrapes: int) -> list[dict]:
    """Start every exporter, give each one untimed first scrape, then scrape them in turn, round
    after round, so that each sees the same machine (other load comes and goes)."""
    for e in exporters:
        e.start()
    for e in exporters:
        e.first_cpu, e.first_wall = e.scrape()
        R.log(f"{e.name}: first scrape {e.first_cpu:.2f} s CPU, {e.first_wall:.2f} s wall")
    for r in range(scrapes):
        R.check_holder()
        for e in exporters:
            assert e.proc is not None
            c0 = cpu_ticks(e.proc.pid)
            wall, e.body = scrape(e.port)
            e.cpu_ticks += cpu_ticks(e.proc.pid) - c0
            e.walls.append(wall)
    rows = [e.result(scrapes) for e in exporters]
    for e in exporters:
        if e.proc is not None:
            stop(e.proc)
    for r in rows:
        R.log(f"{r['exporter']}: {r['cpu_per_scrape_s'] * 1000:.0f} ms CPU/scrape, wall "
              f"{r['wall_median_s'] * 1000:.0f} ms, VmHWM {r['vmhwm_kb'] / 1024:.1f} MiB, "
              f"ESTAB seen {r['established_reported']}")
    return rows


def mib(kb: int) -> str:
    return f"{kb / 1024:.1f} MiB"


def ms(s: float) -> str:
    return f"{s * 1000:.0f} ms"


def report(meta: dict, rows: list[dict], steady: dict, checks: list[dict]) -> str:
    L = [
        f"### sockdoc serve vs node_exporter tcpstat, {meta['date']} — {meta['sockets']:,} sockets "
        f"({meta['machine']}, kernel {meta['kernel']}, {meta['scrapes']} scrapes each)",
        "",
        "| Exporter | CPU / scrape | Wall / scrape (median) | First scrape CPU | Peak RSS (VmHWM) | Body |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        L.append(
            f"| `{r['exporter']}` | {ms(r['cpu_per_scrape_s'])} | {ms(r['wall_median_s'])} | "
            f"{ms(r['first_scrape_cpu_s'])} | {mib(r['vmhwm_kb'])} | {r['body_bytes'] / 1024:.1f} KiB |"
        )
    L += [
        "",
        f"Steady cost of `sockdoc serve` with its defaults (doctor every {meta['doctor_every']:g} s, "
        f"/proc walk every {meta['owners_every']:g} s): the fast scrape, plus the extra cost of a doctor "
        f"run ({ms(steady['doctor_extra_s'])}) and of a walk ({ms(steady['owners_extra_s'])}) times the "
        "share of scrapes that run one:",
        "",
        "| Scrape interval | CPU per scrape | vs node_exporter |",
        "|---:|---:|---:|",
        *[
            f"| {s_['interval_s']:g} s | {ms(s_['per_scrape_s'])} | "
            f"{s_['per_scrape_s'] / meta['node_cpu_s']:.2f}x |"
            for s_ in steady["by_interval"]
        ],
        "",
        "| Target | sockdoc | node_exporter | Ratio | Goal | Result |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for c in checks:
        L.append(f"| {c['what']} | {c['sockdoc']} | {c['baseline']} | {c['ratio']} | {c['goal']} | {c['verdict']} |")
    L += [
        "",
        f"Holder: {meta['holder'].get('workers')} workers (ESTAB {meta['holder'].get('established')}, "
        f"CLOSE-WAIT {meta['holder'].get('close_wait')}, FIN-WAIT-2 {meta['holder'].get('fin_wait2')}, "
        f"TIME-WAIT {meta['holder'].get('time_wait')}, UDP {meta['holder'].get('udp')}). "
        f"{meta['node_exporter']}; sockdoc {meta['git_rev']}. Load average (1 min) "
        f"{meta['loadavg_start'][0]:.2f} at start, {meta['loadavg_end'][0]:.2f} at end; fds held by "
        f"other processes on the host (scanned by the owner walk too): {meta['host_other_fds']:,}.",
    ]
    return "\n".join(L) + "\n"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sockets", type=int, default=300_000, help="total sockets to hold (default 300000)")
    ap.add_argument("--scrapes", type=int, default=10, help="timed scrapes per exporter (default 10)")
    ap.add_argument("--interval", type=float, default=30.0,
                    help="Prometheus scrape interval the steady-cost target is checked at, seconds "
                         "(default 30, deploy/prometheus/sockdoc.yml's)")
    ap.add_argument("--owners-every", type=float, default=300.0,
                    help="sockdoc serve's --owners-every default, seconds (default 300)")
    ap.add_argument("--doctor-every", type=float, default=120.0,
                    help="sockdoc serve's --doctor-every default, seconds (default 120)")
    ap.add_argument("--sockdoc", type=Path, help="sockdoc binary (default target/release/sockdoc)")
    ap.add_argument("--holder", type=Path, help="holder binary (default target/release/sockdoc-holder)")
    ap.add_argument("--node-exporter", default=NODE_EXPORTER, help=f"default {NODE_EXPORTER}")
    ap.add_argument("--no-build", action="store_true", help="never call cargo build")
    ap.add_argument("--quick", action="store_true",
                    help="node_exporter and the default sockdoc serve only (no steady-cost breakdown)")
    ap.add_argument("--results-dir", type=Path, default=R.RESULTS_DIR)
    a = ap.parse_args()
    if a.scrapes < 1:
        ap.error("--scrapes must be >= 1")
    return a


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print("serve.py: needs root (network namespace): sudo python3 bench/serve.py", file=sys.stderr)
        return 2
    if not Path(args.node_exporter).is_file():
        print(f"serve.py: {args.node_exporter} missing: apt-get install prometheus-node-exporter "
              "(with a policy-rc.d that keeps the daemon from starting)", file=sys.stderr)
        return 2
    holder = args.holder or R.RELEASE / "sockdoc-holder"
    sockdoc = args.sockdoc or R.RELEASE / "sockdoc"
    if not args.no_build:
        pkgs = ["sockdoc-bench-holder"] if args.holder is None else []
        if args.sockdoc is None:
            pkgs.append("sockdoc")
        if pkgs and not R.cargo_build(pkgs):
            return 1
    for p in (holder, sockdoc):
        if not p.is_file():
            print(f"serve.py: {p} missing (cargo build --release -p sockdoc -p sockdoc-bench-holder)",
                  file=sys.stderr)
            return 2

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, R.on_signal)
    started = dt.datetime.now()
    load_start = os.getloadavg()
    if load_start[0] > 1.0:
        R.log(f"warning: load average {load_start[0]:.1f} before starting; numbers will be noisy")
    rows: list[dict] = []
    holder_args = argparse.Namespace(sockets=args.sockets, time_wait=None, close_wait=None, udp=None,
                                     workers=None)
    try:
        R.setup_namespace(tw=args.sockets * 2 // 100)
        info = R.start_holder(holder_args, holder)
        R.log(info["ready_line"].split(" pids=")[0])
        ver, sockets, problems = R.verify(info)
        if problems:
            for p in problems:
                R.log("verification mismatch: " + p)
            raise RuntimeError("population does not match what the holder reported")
        R.log(f"verified: {sockets} sockets ({ver['ss_counts']})")
        # The owner walk covers the whole host: sockets held elsewhere make it slower and bigger.
        other_fds, big = R.foreign_fds(set(R.STATE.holder_pids) | {R.STATE.holder.pid})
        if other_fds > 20_000:
            top = ", ".join(f"{c}[{p}]={n}" for p, c, n in big[:3])
            R.log(f"warning: other processes on this host hold {other_fds} fds ({top}); the owner "
                  "walk scans them too")
        enter_namespace(R.NS)
        exporters = []
        for i, (name, extra) in enumerate(EXPORTERS[:2] if args.quick else EXPORTERS):
            if name.startswith("node"):
                argv = [args.node_exporter, f"--web.listen-address=127.0.0.1:{NODE_PORT}",
                        "--collector.disable-defaults", "--collector.tcpstat"]
                port = NODE_PORT
            else:
                port = SERVE_PORT + i
                argv = [str(sockdoc), "serve", "--listen", f"127.0.0.1:{port}", *extra]
            exporters.append(Exporter(name, argv, port))
        rows = measure(exporters, args.scrapes)
    except R.Interrupted as e:
        R.log(f"interrupted ({e}); cleaning up")
        return 130
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        R.log(f"error: {e}")
        return 1
    finally:
        for p in list(RUNNING):
            stop(p)
        R.cleanup()

    by = {r["exporter"]: r for r in rows}
    if args.quick:
        for r in rows:
            print(json.dumps(r))
        return 0
    node = by["node_exporter tcpstat"]
    fast = by["sockdoc serve"]
    owners0 = by["sockdoc serve --owners-every 0s"]
    doctor0 = by["sockdoc serve --doctor-every 0s"]
    owners_extra = max(0.0, owners0["cpu_per_scrape_s"] - fast["cpu_per_scrape_s"])
    doctor_extra = max(0.0, doctor0["cpu_per_scrape_s"] - fast["cpu_per_scrape_s"])
    def steady_at(interval: float) -> dict:
        o = min(1.0, interval / args.owners_every) if args.owners_every > 0 else 1.0
        d = min(1.0, interval / args.doctor_every) if args.doctor_every > 0 else 1.0
        return {
            "interval_s": interval,
            "fast_s": fast["cpu_per_scrape_s"],
            "owners_extra_s": owners_extra,
            "doctor_extra_s": doctor_extra,
            "owners_share": o,
            "doctor_share": d,
            "per_scrape_s": fast["cpu_per_scrape_s"] + owners_extra * o + doctor_extra * d,
        }

    steady = steady_at(args.interval)
    steady["by_interval"] = [steady_at(i) for i in (15.0, 30.0, 60.0)]
    steady_s = steady["per_scrape_s"]
    base = node["cpu_per_scrape_s"]

    def cpu_check(what: str, v: float) -> dict:
        ratio = v / base if base else None
        return {
            "what": what,
            "sockdoc": ms(v),
            "baseline": ms(base),
            "ratio": f"{ratio:.2f}" if ratio is not None else "-",
            "goal": f"<= {TARGET_CPU_RATIO:g}",
            "verdict": "n/a" if ratio is None else ("PASS" if ratio <= TARGET_CPU_RATIO else "FAIL"),
        }

    checks = [
        cpu_check(f"CPU per scrape, steady (defaults, {args.interval:g} s interval)", steady_s),
        cpu_check("CPU per scrape, fast scrape", fast["cpu_per_scrape_s"]),
    ]
    for r in rows:
        if r["exporter"].startswith("sockdoc"):
            mb = r["vmhwm_kb"] * 1024 / 1e6
            checks.append({
                "what": f"peak RSS, `{r['exporter']}`",
                "sockdoc": mib(r["vmhwm_kb"]),
                "baseline": mib(node["vmhwm_kb"]),
                "ratio": f"{r['vmhwm_kb'] / node['vmhwm_kb']:.2f}" if node["vmhwm_kb"] else "-",
                "goal": f"< {TARGET_RSS_MB:g} MB",
                "verdict": "PASS" if mb < TARGET_RSS_MB else "FAIL",
            })
    mem = R.meminfo()
    meta = {
        "date": started.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{os.cpu_count()}-core, {mem['MemTotal'] / 1024 / 1024:.0f} GiB",
        "kernel": os.uname().release,
        "git_rev": R.git_rev(),
        "node_exporter": R.tool_version([args.node_exporter, "--version"]),
        "sockets": sockets,
        "scrapes": args.scrapes,
        "interval": args.interval,
        "node_cpu_s": node["cpu_per_scrape_s"],
        "owners_every": args.owners_every,
        "doctor_every": args.doctor_every,
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "holder": {k: v for k, v in info.items() if k != "pids"},
        "verification": ver,
        "host_other_fds": other_fds,
    }
    md = report(meta, rows, steady, checks)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stem = f"serve-{started.strftime('%Y%m%d-%H%M%S')}-{args.sockets}"
    result = {"meta": meta, "exporters": rows, "steady": steady, "checks": checks}
    (args.results_dir / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.results_dir / f"{stem}.md").write_text(md)
    shutil.copyfile(args.results_dir / f"{stem}.md", args.results_dir / "serve-latest.md")
    print()
    print(md)
    R.log(f"results: {args.results_dir / stem}.json / .md")
    return 3 if any(c["verdict"] == "FAIL" for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
