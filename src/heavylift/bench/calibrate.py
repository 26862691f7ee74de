"""`heavylift bench MODEL... --calibrate`: teach the speed model this machine.

llama-bench (the engine's own numbers) measures pp and tg at each depth with flash attention on, as
the planner plans it (ContextConfig.flash_attn), on all physical cores. Each measurement becomes a
speed case (plan/speed_cases.py `case_for`, the same path the public fit uses), and the CPU side of
SpeedParams is fitted on them in two steps, both from plan/speed_fit.py:
1. `core_speed`: the per-core decode/KV rates and the per-core FLOP rate each scaled by one
   factor (a core count cannot say how fast a core is: a cloud vCPU is 2-4x slower than a desktop core);
2. `fit(..., only=CAL_KEYS)`: the regularised robust fit of the CPU constants, each pulled toward its
   step-1 value, so that what the runs cannot constrain stays where the public fit put it.
The bandwidth is the STREAM triad measured here (bench/machine.py) and `cpu.bw_eff` the fraction of
it llama.cpp's kernels reach. The graph's fixed cost per layer (`cpu.layer_s`: a decode token runs ~31
graph nodes per layer, 1494 for a 48-layer llama with FA on by bench/graph_nodes.py, each ended by a
barrier of all threads, ggml-cpu.c ggml_graph_compute_thread) is measured apart from the weights by a
probe: a random-weight llama with the calibration model's layer count and 64-wide layers
(models/tiny_gguf.py), whose decode time is almost all that fixed cost. Without it, 10-20% of a 135M
model's decode time on a 2-vCPU VM (30 layers x 31-57 us of ~8-9 ms) is charged to its weight bytes,
and a model with more bytes per layer (an MoE) is predicted too slow.
The result is stored as this machine's profile (bench/profile.py).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from heavylift.bench import profile as profile_mod
from heavylift.bench.llama_bench import bench_binary, run_llama_bench
from heavylift.bench.machine import load_average
from heavylift.errors import UsageError
from heavylift.plan.speed_fit import get

Say = Callable[[str], None]

# The CPU constants a calibration may move; which of them a set of runs really constrains is
# decided by the fit (rows whose prediction moves with the constant), the rest keep the public fit.
CAL_KEYS = ("cpu.bw_eff", "cpu.decode_bps_per_core", "cpu.kv_bps_per_core", "cpu.fa_flops_per_core",
            "cpu.prefill_flops_per_core", "cpu.attn_fa_eff", "cpu.attn_nofa_eff", "cpu.expert_eff",
            "cpu.moe_layer_s", "cpu.moe_half_tokens", "cpu.layer_s")

# The graph-overhead probe: a llama with the calibration model's layer count and 64-wide layers (64 x 256
# FFN, 4 heads, one KV head, 512-token vocabulary, F16): ~0.12 MB of weights per layer, so its decode
# step is the graph's fixed cost per layer (nodes and barriers) plus a small weight term the fit prices.
PROBE_LABEL = "graph-overhead probe"


# cpu.bw_eff against a measured STREAM triad, where no run here is bound by RAM: decode reads the
# weights as one read-only stream, which moves at least what the triad reports (STREAM counts 24 of
# the 32 bytes a triad element moves once the write-allocate read is included; a read-only stream
# has no write traffic), so 1.0 of the triad, with 4/3 the bound a run that RAM binds may reach.
# The public fit's bw_eff (~0.58) is a fraction of the datasheet peak instead.
TRIAD_READ_EFF = 1.0


@dataclasses.dataclass
class Point:
    model: str
    test: str  # "pp" | "tg"
    n_prompt: int
    n_gen: int
    depth: int
    measured: float  # tok/s, llama-bench (the median of its repetitions); with rounds, their median
    before: float = 0.0  # predicted with the public fit
    after: float = 0.0  # predicted with the calibrated constants
    rounds: list[float] = dataclasses.field(default_factory=list)  # each round's figure, in order

    @property
    def spread(self) -> float:
        """(fastest - slowest) / fastest over the rounds: this machine's noise on this point."""
        return spread(self.rounds)


