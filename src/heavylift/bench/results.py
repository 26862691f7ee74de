"""What one request measured, and what a configuration's repeats add up to (medians, spread, the
prediction and limits beside them, the ratios). `--json` and the database hold their asdict."""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import asdict, dataclass, field

from heavylift.bench.predict import Prediction
from heavylift.bench.sweep import BenchConfig


@dataclass
class RequestSample:
    """One request, timed by the client (perf_counter at each streamed piece) and by the engine."""

    sent_s: float
    first_s: float | None  # first generated text arrived
    last_s: float | None  # last generated text arrived
    end_s: float  # stream closed
    piece_s: list[float]  # arrival time of every streamed piece
    prompt_tokens: int  # as the engine counted them (usage), else as sent
    cached_tokens: int  # served from the engine's cache (timings.cache_n / usage details)
    completion_tokens: int
    engine_prompt_ms: float | None = None  # llama-server timings.prompt_ms (the computed part only)
    engine_prompt_n: int | None = None
    engine_decode_ms: float | None = None  # timings.predicted_ms
    engine_decode_n: int | None = None

    @property
    def ttft_s(self) -> float | None:
        return self.first_s - self.sent_s if self.first_s is not None else None

    @property
    def prefill_tps(self) -> float | None:
        """Prompt tokens computed (not from cache) per second of time to first token."""
        computed = self.prompt_tokens - self.cached_tokens
        return computed / self.ttft_s if self.ttft_s and computed > 0 else None

    @property
    def decode_tps(self) -> float | None:
        """Tokens after the first per second between the first and the last piece."""
        if self.first_s is None or self.last_s is None or self.last_s <= self.first_s or self.completion_tokens < 2:
            return None
        return (self.completion_tokens - 1) / (self.last_s - self.first_s)

    @property
    def itl_ms(self) -> list[float]:
        times = [t for t in self.piece_s if self.first_s is not None and t >= self.first_s]
        return [1000 * (b - a) for a, b in zip(times, times[1:], strict=False)]

    @property
    def e2e_s(self) -> float:
        return self.end_s - self.sent_s

    @property
    def engine_prefill_tps(self) -> float | None:
        return self.engine_prompt_n / self.engine_prompt_ms * 1000 if self.engine_prompt_ms and self.engine_prompt_n else None

    @property
    def engine_decode_tps(self) -> float | None:
        return self.engine_decode_n / self.engine_decode_ms * 1000 if self.engine_decode_ms and self.engine_decode_n else None


def aggregate_decode_tps(samples: list[RequestSample]) -> float | None:
    """All concurrent requests' decode together: tokens that arrived after the LAST request's first
    piece (from then on every request is decoding), over the time to the last piece. A piece can
    carry several tokens (llama-server holds back a token that ends inside a UTF-8 character), so
    each request's pieces count its engine-reported tokens per piece."""
    firsts = [s.first_s for s in samples if s.first_s is not None]
    if len(firsts) != len(samples):
        return None
    start = max(firsts)
    end = max(s.last_s or start for s in samples)
    n = sum(sum(1 for t in s.piece_s if start < t <= end) * max(1.0, s.completion_tokens / len(s.piece_s))
            for s in samples if s.piece_s)
    if len(samples) == 1:
        return samples[0].decode_tps
    return n / (end - start) if end > start and n else None


