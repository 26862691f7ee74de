"""`heavylift jobs` (list with progress), `heavylift jobs show JOB`, `heavylift jobs rm JOB...`."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from heavylift.cli.common import say


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("jobs", help=summary, description=
                       "List analysis jobs with their status and progress (read from the database, so it "
                       "works from another shell while a job runs), show one (`heavylift jobs show JOB`), or "
                       "remove finished ones with their results (`heavylift jobs rm JOB...`).")
    p.add_argument("action", nargs="?", choices=("list", "show", "rm"), default="list", help="list (default), show or rm")
    p.add_argument("job", nargs="*", help="the job for `show`; the jobs for `rm`")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heavylift.analyze.jobs import JobStore
    from heavylift.analyze.progress import JobProgress
    from heavylift.errors import UsageError

    store = JobStore()
    if args.action == "show":
        if len(args.job) != 1:
            raise UsageError("which job? `heavylift jobs show JOB` (see `heavylift jobs`)")
        return show(store, store.get(args.job[0]), args.json)
    if args.action == "rm":
        return remove(store, args.job)
    if args.job:
        raise UsageError(f"`heavylift jobs` lists all jobs; to see one: `heavylift jobs show {args.job[0]}`")
    rows = [JobProgress.read(store, j) for j in store.list()]
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    if not rows:
        print("no jobs yet; start one with `heavylift analyze PATHS --ask QUESTION`")
        return 0
    for progress in rows:
        print(f"{progress.status:11} {progress.line()}")
    return 0


def remove(store, names: list[str]) -> int:
    from heavylift.analyze.results import default_results_path
    from heavylift.errors import UsageError

    if not names:
        raise UsageError("which jobs? `heavylift jobs rm JOB...` (see `heavylift jobs`)")
    jobs = [store.get(name) for name in names]  # all must exist before any is removed
    for job in jobs:
        if job.live_status == "running":
            raise UsageError(f"job {job.name!r} is running (pid {job.pid}); `heavylift cancel {job.name}` first")
    for job in jobs:
        store.delete(job)
        default_results_path(job).unlink(missing_ok=True)
        say(f"jobs: removed {job.name} and its results")
    return 0


def show(store, job, as_json: bool) -> int:
    from heavylift.analyze.progress import JobProgress

    progress = JobProgress.read(store, job)
    docs = store.documents(job.id)
    subjects = [{"name": s["name"], "num_prompt_tokens": s["num_prompt_tokens"],
                 "num_prefix_tokens": s["num_prefix_tokens"], "error": s["error"]} for s in store.subjects(job.id)]
    units = store.unit_rows(job.id)
    if as_json:
        print(json.dumps({"job": job.name, "progress": asdict(progress), "config": json.loads(job.config.to_json()),
                          "error": job.error, "documents": [{k: v for k, v in d.items() if k != "id"} for d in docs],
                          "subjects": subjects, "units": units}, indent=2))
        return 0
    print(f"job {job.name} ({progress.status}), created {job.created_at}" + (f", finished {job.finished_at}" if job.finished_at else ""))
    print(f"  {progress.line()}")
    c = job.config
    target = c.endpoint or c.model
    print(f"  engine: {target}, {c.parallel} slot(s) x {c.ctx_per_slot} tokens (--ctx {c.ctx_total}), "
          f"max {c.max_tokens} tokens per answer")
    print("  tasks: " + "; ".join(t.title for t in c.tasks))
    if job.error and progress.status != "done":
        print(f"  stopped: {job.error}")
    print("  documents:")
    for d in docs:
        if d["status"] == "duplicate":
            detail = f"DUPLICATE of {d['duplicate_of']} (analysed once)"
        elif d["status"]:
            detail = f"SKIPPED {d['error']}"
        else:
            detail = f"as {d['name']}: {d['kind']}, {d['num_chars']} chars" + (
                f", {d['num_pages']} pages" if d["num_pages"] else "") + f", sha256 {d['sha256'][:12]}"
        print(f"    {d['path']}: {detail}")
    for s in subjects:
        if s["error"]:
            print(f"  {s['name']}: {s['error']}")
    print("  units:")
    for u in units:
        tokens = (f", {u['prompt_tokens']} prompt ({u['cached_tokens']} cached) + {u['completion_tokens']} generated"
                  if u["prompt_tokens"] is not None else "")
        error = f": {u['error']}" if u["error"] and u["status"] != "done" else ""
        role = f" [{u['role']}]" if u["role"] != "answer" else ""
        print(f"    {u['status']:9} {u['subject']} | {u['task']}{role} | {u['attempts']} attempt(s){tokens}{error}")
    return 0
