"""`heavylift ps`: running serves, analysis jobs and stray engines, with ports, models, pids, memory."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from heavylift.cli.common import human_bytes


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("ps", help=summary, description=
                       "List what heavylift runs on this machine: `serve` processes, analysis jobs with a live "
                       "process, and llama-servers of ours whose heavylift process is gone (orphans). Memory is "
                       "the resident set (RSS) of the process and everything it started, engine included.")
    p.add_argument("--json", action="store_true", help="machine-readable output (a list; sizes in bytes)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heavylift.running import list_running

    rows = list_running()
    if args.json:
        print(json.dumps([{**asdict(r), "uptime_s": r.uptime_s} for r in rows], indent=2))
        return 0
    if not rows:
        print("nothing running (start one with `heavylift serve` or `heavylift analyze`)")
        return 0
    print(f"{'KIND':7} {'NAME':24} {'PID':>7} {'PORT':>6} {'MODEL':28} {'RSS':>10} {'UP':>8}  DETAIL")
    for r in rows:
        engine = f"; engine pid {r.engine_pid}" if r.engine_pid and r.engine_pid != r.pid else ""
        print(f"{r.kind:7} {r.name[:24]:24} {r.pid:>7} {r.port or '-':>6} {(r.model or '-')[:28]:28} "
              f"{human_bytes(r.rss_bytes):>10} {_age(r.uptime_s):>8}  {r.detail}{engine}")
    return 0


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"