@dataclass
class Spread:
    median: float
    min: float
    max: float
    stdev: float  # sample standard deviation over repeats (0 with one repeat)
    n: int
    values: list[float] = field(default_factory=list)  # each repeat's figure, in the order measured

    @classmethod
    def of(cls, values: list[float | None]) -> Spread | None:
        vals = [v for v in values if v is not None]
        if not vals:
            return None
        return cls(statistics.median(vals), min(vals), max(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0,
                   len(vals), vals)


def ratio_interval(ours: list[list[float]], theirs: list[list[float]], level: float = 0.95, draws: int = 2000,
                   seed: int = 0) -> tuple[float, float] | None:
    """A percentile-bootstrap interval for median(ours) / median(theirs), seeded (the same samples
    give the same interval). Each side comes as rounds of repetitions, round k of ours paired with
    round k of theirs (measured minutes apart). Each draw resamples the rounds (pairs kept), then
    the repetitions inside each chosen round: on a shared machine whole rounds drift apart by more
    than the repetitions inside one spread, and the interval must carry both. With one round it is
    the plain bootstrap over its repetitions. None with fewer than 3 repetitions on a side."""
    pairs = [(a, b) for a, b in zip(ours, theirs, strict=True) if a and b]
    if sum(len(a) for a, _ in pairs) < 3 or sum(len(b) for _, b in pairs) < 3:
        return None
    rng = random.Random(seed)

    def pooled_median(groups: list[list[float]]) -> float:
        return statistics.median(x for g in groups for x in rng.choices(g, k=len(g)))

    ratios = []
    for _ in range(draws):
        chosen = rng.choices(pairs, k=len(pairs))
        ratios.append(pooled_median([a for a, _ in chosen]) / pooled_median([b for _, b in chosen]))
    ratios.sort()
    tail = (1 - level) / 2
    return ratios[round(tail * (draws - 1))], ratios[round((1 - tail) * (draws - 1))]


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


@dataclass
class ConfigResult:
    """One configuration: medians over its repeats (client clock unless named engine_*)."""

    prompt_tokens: int
    depth: int
    concurrency: int
    gen_tokens: int
    repeats: int
    ttft_s: float | None
    prefill_tps: float | None
    decode_tps: float | None  # per request
    decode_tps_aggregate: float | None  # all concurrent requests together
    itl_p50_ms: float | None
    itl_p99_ms: float | None
    e2e_s: float | None
    engine_prefill_tps: float | None  # llama-server's own timings (None for endpoints without them)
    engine_decode_tps: float | None
    cached_tokens: float  # median tokens served from the cache per request (the depth prefix, or --cache)
    completion_tokens: float
    predicted_prefill_tps: float | None
    predicted_decode_tps: float | None
    predicted_decode_tps_aggregate: float | None
    predicted_ttft_s: float | None
    roofline_decode_tps: float | None  # physical limit: bandwidth / bytes read per token
    roofline_prefill_tps: float | None  # physical limit: peak compute / FLOPs per token
    prefill_vs_predicted: float | None
    decode_vs_predicted: float | None
    prefill_vs_limit: float | None
    decode_vs_limit: float | None
    llama_bench_pp_tps: float | None = None
    llama_bench_tg_tps: float | None = None
    pp_vs_llama_bench: float | None = None  # client prefill / llama-bench pp
    tg_vs_llama_bench: float | None = None  # client decode / llama-bench tg
    llama_bench_pp_samples_tps: list[float] = field(default_factory=list)  # llama-bench's repetitions (samples_ts)
    llama_bench_tg_samples_tps: list[float] = field(default_factory=list)
    pp_vs_llama_bench_ci: tuple[float, float] | None = None  # 95% bootstrap interval over both sides' repeats
    tg_vs_llama_bench_ci: tuple[float, float] | None = None
    llama_bench_paired: bool = False  # llama-bench ran one repetition after each of our repeats (pairs)
    engine_prompt_tokens: float | None = None  # median prompt tokens the engine computed (llama-server prompt_n)
    spread: dict[str, Spread] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"p{self.prompt_tokens}/d{self.depth}/c{self.concurrency}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ConfigResult:
        data = dict(data)
        data["spread"] = {k: Spread(**v) for k, v in (data.get("spread") or {}).items()}
        for key in ("pp_vs_llama_bench_ci", "tg_vs_llama_bench_ci"):  # JSON gives lists back
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def add_llama_bench(self, pp_tps: float | None, tg_tps: float | None, pp_samples: list[float] | None = None,
                        tg_samples: list[float] | None = None, is_paired: bool = False) -> None:
        self.llama_bench_pp_tps, self.llama_bench_tg_tps = pp_tps, tg_tps
        self.pp_vs_llama_bench = _ratio(self.prefill_tps, pp_tps)
        self.tg_vs_llama_bench = _ratio(self.decode_tps, tg_tps)
        self.llama_bench_pp_samples_tps, self.llama_bench_tg_samples_tps = list(pp_samples or []), list(tg_samples or [])
        self.llama_bench_paired = is_paired
        self.pp_vs_llama_bench_ci = ratio_interval(*self.llama_bench_groups("prefill_tps", self.llama_bench_pp_samples_tps))
        self.tg_vs_llama_bench_ci = ratio_interval(*self.llama_bench_groups("decode_tps", self.llama_bench_tg_samples_tps))

    def llama_bench_groups(self, metric: str, theirs: list[float]) -> tuple[list[list[float]], list[list[float]]]:
        """Ours and llama-bench's repetitions as ratio_interval's rounds: pair by pair when they were
        taken interleaved (the bootstrap then keeps each pair together), else one block each."""
        ours = self.repeat_values(metric)
        if self.llama_bench_paired and len(ours) == len(theirs):
            return [[x] for x in ours], [[y] for y in theirs]
        return [ours], [theirs]

    def repeat_values(self, metric: str) -> list[float]:
        """Each repeat's figure for a metric (empty for runs stored before repeats were kept)."""
        spread = self.spread.get(metric)
        return list(spread.values) if spread else []


_METRICS = ("ttft_s", "prefill_tps", "decode_tps", "decode_tps_aggregate", "itl_p50_ms", "itl_p99_ms", "e2e_s",
            "engine_prefill_tps", "engine_decode_tps")


def summarize(cfg: BenchConfig, repeats: list[list[RequestSample]], pred: Prediction, notes: list[str]) -> ConfigResult:
    """Per repeat: per-request figures are the median over its concurrent requests, the aggregate is
    one figure; the result is the median over repeats, with the spread beside it."""
    per_repeat: dict[str, list[float | None]] = {m: [] for m in _METRICS}
    for samples in repeats:
        itl = sorted(x for s in samples for x in s.itl_ms)
        values = {
            "ttft_s": _med(s.ttft_s for s in samples), "prefill_tps": _med(s.prefill_tps for s in samples),
            "decode_tps": _med(s.decode_tps for s in samples), "decode_tps_aggregate": aggregate_decode_tps(samples),
            "itl_p50_ms": _pct(itl, 50), "itl_p99_ms": _pct(itl, 99), "e2e_s": _med(s.e2e_s for s in samples),
            "engine_prefill_tps": _med(s.engine_prefill_tps for s in samples),
            "engine_decode_tps": _med(s.engine_decode_tps for s in samples),
        }
        for m in _METRICS:
            per_repeat[m].append(values[m])
    spread = {m: s for m in _METRICS if (s := Spread.of(per_repeat[m])) is not None}
    med = {m: spread[m].median if m in spread else None for m in _METRICS}
    all_samples = [s for r in repeats for s in r]
    if any(s.completion_tokens < cfg.gen_tokens for s in all_samples):
        notes.append(f"some requests stopped before {cfg.gen_tokens} tokens (end of sequence): decode figures use "
                     "the tokens actually generated")
    computed = {s.engine_prompt_n for s in all_samples if s.engine_prompt_n is not None}
    if computed and not cfg.depth and computed != {cfg.prompt_tokens}:
        # llama-bench's pp computes exactly P tokens in one pass; more (a template, a BOS) would add work.
        notes.append(f"the engine computed {', '.join(map(str, sorted(computed)))} prompt tokens for "
                     f"{cfg.prompt_tokens} sent: prefill figures use the tokens it reports")
    return ConfigResult(
        prompt_tokens=cfg.prompt_tokens, depth=cfg.depth, concurrency=cfg.concurrency, gen_tokens=cfg.gen_tokens,
        repeats=len(repeats), **med,  # type: ignore[arg-type]
        cached_tokens=statistics.median(s.cached_tokens for s in all_samples),
        engine_prompt_tokens=_med(s.engine_prompt_n for s in all_samples),
        completion_tokens=statistics.median(s.completion_tokens for s in all_samples),
        predicted_prefill_tps=pred.prefill_tps, predicted_decode_tps=pred.decode_tps,
        predicted_decode_tps_aggregate=pred.decode_tps_aggregate, predicted_ttft_s=pred.ttft_s,
        roofline_decode_tps=pred.roofline_decode_tps, roofline_prefill_tps=pred.roofline_prefill_tps,
        prefill_vs_predicted=_ratio(med["prefill_tps"], pred.prefill_tps),
        decode_vs_predicted=_ratio(med["decode_tps"], pred.decode_tps),
        prefill_vs_limit=_ratio(med["prefill_tps"], pred.roofline_prefill_tps),
        decode_vs_limit=_ratio(med["decode_tps"], pred.roofline_decode_tps),
        spread=spread, notes=[*notes, *([pred.note] if pred.note else [])],
    )


def _med(values) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _pct(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]
