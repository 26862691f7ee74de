"""`heavylift setup`: build (or adopt) the engine and install the default model. Safe to re-run."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

from heavylift.cli.common import human_bytes, say
from heavylift.models.default_model import DEFAULT_MODEL_NAME, install_default_model
from heavylift.models.model_store import ModelStore
from heavylift.setup.engine_build import adopt_binary, build_engine


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("setup", help=summary, description=
                       "Build llama.cpp from the pinned llama-cpp-python sdist (CUDA if a toolkit is "
                       "found, Metal on macOS, else CPU) into the cache, and install the default model. "
                       "Idempotent; concurrent runs wait for each other; an interrupted run resumes.")
    p.add_argument("--llama-server", type=Path, metavar="PATH",
                   help="use this existing llama-server instead of building one")
    p.add_argument("--backend", choices=["auto", "cpu", "cuda", "metal"], default="auto",
                   help="engine backend (default auto: CUDA if toolkit and GPU, Metal on macOS, else CPU)")
    p.add_argument("--rebuild", action="store_true", help="build the engine again even if cached")
    p.add_argument("--skip-model", action="store_true", help="do not install the default model")
    p.add_argument("--json", action="store_true", help="print what was installed as JSON (progress stays on stderr)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    say("[1/2] engine")
    if args.llama_server:
        build = adopt_binary(args.llama_server, say)
    else:
        build = build_engine(say, force=args.rebuild, backend=args.backend)
    say(f"      llama.cpp {build.version}, backend {build.backend.upper()}, binaries in {build.bin_dir}")
    model = None
    if not args.skip_model:
        say("[2/2] default model")
        path, source = install_default_model(say)
        model = ModelStore().add(path, name=DEFAULT_MODEL_NAME, source=source, replace=True)
        say(f"      {model.name} ({human_bytes(model.file_bytes)}) at {model.path}")
    took = time.monotonic() - started
    say(f"setup done in {took:.1f}s")
    if args.json:
        print(json.dumps({"engine": asdict(build),
                          "model": {**asdict(model), "path": str(model.path)} if model else None,
                          "took_s": round(took, 3)}, indent=2, default=str))
    return 0
