#!/usr/bin/env python3
"""sockdoc evidence bench: a million-line `ss -tan` dump read by sockdoc and by the incident notes'
own pipeline, side by side in the same run.

The dump is real: the load holder (bench/holder) holds --holder-sockets loopback sockets in a
throw-away namespace, `ss -tan` dumps them once, and the holder is stopped. To reach --lines the
dump's socket lines are repeated with the holder's client addresses renumbered per copy
(127.A.B.C becomes 127.(A+k*span).B.C in copy k), so each copy adds new remote IPs, not the same
lines again; the server address 127.0.0.1 stays, so it stays the top remote IP, as a hot peer
does. Then, --repeat timed rounds, interleaved, median wall time and peak RSS (wait4 ru_maxrss,
through sockdoc-bench-exec):

  - the notes' pipeline: awk '{print $5}' FILE | awk -F: '{print $1}' | sort | uniq -c | sort -rn
  - sockdoc stats --by remote-ip --from FILE   (goal: faster than the pipeline)
  - sockdoc analyze FILE                       (goal: within 2x of the pipeline)

and a check that sockdoc and the pipeline count the same remote IPs (every IP, not only the top):
PASS or FAIL. With --big, the 2 GB cases too (written to the same temp dir, removed after):
a 2 GB log of no known format (refused after its first MiB) and a 2 GB `ss -an` dump of 20M
UNIX-socket lines around 100k TCP sockets (read whole; memory grows with the sockets kept).

Usage (root needed for the namespace):

    sudo python3 bench/evidence.py [--lines 1000000] [--holder-sockets 250000] [--repeat 5] [--big]

Python 3.11 standard library only; reuses run.py's namespace and holder handling.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import run  # bench/run.py: namespace, holder, cleanup

run.NS = "sockdoc-evbench"  # never the namespace of run.py's own bench
PIPELINE = "awk '{print $5}' %s | awk -F: '{print $1}' | sort | uniq -c | sort -rn"
TARGET_STATS = 1.0  # stats --by remote-ip --from: faster than the pipeline
TARGET_ANALYZE = 0.5  # analyze: at most 2x the pipeline's time
ADDR = re.compile(rb"127\.(\d+)\.(\d+)\.(\d+)")


def capture(args, tmp: Path) -> Path:
    """A real `ss -tan` of the holder's sockets, extended to --lines."""
    run.setup_namespace(args.holder_sockets // 20)
    hold = argparse.Namespace(sockets=args.holder_sockets, time_wait=None, close_wait=None,
                              udp=None, workers=None, cgroups=0)
    info = run.start_holder(hold, run.RELEASE / "sockdoc-holder")
    run.log(f"holder ready: {info['ready_line']}")
    real = tmp / "ss-tan-real.txt"
    with open(real, "wb") as f:
        subprocess.run(run.in_ns(["ss", "-tan"]), stdout=f, check=True)
    run.cleanup()  # the holder and namespace are not needed any more
    run.STATE.cleaning = False
    handle_signals()
    lines = real.read_bytes().splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    octets = [int(m.group(1)) for l in body for m in ADDR.finditer(l) if int(m.group(1)) >= 16]
    span = max(octets, default=16) - 15
    copies = -(-args.lines // max(len(body), 1))
    if 16 + copies * span > 256:
        raise RuntimeError(f"{copies} copies of {span} client octets do not fit: use more --holder-sockets")
    out = tmp / "ss-tan.txt"
    n = 0
    with open(out, "wb") as f:
        f.write(header)
        for k in range(copies):
            def renumber(m, k=k):
                a = int(m.group(1))
                a = a + k * span if a >= 16 else a
                return b"127.%d.%s.%s" % (a, m.group(2), m.group(3))
            for l in body:
                if n == args.lines:
                    break
                f.write(ADDR.sub(renumber, l) if k else l)
                n += 1
    real.unlink()
    run.log(f"dump: {n:,} socket lines, {out.stat().st_size / 1e6:.1f} MB "
            f"({len(body):,} real, {copies} copies)")
    return out


def timed(exec_helper: Path, argv: list[str], ok=(0,)) -> dict:
    """One run through sockdoc-bench-exec: wall time and peak RSS of `argv`, stdout discarded."""
    p = subprocess.run([str(exec_helper), "--", *argv], capture_output=True, text=True)
    res = dict(kv.partition("=")[::2] for kv in p.stdout.split())
    if "wall_ns" not in res:
        raise RuntimeError(f"measurement failed: {p.stderr.strip()}")
    if res.get("status") not in {f"exit:{c}" for c in ok}:
        raise RuntimeError(f"{' '.join(argv)}: {res.get('status')}: {p.stderr.strip()[:300]}")
    return {"wall_s": int(res["wall_ns"]) / 1e9, "maxrss_kb": int(res["maxrss_kb"])}


def agreement(sd: str, dump: Path) -> tuple[bool, str]:
    """Every remote IP and its count, from sockdoc and from the pipeline."""
    out = subprocess.run(["bash", "-c", "set -o pipefail; " + PIPELINE % dump],
                         capture_output=True, text=True, check=True).stdout
    theirs = {}
    for line in out.splitlines():
        count, _, ip = line.strip().partition(" ")
        if ip != "Address":  # the header's "Peer Address:Port", counted by the pipeline
            theirs[ip] = int(count)
    doc = subprocess.run([sd, "stats", "--by", "remote-ip", "--top", "100000000", "--from",
                          str(dump), "--json"], capture_output=True, text=True, check=True).stdout
    rows = json.loads(doc)["namespaces"][0]["groups"][0]["rows"]
    ours = {r["key"]: r["count"] for r in rows}
    top = sorted(theirs.items(), key=lambda kv: -kv[1])[:3]
    shown = ", ".join(f"{ip} {n:,}" for ip, n in top)
    if ours == theirs:
        return True, f"{len(ours):,} remote IPs, the same count each (top: {shown})"
    diff = [ip for ip in set(ours) | set(theirs) if ours.get(ip) != theirs.get(ip)][:3]
    return False, f"{len(ours)} vs {len(theirs)} IPs; differ: " + ", ".join(
        f"{ip} {ours.get(ip)} vs {theirs.get(ip)}" for ip in diff)


def big_files(tmp: Path) -> list[tuple[str, Path]]:
    """The 2 GB cases, written by repeating a 1 MiB block."""
    log = tmp / "access-2g.log"
    line = b'203.0.113.7 - - [07/Dec/2025:10:00:00 +0000] "GET /index.html HTTP/1.1" 200 612 "-" "curl/8"\n'
    block = (line * (2 * (1 << 20) // len(line)))[: 1 << 20]
    with open(log, "wb") as f:
        for _ in range(2048):
            f.write(block)
    ss = tmp / "ss-an-2g.txt"
    unix = b"u_str ESTAB 0 0 /run/systemd/journal/stdout 4194304 * 4194305\n"
    tcp = b"tcp   ESTAB 0 0 10.0.%d.%d:443 192.0.2.%d:%d\n"
    with open(ss, "wb") as f:
        f.write(b"Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n")
        written, i = 0, 0
        chunk = unix * ((1 << 20) // len(unix))
        while written < 2 << 30:
            f.write(chunk)
            for _ in range(50):  # 50 TCP sockets a MiB: ~100k in all
                f.write(tcp % (i >> 8 & 255, i & 255, i % 250, 1024 + i % 60000))
                i += 1
            written += len(chunk) + 50 * 40
    return [("2 GB log of no known format: `analyze`", log),
            (f"2 GB `ss -an`, {i:,} TCP among ~33M u_str lines: `stats --json`", ss)]


def handle_signals() -> None:
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, run.on_signal)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--holder-sockets", type=int, default=250_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dump", type=Path, help="time this ss -tan dump instead of capturing one")
    ap.add_argument("--sockdoc", type=Path, default=run.RELEASE / "sockdoc")
    ap.add_argument("--big", action="store_true", help="also the 2 GB files (4 GB of disk, a while)")
    args = ap.parse_args()
    if os.geteuid() != 0 and not args.dump:
        print("evidence.py: needs root for the holder's namespace (or give --dump FILE)", file=sys.stderr)
        return 1
    exec_helper = run.RELEASE / "sockdoc-bench-exec"
    for b in (args.sockdoc, exec_helper, run.RELEASE / "sockdoc-holder"):
        if not b.is_file():
            print(f"evidence.py: {b} missing: cargo build --release -p sockdoc -p sockdoc-bench-holder",
                  file=sys.stderr)
            return 1
    handle_signals()
    tmp = Path(tempfile.mkdtemp(prefix="sockdoc-evbench-"))
    try:
        dump = args.dump or capture(args, tmp)
        return measure(args, exec_helper, dump, tmp)
    except (run.Interrupted, RuntimeError, subprocess.CalledProcessError) as e:
        print(f"evidence.py: {e}", file=sys.stderr)
        return 1
    finally:
        run.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def measure(args, exec_helper: Path, dump: Path, tmp: Path) -> int:
    sd = str(args.sockdoc)
    lines = sum(1 for _ in open(dump, "rb")) - 1
    size = dump.stat().st_size
    rows = [
        ("the notes' pipeline (awk, awk -F:, sort, uniq -c, sort -rn)",
         ["bash", "-c", "set -o pipefail; " + PIPELINE % dump], (0,)),
        ("sockdoc stats --by remote-ip --from FILE", [sd, "stats", "--by", "remote-ip", "--from", str(dump)], (0,)),
        ("sockdoc analyze FILE", [sd, "analyze", str(dump)], (0, 1, 2)),
    ]
    runs = {name: [] for name, _, _ in rows}
    for name, argv, ok in rows:  # warm-up: the file in the page cache for everyone
        timed(exec_helper, argv, ok)
    for _ in range(args.repeat):
        for name, argv, ok in rows:
            runs[name].append(timed(exec_helper, argv, ok))
    med = {n: statistics.median(r["wall_s"] for r in rs) for n, rs in runs.items()}
    peak = {n: max(r["maxrss_kb"] for r in rs) for n, rs in runs.items()}
    base = rows[0][0]
    ok_all = True
    print(f"\n#### sockdoc evidence bench — {lines:,}-line `ss -tan` dump, {size / 1e6:.1f} MB "
          f"({args.repeat} runs, median; sockdoc {run.git_rev()}, load {os.getloadavg()[0]:.2f})\n")
    print("| Command | Median wall | Min wall | vs pipeline | Goal | Peak RSS | Bytes/line | Result |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for (name, _, _), goal in zip(rows, (None, TARGET_STATS, TARGET_ANALYZE)):
        ratio = med[base] / med[name]  # > 1: faster than the pipeline
        res, goal_s = "-", "-"
        if goal is not None:
            res = "PASS" if ratio >= goal and (goal != TARGET_STATS or ratio > goal) else "FAIL"
            goal_s = f"> {goal:g}x" if goal == TARGET_STATS else f">= {goal:g}x"
        ok_all &= res != "FAIL"
        per_line = "-" if name == base else f"{peak[name] * 1024 / lines:.0f}"
        print(f"| `{name}` | {run.fmt_s(med[name])} | {run.fmt_s(min(r['wall_s'] for r in runs[name]))} "
              f"| {ratio:.2f}x | {goal_s} | {peak[name] / 1024:.1f} MiB | {per_line} | {res} |")
    agree, why = agreement(sd, dump)
    ok_all &= agree
    print(f"\n{'PASS' if agree else 'FAIL'} agreement: {why}")
    if args.big:
        if args.dump is None:
            dump.unlink()  # room for the 2 GB files
        print("\n| 2 GB file | Exit | Wall | Peak RSS | Says |")
        print("|---|---:|---:|---:|---|")
        out = tmp / "out.json"
        for name, path in big_files(tmp):
            cmd = [sd, "analyze", str(path)] if "analyze" in name else [sd, "stats", "--from", str(path), "--json"]
            p = subprocess.run([str(exec_helper), "--stdout", str(out), "--", *cmd],
                               capture_output=True, text=True)
            res = dict(kv.partition("=")[::2] for kv in p.stdout.split())
            if res.get("status") == "exit:0":
                tcp = json.loads(out.read_text())["namespaces"][0]["tcp"]["total"]
                said = f"read: {tcp:,} TCP sockets"
            else:
                said = (p.stderr.strip().splitlines() or [""])[0].replace(str(path), "FILE")
                said = said.split("sockdoc snapshot): ")[-1][:100].replace("|", "\\|")
            print(f"| {name} | {res.get('status', '?')} | {run.fmt_s(int(res.get('wall_ns', 0)) / 1e9)} "
                  f"| {int(res.get('maxrss_kb', 0)) / 1024:.1f} MiB | {said} |")
            path.unlink()
    return 0 if ok_all else 3


if __name__ == "__main__":
    sys.exit(main())
