"""Rows of the public measurement set as speed-model cases: the model, the rig, the settings and the
placement each row's flags give, and the model's prediction for the row's test.

Used by the fit (plan/speed_fit.py), its report (bench/speed_model_vs_public.py) and the tests.
A row's model comes from the catalog (tensor shapes per llama.cpp's converter, per-tensor types
per llama-quant.cpp for the row's quant), rescaled to the file size llama-bench printed (size_gib:
imatrix / "UD" mixes keep some tensors at other types). The placement follows llama.cpp's rules
(llama-model.cpp load_tensors): -ngl N puts layers max(n_layer + 1 - N, 0).. and the output layer
on the GPUs, split by the cumulative --tensor-split (default: equal for equal GPUs); -ot REGEX=DEV
overrides are matched in order against the expert tensor names, first match wins.
"""

from __future__ import annotations

import bisect
import csv
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from heavylift.errors import HeavyliftError
from heavylift.hardware.catalog import GiB
from heavylift.hardware.rig import Rig
from heavylift.hardware.spec import parse_spec
from heavylift.models import catalog
from heavylift.plan.memory import ContextConfig
from heavylift.plan.model_source import ModelSource
from heavylift.plan.placement import LayerBytes
from heavylift.plan.speed import Geometry, decode_step, geometry, prefill_seconds
from heavylift.plan.speed_params import SpeedParams

CSV_PATH = Path(__file__).parent / "data" / "public_measurements.csv"
CLASSES = ("full GPU dense", "full GPU MoE", "hybrid", "CPU", "unified")

# Benchmarked models whose tensors have the same shapes as a catalog entry (they differ in RoPE
# scaling, context length or training data only, which do not change speed).
SAME_SHAPES = {
    "llama-3-8b": "llama-3.1-8b",  # Meta-Llama-3-8B: 32 x 4096, GQA 8, vocab 128256, as 3.1-8B
    "llama-3-70b": "llama-3.1-70b",  # Meta-Llama-3-70B: 80 x 8192, GQA 8, vocab 128256, as 3.1-70B
    "qwen3-coder-30b-a3b": "qwen3-30b-a3b",  # Qwen3-Coder-30B-A3B: the Qwen3-30B-A3B shapes
    "qwen2.5-coder-7b": "qwen2.5-7b",  # Qwen2.5-Coder-7B: 28 x 3584, GQA 4, vocab 152064, as Qwen2.5-7B
    "minimax-m2.7": "minimax-m2",  # llama-bench prints the arch as `minimax-m2 230B.A10B`
    "deepseek-r1": "deepseek-v3",  # same architecture (DeepSeek-R1 is a V3 fine-tune)
}


