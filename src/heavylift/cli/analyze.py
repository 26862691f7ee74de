"""`heavylift analyze PATHS...`: create a durable analysis job over documents and run it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from heavylift.cli.common import (
    add_engine_options,
    add_parallel_option,
    engine_flag_args,
    positive_float,
    positive_int,
    say,
    sigterm_as_interrupt,
)
from heavylift.errors import UsageError

TASKS = ("summarize", "extract", "classify")


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("analyze", help=summary, description=
                       "Analyse documents (PDF, DOCX, HTML, Markdown, text, folders, source trees) with "
                       "questions and tasks, as a durable job: every answer is committed as it completes, so "
                       "`heavylift resume JOB` finishes an interrupted job without redoing anything. All tasks "
                       "on a document share its prompt prefix, computed once per engine slot. Anything after a "
                       "bare `--` is passed to llama-server.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files and folders to analyse")
    p.add_argument("--ask", action="append", default=[], metavar="QUESTION", help="a question (repeatable)")
    p.add_argument("--questions", type=Path, metavar="FILE", help="a file of questions, one per line (# comments)")
    p.add_argument("--task", action="append", default=[], choices=TASKS, help="a built-in task (repeatable)")
    p.add_argument("--schema", type=Path, metavar="FILE", help="JSON Schema for --task extract")
    p.add_argument("--labels", metavar="A,B,C", help="comma-separated labels for --task classify")
    p.add_argument("--together", action="store_true", help="put all documents in one prompt (cross-document questions)")
    p.add_argument("--split", action="store_true", help="map-reduce documents too long for the context over chunks")
    p.add_argument("--model", default="default", help="stored model name or .gguf path (default: the default model)")
    p.add_argument("--endpoint", help="an OpenAI-compatible base URL to use instead of starting an engine")
    p.add_argument("--api-key", help="bearer key for --endpoint")
    add_parallel_option(p, "engine slots (documents analysed at once; default 1)", default=1)
    add_engine_options(p)
    p.add_argument("--ctx", type=positive_int, default=8192, help="context tokens per slot (default 8192)")
    p.add_argument("--max-tokens", type=positive_int, default=512, help="longest answer in tokens (default 512)")
    p.add_argument("--name", help="job name (default job-DATE-TIME)")
    p.add_argument("--kv-save-min-tokens", type=positive_int, default=2048,
                   help="save a document's KV cache to disk when its prompt is at least this long (default 2048)")
    p.add_argument("--max-attempts", type=positive_int, default=3, help="tries per unit on engine errors (default 3)")
    p.add_argument("--endpoint-wait", type=positive_float, default=30.0, metavar="SECONDS",
                   help="how long to wait for a down endpoint before stopping the job (default 30)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--progress-interval", type=positive_float, help="seconds between progress lines")
    p.set_defaults(func=run)


def build_tasks(args: argparse.Namespace) -> list:
    """The job's tasks, checked before anything runs (a bad schema never starts a job)."""
    from heavylift.analyze.prompts import TaskSpec

    tasks = [TaskSpec("question", question=q.strip()) for q in args.ask if q.strip()]
    if args.questions:
        try:
            lines = args.questions.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise UsageError(f"cannot read --questions {args.questions} ({e.strerror}); check the path") from None
        tasks += [TaskSpec("question", question=ln.strip()) for ln in lines if ln.strip() and not ln.startswith("#")]
    for task in dict.fromkeys(args.task):
        if task == "extract":
            tasks.append(TaskSpec("extract", schema=load_schema(args.schema)))
        elif task == "classify":
            labels = tuple(dict.fromkeys(x.strip() for x in (args.labels or "").split(",") if x.strip()))
            if len(labels) < 2:
                raise UsageError("--task classify needs --labels with at least two labels, e.g. --labels nda,lease,services")
            tasks.append(TaskSpec("classify", labels=labels))
        else:
            tasks.append(TaskSpec(task))
    if args.schema and "extract" not in args.task:
        tasks.append(TaskSpec("extract", schema=load_schema(args.schema)))
    if args.labels and "classify" not in args.task:
        raise UsageError("--labels goes with --task classify")
    if not tasks:
        raise UsageError("nothing to do: give --ask QUESTION, --questions FILE or --task summarize|extract|classify")
    return tasks


