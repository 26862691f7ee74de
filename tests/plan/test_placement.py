"""Placement as llama.cpp does it, on fixed rigs and catalog models (no engine; tests/plan/
test_placement_engine.py checks the same code against llama-server's own log)."""

from __future__ import annotations

import pytest

from heavylift.engines.llama_args import LlamaArgs
from heavylift.errors import UsageError
from heavylift.hardware.spec import parse_hw
from heavylift.plan.memory import ContextConfig
from heavylift.plan.model_source import resolve
from heavylift.plan.placement import Placer, layer_devices
from heavylift.plan.placement_flags import CPU, PlacementFlags, parse_override
from heavylift.plan.planner import make_plan, plan_json


def test_ngl_counts_the_output_layer():
    n = 30  # layers 0..29, index 30 is the output layer
    assert layer_devices(n, 0, (), 1) == [CPU] * 31
    assert layer_devices(n, 1, (), 1) == [CPU] * 30 + [0]  # -ngl 1: only the output layer
    assert layer_devices(n, 30, (), 1) == [CPU] + [0] * 30  # -ngl n_layer: layer 0 stays on the CPU
    assert layer_devices(n, 31, (), 1) == [0] * 31
    assert layer_devices(n, 999, (), 1) == layer_devices(n, -1, (), 1) == [0] * 31
    assert layer_devices(n, 31, (), 0) == [CPU] * 31  # no GPU: -ngl does nothing


def test_tensor_split_is_llama_cpps_float32_rule():
    # -ts 3,1 over 31 layers: layer i goes to GPU0 while i/31 < 0.75
    assert layer_devices(30, 31, (3, 1), 2) == [0] * 24 + [1] * 7
    # float32 split points: 1/3 of the layers is a tie that upper_bound sends to the next GPU
    assert layer_devices(29, 30, (1, 1, 1), 3) == [0] * 10 + [1] * 10 + [2] * 10
    # cases where float64 arithmetic would give another GPU (checked against the engine too)
    assert layer_devices(30, 3, (0.3, 0.6), 2)[-3:] == [0, 1, 1]
    assert layer_devices(30, 4, (2.1, 0.7), 2)[-4:] == [0, 0, 0, 1]
    assert layer_devices(30, 31, (1, 0), 2) == [0] * 31


def _placer(model: str, hw: str, ctx: int = 8192, quant: str | None = None) -> Placer:
    src = resolve(model, quant)
    return Placer(src.tensors, src.arch, ContextConfig(ctx), parse_hw(hw))


@pytest.mark.parametrize("model,hw,ctx", [
    ("llama-3.1-70b", "2x rtx-5090, 128GB", 32768),  # dense, full offload over two GPUs
    ("qwen3-235b-a22b", "2x rtx-5090, 256GB ddr5-6000 2ch", 65536),  # MoE: experts of the first layers in RAM
    ("qwen3-30b-a3b", "1x rtx-4090, 64GB", 32768),
    ("llama-3.1-70b", "1x rtx-4090, 128GB", 8192),  # dense that does not fit: fewer layers
    ("mixtral-8x7b", "3x rtx-3090, 64GB", 32768),
    ("deepseek-v3", "m3-ultra-512gb", 32768),
])
def test_best_placement_is_what_its_flags_give(model, hw, ctx):
    placer = _placer(model, hw, ctx)
    best = placer.best()
    again = placer.evaluate(best.flags)  # the emitted flags, placed the way llama.cpp places them
    assert again.layer_device == best.layer_device
    assert [d.used_bytes for d in again.devices] == [d.used_bytes for d in best.devices]
    assert all(d.fits for d in best.gpus)
    n = placer.n_layer
    if best.n_gpu_layers == n + 1 and best.gpus:
        assert best.flags.n_gpu_layers == n + 1  # full offload is -ngl n_layer+1, not n_layer


def test_full_offload_is_n_layer_plus_one_and_split_is_balanced():
    best = _placer("llama-3.1-70b", "2x rtx-5090, 128GB", 32768).best()
    assert best.flags.n_gpu_layers == 81 and best.n_gpu_layers == 81
    assert best.layer_device[-1] == 1 and CPU not in best.layer_device
    used = [d.used_bytes for d in best.gpus]
    assert abs(used[0] - used[1]) < 0.15 * max(used)  # shared by room, not filled one after another


