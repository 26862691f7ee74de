"""GPU prefill terms for MoE and AMD flash attention (plan/speed_prefill.py, plan/speed_build.py): fast, no engine."""

from __future__ import annotations

import pytest

from heavylift.plan.memory import ContextConfig
from heavylift.plan.model_source import resolve
from heavylift.plan.speed_build import fa_tile_all
from heavylift.plan.speed_cases import build, load_rows
from heavylift.plan.speed_params import BackendParams, SpeedParams
from heavylift.plan.speed_prefill import fa_on_tile, gpu_moe_flops
from heavylift.plan.speed_work import token_work


def _row(row_id: str) -> dict:
    return next(r for r in load_rows() if r["id"] == row_id)


def test_mul_mat_id_runs_at_t_over_t_plus_h_of_its_rate() -> None:
    """MMQ's column tile is as wide as the tokens per expert; each tile's fixed cost is worth
    moe_half_tokens tokens: at t tokens per expert the FLOPs count (t + h) / t times."""
    src = resolve("qwen3-30b-a3b", None)
    arch = src.arch
    w = token_work(arch, ContextConfig(4096), [1000] * arch.n_layer, [2 ** 30] * arch.n_layer, 1000)
    bp = BackendParams(moe_half_tokens=16.0)
    for u in (512, 2048):
        t = u * w.frac  # 32 and 128 tokens per expert (128 experts, 8 used)
        exact = 2.0 * w.expert_elems[0] * w.frac * u
        assert gpu_moe_flops(w, 0, u, bp) / exact == pytest.approx((t + 16.0) / t, rel=1e-3)
    # one token (decode-like): only the 8 experts it uses pay the tile cost
    assert gpu_moe_flops(w, 0, 1, bp) == pytest.approx(2.0 * w.expert_elems[0] * w.frac * 17.0)


def test_bigger_ubatch_speeds_up_gpu_moe_prefill() -> None:
    """DeepSeek-V2-Lite on an RTX 3090 (llama.cpp PR #15525): ub 32 -> 256 is 3.0x measured; the
    prediction follows the tokens per expert (3 -> 24), not just the ubatch's dense saturation."""
    p = SpeedParams.fitted()
    small, big = build(_row("m0359")), build(_row("m0360"))
    assert small.cfg.n_ubatch_eff == 32 and big.cfg.n_ubatch_eff == 256
    assert big.predict(p) / small.predict(p) > 2.5


def test_amd_flash_attention_kernel_choice() -> None:
    """ggml-cuda/fattn.cu: on RDNA the mma kernel needs GQA >= 2 and K heads <= 256; MHA (Llama-2) and
    MLA (DeepSeek-V2-Lite, 576-wide latent) take the tile kernel; CUDA and CDNA are not concerned."""
    today = {"llama_build": ""}
    gqa = build({**_row("m0373"), **today})  # Qwen3-Coder-30B-A3B on an R9700
    mha = build({**_row("m0389"), **today})  # Llama-2-7B on an R9700
    r9700 = gqa.rig.gpus[0]
    assert not fa_on_tile(r9700, gqa.geo, 0)
    assert fa_on_tile(mha.rig.gpus[0], mha.geo, 0)
    mla = build({**_row("m0422"), **today})  # DeepSeek-V2-Lite on an RTX 4080 (CUDA)
    assert not fa_on_tile(mla.rig.gpus[0], mla.geo, 0)
    assert mla.geo.work.fa_wmma and not any(mla.geo.work.fa_wmma)
    mi100 = build(_row("m0346"))
    assert not fa_on_tile(mi100.rig.gpus[0], mi100.geo, 0)


def test_rdna4_builds_before_the_mma_kernel_ran_every_fa_prefill_on_tile() -> None:
    """llama.cpp PR #18481 added the mma FA kernel for RDNA4 after b7653: an R9700 row of b7423 runs
    GQA attention on the tile kernel too, so at depth 32768 it is predicted slower than today."""
    assert fa_tile_all(7423)[0] == {"rdna4"} and "#18481" in fa_tile_all(7423)[1][0]
    assert fa_tile_all(7654) == (frozenset(), []) and fa_tile_all(None) == (frozenset(), [])
    old = build(_row("m0373"))
    now = build({**_row("m0373"), "llama_build": "0c1e570 (9999)"})
    assert old.geo.fa_tile_all == {"rdna4"} and any("#18481" in n for n in old.notes)
    assert fa_on_tile(old.rig.gpus[0], old.geo, 0) and not now.geo.fa_tile_all
    p = SpeedParams.fitted()
    assert now.predict(p) > 1.5 * old.predict(p)
    # the tile kernel is slower than the mma one (fitted on split=fit rows only)
    rocm = p.backend("rocm")
    assert rocm.attn_tile_eff < rocm.attn_eff
