"""`heavylift serve`: a supervised llama-server behind an OpenAI-compatible API."""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from heavylift.cli.common import (
    add_ctx_option,
    add_engine_options,
    add_parallel_option,
    engine_flag_args,
    port_number,
    positive_int,
    say,
    sigterm_as_interrupt,
)
from heavylift.engines.launch import local_engine
from heavylift.engines.server_registry import ServerRecord, announce, withdraw
from heavylift.engines.supervisor import Supervisor
from heavylift.errors import EngineError
from heavylift.paths import slots_dir


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("serve", help=summary, description=
                       "Start llama-server as a supervised child: waits for /health, restarts it if it "
                       "dies, stops it cleanly on Ctrl-C/SIGTERM. Extra engine flags go after `--`.")
    p.add_argument("model", nargs="?", default="default", help="stored model name or .gguf path (default: the default model)")
    add_ctx_option(p, "context size in tokens, shared by all slots (default 4096)", default=4096)
    add_parallel_option(p, "parallel sequences / slots (default 1)", default=1)
    add_engine_options(p)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; others need --api-key)")
    p.add_argument("--port", type=port_number, default=8080, help="port (default 8080)")
    p.add_argument("--api-key", help="require this bearer key from clients")
    p.add_argument("--slot-save-path", type=Path, help="folder for saved KV slots (default: heavylift's data dir)")
    p.add_argument("--plan", action="store_true",
                   help="place layers and experts as `heavylift plan` says for --hw, then print planned vs actual memory")
    p.add_argument("--hw", default="local", help="hardware for --plan: 'local' (default) or a spec")
    p.add_argument("--threads", type=positive_int, help="CPU threads for the engine (default: llama.cpp's choice)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    served = None
    engine_words = engine_flag_args(args)  # -ctk/-ctv, -fa, -ngl given before `--`
    if args.plan:
        from heavylift.cli.common import kv_type_of
        from heavylift.plan.serve_plan import plan_for_serve

        served = plan_for_serve(args.model, args.ctx, args.parallel, args.hw, kv_type=kv_type_of(args),
                                flash_attn={"on": True, "off": False}.get(args.flash_attn or ""))
        say(f"serve: plan for {served.plan.hardware}: predicted decode ~{served.plan.decode_tps:.1f} tok/s, "
            f"{served.plan.total_bytes / 2**30:.2f} GiB in all")
        if served.note:
            say(f"serve: {served.note}")
    # the user's own flags after `--` win over the plan's (engines/llama_args.py)
    engine = local_engine(args.model, ctx_size=args.ctx, num_parallel=args.parallel, host=args.host,
                          port=args.port, api_key=args.api_key, extra_args=engine_words + args.extra_args,
                          num_threads=args.threads, slot_save_path=args.slot_save_path or slots_dir(),
                          settings=served.settings if served else None)
    supervisor = Supervisor(engine, on_event=lambda msg: say(f"serve: {msg}"))
    sigterm_as_interrupt()
    say(f"serve: starting {shlex.join(engine.command)}")
    say(f"serve: engine log {engine.config.log_path}")
    record_path = None
    try:
        supervisor.start()
        record_path = announce(ServerRecord(engine.config.alias or args.model, engine.base_url, os.getpid(),
                                            args.ctx, args.parallel, bool(args.api_key)))
        say(f"serve: ready in {engine.ready_s:.1f}s - OpenAI-compatible API at {engine.openai_base_url}")
        if served and engine.config.log_path:
            from heavylift.plan.serve_plan import format_comparison, planned_vs_actual

            say("serve: planned vs allocated by the engine (its load log):")
            for line in format_comparison(planned_vs_actual(served.expected, engine.config.log_path)):
                say(f"  {line}")
        print(engine.openai_base_url, flush=True)  # last: the line that says "ready" to scripts
        supervisor.wait()
    except KeyboardInterrupt:
        say("serve: stopping ...")
    except EngineError:
        for line in engine.last_log_lines(12):
            say(f"  | {line}")
        raise
    finally:
        if record_path:
            withdraw(record_path)
        supervisor.stop()
    say("serve: stopped")
    return 0
