"""`heavylift jobs` (list with progress) and `heavylift jobs show JOB`."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("jobs", help=summary, description=
                       "List analysis jobs with their status and progress (read from the database, so it "
                       "works from another shell while a job runs), or show one: `heavylift jobs show JOB`.")
    p.add_argument("action", nargs="?", choices=("list", "show"), default="list", help="list (default) or show")
    p.add_argument("job", nargs="?", help="the job for `show`")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heavylift.analyze.jobs import JobStore
    from heavylift.errors import UsageError

    store = JobStore()
    if args.action == "show":
        if not args.job:
            raise UsageError("which job? `heavylift jobs show JOB` (see `heavylift jobs`)")
        return show(store, store.get(args.job), args.json)
    jobs = store.list()
    rows = [_live(store, j) for j in jobs]
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    if not rows:
        print("no jobs yet; start one with `heavylift analyze PATHS --ask QUESTION`")
        return 0
    for progress in rows:
        print(f"{progress.status:10} {progress.line()}")
    return 0


def _live(store, job):
    """Progress, with a dead process's 'running' job shown as interrupted."""
    from heavylift.analyze.progress import JobProgress

    progress = JobProgress.read(store, job)
    if progress.status == "running" and not job.is_process_alive:
        progress.status = "interrupted"
    return progress


def show(store, job, as_json: bool) -> int:
    progress = _live(store, job)
    docs = [dict(r) for r in store.db.execute(
        "SELECT path, name, kind, sha256, num_chars, num_pages, error FROM job_documents WHERE job_id=? ORDER BY position",
        (job.id,))]
    subjects = [{"name": s["name"], "num_prompt_tokens": s["num_prompt_tokens"], "error": s["error"]}
                for s in store.subjects(job.id)]
    units = unit_rows(store, job)
    if as_json:
        print(json.dumps({"job": job.name, "progress": asdict(progress), "config": json.loads(job.config.to_json()),
                          "error": job.error, "documents": docs, "subjects": subjects, "units": units}, indent=2))
        return 0
    print(f"job {job.name} ({progress.status}), created {job.created_at}" + (f", finished {job.finished_at}" if job.finished_at else ""))
    print(f"  {progress.line()}")
    target = job.config.endpoint or job.config.model
    print(f"  engine: {target}, {job.config.parallel} slot(s) x {job.config.ctx} tokens, max {job.config.max_tokens} tokens per answer")
    print("  tasks: " + "; ".join(t.title for t in job.config.tasks))
    if job.error:
        print(f"  stopped: {job.error}")
    print("  documents:")
    for d in docs:
        detail = f"ERROR {d['error']}" if d["error"] else f"{d['kind']}, {d['num_chars']} chars" + (
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


def unit_rows(store, job) -> list[dict]:
    """Every unit (split parts included) with its status, attempts, tokens and error."""
    rows = store.db.execute(
        "SELECT u.id, s.name AS subject, u.question, u.role, u.status, u.attempts, u.prompt_tokens, u.cached_tokens, "
        "u.completion_tokens, u.error FROM units u JOIN subjects s ON s.id=u.subject_id WHERE u.job_id=? "
        "ORDER BY s.position, coalesce(s.chunk_index, 1e9), u.position", (job.id,)).fetchall()
    out = []
    for r in rows:
        spec = json.loads(r["question"])
        out.append({"id": r["id"], "subject": r["subject"], "task": spec.get("question") or spec["task"],
                    "role": r["role"], "status": r["status"], "attempts": r["attempts"],
                    "prompt_tokens": r["prompt_tokens"], "cached_tokens": r["cached_tokens"],
                    "completion_tokens": r["completion_tokens"], "error": r["error"]})
    return out
