"""`heavylift plan MODEL... [--quant Q] [--ctx N] [--parallel N] [--kv-type T] [--hw SPEC|local] [--compare] [--json]`."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from heavylift.cli.common import human_bytes, positive_int, say
from heavylift.hardware.spec import parse_hw
from heavylift.plan.memory import KV_TYPES, ContextConfig
from heavylift.plan.model_source import catalog_rows, resolve
from heavylift.plan.planner import Plan, make_plan

# --compare: the rigs users weigh (issue 3)
STANDARD_RIGS = [
    "1x rtx-5090, 128GB ddr5-6000 2ch, pcie5",
    "2x rtx-5090, 256GB ddr5-6000 2ch, pcie5",
    "3x rtx-3090-ti, 128GB ddr4-3200 2ch, pcie4",
    "4x rtx-4090, 256GB ddr5-4800 8ch, pcie4",
    "4x rtx-5090, 512GB ddr5-4800 8ch, pcie5",
    "m3-ultra-512gb",
    "8x h100, 1024GB ddr5-4800 8ch, nvlink",
]
COMPARE_QUANTS = ["Q4_K_M", "Q3_K_M", "Q2_K"]


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("plan", help=summary, description=
                       "Predict memory per device, placement, engine flags and speed for a model on a rig. "
                       "MODEL: a catalog name, a .gguf path, a config.json or a model folder (never downloads).")
    p.add_argument("models", nargs="*", metavar="MODEL", help="one or more models (several: side by side)")
    p.add_argument("--quant", help="GGUF file type to predict for non-GGUF inputs (default Q4_K_M; --compare: best that fits)")
    p.add_argument("--ctx", type=positive_int, help="context tokens, shared by all sequences (llama.cpp -c; default: 32768 per sequence, or the model's trained context if smaller)")
    p.add_argument("--parallel", type=positive_int, default=1, help="parallel sequences (default 1)")
    p.add_argument("--kv-type", choices=KV_TYPES, default="f16", help="KV cache type (default f16)")
    p.add_argument("--ubatch", type=positive_int, default=512, help="physical batch size (default 512)")
    p.add_argument("--batch", type=positive_int, default=2048, help="logical batch size (default 2048)")
    p.add_argument("--no-flash-attn", action="store_true", help="plan without flash attention")
    p.add_argument("--prompt-tokens", type=positive_int, help="prompt length for TTFT (default min(ctx, 150000))")
    p.add_argument("--hw", default="local", help="'local' (default) or a spec like \"2x rtx-5090, 256GB ddr5-6000 2ch, pcie4\"")
    p.add_argument("--compare", action="store_true", help="one table over the standard rigs")
    p.add_argument("--list", action="store_true", help="list the built-in catalog")
    p.add_argument("--list-hardware", action="store_true",
                   help="list the known devices (--hw ids) with memory, bandwidth, FP16 compute, power, price, source")
    p.add_argument("--json", action="store_true", help="machine-readable output (the Plan dataclass)")
    p.add_argument("--plot", type=Path, metavar="PNG",
                   help="also draw it: memory per device (one model) or decode speed vs roofline (--compare, several)")
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
    if not args.models:
        from heavylift.errors import UsageError

        raise UsageError("give a model: a catalog name (heavylift plan --list), a .gguf path or a config.json")
    if args.compare:
        return _compare(args)
    rig = parse_hw(args.hw)
    plans = []
    for m in args.models:
        src = resolve(m, args.quant)
        plans.append(make_plan(src, rig, _context(args, src), args.prompt_tokens))
    if args.plot:
        from heavylift.plan.plot import plot_memory, plot_speed

        drawn = plot_memory(plans[0], args.plot) if len(plans) == 1 else plot_speed(plans, args.plot)
        say(f"plot written to {drawn}")
    if args.json:
        out = [asdict(p) for p in plans]
        print(json.dumps(out[0] if len(out) == 1 else out, indent=2))
        return 0
    if len(plans) == 1:
        _print_plan(plans[0])
    else:
        _print_side_by_side(plans)
    return 0


def _gib(n: int | None) -> str:
    return human_bytes(n)


def _print_plan(p: Plan) -> None:
    print(f"{p.model} ({p.architecture}, {p.quant}) on {p.hardware}")
    print(f"context {p.ctx:,} tokens x {p.n_parallel} sequence(s), KV {p.kv_type}"
          + (f"; predicted GGUF file {p.file_bytes / 1e9:.2f} GB ({_gib(p.file_bytes)})" if p.file_bytes else ""))
    print()
    head = f"{'DEVICE':24} {'CAPACITY':>11} {'USABLE':>11} {'USED':>11} {'WEIGHTS':>11} {'KV+STATE':>11} {'COMPUTE':>10} {'OTHER':>9}  LAYERS / EXPERTS IN RAM"
    print(head)
    for d in p.devices:
        b = d.breakdown
        flag = "" if d.used_bytes <= d.usable_bytes else "  << OVER"
        print(f"{d.name:24} {_gib(d.capacity_bytes):>11} {_gib(d.usable_bytes):>11} {_gib(d.used_bytes):>11} "
              f"{_gib(b.weights_bytes):>11} {_gib(b.kv_cache_bytes + b.recurrent_state_bytes):>11} "
              f"{_gib(b.compute_bytes):>10} {_gib(b.output_bytes + b.overhead_bytes):>9}  "
              f"{d.layers}{' / experts ' + d.expert_layers_in_ram if d.expert_layers_in_ram != '-' else ''}{flag}")
    print(f"{'TOTAL':24} {'':>11} {'':>11} {_gib(p.total_bytes):>11} {_gib(p.weights_bytes):>11} "
          f"{_gib(p.kv_cache_bytes + p.recurrent_state_bytes):>11} {_gib(p.compute_bytes):>10}")
    print()
    print(f"verdict: {'FITS' if p.fits else 'DOES NOT FIT'}" + (f" (-ngl {p.n_gpu_layers}, experts of the first "
          f"{p.n_cpu_moe} layers in RAM)" if p.n_cpu_moe else ""))
    print(f"decode: ~{p.decode_tps:.1f} tok/s predicted (bandwidth roofline {p.roofline_decode_tps:.1f} tok/s; "
          f"{p.bytes_per_token / 1e9:.2f} GB read per token)")
    print(f"prefill: ~{p.prefill_tps:.0f} tok/s; time to first token for a {p.prompt_tokens:,}-token prompt: "
          f"{_duration(p.ttft_s)}")
    print(f"power ~{p.power_w:.0f} W (TDP sum); GPUs' list price: "
          + (f"${p.price_usd:,.0f}" if p.price_usd else "unknown"))
    print()
    print("llama-server " + " ".join(p.llama_server_args))
    print("vllm: " + (" ".join(p.vllm_args) if p.vllm_args else f"none ({p.vllm_note})"))
    if p.suggestions:
        print("\nwhat would fit instead (nothing was changed for you):")
        for s in p.suggestions:
            print(f"  - {s}")
    print("\nassumptions:")
    for a in p.assumptions:
        print(f"  - {a}")
    print("sources:")
    for s in p.sources:
        print(f"  - {s}")


def _duration(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def _print_side_by_side(plans: list[Plan]) -> None:
    rows = [("quant", lambda p: p.quant), ("file size", lambda p: _gib(p.file_bytes) if p.file_bytes else "(local)"),
            ("weights", lambda p: _gib(p.weights_bytes)), ("KV cache", lambda p: _gib(p.kv_cache_bytes)),
            ("total", lambda p: _gib(p.total_bytes)), ("fits", lambda p: "yes" if p.fits else "NO"),
            ("experts in RAM", lambda p: f"{p.n_cpu_moe} layers" if p.n_cpu_moe else "-"),
            ("decode tok/s", lambda p: f"{p.decode_tps:.1f}"), ("roofline tok/s", lambda p: f"{p.roofline_decode_tps:.1f}"),
            ("prefill tok/s", lambda p: f"{p.prefill_tps:.0f}"), ("TTFT", lambda p: _duration(p.ttft_s))]
    print(f"on {plans[0].hardware}, context {plans[0].ctx:,}")
    print(f"{'':16}" + "".join(f"{p.model[:22]:>24}" for p in plans))
    for label, fn in rows:
        print(f"{label:16}" + "".join(f"{fn(p):>24}" for p in plans))


def _context(args: argparse.Namespace, src) -> ContextConfig:
    """The user's --ctx as given (never shrunk); without one, 32K per sequence or the model's own maximum."""
    ctx = args.ctx or min(32768, src.arch.n_ctx_train) * args.parallel
    return ContextConfig(ctx, args.parallel, args.kv_type, args.batch, args.ubatch, not args.no_flash_attn)


def _compare(args: argparse.Namespace) -> int:
    results = []
    for model in args.models:
        cfg = _context(args, resolve(model, args.quant))
        prompt = args.prompt_tokens or min(150_000, cfg.ctx // cfg.n_parallel)  # a prompt must fit its slot
        for spec in STANDARD_RIGS:
            rig = parse_hw(spec)
            chosen = None
            for q in ([args.quant] if args.quant else COMPARE_QUANTS):
                plan = make_plan(resolve(model, q), rig, cfg, prompt, suggest=False)
                chosen = plan
                if plan.fits:
                    break
            results.append(chosen)
    if args.plot:
        from heavylift.plan.plot import plot_speed

        say(f"plot written to {plot_speed(results, args.plot)}")
    if args.json:
        print(json.dumps([asdict(p) for p in results], indent=2))
        return 0
    print(f"context {results[0].ctx:,}, TTFT for a {results[0].prompt_tokens:,}-token prompt")
    print(f"{'MODEL':20} {'RIG':44} {'FITS':5} {'QUANT':7} {'DECODE':>8} {'PREFILL':>8} {'TTFT':>9} {'POWER':>7} {'GPU COST':>9}")
    for p in results:
        print(f"{p.model[:20]:20} {p.hardware[:44]:44} {'yes' if p.fits else 'NO':5} {p.quant:7} {p.decode_tps:8.1f} "
              f"{p.prefill_tps:8.0f} {_duration(p.ttft_s):>9} {p.power_w:6.0f}W "
              f"{('${}'.format(format(p.price_usd, ',.0f'))) if p.price_usd else 'unknown':>9}")
    return 0
