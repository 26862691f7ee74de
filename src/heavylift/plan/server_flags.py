"""What to plan: heavylift's own plan options merged with llama-server flags pasted after `--`.

`heavylift plan MODEL --hw ... -- -ngl 99 -ot exps=CPU -c 32768 -np 2 -fa on -ctk q8_0 -t 8` plans
exactly that command line. A setting given both ways must agree; flags the plan does not model
are listed (they reach llama-server unchanged when the user serves with them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from heavylift.engines.llama_args import LlamaArgs, groups_set_by
from heavylift.errors import UsageError
from heavylift.plan.placement_flags import PlacementFlags

_PLACEMENT = {"gpu_layers", "tensor_split", "overrides"}


@dataclass
class PlanRequest:
    models: list[str]
    ctx: int | None = None
    parallel: int | None = None
    kv_type: str | None = None
    n_batch: int | None = None
    n_ubatch: int | None = None
    flash_attn: bool | None = None
    kv_unified: bool | None = None
    flags: PlacementFlags = field(default_factory=PlacementFlags)
    n_threads: int | None = None  # -t after `--`: the CPU threads (Rig.n_threads); None = llama.cpp's default
    ignored: list[str] = field(default_factory=list)  # notes on pasted flags the plan does not model

    @property
    def settings(self) -> dict:
        """ContextConfig keyword arguments for what was given (the rest: its defaults)."""
        given = {"kv_type": self.kv_type, "n_batch": self.n_batch, "n_ubatch": self.n_ubatch,
                 "flash_attn": self.flash_attn, "kv_unified": self.kv_unified}
        return {k: v for k, v in given.items() if v is not None}

    @classmethod
    def from_namespace(cls, args) -> PlanRequest:
        """From `heavylift plan`'s parsed options."""
        # (flag, value) pairs in command-line order (plain strings are -ot values)
        overrides = tuple(x if isinstance(x, tuple) else ("-ot", str(x)) for x in args.placement_overrides or [])
        flags = PlacementFlags(_gpu_layers(args.n_gpu_layers), _split(args.tensor_split), overrides)
        flash_attn = {"on": True, "off": False}.get(args.flash_attn or "")  # -fa auto: the plan's default
        return cls(list(args.models), args.ctx, args.parallel, args.kv_type, args.batch, args.ubatch,
                   flash_attn, None, flags)


def merge_flags(req: PlanRequest, extra: list[str]) -> PlanRequest:
    """Add the llama-server flags given after `--`; a setting given both ways must agree."""
    if not extra:
        req.parallel = req.parallel or 1
        return req
    parsed, other = LlamaArgs.parse(extra)
    groups = groups_set_by(extra)
    if groups & _PLACEMENT and req.flags.is_given:
        raise UsageError("placement flags (-ngl, -ts, -ot, --n-cpu-moe) given both before and after `--`; "
                         "give them in one place")
    if "model" in groups:
        if req.models and parsed.model_path not in req.models:
            raise UsageError(f"two models: {req.models[0]} and -m {parsed.model_path} after `--`; give one")
        req.models = req.models or [parsed.model_path]
    pairs = [("ctx", "ctx", "--ctx", parsed.ctx_size), ("parallel", "parallel", "--parallel", parsed.num_parallel),
             ("batch", "n_batch", "--batch", parsed.n_batch), ("ubatch", "n_ubatch", "--ubatch", parsed.n_ubatch),
             ("flash_attn", "flash_attn", "-fa", parsed.flash_attn),
             ("kv_unified", "kv_unified", "-kvu", parsed.is_kv_unified or None)]
    for group, attr, ours, theirs in pairs:
        if group in groups and theirs is not None:
            mine = getattr(req, attr)
            if mine is not None and mine != theirs:
                raise UsageError(f"{ours} {mine} and {' / '.join(SPELLING[group])} {theirs} after `--` disagree; "
                                 "give it once")
            setattr(req, attr, theirs)
    if "threads" in groups and parsed.num_threads is not None and parsed.num_threads > 0:
        req.n_threads = parsed.num_threads  # -t -1 (or 0) is llama.cpp's default
    if {"cache_k", "cache_v"} & groups:
        if req.kv_type and req.kv_type != parsed.kv_type:
            raise UsageError(f"--kv-type {req.kv_type} and -ctk/-ctv {parsed.kv_type} after `--` disagree; give it once")
        req.kv_type = parsed.kv_type
    if groups & _PLACEMENT:
        ngl = None if parsed.n_gpu_layers == -1 else parsed.n_gpu_layers  # "auto": as if not given
        req.flags = PlacementFlags(ngl, _split(",".join(parsed.tensor_split) or None),
                                   tuple(parsed.tensor_overrides))
    req.parallel = req.parallel or 1
    if other:
        req.ignored.append(f"not modelled by the plan (llama-server would still apply them): {' '.join(other)}")
    return req


SPELLING = {"ctx": ("-c",), "parallel": ("-np",), "batch": ("-b",), "ubatch": ("-ub",), "flash_attn": ("-fa",),
            "kv_unified": ("-kvu",)}


def _gpu_layers(value: str | None) -> int | None:
    if value is None:
        return None
    low = value.strip().lower()
    if low in ("auto", "all", "-1", "-2"):
        return None if low in ("auto", "-1") else -2
    try:
        n = int(low)
    except ValueError:
        raise UsageError(f"-ngl {value!r}: give a number of layers, 'all' or 'auto'") from None
    if n < 0:
        raise UsageError(f"-ngl {value!r}: give 0 or more layers, 'all' or 'auto'")
    return n


def _split(value: str | None) -> tuple[float, ...] | None:
    if value is None:
        return None
    import re

    parts = [x for x in re.split(r"[,/]+", value.strip()) if x]
    try:
        shares = tuple(float(x) for x in parts)
    except ValueError:
        raise UsageError(f"--tensor-split {value!r}: give numbers separated by commas, e.g. 3,1") from None
    if not shares:
        raise UsageError(f"--tensor-split {value!r}: give one share per GPU, e.g. 3,1")
    return shares
