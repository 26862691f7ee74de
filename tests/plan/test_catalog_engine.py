"""Every architecture the planner predicts, against the real engine: a tiny random GGUF is written
from the planner's own tensor table (tests/plan/arch_gguf.py) and loaded by llama-fit-params.

- llama.cpp creates every tensor it expects from the file with the planner's names and shapes
  (a missing or misshapen tensor stops the load) and reports as unused only the MTP blocks, which
  it skips unless MTP drafting is asked for (plan/tensor_table.py `loaded`);
- the KV cache and recurrent state it allocates equal plan/memory.py's, for sliding-window,
  chunked, hybrid, MLA and DeepSeek-V3.2's sparse-attention (DSA) caches;
- ModelArch.from_gguf reads the facts back from the header;
- llama-quantize --dry-run types every tensor (MTP blocks included) as quant_rules predicts.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from heavylift.models.gguf_file import GGUFFile
from heavylift.models.model_arch import ModelArch
from heavylift.plan.memory import ContextConfig, kv_cache_bytes_per_layer, recurrent_bytes_per_layer
from heavylift.plan.quant_rules import TensorSpec, quantized_tensors
from heavylift.plan.tensor_table import loaded, tensor_table

from .arch_gguf import TINY_CONFIGS, tiny_arch, write_arch_gguf
from .test_quant_rules import _dry_run_types

MiB = 1024 * 1024
CTX = 2048


@pytest.fixture(scope="module")
def arch_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("arch")
    return {mt: write_arch_gguf(root / f"{mt}.gguf", tiny_arch(mt)) for mt in TINY_CONFIGS}


def _fit_params_log(bin_dir: Path, model: Path) -> str:
    proc = subprocess.run([str(bin_dir / "llama-fit-params"), "-m", str(model), "-c", str(CTX), "-v"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


@pytest.mark.parametrize("model_type", list(TINY_CONFIGS))
def test_engine_loads_the_planned_tensor_table(model_type, arch_files, engine_bin_dir):
    arch = tiny_arch(model_type)
    log = _fit_params_log(engine_bin_dir, arch_files[model_type])
    unused = set(re.findall(r"model has unused tensor (\S+)", log))
    mtp = {t.name for t in tensor_table(arch)} - {t.name for t in loaded(arch, tensor_table(arch))}
    if arch.arch == "deepseek32":  # deepseek32.cpp creates the MTP block's exp_probs_b without its skip
        mtp -= {f"blk.{arch.n_layer}.exp_probs_b.bias"}  # flag: n_expert floats, left out of the plan
    assert unused == mtp, f"unused by llama.cpp: {sorted(unused - mtp)}; MTP tensors it loaded: {sorted(mtp - unused)}"
    assert ("MTP" if arch.n_layer_nextn else "") == ("MTP" if mtp else "")

    # KV cache and recurrent state, as llama.cpp sizes them (-c 2048, one sequence, f16)
    kv = sum(float(x) for x in re.findall(r"llama_kv_cache: size =\s+([\d.]+) MiB", log))
    rs = sum(float(x) for x in re.findall(r"llama_memory_recurrent: size =\s+([\d.]+) MiB", log))
    cfg = ContextConfig(CTX)
    assert abs(sum(kv_cache_bytes_per_layer(arch, cfg)) / MiB - kv) <= 0.01, (model_type, kv)
    assert abs(sum(recurrent_bytes_per_layer(arch, cfg)) / MiB - rs) <= 0.01, (model_type, rs)


@pytest.mark.parametrize("model_type", list(TINY_CONFIGS))
def test_from_gguf_reads_back_the_architecture(model_type, arch_files):
    planned, gguf = tiny_arch(model_type), GGUFFile.read(arch_files[model_type])
    read = ModelArch.from_gguf(gguf)
    for key in ("arch", "n_layer", "n_layer_nextn", "n_embd", "n_head", "n_head_kv", "head_dim_k", "head_dim_v",
                "n_expert", "n_expert_used", "n_ff_exp", "n_ff_shexp", "n_layer_dense_lead", "n_moe_layer_step",
                "tied_embeddings", "swa_layers", "recurrent_layers", "n_vocab", "n_ctx_train", "kv_lora_rank",
                "indexer_head_size", "ssm_d_conv", "ssm_d_inner", "ssm_d_state", "ssm_n_group", "ssm_dt_rank"):
        assert getattr(read, key) == getattr(planned, key), (model_type, key)
    assert [read.n_embd_k_gqa(il) for il in range(read.n_layer)] == \
        [planned.n_embd_k_gqa(il) for il in range(planned.n_layer)]


@pytest.mark.parametrize("ftype", ["Q4_K_M", "Q2_K", "IQ4_XS", "MXFP4_MOE"])
def test_quantize_types_every_architecture_as_predicted(ftype, arch_files, engine_bin_dir):
    for model_type, path in arch_files.items():
        proc = subprocess.run([str(engine_bin_dir / "llama-quantize"), "--dry-run", str(path), ftype, "2"],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (model_type, proc.stderr[-2000:])
        gguf = GGUFFile.read(path)
        specs = [TensorSpec(t.name, t.shape, t.ggml_type) for t in gguf.tensors]
        predicted = quantized_tensors(ModelArch.from_gguf(gguf), specs, ftype, has_imatrix=False)
        assert _dry_run_types(proc.stdout + proc.stderr) == {t.name: t.ggml_type.name for t in predicted}, model_type