def load_schema(path: Path | None) -> dict:
    import jsonschema

    if path is None:
        raise UsageError("--task extract needs --schema FILE (a JSON Schema of the fields to extract)")
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"cannot read --schema {path} ({e.strerror}); check the path") from None
    except ValueError as e:
        raise UsageError(f"--schema {path} is not valid JSON (line {e.lineno}: {e.msg}); fix it before starting") from None
    if not isinstance(schema, dict):
        raise UsageError(f"--schema {path} must be a JSON object (a JSON Schema), not {type(schema).__name__}")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as e:
        where = "/".join(str(p) for p in e.path) or "(root)"
        raise UsageError(f"--schema {path} is not a valid JSON Schema at {where}: {e.message[:200]}") from None
    return schema


def run(args: argparse.Namespace) -> int:
    from heavylift.analyze.ingest import ingest_paths
    from heavylift.analyze.jobs import JobConfig, JobStore
    from heavylift.engines.credentials import client_endpoint
    from heavylift.paths import check_name

    if args.name is not None:
        check_name(args.name, "--name")  # it becomes a file name: refused before any work
    tasks = build_tasks(args)
    args.endpoint = client_endpoint(args.endpoint)  # --endpoint, else OPENAI_BASE_URL
    if args.api_key:  # not stored in the job; resume reads HEAVYLIFT_API_KEY
        import os

        os.environ["HEAVYLIFT_API_KEY"] = args.api_key
    engine_args = engine_flag_args(args) + list(args.extra_args)  # kept with the job for `resume`
    if args.endpoint and engine_args:
        raise UsageError("engine settings (-ctk/-ctv, -fa, -ngl, or flags after `--`) need our own engine; "
                         "drop them or drop --endpoint")
    docs, errors = ingest_paths(args.paths)
    for err in errors:
        say(f"analyze: skipping {err.path}: {err.error}")
    if not docs:
        raise UsageError("no readable documents among the inputs (see above); nothing to analyse")
    config = JobConfig(tasks=tasks, model=args.model, endpoint=args.endpoint, parallel=args.parallel, ctx=args.ctx,
                       max_tokens=args.max_tokens, is_together=args.together, is_split=args.split,
                       kv_save_min_tokens=args.kv_save_min_tokens, max_attempts=args.max_attempts,
                       endpoint_wait_s=args.endpoint_wait, temperature=args.temperature, seed=args.seed,
                       engine_args=engine_args)
    if not args.endpoint:
        from heavylift.models.model_store import ModelStore

        ModelStore().resolve(args.model)  # an unknown model fails here, before a job exists
    store = JobStore()
    job = store.create(args.name, config, docs, errors)
    num_units = store.counts(job.id)["pending"]
    say(f"analyze: job {job.name}: {len(docs)} document(s), {len(tasks)} task(s), {num_units} unit(s)"
        + (f"; {len(errors)} input(s) skipped" if errors else ""))
    return finish(store, job, args.progress_interval)


def finish(store, job, progress_interval: float | None) -> int:
    """Run the job, export its results next to the database, and say where they are."""
    from heavylift import paths
    from heavylift.analyze.job_runner import run_job
    from heavylift.analyze.results import result_rows, to_jsonl

    sigterm_as_interrupt()
    status = run_job(store, job, say, progress_interval_s=progress_interval)
    out = paths.results_file(job.name)
    out.write_text(to_jsonl(result_rows(store, store.get(job.name))), encoding="utf-8")
    say(f"analyze: results in {out}  (or `heavylift results {job.name} --format jsonl|csv|md`)")
    if status == "failed":
        say(f"analyze: finish it with `heavylift resume {job.name}`")
    print(out)
    return 0 if status == "done" else 1
