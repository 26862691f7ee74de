"""Small helpers shared by the subcommand modules."""

from __future__ import annotations

import argparse
import signal
import sys

from heavylift import settings
from heavylift.errors import UsageError


def say(message: str) -> None:
    """Status lines go to stderr so stdout stays clean for answers and --json."""
    print(message, file=sys.stderr, flush=True)


def _argparse_type(parse, name: str):
    """An argparse `type=` from one of heavylift.settings' value parsers (one check per kind of
    value, for options and environment variables alike)."""

    def convert(text: str):
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"{text!r} {e}") from None

    convert.__name__ = name  # argparse names the type in its messages
    return convert


positive_int = _argparse_type(settings.parse_positive_int, "positive_int")
positive_float = _argparse_type(settings.parse_positive_float, "positive_float")
port_number = _argparse_type(settings.parse_port, "port_number")


def human_bytes(n: float | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TiB"


def sigterm_as_interrupt() -> None:
    """SIGTERM (from `kill`, systemd, a container stop) takes the same graceful path as Ctrl-C."""

    def handler(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run_analysis_job(store, job, progress_interval_s: float | None) -> int:
    """Run an analysis job (`analyze`, `resume`) and say where its results are. Exit status: 0 done,
    1 stopped with work left (interrupted: resume it) or cancelled."""
    from heavylift.analyze.job_runner import run_and_export

    sigterm_as_interrupt()
    outcome = run_and_export(store, job, say, progress_interval_s)
    say(f"analyze: results in {outcome.results_path}  (or `heavylift results {job.name} --format jsonl|csv|md`)")
    if outcome.status == "interrupted":
        say(f"analyze: stopped with work left; finish it with `heavylift resume {job.name}`")
    print(outcome.results_path)
    return 0 if outcome.status == "done" else 1


# -- llama.cpp's spellings, defined once ----------------------------------------------------------
# Where heavylift's option means exactly what llama-server's does, llama-server's spellings work
# too (common/arg.cpp, pinned 0c1e570). Each is defined here once and used by every command.
FLASH_ATTN_VALUES = ("on", "off", "auto")


def add_ctx_option(p: argparse.ArgumentParser, help: str, default: int | None = None) -> None:
    """--ctx: the total context, shared by all slots, as llama.cpp's -c / --ctx-size."""
    p.add_argument("-c", "--ctx", "--ctx-size", dest="ctx", type=positive_int, default=default, metavar="N", help=help)


def add_parallel_option(p: argparse.ArgumentParser, help: str, default: int | None = None) -> None:
    """--parallel: sequences decoded at once / engine slots, as llama.cpp's -np."""
    p.add_argument("-np", "--parallel", dest="parallel", type=positive_int, default=default, metavar="N", help=help)


def add_kv_type_options(p: argparse.ArgumentParser, choices: tuple[str, ...], default_note: str = "f16") -> None:
    """--kv-type T sets K and V; -ctk / -ctv (llama.cpp) set one each (heavylift keeps them equal)."""
    from heavylift.settings import KV_CACHE_TYPES

    kinds = tuple(c for c in KV_CACHE_TYPES if c in choices)
    p.add_argument("--kv-type", dest="kv_type", choices=kinds, metavar="TYPE", action=_StoreGiven,
                   help=f"KV cache type for K and V: {', '.join(kinds)} (default {default_note})")
    p.add_argument("-ctk", "--cache-type-k", dest="cache_type_k", choices=kinds, metavar="TYPE",
                   help="K cache type (llama.cpp's spelling; give -ctv the same)")
    p.add_argument("-ctv", "--cache-type-v", dest="cache_type_v", choices=kinds, metavar="TYPE",
                   help="V cache type (llama.cpp's spelling; give -ctk the same)")


def add_flash_attn_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("-fa", "--flash-attn", dest="flash_attn", type=str.lower, choices=FLASH_ATTN_VALUES, metavar="on|off|auto",
                   help="flash attention (default auto: llama.cpp turns it on where the backend supports it)")


def gpu_layers(text: str) -> str:
    """-ngl's value as llama.cpp takes it: a number of layers (0 or more), 'all' or 'auto'."""
    low = text.strip().lower()
    if low in ("all", "auto"):
        return low
    try:
        if int(low) >= 0:
            return str(int(low))
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r}: give a number of layers (0 or more), 'all' or 'auto'")


def add_gpu_layers_option(p: argparse.ArgumentParser | argparse._ArgumentGroup, help: str) -> None:
    p.add_argument("-ngl", "--n-gpu-layers", "--gpu-layers", dest="n_gpu_layers", type=gpu_layers, metavar="N",
                   help=help)


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """The engine settings serve, ask and analyze take before `--`: KV type, flash attention, -ngl."""
    from heavylift.settings import KV_CACHE_TYPES

    add_kv_type_options(p, KV_CACHE_TYPES)
    add_flash_attn_option(p)
    add_gpu_layers_option(p, "layers on the GPUs, the output layer counted as llama.cpp does "
                             "(N, 'all' or 'auto'; default: llama.cpp's)")


class _StoreGiven(argparse._StoreAction):
    """Store, and note that the value came from the command line (not a variable's default)."""

    def __call__(self, parser, namespace, values, option_string=None):
        super().__call__(parser, namespace, values, option_string)
        setattr(namespace, f"{self.dest}_is_given", True)


def kv_type_of(args: argparse.Namespace) -> str | None:
    """The one KV type --kv-type / -ctk / -ctv give on the command line, else HEAVYLIFT_KV_TYPE's
    (the --kv-type default), else None."""
    given = {flag: value for flag, value in (
        ("--kv-type", args.kv_type if getattr(args, "kv_type_is_given", False) else None),
        ("-ctk", args.cache_type_k), ("-ctv", args.cache_type_v)) if value}
    if len(set(given.values())) > 1:
        words = ", ".join(f"{k} {v}" for k, v in given.items())
        raise UsageError(f"{words} differ; heavylift uses one KV cache type for K and V: give one")
    if len(given) == 1 and "--kv-type" not in given:
        (flag, value), = given.items()
        other = "-ctv" if flag == "-ctk" else "-ctk"
        raise UsageError(f"{flag} {value} alone leaves the other half of the cache at f16 in llama.cpp; give "
                         f"{other} {value} too (or --kv-type {value}), or pass both after `--` to mix types")
    return next(iter(given.values()), args.kv_type)


def engine_flag_args(args: argparse.Namespace) -> list[str]:
    """llama-server words for the engine options given before `--` (-ctk/-ctv, -fa, -ngl); the
    same flags after `--` as well are refused, so one setting is never given twice."""
    from heavylift.engines.llama_args import groups_set_by

    words: list[str] = []
    kv = kv_type_of(args)
    if kv:
        words += ["-ctk", kv, "-ctv", kv]
    if getattr(args, "flash_attn", None):
        words += ["-fa", args.flash_attn]
    if getattr(args, "n_gpu_layers", None) is not None:
        words += ["-ngl", str(args.n_gpu_layers)]
    from heavylift.engines.llama_args import SPELLINGS

    both = groups_set_by(words) & groups_set_by(list(getattr(args, "extra_args", []) or []))
    if both:
        flags = ", ".join("/".join(SPELLINGS[g][:2]) for g in sorted(both))
        raise UsageError(f"{flags} given both before and after `--`; give it once")
    return words