def spread(rounds: list[float]) -> float:
    return (max(rounds) - min(rounds)) / max(rounds) if len(rounds) > 1 and max(rounds) > 0 else 0.0


# A round-to-round spread above this on some point is reported: the fit takes each point's median
# round, and on a machine that noisy a few rounds leave that median uncertain by about as much.
NOISY_SPREAD = 0.10


def model_path(name: str) -> tuple[str, Path]:
    """(label, file) for a stored model name, `default` or a .gguf path."""
    path = Path(name).expanduser()
    if name.endswith(".gguf"):
        if not path.is_file():
            raise UsageError(f"{name}: no such file")
        return path.name, path
    from heavylift.models.model_store import ModelStore

    stored = ModelStore().get(name)
    return stored.name, Path(stored.path)


def check(models: list[str], prompt: int, gen: int, depths: list[int]) -> list[tuple[str, Path, object]]:
    """(label, file, ModelSource) per model; refuses an unknown model or a sweep beyond its context."""
    from heavylift.plan.model_source import resolve

    out = []
    for name in models:
        label, path = model_path(name)
        src = resolve(str(path), None)
        need = max(depths) + prompt + gen
        if need > src.arch.n_ctx_train:
            raise UsageError(f"{label}: depth {max(depths):,} + prompt {prompt:,} + gen {gen:,} = {need:,} tokens "
                             f"exceeds its trained context {src.arch.n_ctx_train:,}")
        out.append((label, path, src))
    return out


def probe_model(n_layer: int) -> tuple[str, Path, object]:
    """(label, file, ModelSource) of the graph-overhead probe for `n_layer` layers, written once into
    the cache (a few MB)."""
    from heavylift import paths
    from heavylift.models.tiny_gguf import TinyShape, write_tiny_llama
    from heavylift.plan.model_source import resolve

    shape = TinyShape(n_embd=64, n_ff=256, n_head=4, n_head_kv=1, n_vocab=512, n_layer=n_layer, n_ctx_train=4096)
    path = paths.cache_dir() / "bench" / f"graph-probe-{n_layer}-layers.gguf"
    if not path.is_file():
        write_tiny_llama(path, shape)
    return f"{PROBE_LABEL} ({n_layer} layers)", path, resolve(str(path), None)


def measure(models: list[str], prompt: int, gen: int, depths: list[int], repeats: int, threads: int,
            say: Say, rounds: int = 1, probe: bool = True) -> tuple[list[tuple[str, Path, object, list[Point]]],
                                                                  list[list[str]]]:
    """llama-bench on each model: pp `prompt` and tg `gen` at each depth, FA on; with `probe`, last, the
    graph-overhead probe (tg `gen` at depth 0) with the first model's layer count. Returns per model
    (label, path, ModelSource, points) and the commands run. With `rounds` > 1 the models are
    measured in turn that many times and each point takes the median of its rounds: alternating spreads
    the machine's slow and fast periods over the models alike, and the median is robust to both. (The
    fastest round was kept before 2026-11-26; on the dev VM one round ran the dense model 16-30% faster
    than its other four while the MoE fixture saw no such round, so the fastest of five compared a
    lucky period with ordinary ones: docs/bench.md.)"""
    from heavylift.setup.engine_build import current_engine

    binary = bench_binary(current_engine())  # says how to get llama-bench when the build lacks it
    best: dict[str, tuple[str, Path, object, list[Point]]] = {}
    commands = []
    checked = [(label, path, src, depths) for label, path, src in check(models, prompt, gen, depths)]
    if probe and checked:
        checked.append((*probe_model(checked[0][2].arch.n_layer), [0]))
    for r in range(max(1, rounds)):
        for label, path, src, at in checked:
            is_probe = label.startswith(PROBE_LABEL)
            say(f"bench: calibrating on {label}: llama-bench "
                + (f"tg{gen} at depth 0" if is_probe else f"pp{prompt} and tg{gen} at depths {','.join(map(str, at))}")
                + f", FA on, {threads} threads, {repeats} repetitions"
                + (f", round {r + 1} of {rounds}" if rounds > 1 else "") + " ...")
            res = run_llama_bench(binary, path, ["-t", str(threads), "-fa", "on"],
                                  [] if is_probe else [(prompt, d) for d in at], [(gen, d) for d in at], repeats)
            commands += res.commands
            points = [] if is_probe else [Point(label, "pp", prompt, 0, d, res.pp_tps[(prompt, d)]) for d in at]
            points += [Point(label, "tg", 0, gen, d, res.tg_tps[(gen, d)]) for d in at]
            earlier = [pt.rounds for pt in best[label][3]] if label in best else [[] for _ in points]
            for pt, prior in zip(points, earlier, strict=True):
                pt.rounds = prior + [pt.measured]
                pt.measured = statistics.median(pt.rounds)
            best[label] = (label, path, src, points)
    return list(best.values()), commands


