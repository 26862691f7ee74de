"""`heavylift run-batch -i in.jsonl -o out.jsonl`: an OpenAI batch file run offline, durably."""

from __future__ import annotations

import argparse
from pathlib import Path

from heavylift.cli.common import (
    add_ctx_option,
    add_parallel_option,
    positive_float,
    positive_int,
    say,
    sigterm_as_interrupt,
)


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("run-batch", help=summary, description=
                       "Run an OpenAI Batch API input file (JSONL of {custom_id, method, url, body}) offline, "
                       "as vLLM's run-batch does, and write one output line per request in input order "
                       "({id, custom_id, response {status_code, request_id, body}, error}). The same durable "
                       "machinery as `heavylift serve`'s /v1/batches: requests sharing a prompt prefix run back "
                       "to back on one slot; interrupted, the same command resumes without redoing anything. "
                       "Anything after a bare `--` is passed to llama-server.")
    p.add_argument("-i", "--input", type=Path, required=True, metavar="IN.jsonl", help="the batch input file")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.jsonl", help="where to write the results")
    p.add_argument("--model", default="default", help="stored model name or .gguf path (default: the default model)")
    add_ctx_option(p, "context size in tokens, shared by all slots (default 8192)", default=8192)
    add_parallel_option(p, "engine slots: requests run at once (default 2)", default=2)
    p.add_argument("--threads", type=positive_int, help="CPU threads for the engine (default: llama.cpp's choice)")
    p.add_argument("--endpoint", help="run against this OpenAI-compatible base URL instead of starting an engine")
    p.add_argument("--api-key", help="bearer key for --endpoint (else HEAVYLIFT_API_KEY, then OPENAI_API_KEY)")
    p.add_argument("--kv-save-min-tokens", type=positive_int, default=1024,
                   help="save a prompt prefix's KV to disk when it is at least this long (default 1024)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--json", action="store_true", help="print the batch's outcome as JSON instead of the output path")
    p.add_argument("--progress-interval", type=positive_float, help="seconds between progress lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heavylift.engines.credentials import client_endpoint
    from heavylift.gateway.offline import RunBatchOptions, run_batch

    options = RunBatchOptions(input_path=args.input, output_path=args.output, model=args.model, ctx=args.ctx,
                              parallel=args.parallel, threads=args.threads, endpoint=client_endpoint(args.endpoint),
                              api_key=args.api_key, extra_args=list(args.extra_args),
                              kv_save_min_tokens=args.kv_save_min_tokens, is_force=args.force,
                              progress_interval_s=args.progress_interval)
    sigterm_as_interrupt()
    try:
        result = run_batch(options, say)
    except KeyboardInterrupt:
        say("run-batch: interrupted; completed requests are saved: run the same command again to finish")
        return 130
    say(f"run-batch: {result.batch_id} {result.status}: {result.num_completed} ok, {result.num_failed} failed of "
        f"{result.num_requests}; {result.cached_tokens} of {result.prompt_tokens} prompt tokens from cache")
    say(f"run-batch: results in {result.output_path}")
    if args.json:
        import json
        from dataclasses import asdict

        print(json.dumps({**asdict(result), "output_path": str(result.output_path)}, indent=2))
    else:
        print(result.output_path)
    return 0
