"""`heavylift stop NAME|PORT|PID`: stop a serve, a job or an orphan engine, gracefully then by force."""

from __future__ import annotations

import argparse
import json
import time

from heavylift.cli.common import positive_float, say


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("stop", help=summary, description=
                       "Stop something `heavylift ps` lists: a serve (by its model name or port), an analysis job "
                       "(by its name: it stops after committing what is done; `heavylift resume` finishes it) or "
                       "an orphan engine (by its port or pid). SIGTERM first, SIGKILL after --timeout.")
    p.add_argument("target", metavar="NAME|PORT|PID", help="a served model's name, a job's name, a port or a pid")
    p.add_argument("--timeout", type=positive_float, default=30.0, metavar="SECONDS",
                   help="how long to wait for a graceful stop before forcing it (default 30)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from heavylift.running import find, stop_running

    item = find(args.target)
    if not args.json:
        say(f"stop: {item.kind} {item.name} (pid {item.pid}" + (f", port {item.port}" if item.port else "") + ") ...")
    started = time.monotonic()
    outcome = stop_running(item, args.timeout)
    took = time.monotonic() - started
    if args.json:
        print(json.dumps({**asdict(item), "outcome": outcome, "took_s": round(took, 3)}, indent=2))
        return 0
    words = {"stopped": "stopped gracefully", "killed": f"did not stop within {args.timeout:g}s: killed",
             "gone": "had already exited"}[outcome]
    print(f"{item.kind} {item.name} (pid {item.pid}) {words} in {took:.1f}s")
    if item.kind == "job":
        say(f"stop: finish it later with `heavylift resume {item.name}`")
    return 0
