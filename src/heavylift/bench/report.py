"""Bench runs as text: one run in full (measured beside engine, predicted and limit, with ratios),
the list of runs, and a comparison of several. `json_rows` is what `--json` prints."""

from __future__ import annotations

from heavylift.bench.results import ConfigResult
from heavylift.bench.store import BenchRun


def _f(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _r(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _span(result: ConfigResult, metric: str, digits: int = 0) -> str:
    s = result.spread.get(metric)
    if s is None or s.n < 2:
        return ""
    return f"({s.min:,.{digits}f}-{s.max:,.{digits}f})"


def header(run: BenchRun) -> list[str]:
    m = run.machine
    engine = run.engine or "?"
    if run.engine_version:
        engine += f" {run.engine_version}"
    if run.engine_backend:
        engine += f", {run.engine_backend}"
    s = run.settings
    lines = [f"run {run.id}  {run.status}  {run.created_at}  {run.model or run.target}"
             + (f" ({run.quant})" if run.quant else "") + f" on {engine}"
             + ("" if run.target == run.model else f"  [{run.target}]"),
             f"machine {m.fingerprint}: {m.cpu_model}, {m.physical_cores} physical cores, STREAM triad "
             f"{m.triad_bandwidth_bps / 1e9:.1f} GB/s, peak {_f(m.peak_flops and m.peak_flops / 1e9)} GFLOP/s"
             + (f", GPUs {', '.join(m.gpus)}" if m.gpus else ""),
             f"settings: gen {s.gen_tokens}, repeats {s.repeats} (+{s.warmup} warm-up), {s.threads} threads, sampling "
             f"{s.sampling}, prompt cache {'on' if s.is_cache else 'off'}"]
    if run.engine_args:
        lines.append("engine: " + " ".join(run.engine_args))
    return lines


def format_run(run: BenchRun) -> list[str]:
    lines = header(run)
    cols = f"{'':24}{'measured':>10} {'(min-max)':>17} {'engine':>9} {'predicted':>10} {'limit':>9} " \
           f"{'meas/pred':>9} {'meas/limit':>10} {'llama-bench':>11} {'ours/lb':>8}"
    for r in run.results:
        lines += ["", f"{r.label}  ({r.prompt_tokens:,} prompt tokens after {r.depth:,} cached, {r.concurrency} at once, "
                      f"{r.gen_tokens} generated)", cols]
        lines.append(f"{'  TTFT s':24}{_f(r.ttft_s, 3):>10} {_span(r, 'ttft_s', 3):>17} {'-':>9} {_f(r.predicted_ttft_s, 3):>10}")
        lines.append(f"{'  prefill tok/s':24}{_f(r.prefill_tps):>10} {_span(r, 'prefill_tps'):>17} "
                     f"{_f(r.engine_prefill_tps):>9} {_f(r.predicted_prefill_tps):>10} {_f(r.roofline_prefill_tps):>9} "
                     f"{_r(r.prefill_vs_predicted):>9} {_r(r.prefill_vs_limit):>10} {_f(r.llama_bench_pp_tps):>11} "
                     f"{_r(r.pp_vs_llama_bench):>8}")
        lines.append(f"{'  decode tok/s (1 req)':24}{_f(r.decode_tps, 1):>10} {_span(r, 'decode_tps', 1):>17} "
                     f"{_f(r.engine_decode_tps, 1):>9} {_f(r.predicted_decode_tps, 1):>10} {_f(r.roofline_decode_tps, 1):>9} "
                     f"{_r(r.decode_vs_predicted):>9} {_r(r.decode_vs_limit):>10} {_f(r.llama_bench_tg_tps, 1):>11} "
                     f"{_r(r.tg_vs_llama_bench):>8}")
        if r.pp_vs_llama_bench_ci or r.tg_vs_llama_bench_ci:
            over = f"the {r.repeats} interleaved pairs" if r.llama_bench_paired else "both sides' repeats"
            lines.append(f"  ours/llama-bench, 95% interval over {over} (bootstrap): pp "
                         f"{_ci(r.pp_vs_llama_bench_ci)}, tg {_ci(r.tg_vs_llama_bench_ci)}")
        if r.concurrency > 1:
            lines.append(f"{'  decode tok/s (all)':24}{_f(r.decode_tps_aggregate, 1):>10} "
                         f"{_span(r, 'decode_tps_aggregate', 1):>17} {'-':>9} {_f(r.predicted_decode_tps_aggregate, 1):>10}")
        lines.append(f"{'  ITL p50 / p99 ms':24}{_f(r.itl_p50_ms, 2) + ' / ' + _f(r.itl_p99_ms, 2):>10}")
        lines.append(f"{'  end-to-end s':24}{_f(r.e2e_s, 3):>10} {_span(r, 'e2e_s', 3):>17}")
        if r.cached_tokens:
            lines.append(f"  cached tokens per request (median): {r.cached_tokens:,.0f}")
        for note in r.notes:
            lines.append(f"  note: {note}")
    if run.missing:
        lines += ["", f"MISSING ({len(run.missing)} of {len(run.configs)} configurations not measured):"]
        lines += [f"  {label}: {why}" for label, why in run.missing.items()]
    lines += _power(run)
    lb = run.llama_bench or {}
    if lb.get("commands"):
        lines += [""] + ["llama-bench: " + " ".join(cmd) for cmd in lb["commands"]]
        if lb.get("mode") == "interleaved":
            lines.append("  (one repetition after each of our repeats, our server idle meanwhile: pairs taken seconds apart)")
        if lb.get("not_passed"):
            lines.append("  server flags with no llama-bench equivalent (not passed): " + ", ".join(lb["not_passed"]))
    elif lb.get("error") or lb.get("note"):
        lines += ["", f"llama-bench: {lb.get('error') or lb.get('note')}"]
    if run.notes:
        lines += ["", "notes:"] + [f"  - {n}" for n in run.notes]
    lines += ["", "client figures: prefill = computed prompt tokens / time to first token; decode = (tokens - 1) / "
                  "(last - first token); engine = llama-server's own timings; limit = roofline from the measured machine"]
    return lines


def _ci(interval: tuple[float, float] | None) -> str:
    return f"{interval[0]:.2f}-{interval[1]:.2f}" if interval else "-"


def _power(run: BenchRun) -> list[str]:
    busy, idle = run.power_busy, run.power_idle
    if busy is None:
        return []
    if busy.mean_w is None:
        return ["", f"power: {busy.note}"]
    out = ["", f"power while measuring: {busy.mean_w:.1f} W over {busy.seconds:.0f} s ("
           + ", ".join(f"{k} {v:.1f} W" for k, v in busy.by_source_w.items()) + ")"]
    if idle and idle.mean_w is not None:
        out.append(f"power idle (engine loaded, no request): {idle.mean_w:.1f} W")
    out.append(f"  {busy.note}")
    return out


def format_list(runs: list[BenchRun]) -> list[str]:
    lines = [f"{'RUN':>4}  {'STATUS':8} {'CREATED':20} {'MODEL / ENDPOINT':28} {'QUANT':7} {'ENGINE':14} "
             f"{'DONE':>5}  {'PREFILL':>8} {'DECODE':>7}  MACHINE"]
    for run in runs:
        first = run.results[0] if run.results else None
        lines.append(f"{run.id:>4}  {run.status:8} {run.created_at:20} {(run.model or run.target)[:28]:28} "
                     f"{(run.quant or '-')[:7]:7} {(run.engine or '-') + (' ' + run.engine_backend if run.engine_backend else ''):14} "
                     f"{len(run.results):>2}/{len(run.configs):<2}  {_f(first and first.prefill_tps):>8} "
                     f"{_f(first and first.decode_tps, 1):>7}  {run.machine.fingerprint}")
    if not runs:
        lines.append("(no runs yet: `heavylift bench default`)")
    return lines


def format_comparison(runs: list[BenchRun]) -> list[str]:
    """Configurations as rows, runs as columns: prefill and decode measured, and the prediction."""
    lines = []
    for run in runs:
        lines.append(f"run {run.id}: {run.model or run.target} {run.quant or ''} on {run.engine or '?'} "
                     f"{run.engine_backend or ''}, machine {run.machine.fingerprint} ({run.status})")
    labels: list[str] = []
    for run in runs:
        labels += [r.label for r in run.results if r.label not in labels]
    head = f"{'config':16}{'metric':22}" + "".join(f"{'run ' + str(r.id):>11}{'predicted':>10}" for r in runs)
    lines += ["", head]
    metrics = (("prefill tok/s", "prefill_tps", "predicted_prefill_tps", 0),
               ("decode tok/s (1 req)", "decode_tps", "predicted_decode_tps", 1),
               ("decode tok/s (all)", "decode_tps_aggregate", "predicted_decode_tps_aggregate", 1),
               ("TTFT s", "ttft_s", "predicted_ttft_s", 3))
    for label in labels:
        for n, (name, metric, pred, digits) in enumerate(metrics):
            row = f"{label if n == 0 else '':16}{name:22}"
            for run in runs:
                r = next((x for x in run.results if x.label == label), None)
                row += f"{_f(getattr(r, metric) if r else None, digits):>11}{_f(getattr(r, pred) if r else None, digits):>10}"
            lines.append(row)
    if len(runs) >= 2:
        base = runs[0]
        lines.append("")
        for run in runs[1:]:
            ratios = []
            for r in run.results:
                b = next((x for x in base.results if x.label == r.label), None)
                if b and b.decode_tps and r.decode_tps and b.prefill_tps and r.prefill_tps:
                    ratios.append(f"{r.label}: prefill x{r.prefill_tps / b.prefill_tps:.2f}, decode x{r.decode_tps / b.decode_tps:.2f}")
            lines.append(f"run {run.id} vs run {base.id}: " + ("; ".join(ratios) or "no configuration in common"))
    return lines


def json_rows(run: BenchRun) -> list[dict]:
    """One object per configuration (the ConfigResult) with the run's identity on each."""
    ident = {"run_id": run.id, "status": run.status, "model": run.model, "quant": run.quant, "engine": run.engine,
             "engine_version": run.engine_version, "machine": run.machine.fingerprint}
    return [{**ident, **r.to_dict()} for r in run.results]
