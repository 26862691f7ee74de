"""What a bench run talks to: a llama-server it starts itself (as `serve` does: the planned flags or
the user's, supervised), or any OpenAI-compatible endpoint. Either way an `Engine` from engines/."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from heavylift.bench.sweep import BenchSettings
from heavylift.engines.base import Engine
from heavylift.engines.launch import local_engine
from heavylift.engines.llama_args import LlamaArgs
from heavylift.engines.llama_server import is_loopback
from heavylift.engines.supervisor import Supervisor
from heavylift.errors import EndpointError, UsageError
from heavylift.models.model_store import ModelStore


@dataclass
class Target:
    engine: Engine
    label: str  # the model name given, or the endpoint URL
    model: str  # model file name, or the endpoint's model id
    model_path: Path | None  # a local GGUF: predictions and llama-bench need one
    quant: str | None
    engine_name: str  # llama-server | remote
    engine_version: str | None
    engine_backend: str | None
    engine_args: list[str]  # the flags it runs with (own engine: the whole command line)
    placement: dict
    ctx_per_slot: int | None
    num_slots: int | None
    is_llama: bool  # llama-server's extras: token-id prompts, id_slot, cache_prompt, timings, samplers
    is_local: bool  # runs on this machine (the measured machine is its hardware)
    supervisor: Supervisor | None = None
    notes: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.supervisor:
            self.supervisor.stop()
        else:
            self.engine.stop()

    def wait_healthy(self, timeout_s: float) -> bool:
        """After a failed request: is it (back) up? Our own engine gets the supervisor's restarts."""
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.supervisor and not self.supervisor.is_alive:
                return False
            if self.engine.is_healthy():
                return True
            time.sleep(0.5)
        return False


def context_needed(settings: BenchSettings) -> int:
    """Cells per slot: the longest depth + prompt + generation, one warm-up token of slack, padded
    to 256 like llama.cpp pads the cache (llama-context.cpp: GGML_PAD(n_ctx, 256))."""
    return 256 * math.ceil((settings.tokens_per_sequence + 1) / 256)


@dataclass
class OwnEngine:
    """A model to serve ourselves, checked and planned (nothing started yet)."""

    name: str  # as the user gave it
    stored_name: str
    path: Path
    quant: str
    ctx_per_slot: int
    num_slots: int
    user_args: list[str]  # the user's flags after `--` (they win over the template's)
    template: LlamaArgs | None  # the planned settings (placement, batches, KV type, flash attention)
    how: str
    placement: dict


def prepare_own(model: str, settings: BenchSettings, user_args: list[str], ctx: int | None) -> OwnEngine:
    """Refuse what cannot run (a sweep longer than the context), and plan the engine flags."""
    from heavylift.plan.model_source import resolve

    stored = ModelStore().resolve(model)
    src = resolve(str(stored.path), None)
    n_slots = max(settings.concurrency)
    need = settings.tokens_per_sequence
    if need > src.arch.n_ctx_train:
        raise UsageError(_too_long(settings, f"{stored.name}'s trained context of {src.arch.n_ctx_train:,} tokens"))
    per_slot = min(context_needed(settings), src.arch.n_ctx_train)
    if ctx is not None:
        if ctx // n_slots < need:
            raise UsageError(_too_long(settings, f"--ctx {ctx:,} over {n_slots} slot(s) = {ctx // n_slots:,} tokens per slot"))
        per_slot = ctx // n_slots
    placement: dict = {}
    template = None
    if user_args:
        how = "your flags after --"
        parsed, _ = LlamaArgs.parse(user_args)
        if parsed.ctx_size:  # the user's -c/-np win (engines/llama_args.py): check the sweep against them
            slots = parsed.num_parallel or n_slots
            if parsed.ctx_size // slots < need:
                raise UsageError(_too_long(settings, f"-c {parsed.ctx_size:,} over {slots} slot(s) after `--` = "
                                                     f"{parsed.ctx_size // slots:,} tokens per slot"))
    else:
        from heavylift.plan.planner import plan_json
        from heavylift.plan.serve_plan import plan_for_serve

        served = plan_for_serve(str(stored.path), per_slot * n_slots, n_slots, "local")
        template = LlamaArgs.from_plan(served.expected)  # without serve's debug log level: it slows every token
        j = plan_json(served.expected)
        placement = {k: j.get(k) for k in ("n_gpu_layers", "n_gpu_layers_offloaded", "n_cpu_moe", "tensor_split",
                                           "tensor_overrides")}
        placement["devices"] = [f"{d['name']}: layers {d['layers']}" for d in j["devices"]]
        how = "the planned flags (heavylift plan --hw local)" + (f"; {served.note}" if served.note else "")
    return OwnEngine(model, stored.name, stored.path, src.quant, per_slot, n_slots, list(user_args), template, how,
                     placement)


