"""`heavylift ask`: one streamed answer, from a running server, an endpoint, or an ephemeral engine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heavylift.cli.common import (
    add_ctx_option,
    add_engine_options,
    engine_flag_args,
    positive_float,
    positive_int,
    say,
)
from heavylift.engines.base import Engine
from heavylift.engines.client import ChatResult
from heavylift.engines.credentials import client_api_key, client_endpoint
from heavylift.engines.launch import local_engine
from heavylift.engines.remote import RemoteEngine
from heavylift.engines.server_registry import running_servers
from heavylift.errors import UsageError
from heavylift.models.model_store import ALIASES

DEFAULT_EPHEMERAL_CTX = 8192


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("ask", help=summary, description=
                       "Ask one question, optionally about files, and stream the answer. Uses --endpoint "
                       "if given, else a running `heavylift serve` of the model, else starts an engine "
                       "just for this question.")
    p.add_argument("question", help="the question")
    p.add_argument("--file", action="append", type=Path, default=[], metavar="DOC",
                   help="a document to ask about (repeatable)")
    p.add_argument("--model", default="default", help="stored model name or .gguf path (default: the default model)")
    p.add_argument("--endpoint", help="an OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1 (else OPENAI_BASE_URL)")
    p.add_argument("--api-key", help="bearer key for --endpoint (else HEAVYLIFT_API_KEY, then OPENAI_API_KEY)")
    add_ctx_option(p, f"context size for an ephemeral engine (default {DEFAULT_EPHEMERAL_CTX})")
    add_engine_options(p)
    p.add_argument("--max-tokens", type=positive_int, default=512, help="longest answer in tokens (default 512)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0: deterministic)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--timeout", type=positive_float, default=600.0, help="seconds to wait for the answer")
    p.add_argument("--json", action="store_true", help="print the answer and its accounting as one JSON object "
                   "at the end instead of streaming the text")
    p.set_defaults(func=run)


def build_messages(question: str, files: list[Path]) -> list[dict[str, str]]:
    from heavylift.analyze.ingest import load_for_prompt

    parts = [load_for_prompt(path) for path in files]
    content = "\n\n".join([*parts, f"Question: {question}"]) if parts else question
    return [{"role": "user", "content": content}]


def pick_engine(args: argparse.Namespace) -> tuple[Engine, str]:
    endpoint = client_endpoint(args.endpoint)  # --endpoint, else OPENAI_BASE_URL
    if endpoint:
        return RemoteEngine(endpoint, client_api_key(args.api_key)), f"endpoint {endpoint}"
    model = ALIASES.get(args.model, args.model)
    for server in running_servers():
        if server.model == model and not server.has_api_key:
            engine = RemoteEngine(server.base_url)
            if engine.client.is_healthy():
                return engine, f"running heavylift serve at {server.base_url}"
    engine = local_engine(args.model, ctx_size=args.ctx or DEFAULT_EPHEMERAL_CTX, extra_args=engine_flag_args(args))
    return engine, f"ephemeral engine for {model}"


def run(args: argparse.Namespace) -> int:
    messages = build_messages(args.question, args.file)
    engine, where = pick_engine(args)
    say(f"ask: using {where}")
    with engine:
        client = engine.client
        client.http.timeout = args.timeout
        if engine.capabilities.tokenize and args.file:
            _check_fits(engine, messages, args.max_tokens)
        result: ChatResult | None = None
        for piece in client.chat_stream(messages, max_tokens=args.max_tokens,
                                        temperature=args.temperature, seed=args.seed):
            if isinstance(piece, ChatResult):
                result = piece
            elif not args.json:
                sys.stdout.write(piece)
                sys.stdout.flush()
        if not args.json:
            sys.stdout.write("\n")
    if args.json and result:
        import json

        print(json.dumps({"answer": result.text, "model": result.model, "finish_reason": result.finish_reason,
                          "prompt_tokens": result.prompt_tokens, "cached_tokens": result.cached_tokens,
                          "completion_tokens": result.completion_tokens, "prefill_tps": result.prompt_tps,
                          "decode_tps": result.decode_tps, "engine": where}, indent=2))
    if result:
        rate = lambda v: f"{v:.1f} tok/s" if v else "unknown"  # noqa: E731
        say(f"ask: {result.prompt_tokens} prompt tokens ({result.cached_tokens} cached), "
            f"prefill {rate(result.prompt_tps)}, {result.completion_tokens} generated at {rate(result.decode_tps)}")
    return 0


def _check_fits(engine: Engine, messages: list[dict[str, str]], max_tokens: int) -> None:
    client = engine.client
    prompt = client.apply_template(messages)
    n_prompt = len(client.tokenize(prompt, add_special=True))
    props = client.props()
    n_ctx = props.get("default_generation_settings", {}).get("n_ctx") or props.get("n_ctx")
    if n_ctx and n_prompt + max_tokens > n_ctx:
        raise UsageError(f"the prompt is {n_prompt} tokens plus up to {max_tokens} to answer, but the context "
                         f"per slot is {n_ctx}; use --ctx {n_prompt + max_tokens} (or more) or a shorter document")
