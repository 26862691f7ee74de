"""`heavylift resume JOB`: finish an interrupted job; completed units are never redone."""

from __future__ import annotations

import argparse

from heavylift.cli.common import positive_float, say


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("resume", help=summary, description=
                       "Finish a job that was interrupted (killed, crashed, endpoint down): units caught running "
                       "go back to pending, failed units are retried, done units are kept as they are.")
    p.add_argument("job", help="job name (see `heavylift jobs`)")
    p.add_argument("--no-retry-failed", action="store_true", help="leave failed units failed")
    p.add_argument("--endpoint-wait", type=positive_float, metavar="SECONDS",
                   help="override how long to wait for a down endpoint")
    p.add_argument("--progress-interval", type=positive_float, help="seconds between progress lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heavylift.analyze.job_runner import stop_orphaned_engine
    from heavylift.analyze.jobs import JobStore
    from heavylift.cli.analyze import finish
    from heavylift.errors import UsageError

    store = JobStore()
    job = store.get(args.job)
    if job.status == "cancelled":
        raise UsageError(f"job {job.name!r} was cancelled; start a new one with `heavylift analyze`")
    from heavylift.gateway.batch_store import BatchStore

    if BatchStore(store.db).for_job(job.id):  # an API batch: its units are requests, not analysis tasks
        raise UsageError(f"{job.name} is a Batch API batch; it resumes by itself when `heavylift serve` starts "
                         "(or rerun the same `heavylift run-batch` command)")
    stop_orphaned_engine(store, job, say)
    n = store.prepare_resume(job, retry_failed=not args.no_retry_failed)
    job = store.get(job.name)
    if args.endpoint_wait:
        job.config.endpoint_wait_s = args.endpoint_wait
    counts = store.counts(job.id)
    say(f"resume: job {job.name}: {counts['done']} done (kept), {counts['pending']} to run"
        f" ({n} reset from running/failed)")
    if not counts["pending"]:
        store.end_run(job)
    return finish(store, job, args.progress_interval)
