"""The bench loop: one warm-up, then per configuration: fill the depth prefixes (untimed), run the
repeats (all concurrent requests released together), summarise beside the prediction, store at
once. Progress with an ETA; an endpoint that stops answering ends the run as 'partial'."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from heavylift.bench.corpus import TextGenerator
from heavylift.bench.llama_bench import InterleavedLlamaBench, LlamaBenchResult
from heavylift.bench.machine import MachineInfo
from heavylift.bench.power import PowerSampler
from heavylift.bench.predict import Prediction, context_config, predicted
from heavylift.bench.results import ConfigResult, RequestSample, summarize
from heavylift.bench.store import BenchStore
from heavylift.bench.sweep import BenchConfig, BenchSettings
from heavylift.bench.target import Target
from heavylift.engines.client import ChatResult, EngineClient
from heavylift.errors import EndpointError
from heavylift.hardware.rig import Rig

Say = Callable[[str], None]
REQUEST_TIMEOUT_S = 3600.0  # a long prompt on a big model on a CPU can take many minutes
IDLE_POWER_S = 3.0


class PromptMaker:
    """Exact-length prompts of fresh prose: token ids for llama-server (its /tokenize), text sized
    from a measured characters-per-token ratio elsewhere."""

    def __init__(self, client: EngineClient, is_llama: bool, seed: int):
        self.client = client
        self.is_llama = is_llama
        self.seed = seed
        self.chars_per_token: float | None = None

    def make(self, num_tokens: int, key: str) -> list[int] | str:
        gen = TextGenerator(zlib.crc32(f"{self.seed}/{key}".encode()))
        if self.is_llama:
            chars = num_tokens * 5 + 200
            while True:
                ids = self.client.tokenize(gen.text(chars))
                if len(ids) >= num_tokens:
                    return ids[:num_tokens]
                gen = TextGenerator(gen.seed)  # same text, longer
                chars *= 2
        if self.chars_per_token is None:
            self.chars_per_token = self._measure_ratio()
        return gen.text(int(num_tokens * self.chars_per_token))[: int(num_tokens * self.chars_per_token)]

    def _measure_ratio(self) -> float:
        """One 1-token request tells how the endpoint's tokenizer counts our prose."""
        sample = TextGenerator(self.seed ^ 0x5A5A).text(4000)[:4000]
        final = _final(self.client.completion_stream(sample, max_tokens=1, temperature=0))
        return len(sample) / final.prompt_tokens if final.prompt_tokens else 4.0


def _final(stream) -> ChatResult:
    result = None
    for item in stream:
        if isinstance(item, ChatResult):
            result = item
    if result is None:
        raise EndpointError("the stream ended without a final message")
    return result


def join_prompt(prefix: list[int] | str, fresh: list[int] | str) -> list[int] | str:
    if isinstance(prefix, str) or isinstance(fresh, str):
        return f"{prefix}{fresh}" if isinstance(prefix, str) and prefix else fresh
    return [*prefix, *fresh]


def timed_request(client: EngineClient, prompt: list[int] | str, params: dict) -> RequestSample:
    sent = time.perf_counter()
    pieces: list[float] = []
    final: ChatResult | None = None
    for item in client.completion_stream(prompt, **params):
        if isinstance(item, str):
            pieces.append(time.perf_counter())
        else:
            final = item
    end = time.perf_counter()
    if final is None or (final.finish_reason is None and not final.raw.get("usage")):
        raise EndpointError(f"{client.base_url}: the stream ended before the request finished")
    timings = final.raw.get("timings") or {}
    sent_tokens = len(prompt) if isinstance(prompt, list) else 0
    return RequestSample(
        sent_s=sent, first_s=pieces[0] if pieces else None, last_s=pieces[-1] if pieces else None, end_s=end,
        piece_s=pieces, prompt_tokens=final.prompt_tokens or sent_tokens, cached_tokens=final.cached_tokens,
        completion_tokens=final.completion_tokens or len(pieces),
        engine_prompt_ms=timings.get("prompt_ms"), engine_prompt_n=timings.get("prompt_n"),
        engine_decode_ms=timings.get("predicted_ms"), engine_decode_n=timings.get("predicted_n"))


def concurrent_round(clients: list[EngineClient], prompts: list, params: list[dict]) -> list[RequestSample]:
    """All requests released together (a barrier); daemon threads so Ctrl-C is not held up."""
    n = len(prompts)
    if n == 1:
        return [timed_request(clients[0], prompts[0], params[0])]
    barrier = threading.Barrier(n)
    results: list[RequestSample | BaseException | None] = [None] * n

    def work(k: int) -> None:
        try:
            barrier.wait()
            results[k] = timed_request(clients[k], prompts[k], params[k])
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            results[k] = e

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(timeout=0.2)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results  # type: ignore[return-value]


