"""llama.cpp's own `llama-bench` on the same model, settings and threads: the figures the HTTP
path is compared with (`--against-llama-bench`). The one builder of its command line.

llama-bench's pp test is `-p P -d D`: P prompt tokens after D in the cache; its tg test is
`-n N -d D`: N tokens decoded one at a time after D. A bench request of P prompt tokens at depth D
decodes after D + P, so it is compared with tg at depth D + P.
"""

from __future__ import annotations

import json
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from heavylift.errors import EngineError, HeavyliftError, SetupError
from heavylift.setup.engine_build import EngineBuild

# llama-server flag -> (llama-bench flag, how the value changes). Flags not listed do not exist in
# llama-bench (sampling, server, context size: llama-bench sizes its context to the test).
_SAME = {"-t": "-t", "--threads": "-t", "-fa": "-fa", "--flash-attn": "-fa", "-b": "-b", "--batch-size": "-b",
         "-ub": "-ub", "--ubatch-size": "-ub", "-ctk": "-ctk", "--cache-type-k": "-ctk", "-ctv": "-ctv",
         "--cache-type-v": "-ctv", "-ngl": "-ngl", "--n-gpu-layers": "-ngl", "--gpu-layers": "-ngl",
         "-ncmoe": "-ncmoe", "--n-cpu-moe": "-ncmoe", "-sm": "-sm", "--split-mode": "-sm", "-mg": "-mg",
         "--main-gpu": "-mg", "-ot": "-ot", "--override-tensor": "-ot", "-lm": "-lm", "--load-mode": "-lm",
         "--poll": "--poll", "--prio": "--prio"}
_LISTS = {"-ts": "-ts", "--tensor-split": "-ts", "-dev": "-dev", "--device": "-dev"}  # ',' in server, '/' in bench
_SWITCHES = {"-nkvo": ["-nkvo", "1"], "--no-kv-offload": ["-nkvo", "1"], "--no-op-offload": ["-nopo", "1"],
             "--no-repack": ["--repack", "0"], "--no-mmap": ["-lm", "none"], "--mlock": ["-lm", "mlock"]}
# Server-side settings with no bearing on a single sequence's speed (llama-bench sizes its own context).
_SERVER_ONLY = {"-m", "--model", "--host", "--port", "-c", "--ctx-size", "-np", "--parallel", "--alias", "--fit",
                "--slot-save-path", "--api-key", "-lv", "--log-verbosity", "--seed", "-s"}
_NO_VALUE = {"--metrics", "--jinja", "--cont-batching", "--no-webui", "--verbose", "-v", "--no-warmup"}


@dataclass
class LlamaBenchResult:
    commands: list[list[str]]
    pp_tps: dict[tuple[int, int], float] = field(default_factory=dict)  # (prompt, depth) -> tok/s
    tg_tps: dict[tuple[int, int], float] = field(default_factory=dict)  # (gen, depth) -> tok/s
    pp_stdev: dict[tuple[int, int], float] = field(default_factory=dict)
    tg_stdev: dict[tuple[int, int], float] = field(default_factory=dict)
    pp_samples: dict[tuple[int, int], list[float]] = field(default_factory=dict)  # each repetition (samples_ts)
    tg_samples: dict[tuple[int, int], list[float]] = field(default_factory=dict)
    not_passed: list[str] = field(default_factory=list)  # server flags with no llama-bench equivalent


def bench_binary(build: EngineBuild) -> Path:
    try:
        return build.binary("llama-bench")
    except SetupError:
        how = ("run `heavylift setup` (it builds llama-bench)" if build.kind == "built" else
               "build it in your llama.cpp tree (`cmake --build build --target llama-bench`) next to your "
               "llama-server, or run `heavylift setup` to use heavylift's own build")
        raise SetupError(f"--against-llama-bench needs llama-bench, which is not in {build.bin_dir}; {how}") from None


def translate(server_args: list[str]) -> tuple[list[str], list[str]]:
    """(llama-bench flags, server flags left out) for the engine flags in use. A flag given twice
    keeps its last value, as llama-server does (llama-bench would run both values)."""
    chosen: dict[str, list[str]] = {}
    left: list[str] = []
    i = 0
    while i < len(server_args):
        a = server_args[i]
        value = server_args[i + 1] if i + 1 < len(server_args) else None
        if a in _SAME and value is not None:
            chosen[_SAME[a]] = [value]
            i += 2
        elif a in _LISTS and value is not None:
            chosen[_LISTS[a]] = [value.replace(",", "/")]
            i += 2
        elif a in _SWITCHES:
            chosen[_SWITCHES[a][0]] = _SWITCHES[a][1:]
            i += 1
        elif a in _NO_VALUE or not a.startswith("-"):
            i += 1
        else:
            takes_value = value is not None and not value.startswith("-")
            if a not in _SERVER_ONLY:
                left.append(f"{a} {value}" if takes_value else a)
            i += 2 if takes_value else 1
    return [x for flag, values in chosen.items() for x in (flag, *values)], left


