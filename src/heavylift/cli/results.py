"""`heavylift results JOB --format jsonl|csv|md [--out FILE]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heavylift.cli.common import say


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("results", help=summary, description=
                       "Export a job's results: one row per unit of work (document x question/task) with the "
                       "answer, status, token counts and timings, plus one row per input that was skipped.")
    p.add_argument("job", help="job name (see `heavylift jobs`)")
    p.add_argument("--format", choices=("jsonl", "csv", "md"), default="jsonl", help="output format (default jsonl)")
    p.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    p.add_argument("--force", action="store_true", help="overwrite --out even if heavylift did not write it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heavylift.analyze.jobs import JobStore
    from heavylift.analyze.results import FORMATS, result_rows

    store = JobStore()
    job = store.get(args.job)
    text = FORMATS[args.format](result_rows(store, job))
    if args.out:
        from heavylift.outputs import write_text

        write_text(args.out, text, force=args.force, flag="--out")
        say(f"results: wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0
