"""A model + a rig + serving settings (+ optionally the user's own placement flags) -> a Plan.

A Plan holds its parts (the placement with each device's memory breakdown, the total breakdown,
the speed estimate); `plan_json` turns them into the documented `--json` object in one place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from heavylift.errors import UsageError
from heavylift.hardware.rig import Rig
from heavylift.plan.memory import ContextConfig, MemoryBreakdown
from heavylift.plan.model_source import ModelSource
from heavylift.plan.placement import DevicePlan, LayerBytes, Placement, Placer
from heavylift.plan.placement_flags import PlacementFlags
from heavylift.plan.speed import SpeedEstimate, estimate

DEFAULT_CTX_PER_SEQ = 32768


@dataclass
class Plan:
    model: str
    architecture: str
    quant: str
    hardware: str
    model_path: str  # the GGUF to serve, or the file name a predicted quantization would have
    context: ContextConfig
    file_bytes: int | None  # predicted GGUF size (None for a GGUF input: it exists)
    placement: Placement
    memory: MemoryBreakdown  # the sum over the devices
    speed: SpeedEstimate  # decode with depth_tokens in the cache
    depth_tokens: int
    decode_tps_depth0: float  # decode with an empty cache
    n_concurrent: int
    vllm_args: list[str] | None
    vllm_note: str
    power_w: float
    price_usd: float | None
    best: Plan | None = None  # when the user's flags were evaluated: the planner's own placement
    suggestions: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.placement.fits

    @property
    def devices(self) -> list[DevicePlan]:
        return self.placement.devices

    @property
    def total_bytes(self) -> int:
        return self.memory.sum()

    @property
    def decode_tps(self) -> float:
        return self.speed.decode_tps

    @property
    def prefill_tps(self) -> float:
        return self.speed.prefill_tps

    @property
    def ttft_s(self) -> float:
        return self.speed.ttft_s

    @property
    def is_evaluated(self) -> bool:
        """The placement is the user's flags, not the planner's choice."""
        return self.best is not None

    @property
    def llama_server_args(self) -> list[str]:
        from heavylift.engines.llama_args import LlamaArgs

        return LlamaArgs.from_plan(self).argv()[1:]


def ranges(layers: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5"; [] -> "-"."""
    if not layers:
        return "-"
    out, start, prev = [], layers[0], layers[0]
    for il in layers[1:] + [None]:  # type: ignore[list-item]
        if il is not None and il == prev + 1:
            prev = il
            continue
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
        if il is not None:
            start = prev = il
    return ",".join(out)


def default_context(src: ModelSource, ctx: int | None, n_parallel: int = 1, **settings) -> ContextConfig:
    """The user's --ctx as given (never shrunk); without one, 32K per sequence or the model's own maximum."""
    return ContextConfig(ctx or min(DEFAULT_CTX_PER_SEQ, src.arch.n_ctx_train) * n_parallel, n_parallel, **settings)


