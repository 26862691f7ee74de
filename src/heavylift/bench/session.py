"""`heavylift bench MODEL|--endpoint URL`: the machine (measured once), the target, the runner, the
optional llama-bench comparison, and the stored run, in that order."""

from __future__ import annotations

from dataclasses import dataclass, field

from heavylift.bench import machine as machine_mod
from heavylift.bench.llama_bench import (
    InterleavedLlamaBench,
    bench_binary,
    interleave_refusal,
    run_llama_bench,
)
from heavylift.bench.machine import MachineInfo
from heavylift.bench.runner import BenchRunner, Say, attach_llama_bench
from heavylift.bench.store import BenchRun, BenchStore
from heavylift.bench.sweep import BenchSettings
from heavylift.bench.target import Target, connect_endpoint, prepare_own, start_own
from heavylift.errors import HeavyliftError, UsageError


@dataclass
class BenchRequest:
    settings: BenchSettings
    model: str | None = None  # serve this model ourselves ...
    endpoint: str | None = None  # ... or measure this URL
    api_key: str | None = None
    endpoint_model: str | None = None  # the local GGUF an endpoint serves (predictions, llama-bench)
    hw: str | None = None  # the endpoint's hardware spec (predictions), when not this machine
    engine_args: list[str] = field(default_factory=list)  # the user's flags after `--`
    ctx: int | None = None
    against_llama_bench: bool = False
    remeasure: bool = False


def machine_info(store: BenchStore, say: Say, remeasure: bool = False) -> MachineInfo:
    """This machine's measurement, taken once per hardware fingerprint and kept in the database."""
    ident = machine_mod.identity()
    info = None if remeasure else store.machine(machine_mod.fingerprint(ident))
    if info is not None and machine_mod.busy_note(info.load_1m, info.logical_cores):
        # Measured while other work ran: measure again once the machine is clearly quieter.
        now = machine_mod.load_average()
        if now is not None and info.load_1m is not None and now < info.load_1m / 2:
            say(f"bench: the stored measurement was taken on a busy machine (load {info.load_1m:.1f}, now "
                f"{now:.1f}): measuring again")
            info = None
    if info is None:
        info = machine_mod.measure(say)
        store.save_machine(info)
    return info


def run_bench(req: BenchRequest, say: Say, store: BenchStore | None = None) -> BenchRun:
    store = store or BenchStore()
    if bool(req.model) == bool(req.endpoint):
        raise UsageError("give a MODEL to serve, or --endpoint URL to measure, not both")
    lb_binary = None
    if req.against_llama_bench:
        from heavylift.setup.engine_build import current_engine

        lb_binary = bench_binary(current_engine())  # fails now, before anything runs, if it is missing
    own = prepare_own(req.model, req.settings, req.engine_args, req.ctx) if req.model else None
    # An endpoint is checked before the machine is measured, so a wrong URL fails at once.
    endpoint = None if own else connect_endpoint(req.endpoint, req.settings, req.api_key, req.endpoint_model, say)  # type: ignore[arg-type]
    if req.against_llama_bench and endpoint and endpoint.model_path is None:
        raise UsageError("--against-llama-bench with --endpoint needs the served model's file: add --model NAME|PATH")
    info = machine_info(store, say, req.remeasure)
    for line in info.describe():
        say(f"bench: {line}")
    threads = req.settings.threads or info.physical_cores
    req.settings.threads = threads
    busy = machine_mod.busy_note(machine_mod.load_average(), info.logical_cores)
    if busy:
        say(f"bench: warning:{busy}")
    target = start_own(own, threads, say) if own else endpoint
    runner = None
    run_id = None
    try:
        rig = _rig(target, req.hw, info)
        configs = [c.label for c in req.settings.configs()]
        run_id = store.create(info, target.label, req.settings, configs, model=target.model, quant=target.quant,
                              engine=target.engine_name, engine_version=target.engine_version,
                              engine_backend=target.engine_backend, engine_args=target.engine_args,
                              placement=target.placement,
                              notes=target.notes + (rig.assumptions if rig else []) + ([f"at the start{busy}"] if busy else []))
        say(f"bench: run {run_id}: {len(configs)} configuration(s) x {req.settings.repeats} repeat(s), "
            f"gen {req.settings.gen_tokens}, {threads} threads, sampling {req.settings.sampling}, "
            f"prompt cache {'on (--cache)' if req.settings.is_cache else 'off'}")
        runner = BenchRunner(target, req.settings, info, rig, store, say)
        if req.against_llama_bench and lb_binary and target.model_path:
            runner.paired_llama_bench = _interleaved(lb_binary, target, req.settings, info, own is not None, say)
        status, missing = runner.run(run_id)
    except HeavyliftError as e:
        if run_id is not None:  # kept, with why it stopped; the results stored so far stand
            done = {r.label for r in store.get(run_id).results}
            store.finish(run_id, "failed", {c: f"not measured: {e}" for c in configs if c not in done})
        raise
    finally:
        if runner:
            runner.close()
        target.stop()  # before llama-bench: the two must not share the cores
    paired = runner.paired_llama_bench if runner else None
    if paired:
        lb = paired.result
        store.update(run_id, llama_bench={"error": paired.error} if paired.error else {
            "commands": lb.commands, "not_passed": lb.not_passed, "mode": "interleaved",
            "pp": {f"{p}@d{d}": v for (p, d), v in lb.pp_tps.items()},
            "tg": {f"{n}@d{d}": v for (n, d), v in lb.tg_tps.items()}})
        if paired.error:
            say(f"bench: llama-bench failed: {paired.error}")
    elif req.against_llama_bench and lb_binary and target.model_path:
        try:
            _llama_bench(store, run_id, lb_binary, target, req.settings, say)
        except KeyboardInterrupt:
            store.update(run_id, llama_bench={"error": "interrupted"})
            store.finish(run_id, status, missing)  # the HTTP measurements are complete: keep them as they are
            raise
    store.finish(run_id, status, missing)
    return store.get(run_id)


