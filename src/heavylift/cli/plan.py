"""`heavylift plan MODEL... [--hw SPEC] [--ctx N] [-ngl N -ts A,B -ot RE=DEV ...] [--compare] [--json] [-- LLAMA_SERVER_FLAGS]`."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from heavylift.cli.common import (
    add_ctx_option,
    add_flash_attn_option,
    add_gpu_layers_option,
    add_kv_type_options,
    add_parallel_option,
    human_bytes,
    kv_type_of,
    positive_int,
    say,
)
from heavylift.errors import UsageError
from heavylift.hardware.spec import parse_hw
from heavylift.plan.memory import KV_TYPES
from heavylift.plan.model_source import catalog_rows, resolve
from heavylift.plan.planner import Plan, default_context, make_plan, plan_json, ranges
from heavylift.plan.server_flags import PlanRequest, merge_flags


class _Ordered(argparse.Action):
    """-ot / --n-cpu-moe / --cpu-moe go into one list in command-line order: llama.cpp tries the
    patterns in that order and the first match wins."""

    def __call__(self, parser, namespace, values, option_string=None):
        items = list(getattr(namespace, self.dest, None) or [])
        if option_string in ("-cmoe", "--cpu-moe"):
            items.append(("--cpu-moe", ""))
        else:
            items.append(("-ot" if option_string in ("-ot", "--override-tensor") else "--n-cpu-moe", str(values)))
        setattr(namespace, self.dest, items)


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("plan", help=summary, description=
                       "Predict memory per device, placement, engine flags and speed for a model on a rig. "
                       "MODEL: a catalog name, a .gguf path, a config.json or a model folder (never downloads). "
                       "Give llama-server placement flags (-ngl, -ts, -ot, --n-cpu-moe), or paste a whole "
                       "llama-server command line after `--`, to get memory and speed for exactly those flags.")
    p.add_argument("models", nargs="*", metavar="MODEL", help="one or more models (several: side by side)")
    p.add_argument("--quant", help="GGUF file type to predict for non-GGUF inputs (default Q4_K_M; --compare: best that fits)")
    add_ctx_option(p, "context tokens, shared by all sequences (default: 32768 per sequence, or the model's "
                      "trained context if smaller)")
    add_parallel_option(p, "parallel sequences (default 1)")
    add_kv_type_options(p, KV_TYPES)
    p.add_argument("-ub", "--ubatch", "--ubatch-size", dest="ubatch", type=positive_int, metavar="N",
                   help="physical batch size (default 512)")
    p.add_argument("-b", "--batch", "--batch-size", dest="batch", type=positive_int, metavar="N",
                   help="logical batch size (default 2048)")
    add_flash_attn_option(p)
    p.add_argument("--no-flash-attn", dest="flash_attn", action="store_const", const="off",
                   help="plan without flash attention (= -fa off)")
    p.add_argument("--prompt-tokens", type=positive_int, help="prompt length for TTFT (default min(ctx, 150000))")
    p.add_argument("--depth", type=_non_negative, metavar="N",
                   help="decode speed with N tokens already in the cache (default: the full context of one sequence)")
    p.add_argument("--hw", default="local", help="'local' (default) or a spec like \"2x rtx-5090, 256GB ddr5-6000 2ch, pcie4\"")
    p.add_argument("--uncalibrated", action="store_true",
                   help="with --hw local: the public fit's speeds, not this machine's profile (`heavylift bench --calibrate`)")
    p.add_argument("--hosts", type=Path, metavar="FILE",
                   help="plan across machines: a hosts file (`NAME ADDRESS HARDWARE-SPEC` lines + `network KIND`; "
                        "docs/scale-out.md): llama.cpp RPC vs vLLM TP x PP, layers per host, the network term")
    g = p.add_argument_group("evaluate these llama-server placement flags (instead of the planner's own choice)")
    add_gpu_layers_option(g, "layers on the GPUs, the output layer counted as llama.cpp does (N, 'all' or 'auto')")
    g.add_argument("-ts", "--tensor-split", dest="tensor_split", metavar="A,B,...", help="share of layers per GPU")
    g.add_argument("-ot", "--override-tensor", dest="placement_overrides", action=_Ordered, metavar="RE=DEV",
                   help="tensors whose name matches RE go to DEV (CPU, CUDA0, ...); repeatable, first match wins")
    g.add_argument("-ncmoe", "--n-cpu-moe", dest="placement_overrides", action=_Ordered, type=_non_negative,
                   metavar="K", help="experts of the first K layers in RAM")
    g.add_argument("-cmoe", "--cpu-moe", dest="placement_overrides", action=_Ordered, nargs=0,
                   help="all experts in RAM")
    p.add_argument("--compare", action="store_true", help="one table over the standard rigs")
    p.add_argument("--list", action="store_true", help="list the built-in catalog")
    p.add_argument("--list-hardware", action="store_true",
                   help="list the known devices (--hw ids) with memory, bandwidth, FP16 compute, power, price, source")
    p.add_argument("--json", action="store_true", help="machine-readable output (README: plan --json schema)")
    p.add_argument("--plot", type=Path, metavar="PNG",
                   help="also draw it: memory per device (one model) or decode speed vs roofline (--compare, several)")
    p.add_argument("--force", action="store_true", help="overwrite --plot even if heavylift did not write it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list_hardware:
        from heavylift.hardware.catalog import print_devices

        print_devices(as_json=args.json)
        return 0
    if args.list:
        rows = catalog_rows()
        if args.json:
            print(json.dumps([asdict(r) for r in rows], indent=2))
            return 0
        print(f"{'MODEL':26} {'ARCH':11} {'LAYERS':>6} {'EXPERTS':>8} {'PARAMS':>9} {'ACTIVE':>8} {'CONTEXT':>10}  CONFIG")
        for r in rows:
            experts = f"{r.n_expert}/{r.n_expert_used}" if r.n_expert else "dense"
            print(f"{r.name:26} {r.architecture:11} {r.n_layer:>6} {experts:>8} {r.total_params_b:>8.2f}B "
                  f"{r.active_params_b:>7.2f}B {r.n_ctx_train:>10,}  {r.verification}")
        return 0
    if args.plot:
        from heavylift.outputs import check_writable

        check_writable(args.plot, args.force, "--plot")  # before any work
    args.kv_type = kv_type_of(args)  # --kv-type, or -ctk/-ctv (llama.cpp's spelling)
    req = merge_flags(PlanRequest.from_namespace(args), getattr(args, "extra_args", []))
    if not req.models:
        raise UsageError("give a model: a catalog name (heavylift plan --list), a .gguf path or a config.json")
    if args.hosts:
        return _hosts(args, req)
    if args.compare:
        if req.flags.is_given:
            raise UsageError("--compare plans its own placement on each rig; drop -ngl / -ts / -ot / --n-cpu-moe")
        return _compare(args, req)
    if args.uncalibrated and args.hw.strip().lower() != "local":
        raise UsageError("--uncalibrated applies to --hw local (a calibrated profile is this machine's only)")
    rig = parse_hw(args.hw, calibrated=not args.uncalibrated)
    if req.n_threads is not None:
        rig.n_threads = req.n_threads
    plans = []
    for m in req.models:
        src = resolve(m, args.quant)
        cfg = default_context(src, req.ctx, req.parallel, **req.settings)
        plans.append(make_plan(src, rig, cfg, args.prompt_tokens, args.depth, flags=req.flags))
    if args.plot:
        from heavylift.plan.plot import plot_memory, plot_speed

        drawn = (plot_memory(plans[0], args.plot, args.force) if len(plans) == 1
                 else plot_speed(plans, args.plot, args.force))
        say(f"plot written to {drawn}")
    for note in req.ignored:
        say(f"plan: {note}")
    if args.json:
        out = [plan_json(p) for p in plans]
        print(json.dumps(out[0] if len(out) == 1 else out, indent=2))
        return 0
    if len(plans) == 1:
        _print_plan(plans[0])
    else:
        _print_side_by_side(plans)
    return 0


def _gib(n: int | None) -> str:
    return human_bytes(n)


def _duration(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def _verdict(p: Plan) -> str:
    if p.fits:
        return "FITS"
    over = [f"{d.name} over by {_gib(d.overflow_bytes)}" for d in p.devices if not d.fits]
    return "DOES NOT FIT: " + "; ".join(over)


def _placement_words(p: Plan) -> str:
    pl = p.placement
    n, gpus = len(pl.layer_device) - 1, pl.n_gpu_layers
    if not pl.gpus:
        return "every layer in RAM"
    words = "every layer on the GPUs" if gpus == n + 1 else f"{gpus} of {n + 1} layers on the GPUs (output layer counted)"
    if pl.host.expert_layers:
        words += f", experts of layers {ranges(pl.host.expert_layers)} in RAM"
    return words


def _print_plan(p: Plan) -> None:
    cfg = p.context
    print(f"{p.model} ({p.architecture}, {p.quant}) on {p.hardware}")
    print(f"context {cfg.ctx:,} tokens x {cfg.n_parallel} sequence(s), KV {cfg.kv_type}"
          + (f"; predicted GGUF file {p.file_bytes / 1e9:.2f} GB ({_gib(p.file_bytes)})" if p.file_bytes else ""))
    if p.is_evaluated:
        print(f"your placement flags: {' '.join(p.placement.flags.argv())}")
    print()
    w = max([24, *(len(d.name) for d in p.devices)])  # device names up to "GPU0 RTX PRO 6000 Blackwell Max-Q"
    print(f"{'DEVICE':{w}} {'CAPACITY':>11} {'USABLE':>11} {'USED':>11} {'WEIGHTS':>11} {'KV+STATE':>11} "
          f"{'COMPUTE':>10} {'OTHER':>9}  LAYERS / EXPERTS")
    for d in p.devices:
        b = d.breakdown
        flag = "" if d.fits else f"  << OVER by {_gib(d.overflow_bytes)}"
        where = ranges(d.layers) + (" +output" if d.has_output else "")
        experts = f" / experts {ranges(d.expert_layers)}" if d.kind == "cpu" and d.expert_layers else ""
        print(f"{d.name:{w}} {_gib(d.capacity_bytes):>11} {_gib(d.usable_bytes):>11} {_gib(d.used_bytes):>11} "
              f"{_gib(b.weights_bytes):>11} {_gib(b.kv_cache_bytes + b.recurrent_state_bytes):>11} "
              f"{_gib(b.compute_bytes):>10} {_gib(b.output_bytes + b.overhead_bytes):>9}  {where}{experts}{flag}")
    m = p.memory
    print(f"{'TOTAL':{w}} {'':>11} {'':>11} {_gib(m.sum()):>11} {_gib(m.weights_bytes):>11} "
          f"{_gib(m.kv_cache_bytes + m.recurrent_state_bytes):>11} {_gib(m.compute_bytes):>10}")
    print()
    print(f"verdict: {_verdict(p)} ({_placement_words(p)})")
    for note in p.placement.notes:
        print(f"  note: {note}")
    s = p.speed
    print(f"decode: ~{s.decode_tps:.1f} tok/s with {p.depth_tokens:,} tokens in the cache (bandwidth roofline there "
          f"{s.roofline_decode_tps:.1f} tok/s; {s.bytes_per_token / 1e9:.2f} GB read per token)"
          + (f", ~{p.decode_tps_depth0:.1f} tok/s with an empty one" if p.depth_tokens else ""))
    after = f" after {s.prompt_start_tokens:,} cached tokens" if s.prompt_start_tokens else " into an empty cache"
    print(f"prefill: ~{s.prefill_tps:.0f} tok/s; time to first token for a {s.prompt_tokens:,}-token prompt{after}: "
          f"{_duration(s.ttft_s)}")
    if p.placement.gpus:
        print(f"power ~{p.power_w:.0f} W (TDP sum); GPUs' list price: "
              + (f"${p.price_usd:,.0f}" if p.price_usd else "unknown"))
    else:  # a CPU-only board of the catalog carries its measured power and price (assumptions say where from)
        print(f"power ~{p.power_w:.0f} W" + (" (the board, measured)" if p.price_usd else " (assumed for the host)")
              + "; price: " + (f"${p.price_usd:,.0f} (the board as tested)" if p.price_usd else "unknown"))
    print()
    print("llama-server " + " ".join(p.llama_server_args))
    n = len(p.placement.layer_device) - 1
    if p.placement.gpus and p.placement.flags.n_gpu_layers == n + 1:
        print(f"  (-ngl {p.placement.flags.n_gpu_layers}: llama.cpp counts the output layer, so -ngl {n + 1} = all "
              f"{n} repeating layers + the output layer; -ngl 999 does the same)")
    print("vllm: " + (" ".join(p.vllm_args) if p.vllm_args else f"none ({p.vllm_note})"))
    if p.best:
        _print_comparison(p, p.best)
    if p.suggestions:
        print("\nwhat would fit instead (nothing was changed for you):")
        for s_ in p.suggestions:
            print(f"  - {s_}")
    print("\nassumptions:")
    for a in p.assumptions:
        print(f"  - {a}")
    print("sources:")
    for s_ in p.sources:
        print(f"  - {s_}")


def _print_comparison(mine: Plan, best: Plan) -> None:
    print("\nyour flags vs the planner's own placement:")
    print(f"  {'':22} {'yours':>28} {'planner':>28}")
    rows = [("verdict", lambda p: "fits" if p.fits else "DOES NOT FIT"),
            ("decode tok/s", lambda p: f"{p.decode_tps:.1f} (empty cache {p.decode_tps_depth0:.1f})"),
            ("prefill tok/s", lambda p: f"{p.prefill_tps:.0f}"), ("TTFT", lambda p: _duration(p.ttft_s)),
            ("total memory", lambda p: _gib(p.total_bytes))]
    rows += [(d.name, lambda p, i=i: f"{_gib(p.devices[i].used_bytes)} of {_gib(p.devices[i].usable_bytes)}")
             for i, d in enumerate(best.devices)]
    for label, fn in rows:
        print(f"  {label[:22]:22} {fn(mine)[:28]:>28} {fn(best)[:28]:>28}")
    print(f"  your placement:    {' '.join(mine.placement.flags.argv())}")
    print(f"  planner's:         {' '.join(best.placement.flags.argv())}")
    print("  planner's command: llama-server " + " ".join(best.llama_server_args))


def _print_side_by_side(plans: list[Plan]) -> None:
    rows = [("quant", lambda p: p.quant), ("file size", lambda p: _gib(p.file_bytes) if p.file_bytes else "(local)"),
            ("weights", lambda p: _gib(p.memory.weights_bytes)), ("KV cache", lambda p: _gib(p.memory.kv_cache_bytes)),
            ("total", lambda p: _gib(p.total_bytes)), ("fits", lambda p: "yes" if p.fits else "NO"),
            ("experts in RAM", lambda p: f"{len(p.placement.host.expert_layers)} layers"
             if p.placement.gpus and p.placement.host.expert_layers else "-"),
            ("decode tok/s", lambda p: f"{p.decode_tps:.1f}"),
            ("roofline tok/s", lambda p: f"{p.speed.roofline_decode_tps:.1f}"),
            ("prefill tok/s", lambda p: f"{p.prefill_tps:.0f}"), ("TTFT", lambda p: _duration(p.ttft_s))]
    print(f"on {plans[0].hardware}, context {plans[0].context.ctx:,}")
    print(f"{'':16}" + "".join(f"{p.model[:22]:>24}" for p in plans))
    for label, fn in rows:
        print(f"{label:16}" + "".join(f"{fn(p):>24}" for p in plans))


def _compare(args: argparse.Namespace, req: PlanRequest) -> int:
    from heavylift.plan.compare import compare_rigs

    results = compare_rigs(req.models, args.quant, req.ctx, req.parallel, args.prompt_tokens, args.depth,
                           **req.settings)
    if args.plot:
        from heavylift.plan.plot import plot_speed

        say(f"plot written to {plot_speed(results, args.plot, args.force)}")
    if args.json:
        print(json.dumps([plan_json(p) for p in results], indent=2))
        return 0
    print(f"context {results[0].context.ctx:,}, TTFT for a {results[0].speed.prompt_tokens:,}-token prompt")
    print(f"{'MODEL':20} {'RIG':44} {'FITS':5} {'QUANT':7} {'DECODE':>8} {'PREFILL':>8} {'TTFT':>9} {'POWER':>7} {'GPU COST':>9}")
    for p in results:
        print(f"{p.model[:20]:20} {p.hardware[:44]:44} {'yes' if p.fits else 'NO':5} {p.quant:7} {p.decode_tps:8.1f} "
              f"{p.prefill_tps:8.0f} {_duration(p.ttft_s):>9} {p.power_w:6.0f}W "
              f"{('${}'.format(format(p.price_usd, ',.0f'))) if p.price_usd else 'unknown':>9}")
    return 0


def _hosts(args: argparse.Namespace, req: PlanRequest) -> int:
    from heavylift.hardware.network import read_hosts
    from heavylift.plan.multihost import (
        compare_hosts,
        format_compare,
        format_multihost,
        multihost_json,
        plan_hosts,
    )

    if req.flags.is_given or len(req.models) != 1:
        raise UsageError("--hosts plans one model with its own placement; give one model and no -ngl/-ts/-ot")
    hosts = read_hosts(args.hosts)
    src = resolve(req.models[0], args.quant)
    cfg = default_context(src, req.ctx, req.parallel, **req.settings)
    if args.compare:
        rows = compare_hosts(src, cfg, hosts)
        print(json.dumps(rows, indent=2) if args.json else "\n".join(format_compare(rows)))
        return 0
    mp = plan_hosts(src, cfg, hosts)
    print(json.dumps(multihost_json(mp), indent=2) if args.json else "\n".join(format_multihost(mp)))
    return 0