def make_plan(src: ModelSource, rig: Rig, cfg: ContextConfig, prompt_tokens: int | None = None,
              depth_tokens: int | None = None, n_concurrent: int = 1, flags: PlacementFlags | None = None,
              suggest: bool = True) -> Plan:
    """Plan `src` on `rig`. flags: the user's llama-server placement flags to evaluate (the
    planner's own best placement is then in `plan.best`); depth_tokens: decode with that many tokens
    in the cache (default: the full context of one sequence); n_concurrent: sequences decoded at
    once (at most --parallel; recorded for the speed model)."""
    arch = src.arch
    per_seq = cfg.ctx // cfg.n_parallel
    if per_seq > arch.n_ctx_train:
        raise UsageError(f"{src.label}: {per_seq:,} tokens per sequence exceeds the model's trained context "
                         f"{arch.n_ctx_train:,}; use --ctx {arch.n_ctx_train * cfg.n_parallel} or less")
    if per_seq < 1:
        raise UsageError(f"--ctx {cfg.ctx} is smaller than --parallel {cfg.n_parallel}")
    depth = per_seq if depth_tokens is None else depth_tokens
    if not 0 <= depth <= per_seq:
        raise UsageError(f"--depth {depth_tokens:,} is outside 0..{per_seq:,} (the context of one sequence); "
                         "lower it or raise --ctx")
    if not 1 <= n_concurrent <= cfg.n_parallel:
        raise UsageError(f"{n_concurrent} concurrent sequences need --parallel {n_concurrent} or more")
    placer = Placer(src.tensors, arch, cfg, rig)
    best = placer.best()
    given = flags is not None and flags.is_given
    start = depth_tokens or 0
    plan = _plan(src, rig, cfg, placer.evaluate(flags) if given else best, prompt_tokens, depth, n_concurrent, start)
    if given:
        plan.best = _plan(src, rig, cfg, best, prompt_tokens, depth, n_concurrent, start)
        if flags.n_gpu_layers is None and rig.gpus:
            plan.placement.notes.append("no -ngl: llama-server's default (auto) offloads every layer with "
                                        "--fit off; with --fit on it would move layers to make them fit")
    if suggest and not rig.gpus and cfg.kv_type == "f16":  # a quantized V cache requires FA
        # On CPUs flash attention trades decode speed at depth for prefill speed (plan/speed.py):
        # show the other side so the user can choose for their workload.
        alt = make_plan(src, rig, replace(cfg, flash_attn=not cfg.flash_attn), prompt_tokens, depth_tokens,
                        suggest=False)
        flag = "-fa off (--no-flash-attn)" if cfg.flash_attn else "-fa on"
        plan.assumptions.append(f"CPU trade-off: with {flag} decode would be ~{alt.decode_tps:.1f} tok/s and "
                                f"prefill ~{alt.prefill_tps:.0f} tok/s")
    if suggest and not (plan.best or plan).fits:
        from heavylift.plan.suggest import suggestions

        plan.suggestions = suggestions(src, rig, cfg, prompt_tokens, depth_tokens)
    return plan


