"""`heavylift cancel JOB`: stop a job; its running process stops after the answer in flight."""

from __future__ import annotations

import argparse

from heavylift.cli.common import say


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("cancel", help=summary, description=
                       "Cancel a job: pending units are cancelled; a running job stops after its current "
                       "answers (which are kept).")
    p.add_argument("job", help="job name (see `heavylift jobs`)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heavylift.analyze.jobs import JobStore
    from heavylift.errors import UsageError

    store = JobStore()
    job = store.get(args.job)
    if job.status in ("done", "cancelled"):
        raise UsageError(f"job {job.name!r} is already {job.status}; nothing to cancel")
    n = store.cancel(job)
    counts = store.counts(job.id)
    say(f"cancel: job {job.name} cancelled; {n} unit(s) will not run, {counts['done']} done kept")
    if args.json:
        import json

        print(json.dumps({"job": job.name, "status": "cancelled", "units_cancelled": n, "units_done": counts["done"]}))
    return 0
