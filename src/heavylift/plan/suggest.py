"""What would fit instead when a plan does not: each candidate is planned, never guessed.

The highest quantization that fits (every file type llama-quantize makes, IQ types included), the
largest context, a q8_0 KV cache, and the smallest hardware change (the next common RAM size, or
more GPUs of the same kind). Nothing is applied for the user; a category in which nothing fits
says so.
"""

from __future__ import annotations

from dataclasses import replace

from heavylift.hardware.rig import Rig
from heavylift.plan.memory import ContextConfig
from heavylift.plan.model_source import ModelSource, _from_gguf, _predicted
from heavylift.plan.quant_rules import SUPPORTED_FTYPES, TensorSpec

RAM_SIZES_GIB = [8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096]  # DIMM kits sold
MAX_EXTRA_GPUS = 7
CTX_STEP = 1024  # suggested contexts are whole multiples of this per sequence


def suggestions(src: ModelSource, rig: Rig, cfg: ContextConfig, prompt_tokens: int | None = None,
                depth_tokens: int | None = None) -> list[str]:
    from heavylift.plan.planner import make_plan

    def plan(s: ModelSource = src, r: Rig = rig, c: ContextConfig = cfg):
        depth = None if depth_tokens is None else min(depth_tokens, c.ctx // c.n_parallel)
        return make_plan(s, r, c, prompt_tokens and min(prompt_tokens, c.ctx // c.n_parallel), depth, suggest=False)

    out = [_quant(src, plan), _context(cfg, plan)]
    if cfg.kv_type == "f16":
        # A quantized V cache needs flash attention in llama.cpp, so the alternative turns it on.
        p = plan(c=replace(cfg, kv_type="q8_0", flash_attn=True))
        if p.fits:
            out.append(_say("KV cache q8_0 (--kv-type q8_0)", p))
    out += _hardware(rig, plan)
    return [s for s in out if s]


def _quant(src: ModelSource, plan) -> str:
    """The largest file type below the current one that fits (quant_rules' list of llama-quantize types)."""
    now = sum(t.n_bytes for t in src.tensors)
    candidates = []
    for q in SUPPORTED_FTYPES:
        if q == src.quant:
            continue
        alt = _from_gguf(src.path, src.label, q) if src.path else _predicted(src.arch, src.label, q, src.hf_repo)
        weights = sum(t.n_bytes for t in alt.tensors)
        if weights < now:
            candidates.append((weights, q, alt))
    smallest = None
    for _, q, alt in sorted(candidates, key=lambda c: -c[0]):
        p = plan(s=alt)
        if p.fits:
            note = "; needs an importance matrix: llama-quantize --imatrix" if needs_imatrix(alt.tensors, q) else ""
            size = f", file {p.file_bytes / 1e9:.1f} GB" if p.file_bytes else ""
            return _say(f"quantization {q} (--quant {q}{size}{note})", p)
        smallest = (q, p)
    if smallest:
        q, p = smallest
        return f"quantization: none fits, not even {q} (total {p.total_bytes / 2**30:.1f} GiB)"
    return ""


_IMATRIX_TYPES = {"IQ3_XXS", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_M", "IQ1_S"}


def needs_imatrix(tensors: list[TensorSpec], ftype: str) -> bool:
    """llama-quant.cpp tensor_requires_imatrix: llama-quantize refuses these tensor types without
    an importance matrix (token_embd and output.weight excepted; Q2_K only in a Q2_K_S file)."""
    return any(t.ggml_type.name in _IMATRIX_TYPES or (t.ggml_type.name == "Q2_K" and ftype == "Q2_K_S")
               for t in tensors if t.name not in ("token_embd.weight", "output.weight"))


def _context(cfg: ContextConfig, plan) -> str:
    """The largest context (a multiple of CTX_STEP per sequence, binary search) that fits."""
    step = CTX_STEP * cfg.n_parallel
    lo, hi = 0, (cfg.ctx - 1) // step  # multiples of step below the asked context
    if hi < 1:
        return ""
    if not plan(c=replace(cfg, ctx=step)).fits:
        return f"context: none fits, not even {step:,} tokens (the weights alone overflow)"
    lo = 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if plan(c=replace(cfg, ctx=mid * step)).fits:
            lo = mid
        else:
            hi = mid - 1
    ctx = lo * step
    return _say(f"context {ctx:,} (--ctx {ctx})", plan(c=replace(cfg, ctx=ctx)))


def _hardware(rig: Rig, plan) -> list[str]:
    out = []
    host = plan().placement.host
    if not host.fits:
        for gib in RAM_SIZES_GIB:
            if gib * 2**30 <= rig.ram_bytes:
                continue
            p = plan(r=replace(rig, ram_bytes=gib * 2**30, description=f"{rig.description} with {gib}GB RAM"))
            if p.fits:
                out.append(_say(f"more RAM: {gib}GB instead of {rig.ram_bytes / 2**30:.0f}GB", p))
                break
        else:
            out.append(f"more RAM: even {RAM_SIZES_GIB[-1]}GB does not make it fit with these GPUs")
    if rig.gpus and not rig.is_unified:
        gpu = rig.gpus[0]
        for extra in range(1, MAX_EXTRA_GPUS + 1):
            n = len(rig.gpus) + extra
            p = plan(r=replace(rig, gpus=rig.gpus + [gpu] * extra, description=f"{rig.description} with {n}x {gpu.name}"))
            if p.fits:
                what = "one more" if extra == 1 else f"{extra} more"
                out.append(_say(f"{what} {gpu.name} ({n} in all)", p))
                break
        else:
            out.append(f"more GPUs: even {MAX_EXTRA_GPUS} more {gpu.name} do not make it fit with this RAM")
    return out


def _say(what: str, p) -> str:
    verdict = "fits" if p.fits else "still does not fit"
    return f"{what}: {verdict}, total {p.total_bytes / 2**30:.1f} GiB, decode ~{p.decode_tps:.1f} tok/s"
