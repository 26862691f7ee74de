"""`heavylift analyze PATHS...`: create a durable analysis job over documents and run it."""

from __future__ import annotations

import argparse
from pathlib import Path

from heavylift.cli.common import (
    add_ctx_option,
    add_engine_options,
    add_parallel_option,
    engine_flag_args,
    positive_float,
    positive_int,
    run_analysis_job,
    say,
)

GIB = 1024**3


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    from heavylift.analyze.job_types import DEFAULT_CTX_PER_SLOT, DEFAULT_KV_MAX_BYTES
    from heavylift.analyze.tasks import TASKS

    p = sub.add_parser("analyze", help=summary, description=
                       "Analyse documents (PDF, DOCX, HTML, Markdown, text, folders, source trees; also "
                       "gzip/bzip2/xz-compressed) with questions and tasks, as a durable job: every answer is "
                       "committed as it completes, so `heavylift resume JOB` finishes an interrupted job without "
                       "redoing anything. All tasks on a document share its prompt prefix, computed once per "
                       "engine slot. Anything after a bare `--` is passed to llama-server. Exit status: 0 done, "
                       "1 stopped with work left (resume it) or cancelled, 2 bad input.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files and folders to analyse")
    p.add_argument("--ask", action="append", default=[], metavar="QUESTION", help="a question (repeatable)")
    p.add_argument("--questions", action="append", type=Path, default=[], metavar="FILE",
                   help="a file of questions, one per line, # comments (repeatable)")
    p.add_argument("--task", action="append", default=[], choices=TASKS, help="a built-in task (repeatable)")
    p.add_argument("--schema", type=Path, metavar="FILE", help="JSON Schema for --task extract")
    p.add_argument("--labels", metavar="A,B,C", help="comma-separated labels for --task classify")
    p.add_argument("--together", action="store_true", help="put all documents in one prompt (cross-document questions)")
    p.add_argument("--split", action="store_true", help="map-reduce documents too long for the context over chunks")
    p.add_argument("--model", default="default", help="stored model name or .gguf path (default: the default model)")
    p.add_argument("--endpoint", help="an OpenAI-compatible base URL to use instead of starting an engine")
    p.add_argument("--api-key", help="bearer key for --endpoint")
    add_parallel_option(p, "engine slots (documents analysed at once; default 1)", default=1)
    add_ctx_option(p, "total context, as llama.cpp's -c: split evenly over the --parallel slots")
    p.add_argument("--ctx-per-slot", type=positive_int, metavar="N",
                   help=f"context per slot instead (default {DEFAULT_CTX_PER_SLOT}; capped at the model's trained context)")
    add_engine_options(p)
    p.add_argument("--max-tokens", type=positive_int, default=512, help="longest answer in tokens (default 512)")
    p.add_argument("--timeout", type=positive_float, metavar="SECONDS",
                   help="seconds to wait for one answer (default: the larger of 600 and 3x the time the plan "
                        "predicts for this model on this machine)")
    p.add_argument("--name", help="job name (default job-DATE-TIME)")
    p.add_argument("--kv-save-min-tokens", type=positive_int, default=2048,
                   help="save a document's KV cache to disk when its prompt is at least this long (default 2048)")
    p.add_argument("--kv-max-gib", type=positive_float, default=DEFAULT_KV_MAX_BYTES / GIB, metavar="GIB",
                   help=f"cap on saved KV files; least recently used go first (default {DEFAULT_KV_MAX_BYTES // GIB})")
    p.add_argument("--max-attempts", type=positive_int, default=3, help="tries per unit on engine errors (default 3)")
    p.add_argument("--endpoint-wait", type=positive_float, default=30.0, metavar="SECONDS",
                   help="how long to wait for a down endpoint before stopping the job (default 30)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--progress-interval", type=positive_float, help="seconds between progress lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heavylift.analyze.ingest import ingest_paths
    from heavylift.analyze.job_types import DEFAULT_CTX_PER_SLOT, ctx_per_slot_from
    from heavylift.analyze.jobs import JobConfig, JobStore
    from heavylift.analyze.tasks import build_tasks
    from heavylift.engines.client import normalize_base_url
    from heavylift.engines.credentials import client_endpoint
    from heavylift.errors import UsageError
    from heavylift.paths import check_name

    if args.name is not None:
        check_name(args.name, "--name")  # it becomes a file name: refused before any work
    tasks, notes = build_tasks(args.ask, args.questions, args.task, args.schema, args.labels)
    endpoint = client_endpoint(args.endpoint)  # --endpoint, else OPENAI_BASE_URL
    endpoint = normalize_base_url(endpoint) if endpoint else None
    if args.api_key:  # not stored in the job; resume reads HEAVYLIFT_API_KEY
        import os

        os.environ["HEAVYLIFT_API_KEY"] = args.api_key
    engine_args = engine_flag_args(args) + list(args.extra_args)  # kept with the job for `resume`
    if endpoint and engine_args:
        raise UsageError("engine settings (-ctk/-ctv, -fa, -ngl, or flags after `--`) need our own engine; "
                         "drop them or drop --endpoint")
    per_slot = ctx_per_slot_from(args.ctx, args.ctx_per_slot, args.parallel) or DEFAULT_CTX_PER_SLOT
    for note in notes:
        say(f"analyze: {note}")
    docs, errors = ingest_paths(args.paths)
    for err in errors:
        say(f"analyze: {'not analysing' if err.status == 'duplicate' else 'skipping'} {err.path}: {err.error}")
    if not docs:
        raise UsageError("no readable documents among the inputs (see above); nothing to analyse")
    if not endpoint:
        from heavylift.models.model_store import ModelStore

        ModelStore().resolve(args.model)  # an unknown model fails here, before a job exists
    config = JobConfig(tasks=tasks, model=args.model, endpoint=endpoint, parallel=args.parallel,
                       ctx_per_slot=per_slot, max_tokens=args.max_tokens, is_together=args.together,
                       is_split=args.split, kv_save_min_tokens=args.kv_save_min_tokens,
                       kv_max_bytes=int(args.kv_max_gib * GIB), max_attempts=args.max_attempts,
                       endpoint_wait_s=args.endpoint_wait, timeout_s=args.timeout, temperature=args.temperature,
                       seed=args.seed, engine_args=engine_args)
    store = JobStore()
    job = store.create(args.name, config, docs, errors)
    num_units = store.counts(job.id)["pending"]
    say(f"analyze: job {job.name}: {len(docs)} document(s), {len(tasks)} task(s), {num_units} unit(s)"
        + (f"; {len(errors)} input(s) not analysed" if errors else ""))
    return run_analysis_job(store, job, args.progress_interval)
