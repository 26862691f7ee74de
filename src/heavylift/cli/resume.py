"""`heavylift resume JOB`: finish an interrupted job; completed units are never redone."""

from __future__ import annotations

import argparse

from heavylift.cli.common import positive_float, positive_int, run_analysis_job, say


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("resume", help=summary, description=
                       "Finish a job that was interrupted (killed, crashed, endpoint down): units caught running "
                       "go back to pending, failed units are retried, done units are kept as they are. Settings "
                       "a failed start got wrong can be changed here (kept for later runs); arguments after a "
                       "bare `--` replace the job's llama-server arguments.")
    p.add_argument("job", help="job name (see `heavylift jobs`)")
    p.add_argument("--no-retry-failed", action="store_true", help="leave failed units failed")
    p.add_argument("--parallel", type=positive_int, help="engine slots")
    p.add_argument("--ctx", type=positive_int, metavar="N", help="total context (as llama.cpp's -c), split over the slots")
    p.add_argument("--ctx-per-slot", type=positive_int, metavar="N", help="context per slot instead")
    p.add_argument("--max-tokens", type=positive_int, help="longest answer in tokens")
    p.add_argument("--timeout", type=positive_float, metavar="SECONDS", help="seconds to wait for one answer")
    p.add_argument("--endpoint-wait", type=positive_float, metavar="SECONDS",
                   help="override how long to wait for a down endpoint")
    p.add_argument("--progress-interval", type=positive_float, help="seconds between progress lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heavylift.analyze.job_runner import export_job, stop_orphaned_engine
    from heavylift.analyze.job_types import ctx_per_slot_from
    from heavylift.analyze.jobs import JobStore
    from heavylift.errors import UsageError
    from heavylift.gateway.batch_store import BatchStore

    store = JobStore()
    job = store.get(args.job)
    if job.status == "cancelled":
        raise UsageError(f"job {job.name!r} was cancelled; start a new one with `heavylift analyze`")
    if BatchStore(store.db).for_job(job.id):  # an API batch: its units are requests, not analysis tasks
        raise UsageError(f"{job.name} is a Batch API batch; it resumes by itself when `heavylift serve` starts "
                         "(or rerun the same `heavylift run-batch` command)")

    changes = {"parallel": args.parallel, "max_tokens": args.max_tokens, "timeout_s": args.timeout,
               "endpoint_wait_s": args.endpoint_wait,
               "engine_args": list(args.extra_args) if args.extra_args else None}
    parallel = args.parallel or job.config.parallel
    changes["ctx_per_slot"] = ctx_per_slot_from(args.ctx, args.ctx_per_slot, parallel)
    if args.parallel and changes["ctx_per_slot"] is None:  # keep the total the same, as -c would
        changes["ctx_per_slot"] = max(1, job.config.ctx_total // parallel)
    config, said = job.config.changed(**{k: v for k, v in changes.items() if v is not None})
    stop_orphaned_engine(store, job, say)
    n = store.prepare_resume(job, retry_failed=not args.no_retry_failed)
    if said:
        job = store.update_config(job, config)
        say(f"resume: job {job.name}: now {said}")
    job = store.get(job.name)
    counts = store.counts(job.id)
    if not counts["pending"]:
        status = store.end_run(job)
        out = export_job(store, job)
        say(f"resume: job {job.name} is already {status}: {counts['done']} done, {counts['failed']} failed, "
            f"nothing to run (no engine started); results in {out}")
        print(out)
        return 0 if status == "done" else 1
    say(f"resume: job {job.name}: {counts['done']} done (kept), {counts['pending']} to run"
        f" ({n} reset from running/failed)")
    return run_analysis_job(store, job, args.progress_interval)
