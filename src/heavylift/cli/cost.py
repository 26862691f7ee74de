"""`heavylift cost`: is local really cheaper? Local monthly cost (amortisation, energy) against API
monthly cost, with capacity, compute-once prefixes, cache and batch prices, and the context check."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from heavylift.cli.common import positive_int, say
from heavylift.errors import UsageError


def _fraction(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _number(text: str) -> float:
    return _fraction(text)  # range checks happen in one place (cost/report.py: check), with the option named


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("cost", help=summary, formatter_class=argparse.RawDescriptionHelpFormatter, description=
                       "Local monthly cost (hardware amortisation + energy) against API monthly cost for a workload; "
                       "capacity (can one machine do the month's work?), compute-once document prefixes, cache and "
                       "batch prices, the context check. Speeds from --prefill-tps/--decode-tps, --from-bench RUN or "
                       "--plan MODEL --hw SPEC.", epilog=
                       "examples:\n"
                       "  heavylift cost --plan qwen3-235b-a22b --quant Q3_K_M --hw \"2x rtx-5090, 256GB ddr5-6000 2ch\" \\\n"
                       "      --per-month 2000 --input-tokens 50000 --output-tokens 500 --questions-per-doc 10 \\\n"
                       "      --electricity 0.15 --hardware-cost 7000\n"
                       "  heavylift cost --prefill-tps 400 --decode-tps 20 --per-month 1000 --input-tokens 8000 \\\n"
                       "      --output-tokens 300 --hardware-cost 3000 --electricity 0.3 --power-w 450 --api gpt-5.5\n"
                       "API names: heavylift cost --list-apis")
    w = p.add_argument_group("workload")
    w.add_argument("--per-month", type=_number, help="documents (or inferences) per month")
    w.add_argument("--input-tokens", type=_number, help="input tokens per request (the document and its question)")
    w.add_argument("--output-tokens", type=_number, help="output tokens per request")
    w.add_argument("--questions-per-doc", type=_number, default=1, help="requests sharing one document prefix (default 1)")
    w.add_argument("--question-tokens", type=_number, default=0,
                   help="of --input-tokens, the tokens of each question beyond the shared document (default 0)")
    w.add_argument("--cached-share", type=_fraction, help="share of input served from cache, 0..1 (default: the "
                   "compute-once share, (Q-1)/Q of the document; given, it also enters the headline API figure)")
    loc = p.add_argument_group("local machine")
    loc.add_argument("--hardware-cost", type=_number, metavar="USD", help="what the machine cost (--plan: the GPUs' list price)")
    loc.add_argument("--months", type=_number, default=36, help="amortisation months (default 36)")
    loc.add_argument("--electricity", type=_number, metavar="USD_PER_KWH", help="electricity price")
    loc.add_argument("--power-w", type=_number, metavar="W", help="power while working (default: measured by the bench "
                     "run, else the plan's TDP sum as an estimate)")
    loc.add_argument("--idle-power-w", type=_number, metavar="W", help="power while waiting (default: measured by the bench run, else not counted)")
    loc.add_argument("--hours-per-day", type=_number, default=24, metavar="H", help="hours a day the machine may work (default 24)")
    sp = p.add_argument_group("local speeds (one source)")
    sp.add_argument("--prefill-tps", type=_number, help="prompt tokens per second")
    sp.add_argument("--decode-tps", type=_number, help="generated tokens per second")
    sp.add_argument("--from-bench", metavar="RUN", help="speeds (and measured power) from a stored `heavylift bench` run")
    sp.add_argument("--plan", metavar="MODEL", help="speeds from the planner for MODEL on --hw (refused if it does not fit)")
    sp.add_argument("--hw", default="local", help="with --plan: the hardware spec (default local)")
    sp.add_argument("--quant", help="with --plan: the quantization (default Q4_K_M, or the GGUF's own)")
    sp.add_argument("--ctx", type=positive_int, help="the local model's context (--plan default: what the workload needs, "
                    "at most the model's)")
    sp.add_argument("--kv-type", default="f16", help="with --plan: KV cache type (default f16)")
    api = p.add_argument_group("API side")
    api.add_argument("--api", action="append", metavar="NAME|input=X,output=Y[,cached=Z][,write=W]",
                     help="an API from the price table, or your prices in USD per million tokens; repeat to compare "
                     "(default: a few of the table's)")
    api.add_argument("--batch-discount", type=_fraction, metavar="F",
                     help="apply this batch discount to the headline API figure (0.5 = 50%% off)")
    api.add_argument("--list-apis", action="store_true", help="list the price table with its sources and dates")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--plot", type=Path, metavar="PNG", help="draw monthly cost against volume")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heavylift.cost import prices

    if args.list_apis:
        return _list_apis(args)
    from heavylift.cost import sources
    from heavylift.cost.model import Workload
    from heavylift.cost.report import CostRequest, compute, format_report

    for name in ("per_month", "input_tokens", "output_tokens"):
        if getattr(args, name) is None:
            raise UsageError(f"--{name.replace('_', '-')} is required (the workload: --per-month, --input-tokens, --output-tokens)")
    for name in ("per_month", "input_tokens", "output_tokens", "questions_per_doc"):
        value = getattr(args, name)
        if value <= 0 or value != int(value):
            raise UsageError(f"--{name.replace('_', '-')} must be a whole number greater than zero (got {value:g})")
    if args.question_tokens < 0:
        raise UsageError(f"--question-tokens cannot be negative (got {args.question_tokens:g})")
    workload = Workload(int(args.per_month), int(args.input_tokens), int(args.output_tokens), int(args.questions_per_doc),
                        args.cached_share, int(args.question_tokens))
    chosen = [n for n, v in (("--prefill-tps/--decode-tps", args.prefill_tps or args.decode_tps),
                             ("--from-bench", args.from_bench), ("--plan", args.plan)) if v]
    if len(chosen) != 1:
        raise UsageError("give the local speeds one way: --prefill-tps P --decode-tps D, --from-bench RUN, or "
                         "--plan MODEL --hw SPEC" + (f" (got {' and '.join(chosen)})" if chosen else ""))
    if args.prefill_tps or args.decode_tps:
        if not (args.prefill_tps and args.decode_tps) or args.prefill_tps <= 0 or args.decode_tps <= 0:
            raise UsageError("--prefill-tps and --decode-tps go together, both greater than zero (tokens per second)")
        speeds = sources.given(args.prefill_tps, args.decode_tps, args.ctx)
    elif args.from_bench:
        speeds = sources.from_bench(args.from_bench, workload)
    else:
        speeds = sources.from_plan(args.plan, args.hw, args.quant, args.ctx, args.kv_type, workload)
    for spec in args.api or []:
        prices.parse_api(spec)  # unknown names and bad prices fail before anything else
    report = compute(CostRequest(workload, speeds, args.hardware_cost, args.months, args.electricity, args.power_w,
                                 args.idle_power_w, args.hours_per_day, list(args.api or []), args.batch_discount))
    if args.plot:
        from heavylift.cost.plot import plot_cost

        say(f"cost: plot written to {plot_cost(report, args.plot)}")
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print("\n".join(format_report(report)))
    return 0


def _list_apis(args: argparse.Namespace) -> int:
    from heavylift.cost import prices

    entries = [prices.lookup(n) for n in prices.names()]
    if args.json:
        from dataclasses import asdict

        print(json.dumps([asdict(e) for e in entries], indent=2))
        return 0
    print(f"prices read {prices.table()['read_on']} (USD per million tokens; '-' = not read)")
    print(f"{'NAME':26} {'INPUT':>7} {'CACHED':>7} {'WRITE':>7} {'OUTPUT':>7} {'BATCH':>6} {'CONTEXT':>9}  SOURCE")
    for e in entries:
        f = lambda v: "-" if v is None else f"{v:g}"  # noqa: E731
        print(f"{e.name:26} {f(e.input):>7} {f(e.cached_input):>7} {f(e.cache_write):>7} {f(e.output):>7} "
              f"{('-' if e.batch_discount is None else f'{e.batch_discount:.0%}'):>6} "
              f"{('-' if e.context_tokens is None else f'{e.context_tokens:,}'):>9}  {e.source} ({e.source_kind})")
    return 0

