#!/usr/bin/env python3
"""The flight recorder at scale: `sockdoc record` over ~300k held sockets with ~5k connections/s of
churn, beside the census alone (`sockdoc stats`) on the same sockets in the same run.

In the namespace `sockdoc-bench-record`:

1. starts `target/release/sockdoc-holder --sockets N --workers 16` and the churn service and
   clients of bench/soak.py (connections that live 1-3 s, RATE per second);
2. times `sockdoc --netns NS stats` a few times (the census alone, the peer of one scan);
3. runs `sockdoc --netns NS record --dir TMP --every EVERY --full-every FULL --info-every INFO`
   for --duration seconds, sampling its CPU (utime+stime) and RSS every 0.2 s; a scan is seen when
   its minute record appears in TMP/minutes, so each interval's CPU is the CPU between two minute
   records. Three kinds of scan are told apart: with a full snapshot (TMP/snapshots), reading
   tcp_info (the minute's `tcp_info_ms` is its own time), and light (tcp_info carried);
4. stops it (SIGTERM), reads the files it wrote and prints: CPU per interval (scans with and
   without a full snapshot), RSS (peak early and late: flat or not), bytes per minute record, per
   snapshot and appended to the first-seen index per scan, and the MB per day those make at the
   default cadence (a scan every 60 s, a full snapshot every 10 min);
5. cleans up by PID and removes the namespace (run.py's cleanup), also on errors and signals.

    sudo python3 bench/record.py [--sockets 300000] [--rate 5000] [--duration 250] [--every 10s]
                                 [--full-every 30s] [--info-every 20s]

The recorder's directory starts as a week of recording leaves it (--aged, on by default): one
minute record a minute for the retention (7 days, 10,080 files of 4 KB, named as the recorder
names them), so that the cost of keeping a full directory is in every scan measured.

The defaults make seven full snapshots after the first, so that one of them walks every process
again (every sixth does, as at the default cadence once an hour) and is measured, not estimated.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # noqa: E402
import soak as S  # noqa: E402  (the churn service and clients, Procs, proc_sample, wait_line)

R.NS = "sockdoc-bench-record"
WORKERS = 16


def secs(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for u in sorted(units, key=len, reverse=True):
        if text.endswith(u):
            return float(text[: -len(u)]) * units[u]
    return float(text)


def files(d: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in d.iterdir() if p.is_file() and not p.name.endswith(".tmp")} \
        if d.is_dir() else {}


def names(d: Path) -> set[str]:
    """File names in `d` (no stat: polled five times a second over a week of files)."""
    return {n for n in os.listdir(d) if not n.endswith(".tmp")} if d.is_dir() else set()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sockets", type=int, default=300_000)
    ap.add_argument("--rate", type=float, default=5000, help="churn connections per second")
    ap.add_argument("--duration", type=float, default=250, help="seconds of recording")
    ap.add_argument("--every", default="10s", help="the recorder's interval in this run")
    ap.add_argument("--full-every", default="30s", help="its full-snapshot cadence in this run")
    ap.add_argument("--info-every", default="20s", help="its tcp_info cadence in this run")
    ap.add_argument("--aged", action=argparse.BooleanOptionalAction, default=True,
                    help="start from a directory holding a week of minute records")
    ap.add_argument("--results-dir", type=Path, default=R.RESULTS_DIR)
    ap.add_argument("--sockdoc", type=Path, default=R.RELEASE / "sockdoc")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("record.py: needs root", file=sys.stderr)
        return 2
    holder = R.RELEASE / "sockdoc-holder"
    for p in (holder, args.sockdoc):
        if not p.is_file():
            print(f"record.py: {p} missing: cargo build --release -p sockdoc -p sockdoc-bench-holder",
                  file=sys.stderr)
            return 2
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, R.on_signal)

    procs = S.Procs()
    tmp = Path(tempfile.mkdtemp(prefix="sockdoc-record-bench-"))
    rec_dir = tmp / "rec"
    samples: list[tuple[float, int, float]] = []  # (t, rss kB, cpu s)
    scans: list[tuple[float, float, bool]] = []  # (t seen, cpu s then, full snapshot)
    try:
        R.setup_namespace(tw=args.sockets // 50)
        info = R.start_holder(argparse.Namespace(sockets=args.sockets, time_wait=None, close_wait=None,
                                                 udp=None, workers=WORKERS), holder)
        R.log(f"holder ready: {info['ready_line'].split(' pids=')[0]}")
        R.run_quiet(R.in_ns(["sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=10000 65000"]))
        for i in range(2):
            out = tmp / f"server{i}.out"
            p = procs.add(f"churn server {i}", subprocess.Popen(
                R.in_ns(["python3", "-c", S.SERVER, str(S.CHURN_PORT)]), stdout=open(out, "w"),
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True))
            S.wait_line(out, "ready", 15, p)
        clients = []
        for i in range(2):
            out = tmp / f"client{i}.out"
            p = procs.add(f"churn client {i}", subprocess.Popen(
                R.in_ns(["python3", "-c", S.CLIENT, str(S.CHURN_PORT), str(args.rate / 2),
                         str(args.duration + 60), "0", str(i + 1)]),
                stdout=open(out, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True))
            S.wait_line(out, "ready", 15, p)
            clients.append(out)
        time.sleep(5)

        # The peer: the census alone, on the same sockets, now.
        census = []
        for _ in range(5):
            r = subprocess.run(["/usr/bin/time", "-f", "%U %S %e", str(args.sockdoc), "--netns", R.NS, "stats"],
                               capture_output=True, text=True)
            u, s_, e = (float(x) for x in r.stderr.strip().splitlines()[-1].split())
            census.append((u + s_, e))
        census_cpu = sorted(c for c, _ in census)[len(census) // 2]
        R.log(f"census alone (stats): {census_cpu:.3f} s CPU (median of 5)")
        # The peer that reads what a scan reads (every TCP socket with tcp_info): ss -tani.
        peer = []
        for _ in range(3):
            r = subprocess.run(["/usr/bin/time", "-f", "%U %S %e", "ip", "netns", "exec", R.NS, "ss", "-tani"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            u, s_, _e = (float(x) for x in r.stderr.strip().splitlines()[-1].split())
            peer.append(u + s_)
        ss_cpu = sorted(peer)[len(peer) // 2]
        R.log(f"ss -tani: {ss_cpu:.3f} s CPU (median of 3)")

        if args.aged:
            # A week of minute records before now, as the recorder names them (UTC, ...Z.json.zst).
            (rec_dir / "minutes").mkdir(parents=True)
            (rec_dir / "snapshots").mkdir()
            now = dt.datetime.now(dt.timezone.utc)
            for i in range(1, 7 * 1440):
                t = now - dt.timedelta(minutes=i)
                (rec_dir / "minutes" / f"{t:%Y%m%dT%H%M%SZ}.json.zst").write_bytes(b"\0" * 4000)
            R.log(f"aged directory: {7 * 1440 - 1} minute records")
        aged = names(rec_dir / "minutes")
        err = tmp / "record.stderr"
        daemon = procs.add("sockdoc record", subprocess.Popen(
            [str(args.sockdoc), "--netns", R.NS, "record", "--dir", str(rec_dir), "--every", args.every,
             "--full-every", args.full_every, "--info-every", args.info_every, "--max-size", "10GiB"],
            stdout=subprocess.DEVNULL, stderr=open(err, "w"), stdin=subprocess.DEVNULL,
            start_new_session=True))
        t0 = time.monotonic()
        seen: set[str] = set(aged)
        snap_times: list[float] = []
        snaps_seen: set[str] = set()
        while time.monotonic() - t0 < args.duration:
            time.sleep(0.2)
            if daemon.poll() is not None:
                raise RuntimeError(f"sockdoc record exited ({daemon.returncode}): {err.read_text()[-2000:]}")
            rss, _hwm, cpu = S.proc_sample(daemon.pid)
            t = time.monotonic() - t0
            samples.append((t, rss, cpu))
            minutes = names(rec_dir / "minutes")
            snaps = names(rec_dir / "snapshots")
            for _ in sorted(minutes - seen):
                scans.append((t, cpu, False))
            for _ in sorted(snaps - snaps_seen):
                snap_times.append(t)
            seen |= minutes
            snaps_seen |= snaps
        _, hwm, _ = S.proc_sample(daemon.pid)
        os.kill(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=30)
        stop_line = err.read_text().strip().splitlines()[-1:]
        minutes = {k: v for k, v in files(rec_dir / "minutes").items() if k not in aged}
        snaps = files(rec_dir / "snapshots")
        index = (rec_dir / "first-seen.idx").stat().st_size if (rec_dir / "first-seen.idx").exists() else 0
        # Which minutes read tcp_info (oldest first, as the scans were seen).
        read_info = []
        for name in sorted(minutes):
            m = json.loads(subprocess.run(["zstd", "-dcq", str(rec_dir / "minutes" / name)],
                                          capture_output=True, check=True).stdout)
            read_info.append(m.get("tcp_info_ms") == m["taken_ms"])
    finally:
        procs.stop()
        R.cleanup()
        subprocess.run(["rm", "-rf", str(tmp)])

    # Each interval's CPU: between two scans seen (the first scan also builds the index: left out).
    # An interval is a full one when a snapshot appeared in it (written after its scan's minute).
    per = [(b[1] - a[1], any(a[0] < t <= b[0] for t in snap_times)) for a, b in zip(scans, scans[1:])]
    kinds = [("full" if f else "info" if i + 1 < len(read_info) and read_info[i + 1] else "light")
             for i, (_, f) in enumerate(per)]
    light = sorted(c for (c, _), k in zip(per, kinds) if k == "light")
    info_scans = sorted(c for (c, _), k in zip(per, kinds) if k == "info")
    # Full snapshots in order, the first scan's being the 0th: every sixth walks every process again
    # (WALK_ALL_EVERY in the recorder), the others only the processes that changed.
    fulls = [c for (c, _), k in zip(per, kinds) if k == "full"]
    full = sorted(c for n, c in enumerate(fulls, start=1) if n % 6)
    walk_all = sorted(c for n, c in enumerate(fulls, start=1) if n % 6 == 0)
    # Means: a scan's CPU is read in clock ticks (10 ms), which a median of few would round.
    mean = lambda v: sum(v) / len(v) if v else float("nan")  # noqa: E731
    first = scans[0][1] if scans else float("nan")
    # An hour at the default cadence; the walk of every process as measured, else as the first scan.
    hour = 48 * mean(light) + 6 * mean(info_scans) + 5 * mean(full) + (mean(walk_all) if walk_all else first)
    third = max(1, len(samples) // 3)
    rss_early = max(r for _, r, _ in samples[:third])
    rss_late = max(r for _, r, _ in samples[-third:])
    # Resident between scans: the least RSS of each interval, the intervals' first third vs last.
    floors = [min((r for t, r, _ in samples if a[0] < t <= b[0]), default=0) for a, b in zip(scans, scans[1:])]
    k = max(1, len(floors) // 3)
    floor_early, floor_late = max(floors[:k], default=0), max(floors[-k:], default=0)
    minute_avg = sum(minutes.values()) / max(1, len(minutes))
    snap_avg = sum(snaps.values()) / max(1, len(snaps))
    index_per_scan = index / max(1, len(minutes))
    day = (1440 * minute_avg + 144 * snap_avg + 1440 * index_per_scan) / 1e6
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md = [
        f"#### Flight recorder, {when} — {args.sockets:,} held sockets, churn {args.rate:.0f}/s target, "
        f"{args.duration:.0f} s, `--every {args.every} --full-every {args.full_every} --info-every {args.info_every}`",
        "",
        "| Measure | Value |",
        "|---|---:|",
        f"| census alone (`sockdoc stats`, same sockets, same run) | {census_cpu:.3f} s CPU |",
        f"| `ss -tani` (every TCP socket with tcp_info, as a scan reads them) | {ss_cpu:.3f} s CPU |",
        f"| CPU per interval, light scans: tcp_info carried (mean of {len(light)}) | {mean(light):.3f} s "
        f"({mean(light) / census_cpu:.2f}x the census alone, {ss_cpu / mean(light):.1f}x less than ss -tani) |",
        f"| CPU per interval, scans reading tcp_info (mean of {len(info_scans)}) | {mean(info_scans):.3f} s |",
        f"| CPU per interval, scans with a full snapshot (mean of {len(full)}; the walk reads again only "
        f"the processes that changed) | {mean(full):.3f} s |",
        f"| CPU per interval, a full snapshot walking every process again (every sixth; mean of "
        f"{len(walk_all)}) | {mean(walk_all):.3f} s |",
        f"| the first scan (index built from nothing, every process walked) | {first:.3f} s |",
        f"| CPU per interval at the default cadence (60 s; tcp_info 5 min, full 10 min; an hour: 48 light, "
        f"6 reading tcp_info, 5 full, 1 full walking every process{'' if walk_all else ' (as the first scan)'}) "
        f"| {hour / 60:.3f} s |",
        f"| RSS between scans (the least of each interval), first third vs last third | "
        f"{floor_early / 1024:.1f} MiB vs {floor_late / 1024:.1f} MiB |",
        f"| RSS peak, first third vs last third | {rss_early / 1024:.1f} MiB vs {rss_late / 1024:.1f} MiB "
        f"(VmHWM {hwm / 1024:.1f} MiB) |",
        f"| minute record / full snapshot / index appended per scan | {minute_avg / 1e3:.1f} KB / "
        f"{snap_avg / 1e6:.2f} MB / {index_per_scan / 1e3:.1f} KB |",
        f"| MB per day at the default cadence (60 s, full every 10 min) | {day:,.0f} MB |",
        "",
        f"Recorder's own summary: `{stop_line[0] if stop_line else '-'}`. Load average (1 min) "
        f"{os.getloadavg()[0]:.2f}.",
        "",
    ]
    text = "\n".join(md)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    (args.results_dir / f"record-{stamp}.md").write_text(text)
    (args.results_dir / f"record-{stamp}.json").write_text(json.dumps(
        {"scans": scans, "samples": samples[::5], "minutes": minutes, "snapshots": snaps, "index": index}, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except R.Interrupted as e:
        print(f"record.py: interrupted ({e})", file=sys.stderr)
        sys.exit(130)
