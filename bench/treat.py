#!/usr/bin/env python3
"""Treat at scale: `sockdoc kill` vs `ss -K`, and `sockdoc keepalive`, on ~N/2 connections.

In the namespace `sockdoc-bench-treat`, starts `target/release/sockdoc-holder --sockets N
--workers 32` (worker w listens on 127.0.0.1:20000+w), then selects the server-side ESTABLISHED
sockets of the first half of the workers:

    state established ( sport >= :20000 and sport <= :20015 )

and, on that exact selection (counted with `ss -tanH` first):

1. times `sockdoc keepalive --yes` (pidfd_getfd + setsockopt per socket; nothing closes),
2. times `sockdoc kill --yes --max 1000000` (SOCK_DESTROY per socket, audit line per socket),
3. restarts the holder and times `ss -K` on the same selection,
4. with `--rst N` (default 5000; 0 skips it), restarts the holder once more and times
   `sockdoc kill --yes --method rst --max N` (challenge ACK + forged RST per socket, no SOCK_DESTROY)
   on the first N sockets of the selection.

Each command runs under `sockdoc-bench-exec` (wall time and peak RSS from wait4, see run.py).
After each kill the script checks that the selection is gone and that the other half (ports
20016..20031) is untouched. Prints a Markdown table and appends it, dated, to bench/README.md under
"## Treat at scale" (unless --no-readme). The holder and the namespace are torn down by PID in
`finally` and on SIGINT/SIGTERM/SIGHUP (run.py's cleanup).

    sudo python3 bench/treat.py [--sockets 200000] [--rst 5000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # noqa: E402  (bench/run.py: holder start/stop, cleanup, timed exec)

R.NS = "sockdoc-bench-treat"  # run.py's helpers read the module global at call time
# Each worker holds at most 19,000 fds (the machines' per-process limit is 20,000), so 32 workers carry up
# to ~600k sockets; the first half of them is the selection, the second half must stay untouched.
WORKERS = 32
SEL = "( sport >= :20000 and sport <= :20015 )"
REST = "( sport >= :20016 and sport <= :20031 )"
SOCKDOC_SEL = ["state", "established", "(", "sport", ">=", ":20000", "and", "sport", "<=", ":20015", ")"]


def count(expr: str) -> int:
    out = R.run_quiet(R.in_ns(["ss", "-tanH", "state", "established", expr])).stdout
    return sum(1 for line in out.splitlines() if line.strip())


def timed(exec_helper: Path, key: str, argv: list[str], ok: tuple[int, ...] = (0,)) -> dict:
    cmd = R.Cmd(key, argv, "sockdoc" if "sockdoc" in argv[0] else "ss", ok_exit=ok)
    return R.run_timed(exec_helper, cmd, timeout=1800)


def holder_args(n: int) -> argparse.Namespace:
    return argparse.Namespace(sockets=n, time_wait=None, close_wait=None, udp=None, workers=WORKERS)


def fmt_rate(n: int, s: float) -> str:
    return f"{n / s:,.0f}" if s > 0 else "-"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sockets", type=int, default=200_000)
    ap.add_argument("--rst", type=int, default=5000,
                    help="sockets for the `kill --method rst` row (0: skip it)")
    ap.add_argument("--no-readme", action="store_true", help="do not append to bench/README.md")
    ap.add_argument("--sockdoc", type=Path, help="sockdoc binary (default target/release/sockdoc)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("treat.py: needs root", file=sys.stderr)
        return 2
    holder = R.RELEASE / "sockdoc-holder"
    exec_helper = R.RELEASE / "sockdoc-bench-exec"
    sockdoc = args.sockdoc or R.RELEASE / "sockdoc"
    for p in (holder, exec_helper, sockdoc):
        if not p.is_file():
            print(f"treat.py: {p} missing: cargo build --release -p sockdoc -p sockdoc-bench-holder",
                  file=sys.stderr)
            return 2
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, R.on_signal)

    rows = []
    notes = []
    tmpdir = tempfile.mkdtemp(prefix="sockdoc-bench-treat-")
    audit = os.path.join(tmpdir, "audit.jsonl")
    try:
        R.setup_namespace(tw=args.sockets // 50)
        info = R.start_holder(holder_args(args.sockets), holder)
        R.log(f"holder ready: {info['ready_line']}")
        sel, rest = count(SEL), count(REST)
        R.log(f"selection {sel} sockets, other half {rest}")
        if sel == 0:
            raise RuntimeError("empty selection")

        # 1. keepalive (changes options only; the selection survives for the kill).
        ka = timed(exec_helper, "sockdoc keepalive",
                   [str(sockdoc), "keepalive", "--yes", "--audit-log", audit, *SOCKDOC_SEL])
        out = R.run_quiet(R.in_ns(["ss", "-tanoH", "state", "established", SEL])).stdout
        timers = sum(1 for line in out.splitlines() if "timer:(keepalive" in line)
        rows.append(("`sockdoc keepalive --yes`", sel, ka,
                     f"{timers}/{sel} keepalive timers" + ("" if timers == sel else " MISMATCH")))
        R.check_holder()

        # 2. sockdoc kill.
        kill = timed(exec_helper, "sockdoc kill",
                     [str(sockdoc), "kill", "--yes", "--max", "1000000", "--audit-log", audit, *SOCKDOC_SEL])
        left, rest_after = count(SEL), count(REST)
        ok = left == 0 and rest_after == rest
        notes.append(f"sockdoc kill: {left} of the selection left, other half {rest_after}/{rest}"
                     f" -> {'OK' if ok else 'MISMATCH'}")
        rows.append(("`sockdoc kill --yes --max 1000000`", sel, kill, "OK" if ok else "MISMATCH"))
        audit_lines = sum(1 for _ in open(audit)) if os.path.exists(audit) else 0
        notes.append(f"audit log: {audit_lines} lines ({os.path.getsize(audit) / 1e6:.1f} MB) for "
                     f"keepalive + kill")

        # 3. ss -K on a fresh holder, same selection.
        R.stop_holder()
        info2 = R.start_holder(holder_args(args.sockets), holder)
        sel2, rest2 = count(SEL), count(REST)
        R.log(f"holder restarted: selection {sel2}, other half {rest2}")
        ssk = timed(exec_helper, "ss -K", ["ss", "-K", "state", "established", SEL])
        left2, rest2_after = count(SEL), count(REST)
        ok2 = left2 == 0 and rest2_after == rest2
        notes.append(f"ss -K: {left2} of the selection left, other half {rest2_after}/{rest2}"
                     f" -> {'OK' if ok2 else 'MISMATCH'}")
        rows.append(("`ss -K state established ...`", sel2, ssk, "OK" if ok2 else "MISMATCH"))

        # 4. sockdoc kill --method rst on a fresh holder: the first N sockets of the selection.
        if args.rst > 0:
            R.stop_holder()
            R.start_holder(holder_args(args.sockets), holder)
            sel3, rest3 = count(SEL), count(REST)
            n = min(args.rst, sel3)
            R.log(f"holder restarted: selection {sel3}, other half {rest3}; rst on {n}")
            rst = timed(exec_helper, "sockdoc kill --method rst",
                        [str(sockdoc), "kill", "--yes", "--method", "rst", "--max", str(n),
                         "--audit-log", audit, *SOCKDOC_SEL], ok=(0, 1))
            left3, rest3_after = count(SEL), count(REST)
            ok3 = left3 == sel3 - n and rest3_after == rest3
            notes.append(f"sockdoc kill --method rst: {sel3 - left3} of {n} gone, other half "
                         f"{rest3_after}/{rest3} -> {'OK' if ok3 else 'MISMATCH'}")
            rows.append((f"`sockdoc kill --yes --method rst --max {n}`", n, rst,
                         "OK" if ok3 else "MISMATCH"))
    finally:
        R.cleanup()
        for f in (audit,):
            try:
                os.unlink(f)
            except OSError:
                pass
        try:
            os.rmdir(tmpdir)
        except OSError:
            pass

    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"### {when}, holder --sockets {args.sockets} --workers {WORKERS}",
        "",
        f"Selection: `state established {SEL}` (server ends of workers 0-15, counted with `ss -tanH`).",
        "",
        "| Command | Sockets | Wall | Sockets/s | Peak RSS | User+sys | Check |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, n, r, check in rows:
        lines.append(f"| {name} | {n} | {R.fmt_s(r['wall_s'])} | {fmt_rate(n, r['wall_s'])} | "
                     f"{r['maxrss_kb'] / 1024:.1f} MiB | {r['user_s'] + r['sys_s']:.2f} s | {check} |")
    k = next(r for name, _, r, _ in rows if "sockdoc kill" in name)
    s = next(r for name, _, r, _ in rows if "ss -K" in name)
    lines += ["", f"`sockdoc kill` wall time is {k['wall_s'] / s['wall_s']:.2f}x `ss -K`'s "
              f"(throughput ratio sockdoc/ss = {s['wall_s'] / k['wall_s']:.2f}).", ""]
    lines += [f"- {n}" for n in notes] + [""]
    table = "\n".join(lines)
    print(table)
    if not args.no_readme:
        readme = R.BENCH_DIR / "README.md"
        text = readme.read_text()
        if "## Treat at scale" not in text:
            text = text.rstrip("\n") + "\n\n## Treat at scale\n\n" + \
                "`sudo python3 bench/treat.py [--sockets N]`: `sockdoc kill` vs `ss -K` and " + \
                "`sockdoc keepalive` on half of the holder's server-side connections.\n"
        readme.write_text(text.rstrip("\n") + "\n\n" + table)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except R.Interrupted as e:
        print(f"treat.py: interrupted ({e})", file=sys.stderr)
        sys.exit(130)