def command(binary: Path, model: Path, flags: list[str], prompts: list[int], gens: list[int], depths: list[int],
            repeats: int) -> list[str]:
    """One llama-bench invocation: pp tests for `prompts` and tg tests for `gens`, each at every depth."""
    return [str(binary), "-m", str(model), "-p", ",".join(map(str, prompts or [0])),
            "-n", ",".join(map(str, gens or [0])), "-d", ",".join(map(str, depths)), "-r", str(repeats),
            *flags, "-o", "json"]


def typical_ts(row: dict) -> float:
    """The median of llama-bench's repetitions (its `samples_ts`), the statistic our side reports
    (results.summarize: the median over repeats): one slow repetition on a shared machine moves a
    mean, and a ratio of a median to a mean would mix the two. Its `avg_ts` where the samples are absent."""
    samples = row.get("samples_ts") or []
    return statistics.median(samples) if samples else row["avg_ts"]


def run_llama_bench(binary: Path, model: Path, server_args: list[str], pp: list[tuple[int, int]],
                    tg: list[tuple[int, int]], repeats: int, timeout_s: float = 3600) -> LlamaBenchResult:
    """pp: (prompt, depth) pairs; tg: (gen, depth) pairs. Runs as few invocations as it can."""
    flags, left = translate(server_args)
    result = LlamaBenchResult(commands=[], not_passed=left)
    jobs = []
    if pp:  # the configurations are a product of prompts and depths: one invocation measures them all
        jobs.append((sorted({p for p, _ in pp}), [], sorted({d for _, d in pp})))
    if tg:
        jobs.append(([], sorted({n for n, _ in tg}), sorted({d for _, d in tg})))
    for prompts, gens, depths in jobs:
        cmd = command(binary, model, flags, prompts, gens, depths, repeats)
        result.commands.append(cmd)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise EngineError(f"llama-bench did not finish within {timeout_s:.0f}s: {' '.join(cmd)}") from None
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise EngineError(f"llama-bench failed ({tail}); command: {' '.join(cmd)}")
        for row in json.loads(proc.stdout):
            if row["n_prompt"] > 0 and row["n_gen"] == 0:
                key = (row["n_prompt"], row["n_depth"])
                result.pp_tps[key], result.pp_stdev[key] = typical_ts(row), row["stddev_ts"]
                result.pp_samples[key] = list(row.get("samples_ts") or [])
            elif row["n_gen"] > 0 and row["n_prompt"] == 0:
                key = (row["n_gen"], row["n_depth"])
                result.tg_tps[key], result.tg_stdev[key] = typical_ts(row), row["stddev_ts"]
                result.tg_samples[key] = list(row.get("samples_ts") or [])
    return result


class InterleavedLlamaBench:
    """llama-bench one repetition at a time, right after each of our repeats, while our idle server
    stays loaded: each of our figures gets a llama-bench figure taken seconds apart. On a shared
    machine whose speed drifts by 10-30% over a minute, a block of our repeats followed by a block
    of llama-bench's compares two different minutes; pairs compare the same one. Costs a model load
    and a warm-up per repetition (llama-bench's own, not timed)."""

    def __init__(self, binary: Path, model: Path, server_args: list[str], timeout_s: float = 3600):
        self.binary, self.model, self.server_args, self.timeout_s = binary, model, server_args, timeout_s
        self.result = LlamaBenchResult(commands=[], not_passed=translate(server_args)[1])
        self.error: str | None = None

    def sample(self, prompt: int, depth: int, gen: int) -> None:
        """One repetition of pp (prompt at depth) and of tg (gen at depth + prompt); after a failure,
        nothing more (the error is kept and our own measurement goes on)."""
        if self.error:
            return
        try:
            one = run_llama_bench(self.binary, self.model, self.server_args, [(prompt, depth)],
                                  [(gen, depth + prompt)], repeats=1, timeout_s=self.timeout_s)
        except HeavyliftError as e:
            self.error = str(e)
            return
        for cmd in one.commands:
            if cmd not in self.result.commands:
                self.result.commands.append(cmd)
        for mine, theirs in ((self.result.pp_samples, one.pp_samples), (self.result.tg_samples, one.tg_samples)):
            for key, values in theirs.items():
                mine.setdefault(key, []).extend(values)
        for key, values in self.result.pp_samples.items():
            self.result.pp_tps[key] = statistics.median(values)
        for key, values in self.result.tg_samples.items():
            self.result.tg_tps[key] = statistics.median(values)


def interleave_refusal(model: Path, server_args: list[str], gpus: list[str], available_bytes: int) -> str | None:
    """Why llama-bench cannot run beside our loaded server (None: it can). Both must fit at once:
    a GPU placement would need the GPU memory twice, and repacked or unmapped weights the RAM twice."""
    flags, _ = translate(server_args)
    ngl = flags[flags.index("-ngl") + 1] if "-ngl" in flags else None
    if gpus and ngl != "0":
        return "the model is placed on a GPU, which cannot hold it twice"
    need = 2 * model.stat().st_size
    if need > 0.8 * available_bytes:
        return (f"the model twice ({need / 2**30:.1f} GiB) would not fit in 80% of the free RAM "
                f"({available_bytes / 2**30:.1f} GiB)")
    return None
