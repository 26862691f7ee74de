"""The planner's memory breakdown against the buffers llama-server itself allocates (`-lv 4` load
log, parsed by heavylift.plan.actual): the server reserves its compute graph for n_parallel logits
rows, not a whole ubatch as llama-fit-params does. Dense default model, its MoE upcycle and a tiny
random llama of another shape, with and without flash attention, one to four slots."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from heavylift.hardware.spec import parse_spec
from heavylift.plan.actual import DeviceActual, parse_load_log
from heavylift.plan.memory import ContextConfig
from heavylift.plan.model_source import resolve
from heavylift.plan.planner import make_plan

from .tiny_gguf import TinyShape, write_tiny_llama

MiB = 1 << 20
CASES = [  # (ctx, parallel, ubatch, flash attention)
    (4096, 1, 512, True), (8192, 2, 512, True), (8192, 4, 256, True), (2048, 1, 2048, True),
    (4096, 1, 512, False), (8192, 3, 1024, False),
]
TINY = TinyShape(n_embd=256, n_ff=1024, n_head=8, n_head_kv=2, n_vocab=8192, n_layer=4)


@pytest.fixture(scope="module")
def tiny_model_path(tmp_path_factory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("tiny") / f"{TINY.stem}.gguf", TINY)


def server_buffers(bin_dir: Path, model: Path, ctx: int, parallel: int, ubatch: int, fa: bool) -> DeviceActual:
    """Start llama-server, read its log until the compute graph is reserved, stop it: the buffers
    are all allocated by then, and the HTTP side is not needed."""
    cmd = [str(bin_dir / "llama-server"), "-m", str(model), "-c", str(ctx), "-np", str(parallel),
           "-ub", str(ubatch), "-b", "2048", "-fa", "on" if fa else "off", "--fit", "off", "-lv", "4",
           "-t", "1", "--host", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "sched_reserve: reserve took" in line:
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    return parse_load_log("".join(lines))["host"]


@pytest.mark.parametrize("which", ["dense", "moe", "tiny"])
@pytest.mark.parametrize("ctx,parallel,ubatch,fa", CASES)
def test_plan_matches_server(which, ctx, parallel, ubatch, fa, default_model_path, moe_model_path, tiny_model_path,
                             engine_bin_dir):
    model = {"dense": default_model_path, "moe": moe_model_path, "tiny": tiny_model_path}[which]
    real = server_buffers(engine_bin_dir, model, ctx, parallel, ubatch, fa)
    plan = make_plan(resolve(str(model), None), parse_spec("64GB ddr5-4800 2ch, 2 cores"),
                     ContextConfig(ctx, parallel, n_ubatch=ubatch, flash_attn=fa))
    bd = plan.devices[-1].breakdown
    rb = real.breakdown
    got = {"weights": (bd.weights_bytes, rb.weights_bytes), "kv": (bd.kv_cache_bytes, rb.kv_cache_bytes),
           "output": (bd.output_bytes, rb.output_bytes), "compute": (bd.compute_bytes, rb.compute_bytes),
           "total": (bd.sum() - bd.overhead_bytes, real.sum())}
    report = {k: (round(p / MiB, 2), round(r / MiB, 2)) for k, (p, r) in got.items()}
    # the log rounds to 0.01 MiB; weights and KV are exact formulas
    for key in ("weights", "kv", "output"):
        plan_b, real_b = got[key]
        assert abs(plan_b - real_b) <= max(0.01 * real_b, 0.006 * MiB), report
    # compute is fitted (see memory.compute_bytes): with flash attention within 0.05 MiB on every
    # shape measured; without it within 1.5 MiB
    slack = 0.05 * MiB if fa else 1.5 * MiB
    for key in ("compute", "total"):
        plan_b, real_b = got[key]
        assert abs(plan_b - real_b) <= max(0.02 * real_b, slack), report
