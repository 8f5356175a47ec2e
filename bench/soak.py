#!/usr/bin/env python3
"""Soak: `sockdoc reap` at ~300k sockets with ~5k connections/s of churn, for 10 minutes.

In the namespace `sockdoc-bench-reap`:

1. starts `target/release/sockdoc-holder --sockets N --workers 16` (worker w listens on
   127.0.0.1:20000+w; ~95% ESTABLISHED, 1% CLOSE-WAIT, ...; see bench/README.md);
2. starts a churn service on 127.0.0.1:CHURN_PORT (2 epoll servers sharing the port with
   SO_REUSEPORT; they close a connection when its client does) and 2 churn clients opening
   RATE/2 connections/s each. A connection lives a random 1-3 s and is then reset by its client
   (SO_LINGER 0: no TIME-WAIT piles up); ABANDON of them are never closed by the client (it keeps the
   fd 15 s), so they go idle and the reaper must close them;
3. starts the daemon from the host namespace (`sockdoc --netns NS reap --config ...`, metrics on
   127.0.0.1:0 in the host namespace) with two rules: `churn` (local port CHURN_PORT, idle_timeout
   3s, max_connections 20000) and `holder` (the holder's server ports, idle_timeout 2h,
   close_wait_max_age 1h: ~150k sockets tracked by cookie, never due within the run);
4. every --sample seconds records the daemon's RSS (VmRSS), its CPU (utime+stime delta over the
   window, % of one core) and, from /metrics, scans, tracked sockets, census size, last scan
   duration and kills;
5. after --duration seconds stops everything (by PID; the holder and the namespace via run.py's
   cleanup, also on errors and signals), writes bench/results/soak-<stamp>.json and .md, and prints
   the summary: RSS range, peaks early vs late and its slope, CPU mean and max, achieved churn rate,
   kills, scan times.

Memory counts as flat when the RSS peak of the last third of the run (after the --warmup, 60 s) is
less than max(5 MiB, 10%) above the peak of the first third (RSS is a sawtooth: a census buffer is
allocated and freed every scan). Exit status: 0 done (the verdict is in the summary), 1 error, 130
interrupted.

    sudo python3 bench/soak.py [--sockets 300000] [--rate 5000] [--duration 600] [--interval 2s]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # noqa: E402  (bench/run.py: holder start/stop, namespace, cleanup)

R.NS = "sockdoc-bench-reap"  # run.py's helpers read the module global at call time
WORKERS = 16
CHURN_PORT = 30000

SERVER = r"""
import os, resource, select, socket, sys
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
port = int(sys.argv[1])
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
l.bind(("127.0.0.1", port)); l.listen(4096); l.setblocking(False)
ep = select.epoll(); ep.register(l.fileno(), select.EPOLLIN)
conns = {}
accepted = closed = 0
print("ready", flush=True)
while True:
    for fd, ev in ep.poll(1.0):
        if fd == l.fileno():
            while True:
                try:
                    c, _ = l.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                c.setblocking(False)
                conns[c.fileno()] = c
                ep.register(c.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
                accepted += 1
            continue
        c = conns.get(fd)
        if c is None:
            continue
        try:
            data = c.recv(4096)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            data = b""
        if not data:
            ep.unregister(fd); del conns[fd]; c.close(); closed += 1
"""

CLIENT = r"""
import heapq, random, resource, socket, struct, sys, time
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
port, rate, duration, abandon, seed = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
random.seed(seed)
LINGER = struct.pack("ii", 1, 0)
addr = ("127.0.0.1", port)
heap = []
n = opened = errors = abandoned = 0
start = time.monotonic(); next_t = start; period = 1.0 / rate; last_report = start
print("ready", flush=True)
while True:
    now = time.monotonic()
    if now - start >= duration:
        break
    while next_t <= now:
        next_t += period
        s = socket.socket()
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER)
        try:
            s.connect(addr)
        except BlockingIOError:
            pass
        except OSError:
            errors += 1; s.close(); continue
        opened += 1
        if random.random() < abandon:
            abandoned += 1; life = 15.0
        else:
            life = random.uniform(1.0, 3.0)
        n += 1
        heapq.heappush(heap, (now + life, n, s))
    while heap and heap[0][0] <= now:
        heapq.heappop(heap)[2].close()
    if now - last_report >= 5:
        last_report = now
        print(f"stats t={now - start:.0f} opened={opened} errors={errors} abandoned={abandoned} live={len(heap)}", flush=True)
    time.sleep(max(0.0, min(0.002, next_t - time.monotonic())))
