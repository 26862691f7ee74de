"""`heavylift bench [MODEL | --endpoint URL] [sweeps] [-- ENGINE FLAGS]`, and `bench list`,
`bench show RUN`, `bench report RUN [RUN...]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from heavylift.cli.common import positive_int, say, sigterm_as_interrupt
from heavylift.errors import HeavyliftError, UsageError

ACTIONS = ("list", "show", "report", "profile")


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("bench", help=summary, formatter_class=argparse.RawDescriptionHelpFormatter, description=
                       "Measure a model served here (the planned llama-server flags, or yours after `--`) or any "
                       "OpenAI-compatible endpoint: TTFT, prefill and decode tok/s, inter-token latency, end-to-end, "
                       "the engine's own timings, each beside the planner's prediction and the machine's physical "
                       "limit. Every run is stored.", epilog=
                       "more:\n  heavylift bench list\n  heavylift bench show RUN|last [--json]\n"
                       "  heavylift bench report RUN [RUN...] [--plot PNG]\n"
                       "  heavylift bench [MODEL...] --calibrate   fit this machine's speed profile (plan --hw local uses it)\n"
                       "  heavylift bench profile [--json] [--reset]\n"
                       "token counts take k (x1024): --prompt-lengths 512,4k,16k")
    p.add_argument("target", nargs="*", metavar="MODEL", help="a stored model, `default` or a .gguf path; or "
                   "list | show RUN | report RUN [RUN...]")
    p.add_argument("--endpoint", metavar="URL", help="measure this OpenAI-compatible endpoint instead of serving a model")
    p.add_argument("--api-key", help="bearer key for --endpoint")
    p.add_argument("--model", dest="endpoint_model", metavar="NAME|PATH",
                   help="with --endpoint: the model file it serves (for predictions and llama-bench)")
    p.add_argument("--hw", help="with --endpoint on another machine: its hardware spec, for the predictions")
    p.add_argument("--prompt-lengths", default="512", help="prompt tokens to time, comma-separated (default 512)")
    p.add_argument("--gen", type=positive_int, help="tokens to generate per request (default 128; --calibrate: 32)")
    p.add_argument("--depths", help="tokens already in the cache before the prompt (default 0; --calibrate: 0,4k)")
    p.add_argument("--concurrency", default="1", help="requests at once, comma-separated (default 1)")
    p.add_argument("--repeats", type=positive_int, help="timed repeats per configuration (default 3; one "
                   "warm-up request before all is not counted; --calibrate: llama-bench repetitions, default 2)")
    p.add_argument("--cache", action="store_true", help="let the engine reuse cached prompts (each repeat then sends "
                   "the same prompt); off by default: every prompt is fresh and cache_prompt is false")
    p.add_argument("--sampling", choices=["greedy", "default"], default="greedy",
                   help="greedy: top-k 1 only, so decode measures the engine as llama-bench does (default); "
                        "default: the engine's default sampler chain, its cost included")
    p.add_argument("--threads", type=positive_int, help="CPU threads for the engine and llama-bench (default: physical cores)")
    p.add_argument("--ctx", type=positive_int, help="engine context (default: what the sweep needs)")
    p.add_argument("--against-llama-bench", action="store_true",
                   help="also run llama.cpp's llama-bench on the same model, flags and threads; print ours/llama-bench")
    p.add_argument("--rounds", type=positive_int, default=1,
                   help="--calibrate: measure the models in turn this many times and take each point's median "
                        "round (robust to a shared machine's slow and fast periods; default 1)")
    p.add_argument("--remeasure", action="store_true", help="measure this machine again (bandwidth, cores, SIMD)")
    p.add_argument("--calibrate", action="store_true",
                   help="measure the models given (default: the default model) with llama-bench and fit this machine's "
                        "speed profile (the CPU constants of the speed model); `plan --hw local` then uses it")
    p.add_argument("--reset", action="store_true", help="profile: delete this machine's speed profile")
    p.add_argument("--plot", type=Path, metavar="PNG", help="report: where to draw the plots (default bench-RUNS.png)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    words = list(args.target)
    if words and words[0] in ACTIONS:
        return _action(words[0], words[1:], args)
    if args.calibrate:
        return _calibrate(words or ["default"], args)
    if args.reset:
        raise UsageError("--reset goes with `heavylift bench profile`")
    if len(words) > 1:
        raise UsageError(f"one MODEL at a time (got {' '.join(words)}); for several runs side by side use "
                         "`heavylift bench report RUN RUN`")
    from heavylift.bench.session import BenchRequest, run_bench
    from heavylift.bench.sweep import BenchSettings, parse_list

    settings = BenchSettings(
        prompt_lengths=parse_list(args.prompt_lengths, "--prompt-lengths"), gen_tokens=args.gen or 128,
        depths=parse_list(args.depths or "0", "--depths", allow_zero=True),
        concurrency=parse_list(args.concurrency, "--concurrency"), repeats=args.repeats or 3, is_cache=args.cache,
        sampling=args.sampling, threads=args.threads)
    if args.endpoint and words:
        raise UsageError("give a MODEL to serve or --endpoint URL, not both (with --endpoint, --model names its file)")
    model = words[0] if words else (None if args.endpoint else "default")
    if args.endpoint and args.extra_args:
        raise UsageError("engine flags after `--` apply to a model heavylift serves, not to --endpoint")
    sigterm_as_interrupt()
    from heavylift.bench.report import format_run, json_rows

    request = BenchRequest(settings=settings, model=model, endpoint=args.endpoint, api_key=args.api_key,
                           endpoint_model=args.endpoint_model, hw=args.hw, engine_args=list(args.extra_args),
                           ctx=args.ctx, against_llama_bench=args.against_llama_bench, remeasure=args.remeasure)
    try:
        result = run_bench(request, say)
    except KeyboardInterrupt:
        say("bench: interrupted; what was measured is kept (`heavylift bench list`)")
        raise
    if args.json:
        print(json.dumps(json_rows(result), indent=2))
    else:
        print("\n".join(format_run(result)))
    if result.status != "done":
        raise HeavyliftError(f"run {result.id} is {result.status}: {len(result.missing)} of {len(result.configs)} "
                             f"configurations not measured ({', '.join(result.missing)}); the rest is stored "
                             f"(`heavylift bench show {result.id}`)")
    return 0


def _calibrate(models: list[str], args: argparse.Namespace) -> int:
    from heavylift.bench.calibrate import calibrate, format_profile
    from heavylift.bench.sweep import parse_list

    if args.endpoint or args.extra_args or args.concurrency != "1" or args.reset:
        raise UsageError("--calibrate runs llama-bench on local models: it takes MODEL..., --prompt-lengths (one), "
                         "--gen, --depths, --repeats, --rounds, --threads; not --endpoint, --concurrency, --reset or engine flags")
    prompts = parse_list(args.prompt_lengths, "--prompt-lengths")
    if len(prompts) != 1:
        raise UsageError(f"--calibrate takes one prompt length (got {args.prompt_lengths})")
    depths = parse_list(args.depths or "0,4k", "--depths", allow_zero=True)
    prof = calibrate(models, prompt=prompts[0], gen=args.gen or 32, depths=depths, repeats=args.repeats or 2,
                     threads=args.threads, remeasure=args.remeasure, say=say, rounds=args.rounds)
    print(json.dumps(prof.to_dict(), indent=2) if args.json else "\n".join(format_profile(prof)))
    return 0


def _profile(refs: list[str], args: argparse.Namespace) -> int:
    from heavylift.bench import profile as profile_mod
    from heavylift.bench.calibrate import format_profile

    if refs:
        raise UsageError(f"`heavylift bench profile` takes no argument (got {' '.join(refs)}); it shows this machine's")
    fp = profile_mod.current_fingerprint()
    if args.reset:
        gone = profile_mod.reset(fp)
        say(f"bench: speed profile for {fp} {'deleted' if gone else 'not found (nothing to delete)'}")
        return 0
    prof = profile_mod.load(fp, strict=True)
    if prof is None:
        if args.json:
            print("null")
            return 0
        raise HeavyliftError(f"no speed profile for this machine ({fp}); `heavylift bench --calibrate` makes one")
    print(json.dumps(prof.to_dict(), indent=2) if args.json else "\n".join(format_profile(prof)))
    return 0


def _action(action: str, refs: list[str], args: argparse.Namespace) -> int:
    if action == "profile":
        return _profile(refs, args)
    from heavylift.bench.report import format_comparison, format_list, format_run
    from heavylift.bench.store import BenchStore

    store = BenchStore()
    if action == "list":
        runs = store.list()
        if args.json:
            print(json.dumps([{k: v for k, v in r.to_dict().items() if k != "results"} for r in runs], indent=2))
        else:
            print("\n".join(format_list(runs)))
        return 0
    if not refs:
        raise UsageError(f"`heavylift bench {action}` needs a run id (see `heavylift bench list`), or `last`")
    if action == "show":
        if len(refs) > 1:
            raise UsageError("`bench show` takes one run; use `heavylift bench report RUN RUN` to compare")
        run = store.get(refs[0])
        print(json.dumps(run.to_dict(), indent=2) if args.json else "\n".join(format_run(run)))
        return 0
    runs = [store.get(r) for r in refs]
    from heavylift.bench.plot import plot_runs

    path = args.plot or Path(f"bench-{'-'.join(str(r.id) for r in runs)}.png")
    drawn = plot_runs(runs, path)
    if args.json:
        print(json.dumps([r.to_dict() for r in runs], indent=2))
    else:
        print("\n".join(format_comparison(runs)))
    say(f"bench: plots written to {drawn}")
    return 0
