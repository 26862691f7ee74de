"""The CPU's flash attention over the KV cache (plan/speed_decode.py, plan/speed_prefill.py): which
ggml-cpu kernel runs (ops.cpp ggml_compute_forward_flash_attn_ext_f16) and what it costs. Fast, no engine."""

from __future__ import annotations

import dataclasses

import pytest

from heavylift.hardware.spec import parse_spec
from heavylift.plan.memory import ContextConfig
from heavylift.plan.model_source import resolve
from heavylift.plan.placement import LayerBytes, Placer
from heavylift.plan.placement_flags import PlacementFlags
from heavylift.plan.speed_cases import build_all, load_rows, predates_cpu_fa_kernels
from heavylift.plan.speed_decode import FA_SPLIT_MIN_KV, cpu_fa_decode_s, decode_step, geometry
from heavylift.plan.speed_params import SpeedParams
from heavylift.plan.speed_prefill import prefill_seconds

# enough RAM bandwidth that the kernels, not RAM, bound the attention
SERVER = "0x, 512GB ddr5-6000 12ch, {} cores"


def _inputs(model: str, hw: str, kv_type: str, ctx: int = 32768):
    src = resolve(model, None)
    rig = parse_spec(hw)
    cfg = ContextConfig(ctx, 1, kv_type, 2048, 512, True)
    placement = Placer(src.tensors, src.arch, cfg, rig).evaluate(PlacementFlags(0, None, ()))
    layers = LayerBytes.from_tensors(src.tensors, src.arch.n_layer)
    return geometry(layers, src.arch, cfg, rig, placement, src.quant), rig, cfg


def _attention_s(model: str, cores: int, kv_type: str, depth: int = 16384, p: SpeedParams | None = None,
                 old_build: bool = False) -> float:
    """Decode seconds the cached tokens add (the step at `depth` minus the step at depth 0)."""
    geo, rig, cfg = _inputs(model, SERVER.format(cores), kv_type)
    p = p or SpeedParams.fitted()
    return (decode_step(geo, rig, p, cfg, depth, 1, old_build).time_s
            - decode_step(geo, rig, p, cfg, 0, 1, old_build).time_s)


def test_f16_decode_attention_uses_every_core_quantized_one_head_per_thread() -> None:
    """Qwen3-30B-A3B has 32 query heads: a q8_0 cache runs one head per thread, so 128 cores do
    what 32 do; an F16 cache splits the cached tokens over all threads (PR #19209)."""
    q8_32, q8_128 = _attention_s("qwen3-30b-a3b", 32, "q8_0"), _attention_s("qwen3-30b-a3b", 128, "q8_0")
    f16_32, f16_128 = _attention_s("qwen3-30b-a3b", 32, "f16"), _attention_s("qwen3-30b-a3b", 128, "f16")
    assert q8_128 == pytest.approx(q8_32, rel=0.02)
    assert f16_128 == pytest.approx(f16_32 / 4, rel=0.05)
    # at or below the head count both kernels do the same work per thread
    assert _attention_s("qwen3-30b-a3b", 16, "q8_0") == pytest.approx(_attention_s("qwen3-30b-a3b", 16, "f16"),
                                                                      rel=0.05)


def test_decode_attention_follows_query_heads_not_kv_bytes() -> None:
    """The kernel walks the cache once per query head: at the same cached tokens, cost per token
    is 2 x n_head x (d_k + d_v) x layers FLOPs over the thread rate, whatever the cache type's size."""
    p = SpeedParams.fitted()
    geo, rig, cfg = _inputs("llama-3.1-8b", SERVER.format(16), "q8_0")
    w = geo.work
    flops = sum(f * w.kv_tokens(il, 8192) for il, f in enumerate(w.attn_flops))
    assert w.n_head == 32 and flops == 32 * 2 * 32 * 256 * 8192
    want = flops / (16 * p.cpu.fa_flops_per_core)
    assert cpu_fa_decode_s(w, cfg, p.cpu, 16, flops, 8192) == pytest.approx(want)
    assert _attention_s("llama-3.1-8b", 16, "q8_0", depth=8192, p=p) == pytest.approx(want, rel=0.02)


def test_split_kv_path_needs_512_cached_tokens_and_a_current_build() -> None:
    p = SpeedParams.fitted()
    geo, _, cfg = _inputs("qwen3-30b-a3b", SERVER.format(128), "f16")
    w, flops = geo.work, 1e12
    split = cpu_fa_decode_s(w, cfg, p.cpu, 128, flops, FA_SPLIT_MIN_KV)
    assert cpu_fa_decode_s(w, cfg, p.cpu, 128, flops, FA_SPLIT_MIN_KV - 1) == pytest.approx(4 * split)
    assert cpu_fa_decode_s(w, cfg, p.cpu, 128, flops, 4096, old_build=True) == pytest.approx(4 * split)


def test_prefill_attention_kernel_by_cache_type_and_build() -> None:
    """F16 caches run the tiled kernel (attn_fa_eff), quantized ones and old builds the row kernel
    (attn_fa_vec_eff): slowing one moves only its own cases."""
    p = SpeedParams.fitted()
    slow_vec = dataclasses.replace(p, cpu=dataclasses.replace(p.cpu, attn_fa_vec_eff=p.cpu.attn_fa_vec_eff / 4))

    def pp_s(kv_type: str, params: SpeedParams, old_build: bool = False) -> float:
        geo, rig, cfg = _inputs("llama-3.1-8b", SERVER.format(16), kv_type)
        return prefill_seconds(geo, rig, params, cfg, 8192, 512, old_build)[0]

    assert pp_s("f16", slow_vec) == pytest.approx(pp_s("f16", p))
    assert pp_s("q8_0", slow_vec) > 2 * pp_s("q8_0", p)
    assert pp_s("f16", slow_vec, old_build=True) > 2 * pp_s("f16", p, old_build=True)


def test_rows_before_the_kernels_are_marked_by_date_or_named_build() -> None:
    assert predates_cpu_fa_kernels({"date": "2025-04-28", "llama_build": ""})
    assert predates_cpu_fa_kernels({"date": "2026-01-22", "llama_build": "a14b960bc"})
    assert not predates_cpu_fa_kernels({"date": "2026-01-22", "llama_build": "a14b960bc + PR #19012"})
    assert not predates_cpu_fa_kernels({"date": "2026-02-05", "llama_build": "11fb327bf (7941)"})
    assert not predates_cpu_fa_kernels({"date": "", "llama_build": ""})
    rows = {r["id"]: r for r in load_rows()}
    cases, _ = build_all([rows["m0291"], rows["m0626"], rows["m0629"]])
    assert [c.old_cpu_fa for c in cases] == [True, True, False]


def test_fa_constants_are_fitted_on_public_rows() -> None:
    p = SpeedParams.fitted()
    for key in ("cpu.fa_flops_per_core", "cpu.attn_fa_vec_eff", "cpu.attn_fa_eff"):
        assert p.source(key).startswith("fit on the"), (key, p.source(key))
    # a thread's attention rate is a few GFLOP/s (the row kernel walks one cached token at a time)
    assert 1e9 < p.cpu.fa_flops_per_core < 20e9
