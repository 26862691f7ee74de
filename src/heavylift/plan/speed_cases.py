"""Rows of the public measurement set as speed-model cases: the model, the rig, the settings and the
placement each row's flags give, and the model's prediction for the row's test.

Used by the fit (plan/speed_fit.py), its report (bench/speed_model_vs_public.py) and the tests.
A row's model comes from the catalog (tensor shapes per llama.cpp's converter, per-tensor types
per llama-quant.cpp for the row's quant), rescaled to the file size llama-bench printed (size_gib:
imatrix / "UD" mixes keep some tensors at other types). Its -ngl / -ts / -ot / --n-cpu-moe go
through the planner's own placement (plan/placement.py Placer.evaluate: llama.cpp's
load_tensors rules), the same code that evaluates a user's flags.
"""

from __future__ import annotations

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
from heavylift.plan.placement import LayerBytes, Placer
from heavylift.plan.placement_flags import PlacementFlags
from heavylift.plan.speed import Geometry, decode_step, geometry, prefill_seconds
from heavylift.plan.speed_build import build_number, fa_tile_all, slowdown
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


# Rows whose own source says the machine ran below what the row's hw states, without saying how far,
# so that no --hw describes it; bench/speed_model_vs_public.py reports them and also summarises
# without them. A search of every row's notes (2026-11-26) finds only these: m0325/m0326, ik_llama.cpp
# issue #437, whose poster writes "my memory somehow still not working at the top speed".
BELOW_STATED_HW = frozenset({"m0325", "m0326"})


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
    # the row's build predates published graph speed-ups of its arch (plan/speed_build.py):
    # decode and prefill times are this much longer than on today's engine
    build_slowdown: tuple[float, float] = (1.0, 1.0)
    # the row's build predates the CPU's F16 flash-attention kernels (speed_decode.cpu_fa_f16_kernels)
    old_cpu_fa: bool = False

    @property
    def spec_complete(self) -> bool:
        """False when the prediction leans on host RAM (CPU or hybrid class) but the row's hw names
        neither the RAM channels nor a measured bandwidth: the model then assumes 2 channels."""
        if self.cls not in ("CPU", "hybrid"):
            return True
        hw = self.row.get("hw", "").lower()
        return bool(re.search(r"\d+\s*ch\b|\d+-bit\b|gb/s", hw))

    @property
    def hw_as_stated(self) -> bool:
        """False for a row whose own source says the machine ran below what its hw states (BELOW_STATED_HW)."""
        return self.row.get("id") not in BELOW_STATED_HW

    def predict(self, params: SpeedParams) -> float:
        """tokens/s the model predicts for the row's test."""
        slow_tg, slow_pp = self.build_slowdown
        if self.test == "tg":
            step = decode_step(self.geo, self.rig, params, self.cfg, self.depth + self.n_gen // 2, 1, self.old_cpu_fa)
            return 1.0 / (step.time_s * slow_tg)
        pre_s = prefill_seconds(self.geo, self.rig, params, self.cfg, self.depth, self.n_prompt,
                                self.old_cpu_fa)[0] * slow_pp
        if self.test == "pp":
            return self.n_prompt / pre_s
        tg_s = decode_step(self.geo, self.rig, params, self.cfg, self.depth + self.n_prompt + self.n_gen // 2,
                           1, self.old_cpu_fa).time_s * slow_tg
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
        if not given:
            rig.cpu_cores = threads
        rig.n_threads = threads  # Rig.threads: the big cores first
    size = float(row["size_gib"]) * GiB if row.get("size_gib", "").strip() else None
    fa = row.get("fa", "").strip() == "1"  # empty: llama-bench's default before `auto` was off
    case = case_for(src, rig, row["test"].strip(), _int(row["n_prompt"], 0), _int(row["n_gen"], 0),
                    _int(row["depth"], 0), fa, float(row["tps"]), row=row, file_bytes=size,
                    kv_type=row.get("type_k", "").strip().lower() or "f16", n_ubatch=_int(row.get("n_ubatch", ""), 512),
                    n_batch=_int(row.get("n_batch", ""), 2048), ngl=_int(row.get("ngl", ""), 999),
                    overrides=row.get("override_tensors", ""), tensor_split=row.get("tensor_split", ""),
                    n_cpu_moe=_int(row.get("n_cpu_moe", ""), 0))
    case.old_cpu_fa = predates_cpu_fa_kernels(row)
    build = build_number(row.get("llama_build"))
    slow_tg, slow_pp, sources = slowdown(src.arch.arch, build)
    if sources:
        case.build_slowdown = (slow_tg, slow_pp)
        case.notes.append(f"build {row['llama_build']} predates: " + "; ".join(sources))
    tile, sources = fa_tile_all(build)
    if tile and "rocwmma" not in row.get("url", "").lower() + row.get("hardware", "").lower():
        case.geo = dataclasses.replace(case.geo, fa_tile_all=tile)
        case.notes.append(f"build {row['llama_build']} predates: " + "; ".join(sources))
    return case


# llama.cpp PR #19012 (tiled CPU flash attention for prefill, opened 2026-01-22) and PR #19209 (split-KV
# decode, 2026-01-30): a row dated before the first ran the one-query-row kernel for F16 caches too, as
# did the builds its own table names as the base it was measured against.
CPU_FA_KERNELS_DATE = "2026-01-22"
BUILDS_BEFORE_CPU_FA_KERNELS = ("a14b960bc",)  # PR #19012's "master" column


def predates_cpu_fa_kernels(row: dict) -> bool:
    build = row.get("llama_build", "").strip()
    if build.startswith(BUILDS_BEFORE_CPU_FA_KERNELS) and "#19012" not in build:
        return True
    date = row.get("date", "").strip()
    return bool(date) and date < CPU_FA_KERNELS_DATE


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
    args: list[tuple[str, str]] = [("-ot", overrides.strip())] if overrides.strip() else []
    if n_cpu_moe:
        args.append(("--n-cpu-moe", str(n_cpu_moe)))  # llama-bench/server add it after the -ot patterns
    split = tuple(float(x) for x in re.split(r"[,/]", tensor_split) if x.strip()) if tensor_split.strip() else None
    flags = PlacementFlags(ngl if rig.gpus else 0, split, tuple(args))
    placement = Placer(src.tensors, arch, cfg, rig).evaluate(flags)  # llama.cpp's rules, plan/placement.py
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


def build_all(rows: list[dict]) -> tuple[list[Case], list[tuple[dict, str]]]:
    cases, skipped = [], []
    for row in rows:
        c = build(row)
        if isinstance(c, Case):
            cases.append(c)
        else:
            skipped.append((row, c))
    return cases, skipped