def _plan(src: ModelSource, rig: Rig, cfg: ContextConfig, placement: Placement, prompt_tokens: int | None,
          depth: int, n_concurrent: int, prompt_start: int = 0) -> Plan:
    arch = src.arch
    layers = LayerBytes.from_tensors(src.tensors, arch.n_layer)
    prompt = prompt_tokens or min(cfg.ctx // cfg.n_parallel, 150_000)
    active = sum(t.n_elements * (arch.n_expert_used / arch.n_expert if "_exps" in t.name else 1)
                 for t in src.tensors if not t.name.startswith("token_embd") or arch.tied_embeddings)
    # the prompt (TTFT) follows the --depth tokens the user gave, else an empty cache: a default plan
    # decodes at the full context, which no prompt could follow; never past the context
    start = min(prompt_start, max(0, cfg.ctx // cfg.n_parallel - prompt))
    speed = estimate(layers, arch, cfg, rig, placement, prompt, active, depth_tokens=depth,
                     n_concurrent=n_concurrent, quant=src.quant, prompt_start=start)
    depth0 = speed.decode_tps_depth0
    memory = MemoryBreakdown()
    for d in placement.devices:
        memory = memory + d.breakdown
    vllm, vllm_note = vllm_args(src, cfg, rig)
    return Plan(
        model=src.label, architecture=arch.arch, quant=src.quant, hardware=rig.description,
        model_path=str(src.path) if src.path else f"{src.label}-{src.quant}.gguf", context=cfg,
        file_bytes=src.file_bytes, placement=placement, memory=memory, speed=speed, depth_tokens=depth,
        decode_tps_depth0=depth0, n_concurrent=n_concurrent, vllm_args=vllm, vllm_note=vllm_note,
        power_w=rig.tdp_w, price_usd=rig.price_usd,
        assumptions=[placement.margin_note, *speed.assumptions, *rig.assumptions],
        sources=[f"architecture: {arch.source}",
                 "weights: " + ("GGUF tensor table (exact)" if src.path else
                                f"per-tensor types from llama-quant.cpp rules for {src.quant} (plan/quant_rules.py)"),
                 "placement: llama.cpp's layer and tensor-override rules (plan/placement.py, llama-model.cpp "
                 "load_tensors)",
                 f"RAM: {rig.ram_source}"] + [f"{g.name}: {g.source}" for g in {g.key: g for g in rig.gpus}.values()]
                + src.notes)


def _device_json(d: DevicePlan) -> dict:
    return {"name": d.name, "capacity_bytes": d.capacity_bytes, "usable_bytes": d.usable_bytes,
            "used_bytes": d.used_bytes, "breakdown": asdict(d.breakdown), "layers": ranges(d.layers),
            "output_layer": d.has_output, "expert_layers": ranges(d.expert_layers),
            "expert_layers_in_ram": ranges(d.expert_layers) if d.kind == "cpu" else "-"}


def _placement_json(p: Plan) -> dict:
    flags = p.placement.flags
    return {"n_gpu_layers": flags.n_gpu_layers if flags.n_gpu_layers is not None else p.placement.n_gpu_layers,
            "n_gpu_layers_offloaded": p.placement.n_gpu_layers, "n_cpu_moe": flags.n_cpu_moe,
            "tensor_split": [int(x) if float(x).is_integer() else x for x in flags.tensor_split or ()],
            "tensor_overrides": [v for f, v in flags.override_args if f == "-ot"],
            "placement_notes": list(p.placement.notes)}


def plan_json(p: Plan) -> dict:
    """The `--json` object (README schema table): the parts flattened to the documented keys."""
    m, s, cfg = p.memory, p.speed, p.context
    out = {"model": p.model, "architecture": p.architecture, "quant": p.quant, "hardware": p.hardware,
           "ctx": cfg.ctx, "n_parallel": cfg.n_parallel, "kv_type": cfg.kv_type, **asdict(m),
           "total_bytes": m.sum(), "file_bytes": p.file_bytes,
           "devices": [_device_json(d) for d in p.devices], "fits": p.fits, **_placement_json(p),
           "placement_source": "flags" if p.is_evaluated else "planner",
           "decode_tps": s.decode_tps, "decode_tps_depth0": p.decode_tps_depth0, "depth_tokens": p.depth_tokens,
           "n_concurrent": p.n_concurrent, "roofline_decode_tps": s.roofline_decode_tps,
           "prefill_tps": s.prefill_tps, "ttft_s": s.ttft_s, "prompt_tokens": s.prompt_tokens,
           "prompt_start_tokens": s.prompt_start_tokens,
           "bytes_per_token": s.bytes_per_token, "llama_server_args": p.llama_server_args,
           "vllm_args": p.vllm_args, "vllm_note": p.vllm_note, "power_w": p.power_w, "price_usd": p.price_usd,
           "best_placement": None, "suggestions": p.suggestions, "assumptions": p.assumptions,
           "sources": p.sources}
    if p.best:
        b = p.best
        out["best_placement"] = {
            "fits": b.fits, **_placement_json(b), "total_bytes": b.total_bytes, "decode_tps": b.decode_tps,
            "decode_tps_depth0": b.decode_tps_depth0, "prefill_tps": b.prefill_tps, "ttft_s": b.ttft_s,
            "llama_server_args": b.llama_server_args,
            "devices": [{"name": d.name, "used_bytes": d.used_bytes, "usable_bytes": d.usable_bytes}
                        for d in b.devices]}
    return out


def vllm_args(src: ModelSource, cfg: ContextConfig, rig: Rig) -> tuple[list[str] | None, str]:
    """vLLM serves the Hugging Face weights (BF16 here) entirely from GPU memory."""
    if not src.hf_repo:
        return None, "vLLM needs the Hugging Face repository (GGUF support in vLLM is experimental)"
    if not rig.gpus or rig.is_unified:
        return None, "vLLM needs NVIDIA GPUs"
    n = len(rig.gpus)
    weights = 2 * sum(t.n_elements for t in src.tensors)
    budget = 0.90 * sum(g.memory_bytes for g in rig.gpus)
    if weights > budget * 0.9:
        return None, (f"BF16 weights {weights / 2**30:.0f} GiB do not fit in 90% of {n} GPUs' memory "
                      f"({budget / 2**30:.0f} GiB); an AWQ/GPTQ checkpoint would be needed")
    tp = n if src.arch.n_head % n == 0 and (n & (n - 1)) == 0 else 1
    pp = n // tp
    from heavylift.engines.vllm_args import VllmArgs, kv_cache_dtype

    args = VllmArgs(src.hf_repo, tensor_parallel_size=tp, pipeline_parallel_size=pp if pp > 1 else None,
                    max_model_len=cfg.ctx // cfg.n_parallel, gpu_memory_utilization=0.90, max_num_seqs=cfg.n_parallel,
                    kv_cache_dtype=kv_cache_dtype(cfg.kv_type) if cfg.kv_type in ("q8_0",) else None)
    return args.serve_argv(), "BF16 weights, KV in the remaining GPU memory"
