"""`heavylift plan --compare`: one model over the rigs users weigh, each at the best quantization that fits."""

from __future__ import annotations

from heavylift.hardware.spec import parse_hw
from heavylift.plan.model_source import resolve
from heavylift.plan.planner import Plan, default_context, make_plan

# the rigs users weigh (issue 3)
STANDARD_RIGS = [
    "1x rtx-5090, 128GB ddr5-6000 2ch, pcie5",
    "2x rtx-5090, 256GB ddr5-6000 2ch, pcie5",
    "3x rtx-3090-ti, 128GB ddr4-3200 2ch, pcie4",
    "4x rtx-4090, 256GB ddr5-4800 8ch, pcie4",
    "4x rtx-5090, 512GB ddr5-4800 8ch, pcie5",
    "m3-ultra-512gb",
    "8x h100, 1024GB ddr5-4800 8ch, nvlink",
]
COMPARE_QUANTS = ["Q4_K_M", "Q3_K_M", "Q2_K"]


def compare_rigs(models: list[str], quant: str | None, ctx: int | None, n_parallel: int = 1,
                 prompt_tokens: int | None = None, depth_tokens: int | None = None, **settings) -> list[Plan]:
    """One plan per (model, standard rig): `quant` if given, else the first of COMPARE_QUANTS that fits."""
    results = []
    for model in models:
        cfg = default_context(resolve(model, quant), ctx, n_parallel, **settings)
        prompt = prompt_tokens or min(150_000, cfg.ctx // cfg.n_parallel)  # a prompt must fit its slot
        for spec in STANDARD_RIGS:
            rig = parse_hw(spec)
            chosen = None
            for q in [quant] if quant else COMPARE_QUANTS:
                chosen = make_plan(resolve(model, q), rig, cfg, prompt, depth_tokens, suggest=False)
                if chosen.fits:
                    break
            results.append(chosen)
    return results