def _rig(target: Target, hw: str | None, info: MachineInfo):
    if hw:
        from heavylift.hardware.spec import parse_hw

        return machine_mod.local_rig(info) if hw.strip().lower() == "local" else parse_hw(hw)
    return machine_mod.local_rig(info) if target.is_local else None


def _server_args(target: Target, settings: BenchSettings) -> list[str]:
    return target.engine_args or ["-t", str(settings.threads)]


def _interleaved(binary, target: Target, settings: BenchSettings, info: MachineInfo, is_own: bool,
                 say: Say) -> InterleavedLlamaBench | None:
    """llama-bench a repetition at a time between our repeats, where both fit at once; else None
    (it then runs after our measurement, with our server stopped)."""
    import psutil

    why_not = ("an endpoint's server is not ours to keep idle beside it" if not is_own else
               interleave_refusal(target.model_path, _server_args(target, settings), info.gpus,
                                  psutil.virtual_memory().available))
    if why_not:
        say(f"bench: llama-bench will run after our measurement, not between our repeats: {why_not}")
        return None
    say("bench: llama-bench runs one repetition after each of our repeats (our server idle meanwhile), so each "
        "pair is taken in the same minute")
    return InterleavedLlamaBench(binary, target.model_path, _server_args(target, settings))


def _llama_bench(store: BenchStore, run_id: int, binary, target: Target, settings: BenchSettings, say: Say) -> None:
    run = store.get(run_id)
    singles = [r for r in run.results if r.concurrency == 1]
    if not singles:
        store.update(run_id, llama_bench={"note": "no single-request configuration to compare (llama-bench runs one sequence)"})
        return
    server_args = _server_args(target, settings)
    pp = sorted({(r.prompt_tokens, r.depth) for r in singles})
    tg = sorted({(r.gen_tokens, r.depth + r.prompt_tokens) for r in singles})
    say(f"bench: llama-bench on the same model and flags ({len(pp)} pp + {len(tg)} tg tests, {settings.repeats} repetitions) ...")
    try:
        lb = run_llama_bench(binary, target.model_path, server_args, pp, tg, settings.repeats)
    except HeavyliftError as e:
        say(f"bench: llama-bench failed: {e}")
        store.update(run_id, llama_bench={"error": str(e)})
        return
    attach_llama_bench(run.results, lb)
    for i, r in enumerate(run.results):
        store.add_result(run_id, run.configs.index(r.label) if r.label in run.configs else i, r)
    store.update(run_id, llama_bench={"commands": lb.commands, "not_passed": lb.not_passed,
                                      "pp": {f"{p}@d{d}": v for (p, d), v in lb.pp_tps.items()},
                                      "tg": {f"{n}@d{d}": v for (n, d), v in lb.tg_tps.items()}})