print(f"done opened={opened} errors={errors} abandoned={abandoned} secs={time.monotonic() - start:.1f}", flush=True)
while heap:
    heapq.heappop(heap)[2].close()
"""

CONFIG = """\
interval = "{interval}"
max_kills_per_interval = 5000
metrics = "127.0.0.1:0"

[[rule]]
name = "churn"
local_port = {port}
idle_timeout = "3s"
max_connections = 20000

[[rule]]
name = "holder"
filter = "sport >= :20000 and sport <= :{last}"
idle_timeout = "2h"
close_wait_max_age = "1h"
"""


class Procs:
    """Our own children (churn servers/clients, the daemon), stopped by PID."""

    def __init__(self) -> None:
        self.items: list[tuple[str, subprocess.Popen]] = []

    def add(self, name: str, p: subprocess.Popen) -> subprocess.Popen:
        self.items.append((name, p))
        return p

    def stop(self) -> None:
        for name, p in reversed(self.items):
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGTERM if name == "sockdoc reap" else signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait(timeout=5)


def wait_line(path: Path, prefix: str, timeout: float, proc: subprocess.Popen) -> str:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            for line in path.read_text().splitlines():
                if line.startswith(prefix):
                    return line
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{path.name}: process exited ({proc.returncode}): {path.read_text()[-2000:]}")
        time.sleep(0.1)
    raise RuntimeError(f"{path.name}: no {prefix!r} line after {timeout} s")


def proc_sample(pid: int) -> tuple[int, int, float]:
    """(VmRSS kB, VmHWM kB, utime+stime seconds)."""
    rss = hwm = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    return rss, hwm, cpu


def scrape(addr: str) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        key, _, val = line.rpartition(" ")
        try:
            v = float(val)
        except ValueError:
            continue
        name = key.split("{", 1)[0]
        if name == "sockdoc_reap_kills_total":
            out["kills"] = out.get("kills", 0.0) + v
            if 'outcome="failed"' in key:
                out["kills_failed"] = out.get("kills_failed", 0.0) + v
        else:
            out[name] = v
    return out


def slope_per_min(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return 0.0 if den == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den * 60


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sockets", type=int, default=300_000)
    ap.add_argument("--rate", type=float, default=5000, help="churn connections per second")
    ap.add_argument("--abandon", type=float, default=0.1, help="share of churn connections left idle")
    ap.add_argument("--duration", type=float, default=600, help="seconds of soak")
    ap.add_argument("--warmup", type=float, default=60, help="seconds before the memory baseline")
    ap.add_argument("--interval", default="2s", help="the daemon's scan interval")
    ap.add_argument("--sample", type=float, default=5, help="seconds between samples")
    ap.add_argument("--results-dir", type=Path, default=R.RESULTS_DIR)
    ap.add_argument("--sockdoc", type=Path, default=R.RELEASE / "sockdoc", help="the sockdoc binary")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("soak.py: needs root", file=sys.stderr)
        return 2
    holder = R.RELEASE / "sockdoc-holder"
    sockdoc = args.sockdoc
    for p in (holder, sockdoc):
        if not p.is_file():
            print(f"soak.py: {p} missing: cargo build --release -p sockdoc -p sockdoc-bench-holder",
                  file=sys.stderr)
            return 2
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, R.on_signal)

    procs = Procs()
    tmp = Path(tempfile.mkdtemp(prefix="sockdoc-soak-"))
    samples: list[dict] = []
    churn_done: list[str] = []
    try:
        R.setup_namespace(tw=args.sockets // 50)
        info = R.start_holder(argparse.Namespace(sockets=args.sockets, time_wait=None, close_wait=None,
                                                 udp=None, workers=WORKERS), holder)
        R.log(f"holder ready: {info['ready_line']}")
        R.run_quiet(R.in_ns(["sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=10000 65000"]))

        cfg = tmp / "reap.toml"
        cfg.write_text(CONFIG.format(interval=args.interval, port=CHURN_PORT, last=20000 + WORKERS - 1))
        log = tmp / "actions.jsonl"
        err = tmp / "reap.stderr"
        for i in range(2):
            out = tmp / f"server{i}.out"
            p = procs.add(f"churn server {i}", subprocess.Popen(
                R.in_ns(["python3", "-c", SERVER, str(CHURN_PORT)]), stdout=open(out, "w"),
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True))
            wait_line(out, "ready", 15, p)
        daemon = procs.add("sockdoc reap", subprocess.Popen(
            [str(sockdoc), "--netns", R.NS, "reap", "--config", str(cfg)], stdout=open(log, "w"),
            stderr=open(err, "w"), stdin=subprocess.DEVNULL, start_new_session=True))
        start_line = json.loads(wait_line(log, '{"action":"start"', 30, daemon))
        metrics = start_line["metrics"]
        R.log(f"sockdoc reap pid {daemon.pid}, metrics on {metrics}")
        # Let the first scans of the idle holder population settle before the churn starts.
        time.sleep(5)
        clients = []
        for i in range(2):
            out = tmp / f"client{i}.out"
            p = procs.add(f"churn client {i}", subprocess.Popen(
                R.in_ns(["python3", "-c", CLIENT, str(CHURN_PORT), str(args.rate / 2), str(args.duration),
                         str(args.abandon), str(i + 1)]),
                stdout=open(out, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True))
            wait_line(out, "ready", 15, p)
            clients.append((out, p))
        R.log(f"churn started: {args.rate:.0f} connections/s for {args.duration:.0f} s")

        t0 = time.monotonic()
        last_cpu = None
        while True:
            time.sleep(args.sample)
            if daemon.poll() is not None:
                raise RuntimeError(f"sockdoc reap exited ({daemon.returncode}): {err.read_text()[-2000:]}")
            t = time.monotonic() - t0
            rss, hwm, cpu = proc_sample(daemon.pid)
            pct = None if last_cpu is None else (cpu - last_cpu[1]) / (t - last_cpu[0]) * 100
            last_cpu = (t, cpu)
            m = scrape(metrics)
            sample = {
                "t": round(t, 1), "rss_kb": rss, "hwm_kb": hwm, "cpu_s": round(cpu, 2),
                "cpu_pct": None if pct is None else round(pct, 1),
                "scans": m.get("sockdoc_reap_scans_total"), "tracked": m.get("sockdoc_reap_tracked_sockets"),
                "census": m.get("sockdoc_reap_census_sockets"),
                "scan_s": m.get("sockdoc_reap_scan_duration_seconds"),
                "kills": m.get("kills", 0.0), "kills_failed": m.get("kills_failed", 0.0),
                "deferred": m.get("sockdoc_reap_deferred_total"),
            }
            samples.append(sample)
            if len(samples) % 6 == 1:
                R.log(f"t={t:.0f}s rss={rss / 1024:.1f} MiB cpu={sample['cpu_pct']}% tracked={sample['tracked']:.0f} "
                      f"census={sample['census']:.0f} scan={sample['scan_s']:.2f}s kills={sample['kills']:.0f}")
            if all(p.poll() is not None for _, p in clients):
                break
        for out, _ in clients:
            done = [l for l in out.read_text().splitlines() if l.startswith("done ")]
            churn_done += done
        R.log("churn finished: " + "; ".join(churn_done))
        procs.stop()
        stop_lines = [l for l in log.read_text().splitlines() if '"action":"stop"' in l]
        actions = sum(1 for _ in log.open())
    finally:
        procs.stop()
        R.cleanup()
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()

    # Summary.
    def kv(line: str) -> dict[str, float]:
        return {k: float(v) for k, v in (p.split("=") for p in line.split()[1:])}
    opened = sum(kv(l)["opened"] for l in churn_done)
    errors = sum(kv(l)["errors"] for l in churn_done)
    secs = max((kv(l)["secs"] for l in churn_done), default=args.duration)
    base = [s for s in samples if s["t"] >= args.warmup] or samples
    third = max(1, len(base) // 3)
    # RSS is a sawtooth (a census buffer is allocated and freed every scan): compare the peaks of the
    # first and the last third of the run after warm-up, not two arbitrary points.
    rss0 = max(s["rss_kb"] for s in base[:third])
    rss1 = max(s["rss_kb"] for s in base[-third:])
    rss_max = max(s["rss_kb"] for s in samples)
    rss_min = min(s["rss_kb"] for s in base)
    slope = slope_per_min([s["t"] for s in base], [s["rss_kb"] / 1024 for s in base])
    cpus = [s["cpu_pct"] for s in samples if s["cpu_pct"] is not None]
    scan_s = [s["scan_s"] for s in samples if s["scan_s"] is not None]
    growth = rss1 - rss0
    flat = growth < max(5 * 1024, rss0 * 0.10)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    summary = {
        "when": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "sockets": args.sockets, "holder": info["ready_line"], "rate_target": args.rate,
        "rate_achieved": opened / secs if secs else 0, "churn_opened": opened, "churn_errors": errors,
        "abandon": args.abandon, "duration_s": secs, "interval": args.interval,
        "rss_peak_first_third_kb": rss0, "rss_peak_last_third_kb": rss1, "rss_max_kb": rss_max,
        "rss_min_after_warmup_kb": rss_min,
        "hwm_kb": samples[-1]["hwm_kb"], "rss_slope_mib_per_min": slope,
        "rss_growth_kb": growth, "memory_flat": flat,
        "cpu_mean_pct": sum(cpus) / len(cpus) if cpus else None, "cpu_max_pct": max(cpus) if cpus else None,
        "scans": samples[-1]["scans"], "tracked_last": samples[-1]["tracked"],
        "tracked_max": max(s["tracked"] or 0 for s in samples), "census_last": samples[-1]["census"],
        "scan_mean_s": sum(scan_s) / len(scan_s) if scan_s else None, "scan_max_s": max(scan_s) if scan_s else None,
        "kills": samples[-1]["kills"], "kills_failed": samples[-1]["kills_failed"],
        "deferred": samples[-1]["deferred"], "action_lines": actions, "clean_stop": bool(stop_lines),
        "load_avg": os.getloadavg()[0],
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / f"soak-{stamp}.json").write_text(json.dumps({"summary": summary, "samples": samples}, indent=1))
    md = [
        f"#### Reap soak, {summary['when']} — {args.sockets:,} held sockets, churn {args.rate:.0f}/s target, "
        f"{secs:.0f} s, scan interval {args.interval}",
        "",
        "| Measure | Value |",
        "|---|---:|",
        f"| churn achieved | {summary['rate_achieved']:,.0f} connections/s ({opened:,.0f} opened, {errors:,.0f} errors) |",
        f"| daemon RSS after {args.warmup:.0f} s warm-up, min .. max | {rss_min / 1024:.1f} .. {rss_max / 1024:.1f} MiB (VmHWM {summary['hwm_kb'] / 1024:.1f} MiB) |",
        f"| RSS peak, first third vs last third | {rss0 / 1024:.1f} MiB vs {rss1 / 1024:.1f} MiB |",
        f"| RSS slope after warm-up (least squares) | {slope:+.3f} MiB/min |",
        f"| memory flat (peak growth < max(5 MiB, 10%)) | {'yes' if flat else 'NO'} ({growth / 1024:+.1f} MiB) |",
        f"| daemon CPU, mean / max over {args.sample:.0f} s windows | {summary['cpu_mean_pct']:.1f}% / {summary['cpu_max_pct']:.1f}% of one core |",
        f"| scans | {summary['scans']:.0f}, {summary['scan_mean_s']:.2f} s mean, {summary['scan_max_s']:.2f} s max |",
        f"| sockets per census / tracked by cookie | {summary['census_last']:,.0f} / {summary['tracked_last']:,.0f} (max {summary['tracked_max']:,.0f}) |",
        f"| kills (idle churn connections) | {summary['kills']:,.0f} ({summary['kills_failed']:,.0f} failed, {summary['deferred'] or 0:,.0f} deferred) |",
        f"| action log lines | {actions:,} |",
        "",
        f"Holder: `{info['ready_line'].split(' pids=')[0]}`. Load average (1 min) at the end {summary['load_avg']:.2f}.",
        "",
    ]
    text = "\n".join(md)
    (args.results_dir / f"soak-{stamp}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except R.Interrupted as e:
        print(f"soak.py: interrupted ({e})", file=sys.stderr)
        sys.exit(130)