@dataclass
class Case:
    row: dict
    cls: str
    test: str  # pp | tg | pg
    measured: float
    n_prompt: int
    n_gen: int
    depth: int
    rig: Rig
    cfg: ContextConfig
    geo: Geometry
    size_ratio: float  # llama-bench's file size / our predicted size for the quant
    notes: list[str] = field(default_factory=list)

    @property
    def spec_complete(self) -> bool:
        """False when the prediction leans on host RAM (CPU or hybrid class) but the row's hw names
        neither the RAM channels nor a measured bandwidth: the model then assumes 2 channels."""
        if self.cls not in ("CPU", "hybrid"):
            return True
        hw = self.row.get("hw", "").lower()
        return bool(re.search(r"\d+\s*ch\b|gb/s", hw))

    def predict(self, params: SpeedParams) -> float:
        """tokens/s the model predicts for the row's test."""
        if self.test == "tg":
            return 1.0 / decode_step(self.geo, self.rig, params, self.cfg, self.depth + self.n_gen // 2, 1).time_s
        pre_s = prefill_seconds(self.geo, self.rig, params, self.cfg, self.depth, self.n_prompt)[0]
        if self.test == "pp":
            return self.n_prompt / pre_s
        tg_s = decode_step(self.geo, self.rig, params, self.cfg, self.depth + self.n_prompt + self.n_gen // 2, 1).time_s
        return (self.n_prompt + self.n_gen) / (pre_s + self.n_gen * tg_s)


def load_rows(path: Path = CSV_PATH) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _int(text: str, default: int) -> int:
    return int(float(text)) if text and text.strip() else default


def build(row: dict) -> Case | str:
    """The case for a row, or the reason it cannot be predicted (one line)."""
    key = row["model_key"].strip().lower()
    key = catalog.canonical(key) or catalog.canonical(SAME_SHAPES.get(key, key))
    if key is None:
        return f"model {row['model_key']!r} is not in the catalog"
    try:
        return _build(row, key)
    except HeavyliftError as e:
        return str(e)


def _build(row: dict, key: str) -> Case:
    from heavylift.plan.model_source import _predicted  # the catalog's own quantized tensor table

    src = _predicted(catalog.lookup(key), key, row["quant"].strip() or "Q4_K_M", None)
    rig = parse_spec(row["hw"])
    backend = row["backend"].strip().lower()
    if backend and backend != "cpu" and rig.gpus:
        rig.gpus = [dataclasses.replace(g, backend=backend) for g in rig.gpus]
    threads = _int(row.get("threads", ""), 0)
    if threads and not rig.is_unified:
        # llama.cpp computes on -t threads; the spec's core count is only an assumption when absent
        given = re.search(r"\d+\s*(?:c|cores?)\b", row["hw"].lower())
        rig.cpu_cores = min(threads, rig.cpu_cores or threads) if given else threads
    size = float(row["size_gib"]) * GiB if row.get("size_gib", "").strip() else None
    fa = row.get("fa", "").strip() == "1"  # empty: llama-bench's default before `auto` was off
    return case_for(src, rig, row["test"].strip(), _int(row["n_prompt"], 0), _int(row["n_gen"], 0),
                    _int(row["depth"], 0), fa, float(row["tps"]), row=row, file_bytes=size,
                    kv_type=row.get("type_k", "").strip().lower() or "f16", n_ubatch=_int(row.get("n_ubatch", ""), 512),
                    n_batch=_int(row.get("n_batch", ""), 2048), ngl=_int(row.get("ngl", ""), 999),
                    overrides=row.get("override_tensors", ""), tensor_split=row.get("tensor_split", ""),
                    n_cpu_moe=_int(row.get("n_cpu_moe", ""), 0))


def case_for(src: ModelSource, rig: Rig, test: str, n_prompt: int, n_gen: int, depth: int, fa: bool,
             measured: float, *, row: dict | None = None, file_bytes: float | None = None, kv_type: str = "f16",
             n_ubatch: int = 512, n_batch: int = 2048, ngl: int = 999, overrides: str = "",
             tensor_split: str = "", n_cpu_moe: int = 0) -> Case:
    """A llama-bench-like measurement (pp n_prompt / tg n_gen / pg, at `depth`) of `src` on `rig` as a case.
    file_bytes: the real file size; the predicted tensor sizes are scaled to it."""
    arch = src.arch
    layers = LayerBytes.from_tensors(src.tensors, arch.n_layer)
    total = sum(layers.dense) + sum(layers.experts) + layers.token_embd + layers.output
    ratio = file_bytes / total if file_bytes else 1.0
    if ratio != 1.0:
        layers = LayerBytes([int(b * ratio) for b in layers.dense], [int(b * ratio) for b in layers.experts],
                            int(layers.token_embd * ratio), int(layers.output * ratio))
    ctx = max(256, depth + n_prompt + n_gen)
    cfg = ContextConfig(ctx, 1, kv_type if fa else "f16", n_batch, n_ubatch, fa)
    if n_cpu_moe:
        # common/arg.cpp --n-cpu-moe N: an override "blk\.i\.ffn_(up|down|gate)_exps=CPU" for i < N, after -ot's
        extra = ",".join(f"blk\\.{il}\\.ffn_(up|down|gate)_exps=CPU" for il in range(min(n_cpu_moe, arch.n_layer)))
        overrides = f"{overrides},{extra}" if overrides.strip() else extra
    placement = case_placement(layers, arch.n_layer, rig, ngl if rig.gpus else 0, overrides, tensor_split)
    geo = geometry(layers, arch, cfg, rig, placement, src.quant)
    return Case(row or {}, classify(rig, arch.is_moe, geo), test, measured, n_prompt, n_gen, depth, rig, cfg,
                geo, ratio)


def classify(rig: Rig, is_moe: bool, geo: Geometry) -> str:
    lay = geo.layout
    if rig.is_unified:
        return "unified"
    if not rig.gpus:
        return "CPU"
    if lay.host in lay.layer or lay.host in lay.experts:
        return "hybrid"
    return "full GPU MoE" if is_moe else "full GPU dense"


@dataclass
class CaseDevice:
    kind: str  # "gpu" | "cpu"
    expert_layers: list[int]  # layers whose expert tensors this device holds


@dataclass
class CasePlacement:
    """The part of a placement the speed model reads (the shape of plan/placement.py's Placement)."""

    layer_device: list[int]  # per layer 0..n_layer (the last: the output layer): -1 = CPU, else GPU index
    devices: list[CaseDevice]  # the GPUs in order, then the host


def case_placement(layers: LayerBytes, n: int, rig: Rig, ngl: int, overrides: str, tensor_split: str) -> CasePlacement:
    """Which device each layer and each layer's experts use under llama.cpp's -ngl / -ts / -ot rules."""
    n_gpu = len(rig.gpus)
    i_gpu_start = max(n + 1 - ngl, 0)
    act = min(ngl, n + 1) if n_gpu else 0
    shares = [float(x) for x in tensor_split.replace("/", ",").split(",") if x.strip()] if tensor_split.strip() else []
    if len(shares) != n_gpu or not sum(shares):
        shares = [float(g.memory_bytes) for g in rig.gpus]  # llama.cpp default: each device's free memory
    cum, acc = [], 0.0
    for s in shares:
        acc += s
        cum.append(acc / sum(shares))

    def device(il: int) -> int:
        if not n_gpu or il < i_gpu_start or il - i_gpu_start >= act:
            return -1
        return min(bisect.bisect_right(cum, (il - i_gpu_start) / act), n_gpu - 1)

    layer_dev = [device(il) for il in range(n + 1)]
    rules = []
    for item in (x.strip() for x in overrides.split(",") if x.strip()):
        pattern, _, target = item.rpartition("=")
        m = re.search(r"(\d+)$", target)
        rules.append((re.compile(pattern), -1 if target.upper().startswith("CPU") else int(m.group(1)) if m else 0))
    expert_dev = list(layer_dev[:n])
    for il in range(n):
        for rx, dev in rules:
            if layers.experts[il] and rx.search(f"blk.{il}.ffn_up_exps.weight"):
                expert_dev[il] = dev if dev < n_gpu else -1
                break
    held = [il for il in range(n) if layers.experts[il]]
    devices = [CaseDevice("gpu", [il for il in held if expert_dev[il] == g]) for g in range(n_gpu)]
    devices.append(CaseDevice("cpu", [il for il in held if expert_dev[il] == -1]))
    return CasePlacement(layer_dev, devices)


def build_all(rows: list[dict]) -> tuple[list[Case], list[tuple[dict, str]]]:
    cases, skipped = [], []
    for row in rows:
        c = build(row)
        if isinstance(c, Case):
            cases.append(c)
        else:
            skipped.append((row, c))
    return cases, skipped