@dataclass
class Progress:
    """ETA from the work done so far, with each configuration weighted by its predicted time."""

    say: Say
    weights: list[float]
    started: float = field(default_factory=time.monotonic)
    done_weight: float = 0.0

    def report(self, index: int, repeat: int, repeats: int, label: str, samples: list[RequestSample]) -> None:
        self.done_weight += self.weights[index] / repeats
        total = sum(self.weights)
        elapsed = time.monotonic() - self.started
        eta = elapsed * (total - self.done_weight) / self.done_weight if self.done_weight else None
        s = samples[0]
        figures = (f"ttft {s.ttft_s:.2f} s, prefill {s.prefill_tps or 0:.0f} tok/s, decode {s.decode_tps or 0:.1f} tok/s"
                   if s.ttft_s is not None else "no tokens")
        self.say(f"bench: [{index + 1}/{len(self.weights)} {label}] repeat {repeat}/{repeats}: {figures}"
                 f"{' (first request of ' + str(len(samples)) + ')' if len(samples) > 1 else ''} | "
                 f"{100 * self.done_weight / total:.0f}% done, ETA {_clock(eta)}")


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


def _weight(cfg: BenchConfig, pred: Prediction, repeats: int) -> float:
    """Predicted seconds for a configuration (placeholder rates when there is no prediction: only
    the proportions matter for the ETA)."""
    pp = pred.prefill_tps or (pred.roofline_prefill_tps or 500.0) / 2
    tg = pred.decode_tps or (pred.roofline_decode_tps or 50.0) / 2
    return repeats * (cfg.concurrency * cfg.prompt_tokens / pp + cfg.gen_tokens / tg) + cfg.concurrency * cfg.depth / pp


