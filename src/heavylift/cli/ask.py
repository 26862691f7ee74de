"""`heavylift ask`: one streamed answer, from a running server, an endpoint, or an ephemeral engine."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
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
from heavylift.errors import EndpointError, UsageError

DEFAULT_EPHEMERAL_CTX = 8192


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("ask", help=summary, description=
                       "Ask one question, optionally about files, and stream the answer. Uses --endpoint "
                       "if given, else a running `heavylift serve` of the model (a keyed one with --api-key), "
                       "else starts an engine just for this question.")
    p.add_argument("question", help="the question")
    p.add_argument("--file", action="append", type=Path, default=[], metavar="DOC",
                   help="a document to ask about (repeatable)")
    p.add_argument("--model", default="default", help="stored model name or .gguf path (default: the default model)")
    p.add_argument("--endpoint", help="an OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1 (else OPENAI_BASE_URL)")
    p.add_argument("--api-key", help="bearer key for --endpoint or a keyed running serve (else HEAVYLIFT_API_KEY, "
                   "then OPENAI_API_KEY)")
    add_ctx_option(p, "total context (as llama.cpp's -c) for an engine ask starts "
                   f"(default {DEFAULT_EPHEMERAL_CTX}; a running serve or an endpoint keeps its own)")
    add_engine_options(p)
    p.add_argument("--max-tokens", type=positive_int, default=512, help="longest answer in tokens (default 512)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0: deterministic)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--timeout", type=positive_float, metavar="SECONDS",
                   help="seconds to wait for the answer to start (default: the larger of 600 and 3x the time "
                        "the plan predicts for this model and prompt on this machine)")
    p.add_argument("--json", action="store_true", help="print the answer and its accounting as one JSON object "
                   "at the end instead of streaming the text")
    p.set_defaults(func=run)


@dataclass
class Target:
    engine: Engine
    where: str
    kind: str  # endpoint | serve | ephemeral
    model_path: Path | None = None  # set for an engine ask starts (the plan sizes its timeout)
    ctx: int | None = None


def build_messages(question: str, files: list[Path]) -> list[dict[str, str]]:
    from heavylift.analyze.ingest import load_for_prompt

    parts = [load_for_prompt(path) for path in files]
    content = "\n\n".join([*parts, f"Question: {question}"]) if parts else question
    return [{"role": "user", "content": content}]


def pick_engine(args: argparse.Namespace) -> Target:
    from heavylift.engines.remote import RemoteEngine
    from heavylift.engines.server_registry import running_servers
    from heavylift.models.model_store import ALIASES

    endpoint = client_endpoint(args.endpoint)  # --endpoint, else OPENAI_BASE_URL
    if endpoint:
        engine = RemoteEngine(endpoint, client_api_key(args.api_key))
        return Target(engine, f"endpoint {engine.openai_base_url}", "endpoint")
    model = ALIASES.get(args.model, args.model)
    key = client_api_key(args.api_key)
    locked_out = []
    for server in running_servers():
        if server.model != model:
            continue
        if server.has_api_key and not key:
            locked_out.append(server.base_url)
            continue
        engine = RemoteEngine(server.base_url, key if server.has_api_key else None)
        if engine.client.is_healthy() and (not server.has_api_key or _key_accepted(engine)):
            if args.ctx:
                say(f"ask: --ctx {args.ctx} does not apply: the running heavylift serve at {engine.openai_base_url} "
                    f"decides the context ({server.ctx_size} tokens, {server.num_parallel} slot(s)); restart it "
                    "with `heavylift serve --ctx N`, or point --endpoint elsewhere")
            return Target(engine, f"running heavylift serve at {engine.openai_base_url}", "serve")
    if locked_out:
        say(f"ask: a running serve of {model} at {locked_out[0]}/v1 needs a key; pass --api-key to use it "
            "instead of starting another engine")
    return _ephemeral(args, model)


def _ephemeral(args: argparse.Namespace, model: str) -> Target:
    from heavylift.engines.launch import local_engine
    from heavylift.models.gguf_file import GGUFFile
    from heavylift.models.model_store import ModelStore

    stored = ModelStore().resolve(args.model)  # unknown model: exit 2 before anything starts
    ctx = args.ctx or DEFAULT_EPHEMERAL_CTX
    gguf = GGUFFile.read(stored.path)
    n_train = gguf.get(f"{gguf.architecture}.context_length")
    if n_train and ctx > n_train:
        say(f"ask: --ctx {ctx} is more than {stored.name} was trained on ({n_train}); llama-server caps the "
            f"slot there, so the engine gets {n_train}")
        ctx = int(n_train)
    engine = local_engine(args.model, ctx_size=ctx, extra_args=engine_flag_args(args))
    return Target(engine, f"ephemeral engine for {model}", "ephemeral", stored.path, ctx)


def _key_accepted(engine: Engine) -> bool:
    try:
        engine.client.models()
        return True
    except EndpointError:
        return False


def run(args: argparse.Namespace) -> int:
    messages = build_messages(args.question, args.file)
    target = pick_engine(args)
    say(f"ask: using {target.where}")
    with target.engine as engine:
        client = engine.client
        n_prompt = _check_fits(target, messages, args.max_tokens) if engine.capabilities.tokenize else None
        timeout = args.timeout or _default_timeout(target, n_prompt, args.max_tokens)
        client.set_timeout(timeout)
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
                          "decode_tps": result.decode_tps, "engine": target.where}, indent=2))
    if result:
        rate = lambda v: f"{v:.1f} tok/s" if v else "unknown"  # noqa: E731
        say(f"ask: {result.prompt_tokens} prompt tokens ({result.cached_tokens} cached), "
            f"prefill {rate(result.prompt_tps)}, {result.completion_tokens} generated at {rate(result.decode_tps)}"
            + (" (cut at --max-tokens)" if result.finish_reason == "length" else ""))
    return 0


def _default_timeout(target: Target, n_prompt: int | None, max_tokens: int) -> float:
    from heavylift.analyze.request_timeout import predict
    from heavylift.engines.client import DEFAULT_TIMEOUT_S

    if target.model_path is None:
        return DEFAULT_TIMEOUT_S
    prediction = predict(target.model_path, target.ctx or DEFAULT_EPHEMERAL_CTX, 1, n_prompt or 1, max_tokens)
    return prediction.timeout_s if prediction else DEFAULT_TIMEOUT_S


def _check_fits(target: Target, messages: list[dict[str, str]], max_tokens: int) -> int:
    """The prompt's tokens; refuses (never truncates) a prompt the context cannot hold, with advice
    that fits where the context comes from."""
    client = target.engine.client
    n_prompt = client.count_chat_tokens(messages)
    n_ctx = client.context_tokens()
    if not n_ctx or n_prompt + max_tokens <= n_ctx:
        return n_prompt
    need = n_prompt + max_tokens
    head = f"the prompt is {n_prompt} tokens plus up to {max_tokens} to answer, but the context per slot is {n_ctx}"
    shorter = f"lower --max-tokens to {n_ctx - n_prompt}, " if n_prompt < n_ctx else ""
    if target.kind == "serve":
        raise UsageError(f"{head} (the running serve decides it); {shorter}restart it with "
                         f"`heavylift serve --ctx {need}` (per slot x --parallel), or use a shorter document")
    if target.kind == "endpoint":
        raise UsageError(f"{head} (the endpoint decides it); {shorter}give the server more context, or use a "
                         "shorter document")
    n_train = (client.get_json("/v1/models").get("data") or [{}])[0].get("meta", {}).get("n_ctx_train")
    if n_train and need > n_train:
        raise UsageError(f"{head}, and the model was trained on {n_train} tokens, so more context cannot help; "
                         f"{shorter}use a shorter document (or `heavylift analyze --split`), or a model with a "
                         "longer context")
    raise UsageError(f"{head}; use --ctx {need} (or more), {shorter}or a shorter document")
