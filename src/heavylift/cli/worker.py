"""`heavylift worker start [--host ADDR] [--port P] [--mem SIZE]`: lend this machine to a `serve --workers`."""

from __future__ import annotations

import argparse

from heavylift.cli.common import port_number, positive_int, say, sigterm_as_interrupt
from heavylift.engines import rpc
from heavylift.errors import EngineError


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("worker", help=summary, description=
                       "Run llama.cpp's RPC server so `heavylift serve MODEL --workers HOST:PORT` on another machine "
                       "can put layers here. The RPC protocol has no authentication: the worker binds a loopback or "
                       "private address only.")
    wsub = p.add_subparsers(dest="worker_command", metavar="ACTION", required=True)
    st = wsub.add_parser("start", help="run an RPC worker in the foreground (Ctrl-C stops it)")
    st.add_argument("--host", default="127.0.0.1",
                    help="address to bind: loopback or private (default 127.0.0.1; others need the risk flag)")
    st.add_argument("--port", type=port_number, default=rpc.DEFAULT_PORT, help=f"port (default {rpc.DEFAULT_PORT})")
    st.add_argument("--mem", type=rpc.parse_size, metavar="SIZE",
                    help="offer at most this much memory (e.g. 24GiB; default: all it has)")
    st.add_argument("--threads", type=positive_int, help="CPU threads (default: half the cores, rpc-server's choice)")
    st.add_argument(rpc.RISK_FLAG, dest="is_risk_accepted", action="store_true",
                    help="allow 0.0.0.0 or a public address although anyone reaching the port can use the worker")
    st.set_defaults(func=run_start)


def run_start(args: argparse.Namespace) -> int:
    from heavylift.engines.rpc_worker import worker

    w = worker(args.host, args.port, args.mem, args.threads, args.is_risk_accepted)
    w.check_start()  # a refused address fails before anything is said to have started
    sigterm_as_interrupt()
    say(f"worker: starting {' '.join(w.command)}")
    try:
        w.start()
        info = w.info
        total = sum(t for _, t in info.devices) if info else 0
        say(f"worker: ready in {w.ready_s:.1f}s, llama.cpp RPC v{'.'.join(map(str, info.version)) if info else '?'}, "
            f"{len(info.devices) if info else 0} device(s), {total / 2**30:.1f} GiB"
            + (f", offering {args.mem / 2**30:.2f} GiB" if args.mem else "")
            + f"; log {w.log_path}")
        say(f"worker: use it with `heavylift serve MODEL --workers {w.workers_arg()}`")
        print(w.workers_arg(), flush=True)  # the ready line for scripts
        while w.is_running():
            w.process.wait()
        raise EngineError(f"ggml-rpc-server exited with code {w.returncode}: {w.last_log_line()}")
    except KeyboardInterrupt:
        say("worker: stopping ...")
    finally:
        w.stop()
    say("worker: stopped")
    return 0