def core_speed(cases: list, params):
    """`params` with the CPU's per-core rates scaled to this machine, and the factors: the decode rate
    on the tg runs at the smallest depth (the weights), the KV rates on the deeper tg runs (with the
    decode factor when there are none), the FLOP rate on the shallowest pp runs, the attention
    efficiencies on the deeper pp runs, the fixed cost per layer on the graph-overhead probe. Each a
    bounded 1-D search (1/16x..16x) for the smallest factor within 1% of the best: where decode is bound by RAM, not the
    cores, the factor is not run up to a bound that the data cannot see."""
    import numpy as np

    from heavylift.plan.speed_fit import with_values

    p = copy.deepcopy(params)
    factors = {"decode": 1.0, "kv": 1.0, "prefill": 1.0, "attention": 1.0, "overhead": 1.0}
    grid = np.exp(np.linspace(math.log(1 / 16), math.log(16), 161))
    probes = [c for c in cases if is_probe(c)]
    cases = [c for c in cases if not is_probe(c)]
    tg, pp = [c for c in cases if c.test == "tg"], [c for c in cases if c.test == "pp"]
    shallow = min((c.depth for c in tg), default=0)
    shallow_pp = min((c.depth for c in pp), default=0)
    groups = (("decode", ["cpu.decode_bps_per_core", "cpu.kv_bps_per_core", "cpu.fa_flops_per_core"],
               [c for c in tg if c.depth == shallow]),
              ("kv", ["cpu.kv_bps_per_core", "cpu.fa_flops_per_core"], [c for c in tg if c.depth > shallow]),
              ("prefill", ["cpu.prefill_flops_per_core"], [c for c in pp if c.depth == shallow_pp]),
              ("attention", ["cpu.attn_fa_eff"], [c for c in pp if c.depth > shallow_pp]),
              ("overhead", ["cpu.layer_s"], probes))
    for _ in range(2):  # the groups barely interact on a CPU; a second pass settles it
        for group, keys, chosen in groups:
            if not chosen:
                continue
            start = np.array([get(p, k) for k in keys])
            costs = [sum(math.log(c.predict(with_values(p, keys, start * f)) / c.measured) ** 2 for c in chosen)
                     for f in grid]
            best = min(costs)
            f = float(next(g for g, c in zip(grid, costs, strict=True) if c <= best + 0.01 ** 2 * len(chosen)))
            p = with_values(p, keys, start * f)
            factors[group] *= f
    factors["kv"] *= factors["decode"]  # the KV rates moved with the decode factor too
    return p, factors


def is_probe(case) -> bool:
    return case.row.get("model", "").startswith(PROBE_LABEL)


