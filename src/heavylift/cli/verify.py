"""`heavylift verify`: is the candidate (say a Q3 quant) good enough for MY documents?"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

from heavylift.analyze.job_types import ctx_per_slot_from
from heavylift.cli.common import (
    add_ctx_option,
    add_parallel_option,
    positive_float,
    positive_int,
    say,
    sigterm_as_interrupt,
)
from heavylift.errors import UsageError


def _fraction(text: str) -> float:
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def _kld_ctx(text: str) -> int:
    value = positive_int(text)
    if value < 256:  # each chunk scores ctx - 1 - ctx/2 tokens; llama-perplexity prints statistics from 100
        raise argparse.ArgumentTypeError(f"{text!r} is too small; use at least 256")
    return value


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("verify", help=summary, description=
                       "Run the same analysis tasks (questions, schema extraction, classification) on the candidate "
                       "model and on a reference (a bigger quant, the original, or any OpenAI-compatible endpoint), "
                       "compare the answers and give a verdict by the rule: >= 90%% agreement safe, 85-90%% "
                       "borderline, < 85%% try a larger quant. --kld adds llama.cpp's token-level KL divergence. "
                       "Both sides are durable analyze jobs: `heavylift verify --resume NAME` finishes a run that "
                       "was interrupted. The endpoint's key comes from HEAVYLIFT_REFERENCE_API_KEY (or "
                       "OPENAI_API_KEY), never from the command line.")
    p.add_argument("--candidate", metavar="MODEL", help="the model to check (stored name, 'default' or .gguf path)")
    p.add_argument("--reference", metavar="MODEL", help="the model to compare with (stored name or .gguf path)")
    p.add_argument("--reference-endpoint", metavar="URL", help="or an OpenAI-compatible base URL as the reference")
    p.add_argument("--reference-model", metavar="NAME", help="the model name to request from --reference-endpoint")
    p.add_argument("--docs", nargs="+", type=Path, default=[], metavar="PATH", help="documents and folders to analyse")
    p.add_argument("--tasks", type=Path, metavar="FILE", help="tasks file (see docs/verify.md): ask:/extract:/classify:")
    p.add_argument("--ask", action="append", default=[], metavar="QUESTION", help="a question (repeatable)")
    p.add_argument("--kld", nargs="+", type=Path, metavar="TEXTFILE",
                   help="also compare token distributions on this text (llama-perplexity --kl-divergence)")
    p.add_argument("--kld-chunks", type=positive_int, default=16, metavar="N",
                   help="at most N chunks of the text (the reference's saved log-probs grow with each; default 16)")
    p.add_argument("--kld-ctx", type=_kld_ctx, default=512, metavar="TOKENS", help="tokens per chunk (default 512)")
    p.add_argument("--kld-reference", metavar="MODEL",
                   help="a higher-bit quant of the reference to use for --kld when the reference cannot run here")
    p.add_argument("--name", help="run name (default verify-DATE-TIME); an existing name with the same inputs resumes")
    p.add_argument("--resume", metavar="NAME", help="finish an interrupted run (no other options needed)")
    p.add_argument("--max-tokens", type=positive_int, default=256, help="longest answer in tokens (default 256)")
    add_ctx_option(p, "total context, as llama.cpp's -c: split evenly over the --parallel slots")
    p.add_argument("--ctx-per-slot", type=positive_int, metavar="N", help="context per slot instead (default 8192)")
    add_parallel_option(p, "engine slots (default 1)", default=1)
    p.add_argument("--min-f1", type=_fraction, default=0.5,
                   help="token F1 at which two free answers agree (with the same numbers; default 0.5)")
    p.add_argument("--num-tolerance", type=_fraction, default=0.01,
                   help="relative tolerance for extracted numbers (default 0.01 = 1%%)")
    p.add_argument("--endpoint-wait", type=positive_float, default=30.0, metavar="SECONDS",
                   help="how long to wait for a down endpoint before stopping (default 30)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--out", type=Path, metavar="FILE", help="also write the report (Markdown, or JSON with --json)")
    p.add_argument("--force", action="store_true", help="overwrite --out even if heavylift did not write it")
    p.add_argument("--progress-interval", type=positive_float, help="seconds between progress lines")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    from heavylift.analyze.prompts import TaskSpec
    from heavylift.verify.runs import VerifyConfig
    from heavylift.verify.tasks_file import read_tasks

    if not args.candidate:
        raise UsageError("--candidate MODEL is required (or --resume NAME)")
    if args.reference and args.reference_endpoint:
        raise UsageError("give --reference MODEL or --reference-endpoint URL, not both")
    if not (args.reference or args.reference_endpoint):
        raise UsageError("--reference MODEL or --reference-endpoint URL is required")
    if args.reference_endpoint and args.extra_args:
        raise UsageError("engine arguments after `--` apply to local models only; with an endpoint they would make "
                         "the two sides differ")
    tasks = read_tasks(args.tasks) if args.tasks else []
    tasks += [TaskSpec("question", question=q.strip()) for q in args.ask if q.strip()]
    if tasks and not args.docs:
        raise UsageError("--tasks/--ask need documents: add --docs PATH ...")
    # absolute paths: `--resume` may run from another folder
    return VerifyConfig(candidate=_model_arg(args.candidate), docs=[str(p.resolve()) for p in args.docs], tasks=tasks,
                        reference=_model_arg(args.reference), reference_endpoint=args.reference_endpoint,
                        reference_model=args.reference_model,
                        kld_text=[str(p.resolve()) for p in args.kld] if args.kld else None,
                        kld_reference=_model_arg(args.kld_reference),
                        kld_chunks=args.kld_chunks, kld_ctx=args.kld_ctx, max_tokens=args.max_tokens,
                        ctx=ctx_per_slot_from(args.ctx, args.ctx_per_slot, args.parallel) or 8192,  # per slot
                        parallel=args.parallel, min_f1=args.min_f1, num_tolerance=args.num_tolerance,
                        endpoint_wait_s=args.endpoint_wait, engine_args=list(args.extra_args))


def _model_arg(name: str | None) -> str | None:
    """A .gguf path made absolute; a stored name as it is."""
    if name and ("/" in name or name.endswith(".gguf")):
        return str(Path(name).expanduser().resolve())
    return name


def run(args: argparse.Namespace) -> int:
    from heavylift.verify.pipeline import run_verify
    from heavylift.verify.report import to_markdown

    if args.out:
        from heavylift.outputs import check_writable

        check_writable(args.out, args.force, "--out")  # before the long run, not after it
    sigterm_as_interrupt()
    if args.resume:
        report = run_verify(None, args.resume, say, progress_interval_s=args.progress_interval)
    else:
        name = args.name or time.strftime("verify-%Y%m%d-%H%M%S")
        report = run_verify(build_config(args), name, say, progress_interval_s=args.progress_interval)
    text = json.dumps(asdict(report), indent=2, default=_json_default) + "\n" if args.json else to_markdown(report)
    if args.out:
        from heavylift.outputs import write_text

        write_text(args.out, text, force=args.force, flag="--out")
        say(f"verify: report written to {args.out}")
    print(text, end="")
    return 0


def _json_default(value):
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)
