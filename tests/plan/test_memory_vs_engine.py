"""The planner's memory breakdown against what llama.cpp itself reports (llama-fit-params -v):
dense default model and its 4-expert MoE upcycle, several contexts, parallel counts, KV types and
with experts kept on CPU. On this CPU-only machine every buffer is host memory, so "experts on
CPU" (--cpu-moe) must leave the host totals unchanged, and the plan must say the same."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from heavylift.hardware.spec import parse_spec
from heavylift.plan.memory import ContextConfig
from heavylift.plan.model_source import resolve
from heavylift.plan.planner import make_plan

MiB = 1024 * 1024
CASES = [  # (ctx, parallel, kv type, experts on CPU)
    (1024, 1, "f16", False), (4096, 2, "f16", False), (8192, 4, "q8_0", False),
    (8192, 1, "q4_0", False), (2000, 3, "f16", False), (8192, 2, "f16", True),
]


def engine_report(bin_dir: Path, model: Path, ctx: int, parallel: int, kv: str, cpu_moe: bool) -> dict[str, float]:
    cmd = [str(bin_dir / "llama-fit-params"), "-m", str(model), "-c", str(ctx), "-np", str(parallel),
           "-ctk", kv, "-ctv", kv, "-v"] + (["--cpu-moe"] if cpu_moe else [])
    log = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stderr
    kv_mib = float(re.search(r"llama_kv_cache: size =\s+([\d.]+) MiB", log).group(1))
    compute = float(re.search(r"CPU compute buffer size =\s+([\d.]+) MiB", log).group(1))
    output = float(re.search(r"CPU\s+output buffer size =\s+([\d.]+) MiB", log).group(1))
    host = re.search(r"- Host\s+\|\s+(\d+) =\s+(\d+) \+\s+(\d+) \+\s+(\d+)", log)
    return {"kv": kv_mib, "compute": compute, "output": output, "total": float(host.group(1)),
            "model": float(host.group(2))}


def within(pred_bytes: float, real_mib: float, rel: float, abs_mib: float = 0.0) -> bool:
    pred = pred_bytes / MiB
    return abs(pred - real_mib) <= max(rel * real_mib, abs_mib, 0.51)  # the log rounds to 0.01 / 1 MiB


@pytest.mark.parametrize("which", ["dense", "moe"])
@pytest.mark.parametrize("ctx,parallel,kv,cpu_moe", CASES)
def test_plan_matches_engine(which, ctx, parallel, kv, cpu_moe, default_model_path, moe_model_path, engine_bin_dir):
    model = default_model_path if which == "dense" else moe_model_path
    real = engine_report(engine_bin_dir, model, ctx, parallel, kv, cpu_moe)
    plan = make_plan(resolve(str(model), None), parse_spec("64GB ddr5-4800 2ch, 2 cores"),
                     ContextConfig(ctx, parallel, kv, n_outputs_max=512))  # fit-params: logits for the whole ubatch
    host = plan.devices[-1]
    assert host.name.startswith("CPU")
    if which == "moe":  # everything, experts included, sits in host memory, with or without --cpu-moe
        assert host.expert_layers == list(range(30))
    bd = host.breakdown
    assert within(bd.weights_bytes, real["model"], 0.01), (bd.weights_bytes / MiB, real)
    assert within(bd.kv_cache_bytes, real["kv"], 0.01), (bd.kv_cache_bytes / MiB, real)
    assert within(bd.output_bytes, real["output"], 0.01), (bd.output_bytes / MiB, real)
    assert within(bd.compute_bytes, real["compute"], 0.05, 32), (bd.compute_bytes / MiB, real)
    assert within(host.used_bytes, real["total"], 0.05, 32), (host.used_bytes / MiB, real)