class BenchRunner:
    def __init__(self, target: Target, settings: BenchSettings, machine: MachineInfo, rig: Rig | None,
                 store: BenchStore, say: Say):
        self.target = target
        self.settings = settings
        self.machine = machine
        self.rig = rig
        self.store = store
        self.say = say
        self.configs = settings.configs()
        n = max(settings.concurrency)
        self.clients = [EngineClient(target.engine.base_url, target.engine.api_key, timeout_s=REQUEST_TIMEOUT_S)
                        for _ in range(n)]
        self.prompts = PromptMaker(self.clients[0], target.is_llama, settings.seed)
        self.slot_depth: dict[int, int] = {}  # depth prefix each llama-server slot holds now
        self.paired_llama_bench: InterleavedLlamaBench | None = None  # set by the session when it fits
        self.predictions = [self.predict(c) for c in self.configs]

    def predict(self, cfg: BenchConfig) -> Prediction:
        if self.target.model_path is None or self.rig is None:
            why = "no local model file for the endpoint (give --model)" if self.target.model_path is None else \
                "the endpoint's hardware is unknown (give --hw)"
            return Prediction.unknown(f"no prediction: {why}")
        ctx = context_config(self.target.engine_args, cfg.tokens_per_sequence)
        return predicted(str(self.target.model_path), self.rig, ctx, cfg.prompt_tokens, cfg.depth, cfg.concurrency,
                         self.target.engine_args, cfg.gen_tokens)

    # -- request parameters ---------------------------------------------------------------
    def params(self, slot: int, max_tokens: int, cache: bool) -> dict:
        if not self.target.is_llama:  # standard OpenAI parameters only
            return {"max_tokens": max_tokens, "temperature": 0}
        params = {"max_tokens": max_tokens, "ignore_eos": True, "cache_prompt": cache, "id_slot": slot,
                  "seed": self.settings.seed}
        if self.settings.sampling == "greedy":
            # top-k 1 alone: the token llama-bench would take, without the default chain's cost
            # (penalties, DRY, top-p, min-p, temperature over the whole vocabulary each token).
            params |= {"samplers": ["top_k"], "top_k": 1}
        return params

    # -- the run ----------------------------------------------------------------------------
    def run(self, run_id: int) -> tuple[str, dict[str, str]]:
        """Measure every configuration; returns (status, missing configurations and why)."""
        missing: dict[str, str] = {}
        self.warm_up()
        power = PowerSampler()
        readings: dict = {}
        if power.is_available:
            idle = PowerSampler().start()
            time.sleep(IDLE_POWER_S)
            readings["idle"] = idle.stop()
            power.start()
        progress = Progress(self.say, [_weight(c, p, self.settings.repeats) for c, p in zip(self.configs, self.predictions, strict=True)])
        status = "done"
        try:
            for index, cfg in enumerate(self.configs):
                try:
                    result = self.measure(index, cfg, progress)
                except EndpointError as e:
                    missing[cfg.label] = str(e)
                    self.say(f"bench: {cfg.label} failed: {e}")
                    self.slot_depth.clear()
                    if not self.target.wait_healthy(timeout_s=60 if self.target.supervisor else 5):
                        for later in self.configs[index + 1:]:
                            missing[later.label] = "not measured: the endpoint stopped answering"
                        status = "partial"
                        break
                    continue
                self.store.add_result(run_id, index, result)
        except KeyboardInterrupt:
            done = {r.label for r in self.store.get(run_id).results}
            for cfg in self.configs:
                if cfg.label not in done and cfg.label not in missing:
                    missing[cfg.label] = "not measured: interrupted"
            self.store.finish(run_id, "partial", missing)
            raise
        finally:
            if power.is_available:
                readings["busy"] = power.stop()
                self.store.update(run_id, power={k: asdict(v) for k, v in readings.items()})
        if missing and status == "done":
            status = "partial"
        return status, missing

    def warm_up(self) -> None:
        """One request, not counted: pages the weights in and lets the engine settle."""
        cfg = self.configs[0]
        for _ in range(self.settings.warmup):
            prompt = self.prompts.make(min(cfg.prompt_tokens, 512), "warm-up")
            concurrent_round(self.clients[:1], [prompt], [self.params(0, min(cfg.gen_tokens, 32), False)])
        self.slot_depth.clear()

    def fill_depth(self, cfg: BenchConfig, prefix: list[int] | str) -> None:
        """Put the depth prefix in the cache of every slot the configuration uses (untimed), so the
        timed requests compute only their own prompt after it, as llama-bench's -d does."""
        for slot in range(cfg.concurrency):
            if self.slot_depth.get(slot) == cfg.depth:
                continue
            params = self.params(slot, 1, True)
            if not self.target.is_llama:
                params = {"max_tokens": 1, "temperature": 0}
            _final(self.clients[slot].completion_stream(prefix, **params))
            self.slot_depth[slot] = cfg.depth
            if not self.target.is_llama:
                break  # a prefix-caching endpoint shares one cached prefix between requests

    def measure(self, index: int, cfg: BenchConfig, progress: Progress) -> ConfigResult:
        prefix: list[int] | str = []
        if cfg.depth:
            prefix = self.prompts.make(cfg.depth, f"depth/{cfg.depth}")
            self.fill_depth(cfg, prefix)
        cache = bool(cfg.depth) or self.settings.is_cache
        paired = self.paired_llama_bench if cfg.concurrency == 1 else None
        repeats: list[list[RequestSample]] = []
        for r in range(self.settings.repeats):
            # --cache: the same prompt every repeat, so later repeats find it cached; otherwise fresh text.
            keys = [f"{cfg.label}/{'' if self.settings.is_cache else r}/{k}" for k in range(cfg.concurrency)]
            prompts = [join_prompt(prefix, self.prompts.make(cfg.prompt_tokens, key)) for key in keys]
            params = [self.params(k, cfg.gen_tokens, cache) for k in range(cfg.concurrency)]
            if paired:
                # Each llama-bench repetition follows its own untimed warm-up run; ours follows
                # llama-bench's process, so it gets one as well: the same prompt length, 1 token.
                warm_key = keys[0] if self.settings.is_cache else f"{cfg.label}/warm-up {r}"
                warm = join_prompt(prefix, self.prompts.make(cfg.prompt_tokens, warm_key))
                concurrent_round(self.clients[:1], [warm], [self.params(0, 1, cache)])
            samples = concurrent_round(self.clients[:cfg.concurrency], prompts, params)
            if not cfg.depth:
                for k in range(cfg.concurrency):
                    self.slot_depth.pop(k, None)
            repeats.append(samples)
            progress.report(index, r + 1, self.settings.repeats, cfg.label, samples)
            if paired:
                paired.sample(cfg.prompt_tokens, cfg.depth, cfg.gen_tokens)
        result = summarize(cfg, repeats, self.predictions[index], self.notes_for(cfg, repeats))
        if paired and not paired.error:
            attach_llama_bench([result], paired.result, is_paired=True)
        return result

    def notes_for(self, cfg: BenchConfig, repeats: list[list[RequestSample]]) -> list[str]:
        notes = []
        cached = [s.cached_tokens for r in repeats for s in r]
        if cfg.depth and min(cached) < 0.9 * cfg.depth:
            notes.append(f"the engine reused only {min(cached):,} of the {cfg.depth:,} depth tokens in some requests: "
                         "their prefill includes the rest")
        if not cfg.depth and not self.settings.is_cache and max(cached) > 16:
            notes.append(f"up to {max(cached):,} prompt tokens came from the engine's cache")
        return notes

    def close(self) -> None:
        for c in self.clients:
            c.close()


def attach_llama_bench(results: list[ConfigResult], lb: LlamaBenchResult, is_paired: bool = False) -> None:
    """Put llama-bench's figures beside the single-request configurations (llama-bench runs one sequence)."""
    for r in results:
        if r.concurrency != 1:
            continue
        pp_key, tg_key = (r.prompt_tokens, r.depth), (r.gen_tokens, r.depth + r.prompt_tokens)
        r.add_llama_bench(lb.pp_tps.get(pp_key), lb.tg_tps.get(tg_key), lb.pp_samples.get(pp_key), lb.tg_samples.get(tg_key),
                          is_paired)

