#!/usr/bin/env python3
"""`sockdoc top` at scale: CPU per refresh, memory, and how fast the screen answers a key while the
census runs in the background.

In the namespace `sockdoc-bench-top`, starts `target/release/sockdoc-holder --sockets N` (run.py's
holder: ~95% ESTABLISHED loopback connections, CLOSE-WAIT, FIN-WAIT-2, TIME-WAIT, UDP, 16+ worker
processes), then runs `sockdoc --netns sockdoc-bench-top top -d 1` inside a detached tmux session
(200x50) of its own and, for --seconds (default 30):

* reads utime+stime of the sockdoc process from /proc/PID/stat at the start and end of the window,
  and the census counter the title bar shows (`census #N`), so CPU-seconds per refresh =
  CPU used / censuses shown in the window;
* reads VmRSS and VmHWM from /proc/PID/status;
* every few seconds presses a table key (3, then 1, ...) and times until the screen shows that
  table (capture-pane polled every 10 ms): the screen must answer while a census is under way.

Prints a Markdown table and writes bench/results/top-<stamp>-<N>.json and .md. The tmux server, the
holder and the namespace are torn down by PID in `finally` and on SIGINT/SIGTERM/SIGHUP.

--sockdoc PATH times another build (say, the one before a change, copied to a directory as
`sockdoc`: the script checks the pane runs a process of that name), so two builds can be compared
in one sitting on a host whose load moves; --top-args passes more arguments to top (e.g.
`--owners-every 1h` leaves out the /proc walk after the first).

    sudo python3 bench/top.py [--sockets 300000] [--seconds 30] [--sockdoc PATH] [--top-args ARGS]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # noqa: E402  (bench/run.py: holder start/stop, cleanup)

R.NS = "sockdoc-bench-top"  # run.py's helpers read the module global at call time
TMUX = ["tmux", "-L", "sockdoc-bench-top"]
CLK = os.sysconf("SC_CLK_TCK")


def tmux(*args: str, check: bool = True) -> str:
    r = subprocess.run([*TMUX, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"tmux {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", "top", check=False)


def census_no(s: str) -> int | None:
    m = re.search(r"census #(\d+)", s)
    return int(m.group(1)) if m else None


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime, stime


def thread_cpu_s(pid: int) -> dict[str, float]:
    """utime+stime by thread name, of the threads alive now (the census's short-lived dump threads
    are not among them: their time shows in the process total only)."""
    out: dict[str, float] = {}
    for t in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (t / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        f = stat.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0.0) + (int(f[11]) + int(f[12])) / CLK
    return out


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def wait_screen(pred, timeout: float, what: str) -> tuple[str, float]:
    t0 = time.monotonic()
    while True:
        s = screen()
        if pred(s):
            return s, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"timed out waiting for {what}; screen:\n{s}")
        time.sleep(0.01)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sockets", type=int, default=300_000)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--delay", default="1", help="top's -d")
    ap.add_argument("--top-args", default="", help="more arguments for top (e.g. '--owners-every 1h')")
    ap.add_argument("--sockdoc", type=Path, default=None,
                    help="the sockdoc binary to time [default: target/release/sockdoc]")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("top.py: needs root", file=sys.stderr)
        return 2
    holder = R.RELEASE / "sockdoc-holder"
    sockdoc = args.sockdoc or R.RELEASE / "sockdoc"
    for p in (holder, sockdoc):
        if not p.is_file():
            print(f"top.py: {p} missing: cargo build --release -p sockdoc -p sockdoc-bench-holder",
                  file=sys.stderr)
            return 2
    if subprocess.run(["tmux", "-V"], capture_output=True).returncode != 0:
        print("top.py: needs tmux (apt-get install tmux)", file=sys.stderr)
        return 2
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, R.on_signal)

    result: dict = {}
    try:
        R.setup_namespace(tw=args.sockets // 50)
        info = R.start_holder(argparse.Namespace(sockets=args.sockets, time_wait=None, close_wait=None,
                                                 udp=None, workers=None), holder)
        R.log(f"holder ready: {info['ready_line']}")
        ss = R.run_quiet(R.in_ns(["ss", "-s"])).stdout.splitlines()
        tcp_line = next((l for l in ss if l.startswith("TCP:")), "")
        cmd = f"{sockdoc} --netns {R.NS} top -d {args.delay} {args.top_args}".strip()
        tmux("-f", "/dev/null", "new-session", "-d", "-x", "200", "-y", "50", "-s", "top", cmd)
        pid = int(tmux("display-message", "-p", "-t", "top", "#{pane_pid}").strip())
        # The pane's child is named after tmux until it execs sockdoc (slow on a loaded host).
        deadline = time.monotonic() + 5
        while R.proc_comm(pid) != "sockdoc" and time.monotonic() < deadline:
            time.sleep(0.05)
        if R.proc_comm(pid) != "sockdoc":
            raise RuntimeError(f"pane process {pid} is {R.proc_comm(pid)!r}, not sockdoc")
        s, first = wait_screen(lambda s: census_no(s) is not None, 120, "the first census")
        R.log(f"first census on screen after {first:.2f} s")
        # Let the first /proc walk and the warm-up pass, then measure a window.
        wait_screen(lambda s: (census_no(s) or 0) >= 3, 120, "census #3")
        s0 = screen()
        n0, c0, t0 = census_no(s0), cpu_s(pid), time.monotonic()
        th0 = thread_cpu_s(pid)
        latencies = []
        keys = ["3", "1", "4", "2", "6", "1"]
        headers = {"1": "REMOTE IP", "2": "PREFIX", "3": "SERVICE", "4": "COMMAND", "6": "SEVERITY"}
        k = 0
        while time.monotonic() - t0 < args.seconds:
            time.sleep(min(2.5, max(0.0, args.seconds - (time.monotonic() - t0))))
            if time.monotonic() - t0 >= args.seconds:
                break
            key = keys[k % len(keys)]
            k += 1
            sent = time.monotonic()
            tmux("send-keys", "-t", "top", key)
            _, _lat = wait_screen(lambda s, h=headers[key]: h in s, 10, f"table {key}")
            latencies.append(time.monotonic() - sent)
            R.check_holder()
        s1 = screen()
        n1, c1, t1 = census_no(s1), cpu_s(pid), time.monotonic()
        th1 = thread_cpu_s(pid)
        rss, hwm = status_kb(pid, "VmRSS"), status_kb(pid, "VmHWM")
        refreshes = (n1 or 0) - (n0 or 0)
        tcp_on_screen = next((l for l in s1.splitlines() if l.startswith("TCP ")), "")
        tmux("send-keys", "-t", "top", "q")
        deadline = time.monotonic() + 30
        while R.alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        result = {
            "sockets": args.sockets,
            "sockdoc": str(sockdoc),
            "holder": info["ready_line"],
            "delay": args.delay,
            "top_args": args.top_args,
            "window_s": round(t1 - t0, 2),
            "refreshes": refreshes,
            "cpu_s": round(c1 - c0, 2),
            "cpu_s_per_refresh": round((c1 - c0) / refreshes, 3) if refreshes else None,
            "cpu_share": round((c1 - c0) / (t1 - t0), 3),
            # The screen thread (named sockdoc; group tables shown since the last census are built
            # there). The census and the /proc walk run partly in short-lived threads: only the
            # process total counts them.
            "screen_cpu_s": round(th1.get("sockdoc", 0.0) - th0.get("sockdoc", 0.0), 2),
            "refresh_interval_s": round((t1 - t0) / refreshes, 2) if refreshes else None,
            "rss_mb": round(rss / 1024, 1),
            "peak_rss_mb": round(hwm / 1024, 1),
            "key_latency_ms_max": round(max(latencies) * 1000) if latencies else None,
            "key_latency_ms_median": round(sorted(latencies)[len(latencies) // 2] * 1000) if latencies else None,
            "keys": len(latencies),
            "ss_s_tcp": tcp_line,
            "top_tcp_line": tcp_on_screen.strip(),
            "screen": s1,
        }
    finally:
        subprocess.run([*TMUX, "kill-server"], capture_output=True)
        R.cleanup()

    when = dt.datetime.now(dt.timezone.utc)
    stamp = when.strftime("%Y%m%d-%H%M%S")
    r = result
    lines = [
        f"### {when.strftime('%Y-%m-%d %H:%M UTC')}, holder --sockets {r['sockets']}, `top -d {r['delay']}`",
        "",
        "| Window | Refreshes | Every | CPU | CPU per refresh | CPU share | RSS (peak) | Key to screen (median / max) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {r['window_s']} s | {r['refreshes']} | {r['refresh_interval_s']} s | {r['cpu_s']} s | "
        f"{r['cpu_s_per_refresh']} s | {r['cpu_share'] * 100:.0f}% | {r['rss_mb']} MiB ({r['peak_rss_mb']} MiB) | "
        f"{r['key_latency_ms_median']} / {r['key_latency_ms_max']} ms ({r['keys']} keys) |",
        "",
        f"- the screen thread's CPU over the window: {r['screen_cpu_s']} s",
        f"- `ss -s`: {r['ss_s_tcp']}",
        f"- top's header: `{r['top_tcp_line']}`",
        "",
    ]
    table = "\n".join(lines)
    print(table)
    R.RESULTS_DIR.mkdir(exist_ok=True)
    base = R.RESULTS_DIR / f"top-{stamp}-{r['sockets']}"
    base.with_suffix(".json").write_text(json.dumps(r, indent=2) + "\n")
    base.with_suffix(".md").write_text(table + "\n```\n" + r["screen"] + "```\n")
    R.log(f"wrote {base}.json and .md")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except R.Interrupted as e:
        print(f"top.py: interrupted ({e})", file=sys.stderr)
        sys.exit(130)
