"""The `heavylift` command. The only place that turns exceptions into messages and exit codes."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from heavylift import __version__, settings
from heavylift.cli.env_defaults import apply_env_defaults
from heavylift.errors import HeavyliftError

# Subcommand modules, each with `add_parser(subparsers)` and `run(args) -> int`. Imported lazily
# per name so `heavylift models list` does not pay for the planner's or the ingesters' imports.
SUBCOMMANDS: dict[str, str] = {
    "setup": "install the llama.cpp engine and the default model",
    "models": "list, add, inspect and remove models",
    "serve": "run a supervised llama-server with an OpenAI-compatible API",
    "ask": "ask one question (optionally about files) and stream the answer",
    "plan": "will a model fit on a rig, where does each tensor go, how fast",
    "analyze": "batch-analyse documents: questions, summaries, extraction, labels",
    "jobs": "list analysis jobs, or show one",
    "resume": "finish an interrupted analysis job",
    "cancel": "cancel an analysis job",
    "results": "export a job's results as JSONL, CSV or Markdown",
    "bench": "measure a model or endpoint beside the prediction and the physical limit",
    "cost": "is local cheaper than an API for a workload: capacity, cache, break-even",
    "run-batch": "run an OpenAI Batch API file offline (JSONL in, JSONL out), durably",
    "quantize": "make GGUF quants of a Hugging Face folder or a GGUF (llama-quantize)",
    "verify": "is a quant good enough for MY documents? compare it with a reference",
    "kv": "list or clean the saved KV-cache files",
    "worker": "lend this machine to a `serve --workers` (llama.cpp RPC worker)",
    "cluster": "multi-node vLLM with Ray: per-host commands, and a check of the running cluster",
    "ps": "list running serves, jobs and engines (ports, models, pids, memory)",
    "stop": "stop a serve, a job or an orphan engine by name, port or pid",
}


class _Parser(argparse.ArgumentParser):
    """Bad input is one line (not argparse's usage block): what is wrong and where help is.
    Subcommand parsers are made of this class too (add_subparsers uses the parent's class)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="heavylift",
        description="Plan, run and measure very large open LLMs on hardware you own, and put them to "
        "work on batch document analysis. Some options can also be set by an environment variable "
        "(each option's help names it; all of them: docs/configuration.md).",
    )
    parser.add_argument("--version", action="version", version=f"heavylift {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, summary in SUBCOMMANDS.items():
        module = f"heavylift.cli.{name.replace('-', '_')}"  # run-batch lives in run_batch.py
        if importlib.util.find_spec(module) is None:
            continue
        if wanted in (None, name) or wanted not in SUBCOMMANDS:
            importlib.import_module(module).add_parser(sub, summary)
        else:
            sub.add_parser(name, help=summary)  # listed in --help without importing its deps
    apply_env_defaults(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Everything after a bare `--` is passed to the engine untouched (serve -- EXTRA_LLAMA_ARGS).
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    try:
        settings.check_environment()
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        args.extra_args = extra
        if not getattr(args, "func", None):
            parser.print_help()
            return 0 if not argv else 2
        return int(args.func(args) or 0)
    except HeavyliftError as e:
        print(f"heavylift: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("heavylift: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug, not bad input: still one line, traceback on request
        if settings.is_debug():
            raise
        print(f"heavylift: internal error: {e.__class__.__name__}: {e} "
              "(set HEAVYLIFT_DEBUG=1 for the traceback, and please report it)", file=sys.stderr)
        return 70