def start_own(own: OwnEngine, threads: int, say) -> Target:
    """Start llama-server as `serve` does (engines.launch + the supervisor)."""
    from heavylift.setup.engine_build import current_engine

    engine = local_engine(own.name, ctx_size=own.ctx_per_slot * own.num_slots, num_parallel=own.num_slots,
                          extra_args=own.user_args, num_threads=threads, settings=own.template)
    supervisor = Supervisor(engine, on_event=lambda msg: say(f"bench: {msg}"))
    build = current_engine()
    say(f"bench: starting llama-server with {own.how}: {' '.join(engine.command[1:])}")
    supervisor.start()
    say(f"bench: engine ready in {engine.ready_s:.1f}s (log {engine.config.log_path})")
    return Target(engine=engine, label=own.name, model=own.stored_name, model_path=own.path, quant=own.quant,
                  engine_name="llama-server", engine_version=build.version, engine_backend=build.backend,
                  engine_args=engine.command[1:], placement=own.placement, ctx_per_slot=own.ctx_per_slot,
                  num_slots=own.num_slots, is_llama=True, is_local=True, supervisor=supervisor,
                  notes=[f"engine flags: {own.how}"])


def connect_endpoint(url: str, settings: BenchSettings, api_key: str | None, model: str | None, say) -> Target:
    """Any OpenAI-compatible endpoint; a llama-server behind it is recognised by /props."""
    from heavylift.engines.registry import create_engine

    if not urlparse(url).scheme.startswith("http"):
        raise UsageError(f"--endpoint {url!r} is not an http(s) URL; e.g. http://127.0.0.1:8080/v1")
    base = url.rstrip("/")
    engine = create_engine("remote", base_url=base[: -len("/v1")] if base.endswith("/v1") else base, api_key=api_key)
    engine.start()
    client = engine.client
    props: dict = {}
    try:
        props = client.props()
    except EndpointError:
        pass
    is_llama = bool(props)
    served = (client.models() or ["unknown"])[0]
    ctx_per_slot = (props.get("default_generation_settings") or {}).get("n_ctx")
    num_slots = props.get("total_slots")
    notes = []
    need = settings.tokens_per_sequence
    if ctx_per_slot and need > ctx_per_slot:
        raise UsageError(_too_long(settings, f"the endpoint's context of {ctx_per_slot:,} tokens per slot"))
    if num_slots and max(settings.concurrency) > num_slots:
        notes.append(f"the endpoint has {num_slots} slot(s): requests beyond that wait in its queue, and the "
                     "figures at higher concurrency include the wait")
    model_path = None
    quant = None
    if model:
        stored = ModelStore().resolve(model)
        model_path = stored.path
    elif props.get("model_path") and Path(props["model_path"]).is_file():
        model_path = Path(props["model_path"])
    if model_path:
        from heavylift.plan.model_source import resolve

        quant = resolve(str(model_path), None).quant
    host = urlparse(url).hostname or ""
    version = props.get("build_info") if is_llama else None
    say(f"bench: endpoint {engine.openai_base_url} serves {served}"
        + (f" (llama-server {version}, {num_slots} slot(s) of {ctx_per_slot:,} tokens)" if is_llama else ""))
    return Target(engine=engine, label=url, model=served, model_path=model_path, quant=quant, engine_name="remote",
                  engine_version=version, engine_backend=None, engine_args=[], placement={}, ctx_per_slot=ctx_per_slot,
                  num_slots=num_slots, is_llama=is_llama, is_local=is_loopback(host), notes=notes)


def _too_long(settings: BenchSettings, limit: str) -> str:
    worst = max(settings.configs(), key=lambda c: c.tokens_per_sequence)
    return (f"prompt {worst.prompt_tokens:,} + depth {worst.depth:,} + gen {worst.gen_tokens:,} = "
            f"{worst.tokens_per_sequence:,} tokens exceeds {limit}; use shorter --prompt-lengths / --depths / --gen")
