"""`heavylift results JOB [--format jsonl|csv|md] [--out FILE]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heavylift.cli.common import say


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("results", help=summary, description=
                       "Export a job's results: one row per unit of work (document x question/task) with the "
                       "answer, status, token counts and timings, plus one row per input that was not analysed "
                       "(skipped or duplicate).")
    p.add_argument("job", help="job name (see `heavylift jobs`)")
    p.add_argument("--format", choices=("jsonl", "csv", "md"),
                   help="output format (default: from --out's extension .jsonl/.csv/.md, else jsonl)")
    p.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    p.add_argument("--force", action="store_true", help="overwrite --out even if heavylift did not write it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heavylift.analyze.jobs import JobStore
    from heavylift.analyze.results import export_results, output_format

    fmt = output_format(args.out, args.format)
    store = JobStore()
    text = export_results(store, store.get(args.job), None, fmt)  # written below, never over a foreign file
    if args.out:
        from heavylift.outputs import write_text

        write_text(args.out, text, force=args.force, flag="--out")
        say(f"results: wrote {args.out} ({fmt})")
    else:
        sys.stdout.write(text)
    return 0