def test_tied_output_copies_token_embd_to_its_gpu():
    placer = _placer("smollm2-135m-instruct", "1x rtx-4090, 32GB", 4096, "Q8_0")
    embd = next(t for t in placer.tensors if t.name == "token_embd.weight")
    norm = next(t for t in placer.tensors if t.name == "output_norm.weight")
    ngl0, ngl1 = placer.evaluate(PlacementFlags(0)), placer.evaluate(PlacementFlags(1))
    # the output layer's copy of token_embd and output_norm, as a CUDA buffer allocates them
    assert ngl1.gpus[0].breakdown.weights_bytes == embd.cuda_bytes + norm.cuda_bytes
    assert ngl1.host.breakdown.weights_bytes == ngl0.host.breakdown.weights_bytes - norm.n_bytes
    same = placer.evaluate(PlacementFlags(31, None, (("-ot", "token_embd=CUDA0"),)))
    assert same.gpus[0].breakdown.weights_bytes == sum(t.cuda_bytes for t in placer.tensors if not t.shares_input)


def test_cuda_buffers_pad_quantized_rows_and_align_each_tensor():
    # ggml-cuda.cu ggml_backend_cuda_buffer_type_get_alloc_size + ggml-alloc.c GGML_PAD(size, 128); the
    # default model at -ngl 31 on an H200 logged "CUDA0 model buffer size = 92.17 MiB" (bench/gpu/README.md)
    placer = _placer("smollm2-135m-instruct", "1x h200", 8192, "Q4_1")
    q = next(t for t in placer.tensors if t.name == "blk.0.attn_q.weight")  # 576 columns: 448 padded
    assert q.cuda_bytes == -(-(q.n_bytes + 14 * 20) // 128) * 128
    on_gpu = placer.evaluate(PlacementFlags(31)).gpus[0].breakdown.weights_bytes
    assert on_gpu > sum(t.n_bytes for t in placer.tensors if t.layer >= 0)  # the input layer stays in RAM
    vulkan = _placer("smollm2-135m-instruct", "1x rtx-4090, vulkan", 8192, "Q4_1")
    assert vulkan.evaluate(PlacementFlags(31)).gpus[0].breakdown.weights_bytes == sum(
        t.n_bytes for t in vulkan.tensors if t.layer >= 0)


def test_cpu_moe_and_override_order():
    placer = _placer("qwen3-30b-a3b", "2x rtx-4090, 64GB", 8192)
    ncmoe = placer.evaluate(PlacementFlags(49, (1, 1), (("--n-cpu-moe", "5"),)))
    assert ncmoe.host.expert_layers == [0, 1, 2, 3, 4]
    # first match wins, in command-line order
    a = placer.evaluate(PlacementFlags(49, (1, 1), (("-ot", "exps=CUDA0"), ("--n-cpu-moe", "5"))))
    b = placer.evaluate(PlacementFlags(49, (1, 1), (("--n-cpu-moe", "5"), ("-ot", "exps=CUDA0"))))
    assert a.host.expert_layers == [] and a.gpus[0].expert_layers == list(range(48))
    assert b.host.expert_layers == [0, 1, 2, 3, 4] and b.gpus[0].expert_layers == list(range(5, 48))
    up_down = placer.evaluate(PlacementFlags(49, (1, 1), (("-ot", r"\.ffn_(up|down)_exps.=CPU"),)))
    up_down_bytes = sum(t.n_bytes for t in placer.tensors if "_up_exps" in t.name or "_down_exps" in t.name)
    assert up_down.host.expert_bytes == up_down_bytes
    assert sum(g.expert_bytes for g in up_down.gpus) == sum(t.n_bytes for t in placer.tensors if "_gate_exps" in t.name)


@pytest.mark.parametrize("value,message", [
    ("exps", "is not PATTERN=DEVICE"), ("=CPU", "is not PATTERN=DEVICE"), ("exps=", "is not PATTERN=DEVICE"),
    ("exps=GPU0", "unknown device 'GPU0'"), ("exps=CUDA2", "CUDA2 does not exist on a rig with 2 GPU(s)"),
    ("blk.(=CPU", "not a valid regular expression"),
])
def test_malformed_override(value, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_override(value, 2)


def test_bad_placement_flags():
    placer = _placer("qwen3-30b-a3b", "2x rtx-4090, 64GB")
    with pytest.raises(UsageError, match="3 entries but --hw has 2 GPU"):
        placer.evaluate(PlacementFlags(49, (1, 1, 1)))
    with pytest.raises(UsageError, match="0 or more"):
        placer.evaluate(PlacementFlags(49, (1, -1)))
    notes = placer.evaluate(PlacementFlags(999)).notes
    assert any("clamps it to n_layer + 1 = 49" in n for n in notes)
    assert any("layer 0 and its KV cache stay in RAM" in n for n in placer.evaluate(PlacementFlags(48)).notes)


def test_plan_json_from_parts_with_flags_and_depth():
    src, rig = resolve("qwen3-30b-a3b", None), parse_hw("1x rtx-4090, 64GB")
    plan = make_plan(src, rig, ContextConfig(32768), depth_tokens=0,
                     flags=PlacementFlags(99, None, (("-ot", "exps=CPU"),)))
    j = plan_json(plan)
    assert j["decode_tps"] == j["decode_tps_depth0"] and j["depth_tokens"] == 0
    assert j["placement_source"] == "flags" and j["n_gpu_layers"] == 99 and j["tensor_overrides"] == ["exps=CPU"]
    assert j["best_placement"]["n_gpu_layers"] == 49 and j["best_placement"]["decode_tps"] > j["decode_tps"]
    assert j["total_bytes"] == sum(d["used_bytes"] for d in j["devices"])
    full = make_plan(src, rig, ContextConfig(32768))
    assert full.depth_tokens == 32768 and full.decode_tps < full.decode_tps_depth0
    assert plan_json(full)["best_placement"] is None and plan_json(full)["placement_source"] == "planner"


def test_one_argv_builder_user_flags_win():
    args = LlamaArgs("m.gguf", ctx_size=8192, num_parallel=2, n_gpu_layers=49, tensor_overrides=[("--n-cpu-moe", "4")],
                     host="127.0.0.1", port=8080, is_jinja=True, extra_args=["-c", "4096", "-ot", "exps=CPU"])
    argv = args.argv("llama-server")
    assert argv[:3] == ["llama-server", "-m", "m.gguf"]
    assert "8192" not in argv and argv.count("-c") == 1 and "--n-cpu-moe" not in argv  # the user's -c and -ot win
    assert argv[-4:] == ["-c", "4096", "-ot", "exps=CPU"] and "-ngl" in argv and "--fit" in argv
    parsed, other = LlamaArgs.parse(["-ngl", "all", "-ts", "3/1", "-ot", "exps=CPU", "-c", "32768", "-fa", "on",
                                     "-ctk", "q8_0", "-ctv", "q8_0", "--mlock", "-sm", "row", "--jinja"])
    assert parsed.n_gpu_layers == -2 and parsed.tensor_split == ["3", "1"] and parsed.kv_type == "q8_0"
    assert parsed.ctx_size == 32768 and parsed.flash_attn is True and other == ["--mlock", "-sm", "row"]
    with pytest.raises(UsageError, match="differ"):
        LlamaArgs.parse(["-ctk", "q8_0", "-ctv", "f16"])


def test_serve_plan_on_a_build_without_gpu_backend():
    from heavylift.plan.serve_plan import NO_GPU_BACKEND, plan_for_serve

    served = plan_for_serve("qwen3-30b-a3b", 4096, 1, "1x rtx-4090, 64GB", backend="cpu")
    assert served.note == NO_GPU_BACKEND and not served.expected.placement.gpus
    assert served.settings.n_gpu_layers == 0 and served.settings.log_verbosity == 4
    cuda = plan_for_serve("qwen3-30b-a3b", 4096, 1, "1x rtx-4090, 64GB", backend="cuda")
    assert cuda.note is None and cuda.settings.n_gpu_layers == 49
