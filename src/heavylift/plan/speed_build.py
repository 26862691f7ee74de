"""Published llama.cpp speed-ups of one architecture's graph or kernels, by build: a measurement taken on
a build older than the change ran that much slower than today's engine does.

The speed model describes the engine heavylift pins (plan/speed.py); the public measurement set
(plan/data/public_measurements.csv) also holds rows from older builds. Where llama.cpp rewrote an
architecture's compute graph and the pull request published before/after llama-bench numbers on
the same machine, a row measured on a build that predates the change is compared with the
prediction slowed by that published factor (fit and report alike: plan/speed_cases.py). No constant
is fitted here. A plan for today's engine is never slowed (its build is newer than every entry).

Qwen3-Next (arch `qwen3next`): its gated delta-net layers ran as many small ops per layer in the
first builds (graph nodes of Qwen3-Next-80B-A3B per token: 6242 at bs=1 on the master that
llama.cpp PR #19504, opened 2026-02-11, started from, before its fused GATED_DELTA_NET op; 5071 on
the pinned engine 0c1e570 at -np 1, fa on, counted by `python bench/graph_nodes.py`). Two merged
PRs published the speed-up (SPEEDUPS).
They were measured on CUDA and Metal; the factor is applied on every backend (a graph change).

gpt-oss (MXFP4): one user ran the same benchmark on the same RTX PRO 6000 Max-Q with builds 6199 and
6445 and posted both (SPEEDUPS); the change is not tied to one PR, so only builds up to 6199 are
slowed (a row between the two builds is taken as having it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class GraphSpeedup:
    """A published speed-up of `arch` that builds numbered `last_build_without` and older lack."""

    arch: str
    last_build_without: int
    decode: float  # tok/s after / before, token generation
    prefill: float  # tok/s after / before, prompt processing
    source: str


SPEEDUPS: tuple[GraphSpeedup, ...] = (
    GraphSpeedup("qwen3next", 7700, 71.88 / 67.14, 743.86 / 721.64,
                 "ggml-org/llama.cpp PR #18683 'model: try to improve Qwen3 Next' (merged January 2026): "
                 "3x RTX 3090 CUDA, Q2_K, -ngl 99: tg128 67.14 -> 71.88, pp512 721.64 -> 743.86 t/s, "
                 "build 707cbafca (7700) -> d5a085696 (7704)"),
    # the same machine and benchmark on two builds, posted by the same user: no PR names the change
    # (MXFP4 kernel work between b6199 and b6445); builds in between are not known to lack it
    GraphSpeedup("gpt-oss", 6199, 197.21 / 170.62, 6403.85 / 4494.20,
                 "llama.cpp discussion #15396 (gpt-oss guide), SoftwareRenderer: RTX PRO 6000 Blackwell Max-Q, "
                 "gpt-oss-120b MXFP4, llama-bench -fa 1 -ub 2048: tg128 170.62 -> 197.21, pp2048 4494.20 -> "
                 "6403.85 t/s, build f08c4c0 (6199, 2025-08-18) -> 00681df (6445, 2025-09-10), \"40-50% PP and "
                 "15% TG improvement\" (rows m0701-m0710)"),
    GraphSpeedup("qwen3next", 7946, 50.39 / 38.02, 1125.73 / 930.70,
                 "ggml-org/llama.cpp PR #19375 'models : optimizing qwen3next graph' (ggerganov, 2026-02-05, "
                 "fewer copies in the graph): M2 Ultra Metal, Q4_0: tg32 38.02 -> 50.39, pp512 930.70 -> 1125.73 "
                 "t/s against b7946"),
)


@dataclass(frozen=True)
class KernelAdded:
    """A GPU generation on which builds numbered `last_build_without` and older ran flash-attention
    prefill on the tile kernel (plain FP16/FP32 ALUs) for every model, not the matrix-core kernel."""

    generation: str  # plan/speed_prefill.AMD_GENERATION values
    last_build_without: int
    source: str


FA_MMA_ADDED: tuple[KernelAdded, ...] = (
    KernelAdded("rdna4", 7653,
                "ggml-org/llama.cpp PR #18481 'HIP: add fattn-mma-f16 for RDNA4' (zhang-hui-yulo, opened 2025-12-30, "
                "merged January 2026; JohannesGaessler's before/after table of 2026-01-12 is against b7653): until "
                "then a HIP build without GGML_HIP_ROCWMMA_FATTN ran FA on RDNA4 with the tile kernel"),
)


def fa_tile_all(build: int | None) -> tuple[frozenset[str], list[str]]:
    """(AMD generations whose FA prefill ran the tile kernel for every model at `build`, sources);
    none for an unknown build (assumed current)."""
    if build is None:
        return frozenset(), []
    hits = [k for k in FA_MMA_ADDED if build <= k.last_build_without]
    return frozenset(k.generation for k in hits), [k.source for k in hits]


def build_number(text: str | None) -> int | None:
    """7423 from llama-bench's `2aa45ef9e (7423)`; None when the row states no build number."""
    m = re.search(r"\((\d+)\)", text or "")
    return int(m.group(1)) if m else None


def slowdown(arch: str, build: int | None) -> tuple[float, float, list[str]]:
    """(decode factor, prefill factor, sources) by which `build` ran `arch` slower than today's
    engine; (1, 1, []) for an unknown build (assumed current) and for archs without entries."""
    decode = prefill = 1.0
    used: list[str] = []
    if build is None:
        return decode, prefill, used
    for s in SPEEDUPS:
        if s.arch == arch and build <= s.last_build_without:
            decode *= s.decode
            prefill *= s.prefill
            used.append(s.source)
    return decode, prefill, used