def fit_profile(runs, rig, fingerprint: str, cpu_model: str, cores: int, triad_bps: float,
                load: float | None = None, command: str = "", rig_before=None) -> profile_mod.Profile:
    """The calibrated profile from measured runs (see the module doc); fills each point's before/after.
    `rig`: this machine with its measured bandwidth and cores; `rig_before`: the uncalibrated local rig
    (`plan --hw local --uncalibrated`), which the "before" predictions use (default `rig`)."""
    from heavylift.plan.speed_cases import case_for
    from heavylift.plan.speed_fit import fit
    from heavylift.plan.speed_params import SpeedParams

    public = SpeedParams.fitted()
    cases, points, srcs = [], [], []
    for _label, _path, src, pts in runs:
        for pt in pts:
            n_prompt, n_gen = (pt.n_prompt, 0) if pt.test == "pp" else (0, pt.n_gen)
            cases.append(case_for(src, rig, pt.test, n_prompt, n_gen, pt.depth, True, pt.measured,
                                  row={"model": pt.model}))
            points.append(pt)
            srcs.append(src)
    if not cases:
        raise UsageError("nothing measured to calibrate on")
    # here the bandwidth is the triad measured on this machine, not a datasheet peak: bw_eff starts at
    # TRIAD_READ_EFF of it and may exceed 1 (see there)
    start = copy.deepcopy(public)
    start.cpu.bw_eff = TRIAD_READ_EFF
    core, factors = core_speed(cases, start)
    params, informed = fit(cases, base=core, only=CAL_KEYS, bounds={"cpu.bw_eff": (0.2, 4 / 3)})
    models = [label for label, *_ in runs if not label.startswith(PROBE_LABEL)]
    date = time.strftime("%Y-%m-%d", time.gmtime())
    fitted = {}
    for key in CAL_KEYS:
        n = informed.get(key, 0)
        scaled = abs(get(params, key) / get(public, key) - 1) > 0.005
        group = {"cpu.decode_bps_per_core": "decode", "cpu.prefill_flops_per_core": "prefill",
                 "cpu.kv_bps_per_core": "kv", "cpu.fa_flops_per_core": "kv", "cpu.attn_nofa_eff": "attention",
                 "cpu.attn_fa_eff": "attention", "cpu.layer_s": "overhead"}.get(key)
        if key == "cpu.bw_eff" and not n:
            fitted[key] = f"{TRIAD_READ_EFF:.2f} of the triad measured here (no run here is bound by RAM)"
            continue
        fitted[key] = (f"calibrated here ({n} of {len(cases)} runs depend on it)" if n else
                       f"public fit x this machine's {group} core speed ({factors[group]:.2f})" if scaled and group else
                       "public fit (no run here depends on it)")
        if n:
            params.sources[key] = f"calibrated on this machine ({fingerprint}) {date} with {', '.join(models)}"
    params.label = (f"calibrated on this machine ({fingerprint}) {date} with {', '.join(models)}: CPU constants "
                    f"fitted on {len(cases)} llama-bench runs (core speed x{factors['decode']:.2f} decode, "
                    f"x{factors['kv']:.2f} KV, x{factors['prefill']:.2f} prefill; graph cost per layer "
                    f"x{factors['overhead']:.2f}), the rest the public fit")
    before = cases
    if rig_before is not None:
        before = [case_for(src, rig_before, c.test, c.n_prompt, c.n_gen, c.depth, True, c.measured)
                  for src, c in zip(srcs, cases, strict=True)]
    for pt, case, old in zip(points, cases, before, strict=True):
        pt.before, pt.after = old.predict(public), case.predict(params)
    return profile_mod.Profile(
        fingerprint=fingerprint, created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), models=models,
        cpu_model=cpu_model, physical_cores=cores, triad_bandwidth_bps=triad_bps, params=params.to_dict(),
        fitted=fitted, points=[dataclasses.asdict(p) for p in points], load_1m=load, command=command)


def calibrate(models: list[str], *, prompt: int = 512, gen: int = 32, depths: list[int] | None = None,
              repeats: int = 2, threads: int | None = None, remeasure: bool = False, say: Say = print,
              store: bool = True, rounds: int = 1) -> profile_mod.Profile:
    """Measure `models` here, fit, store (unless `store` is False) and return this machine's profile."""
    from heavylift.bench.session import machine_info
    from heavylift.bench.store import BenchStore
    from heavylift.hardware.spec import detect_local
    from heavylift.setup.engine_build import current_engine

    depths = sorted(set(depths if depths is not None else [0, 4096]))
    check(models, prompt, gen, depths)  # bad input refused before the machine is measured
    bench_binary(current_engine())
    info = machine_info(BenchStore(), say, remeasure)
    threads = threads or info.physical_cores
    load = load_average()
    runs, commands = measure(models, prompt, gen, depths, repeats, threads, say, rounds)
    rig_before = detect_local(calibrated=False)
    rig = dataclasses.replace(rig_before, ram_bandwidth_bps=info.triad_bandwidth_bps, cpu_cores=threads,
                              n_threads=threads)  # llama-bench ran with -t threads
    after_load = load_average()
    worst_load = max(x for x in (load, after_load, 0.0) if x is not None)
    prof = fit_profile(runs, rig, info.fingerprint, info.cpu_model, threads, info.triad_bandwidth_bps,
                       worst_load, "; ".join(" ".join(c) for c in commands), rig_before)
    if store:
        path = profile_mod.save(prof)
        say(f"bench: profile stored in {path}")
    if worst_load > (os.cpu_count() or 1) / 4:
        say(f"bench: the load average was {worst_load:.1f} on {os.cpu_count()} logical cores while measuring: other "
            "work shared the cores, so the profile is slower than this machine; calibrate again when it is idle")
    return prof


def format_profile(prof: profile_mod.Profile) -> list[str]:
    lines = [f"speed profile for this machine ({prof.fingerprint}): {prof.cpu_model}, {prof.physical_cores} cores, "
             f"STREAM triad {prof.triad_bandwidth_bps / 1e9:.1f} GB/s",
             f"calibrated {prof.created_at} on {', '.join(prof.models)}"
             + (f" (load average {prof.load_1m:.1f})" if prof.load_1m is not None else ""),
             "", f"{'model':28} {'test':8} {'depth':>6} {'measured':>9} {'spread':>7} {'public fit':>11} {'err':>6} "
             f"{'calibrated':>11} {'err':>6}"]
    noisy = []
    for p in prof.points:
        test = f"pp{p['n_prompt']}" if p["test"] == "pp" else f"tg{p['n_gen']}"
        m, rounds = p["measured"], p.get("rounds") or []  # profiles stored before rounds were kept lack them
        sp = spread(rounds)
        if sp > NOISY_SPREAD:
            noisy.append(f"{test} at depth {p['depth']} of {p['model'][:28]} {sp:.0%}")
        lines.append(f"{p['model'][:28]:28} {test:8} {p['depth']:6} {m:9.1f} "
                     f"{(f'{sp:.0%}' if len(rounds) > 1 else '-'):>7} {p['before']:11.1f} "
                     f"{p['before'] / m - 1:+6.0%} {p['after']:11.1f} {p['after'] / m - 1:+6.0%}")
    n_rounds = max((len(p.get("rounds") or []) for p in prof.points), default=0)
    if n_rounds > 1:
        lines.append(f"measured: the median of {n_rounds} rounds; spread: (fastest - slowest) / fastest")
    if noisy:
        lines.append(f"noisy machine: rounds differ by more than {NOISY_SPREAD:.0%} on {'; '.join(noisy)}; "
                     "calibrate again when it is idle, or with more --rounds")
    lines += ["", "constants (CPU):"]
    cpu = prof.params.get("cpu", {})
    for key, how in prof.fitted.items():
        name = key.split(".", 1)[1]
        lines.append(f"  {name:24} {cpu.get(name, float('nan')):10.4g}  {how}")
    lines.append("  every other constant: the public fit (plan/data/speed_params.json)")
    return lines
