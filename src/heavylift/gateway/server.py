"""`heavylift serve` as a gateway: the engine on loopback with a per-start random key (through its
environment), uvicorn on the public address in front of it, and the batch runner beside it.

Why Starlette + uvicorn: Starlette is the small ASGI toolkit FastAPI is built on (routing,
streaming responses, static files) without a validation layer we would not use on a proxy path;
uvicorn is the reference ASGI server, with httptools for HTTP parsing (C speed on the hot path).
Both are maintained, pure-Python to install (wheels), and need nothing at run time from the internet.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn

from heavylift.engines.launch import local_engine
from heavylift.engines.llama_args import LlamaArgs
from heavylift.engines.llama_server import LlamaServer, check_bind
from heavylift.engines.supervisor import Supervisor
from heavylift.errors import EngineError, UsageError
from heavylift.gateway.app import GatewayConfig, create_app
from heavylift.gateway.batch_runner import BatchRunner, RunnerConfig
from heavylift.gateway.dashboard import EngineStatus
from heavylift.gateway.file_store import MAX_UPLOAD_BYTES, FileStore
from heavylift.store import Database


@dataclass
class ServeOptions:
    model: str = "default"
    ctx: int = 4096
    parallel: int = 1
    host: str = "127.0.0.1"
    port: int = 8080
    keys: list[str] = field(default_factory=list)
    threads: int | None = None
    slot_save_path: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    settings: LlamaArgs | None = None  # a plan's engine settings (serve --plan); the flags above replace its own
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    kv_save_min_tokens: int = 1024


def bind_public(host: str, port: int, keys: list[str]) -> socket.socket:
    """The gateway's listening socket, made before the engine starts so a taken port fails fast."""
    check_bind(host, port, keys[0] if keys else None)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise UsageError(f"port {port} on {host} is already in use; choose another with --port") from None
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def public_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"


class EngineWatch:
    """The engine's static facts read once, its live state on demand (for the dashboard)."""

    def __init__(self, engine: LlamaServer, supervisor: Supervisor, memory: list[dict] | None = None):
        self.engine = engine
        self.supervisor = supervisor
        self.memory = memory or []
        self._props: dict = {}

    def _get(self, path: str) -> object | None:
        try:
            r = httpx.get(f"{self.engine.base_url}{path}", timeout=1.5,
                          headers={"Authorization": f"Bearer {self.engine.api_key}"})
            return r.json() if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    def status(self) -> EngineStatus:
        if not self._props:
            self._props = self._get("/props") or {}
        props = self._props
        slots = self._get("/slots")
        settings = props.get("default_generation_settings") or {}
        num_slots = props.get("total_slots") or self.engine.config.settings.num_parallel
        return EngineStatus(
            model=props.get("model_alias") or self.engine.config.alias, engine=self.engine.name,
            ctx_total=self.engine.config.settings.ctx_size, ctx_per_slot=settings.get("n_ctx"), num_slots=num_slots,
            pid=self.engine.pid, restarts=self.supervisor.num_restarts, is_healthy=slots is not None,
            memory=self.memory,
            busy_slots=sum(1 for s in slots if s.get("is_processing")) if isinstance(slots, list) else None)


def run_server(options: ServeOptions, say: Callable[[str], None], on_ready: Callable[[str, str], None],
               plan=None) -> None:
    """on_ready(url, model_alias) is called once the gateway accepts connections; `plan`: the plan
    this engine build should allocate (serve --plan), compared with what it did."""
    """Start everything, block until Ctrl-C/SIGTERM (KeyboardInterrupt) or the engine gives up."""
    from heavylift.analyze.engine_session import kv_dir, kv_key
    from heavylift.engines.credentials import new_engine_key

    sock = bind_public(options.host, options.port, options.keys)
    engine = local_engine(options.model, ctx_size=options.ctx, num_parallel=options.parallel,
                          host="127.0.0.1", api_key=new_engine_key(), extra_args=options.extra_args,
                          num_threads=options.threads, slot_save_path=options.slot_save_path or kv_dir(),
                          settings=options.settings)
    supervisor = Supervisor(engine, on_event=lambda msg: say(f"serve: {msg}"))
    say(f"serve: starting {engine.printable_command}")
    say(f"serve: engine log {engine.config.log_path}")
    runner: BatchRunner | None = None
    try:
        try:
            supervisor.start()
        except EngineError:
            for line in engine.last_log_lines(12):
                say(f"  | {line}")
            raise
        memory = _memory_rows(plan, engine, say)
        db = Database()
        FileStore(db).sweep()  # what a killed upload left behind
        db.close()
        runner = BatchRunner(engine.base_url, engine.api_key, RunnerConfig(
            num_slots=options.parallel, can_save_kv=engine.config.settings.slot_save_path == kv_dir(),
            kv_key=kv_key(engine.config.alias or options.model, str(engine.config.model_path), options.extra_args),
            kv_save_min_tokens=options.kv_save_min_tokens), say, is_engine_up=engine.is_healthy)
        watch = EngineWatch(engine, supervisor, memory)
        app = create_app(GatewayConfig(
            engine_base_url=engine.base_url, engine_api_key=engine.api_key, keys=options.keys,
            max_upload_bytes=options.max_upload_bytes, served_model=engine.config.alias,
            engine_status=watch.status, on_batch_change=runner.wake,
            resume_job=_job_resumer(engine, say)))
        runner.start()
        say(f"serve: ready in {engine.ready_s:.1f}s - gateway (OpenAI API, Batch API, dashboard) at "
            f"{public_url(options.host, options.port)}; engine on loopback, pid {engine.pid}")
        alias = engine.config.alias or options.model
        _serve(app, sock, supervisor, lambda: on_ready(public_url(options.host, options.port), alias))
    finally:
        if runner:
            runner.stop()
        supervisor.stop()
        sock.close()
    if supervisor.failure:
        raise EngineError(supervisor.failure)


def _serve(app, sock: socket.socket, supervisor: Supervisor | None, on_ready: Callable[[], None]) -> None:
    config = uvicorn.Config(app, http="httptools", lifespan="on", log_level="warning",
                            access_log=False,  # the dashboard's first URL carries ?key=: never log URLs
                            timeout_graceful_shutdown=3, timeout_keep_alive=30, server_header=False)
    server = uvicorn.Server(config)
    # uvicorn catches SIGINT/SIGTERM while it serves, then re-raises the signal to the handler that
    # was there before: make that one only take note, and stop with KeyboardInterrupt once outside
    # the event loop (raised inside, it would end up as "Task exception was never retrieved").
    signalled: list[int] = []
    previous = {sig: signal.signal(sig, lambda s, _f: signalled.append(s)) for sig in (signal.SIGINT, signal.SIGTERM)}

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started:
            on_ready()
        while not task.done():
            if (supervisor and supervisor.failure) or signalled:  # the engine gave up, or a signal came before uvicorn's handlers
                server.should_exit = True
            await asyncio.sleep(0.2)
        await task

    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(main())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if signalled:
        raise KeyboardInterrupt


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (less CPU per streamed chunk), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _memory_rows(plan, engine: LlamaServer, say: Callable[[str], None]) -> list[dict]:
    if not plan or not engine.config.log_path:
        return []
    from heavylift.plan.serve_plan import format_comparison, planned_vs_actual

    rows = planned_vs_actual(plan, engine.config.log_path)
    say("serve: planned vs allocated by the engine (its load log):")
    for line in format_comparison(rows):
        say(f"  {line}")
    return [{"device": r.device, "planned_bytes": r.planned_bytes, "allocated_bytes": r.actual_bytes} for r in rows]


def _job_resumer(engine: LlamaServer, say: Callable[[str], None]) -> Callable[[str], str]:
    """Resume an analysis job on this engine, in the background (the dashboard's resume button)."""
    lock = threading.Lock()

    def resume(name: str) -> str:
        from heavylift.analyze.job_runner import run_job
        from heavylift.analyze.jobs import JobStore

        if not lock.acquire(blocking=False):
            return "another job is being resumed on this engine; try again when it is done"

        def work() -> None:
            try:
                store = JobStore(Database())
                job = store.get(name)
                store.prepare_resume(job)
                run_job(store, job, lambda m: say(f"serve: {m}"), engine=engine, progress_interval_s=3600)
            except Exception as e:  # reported, never fatal to the gateway
                say(f"serve: resume of {name} stopped: {e}")
            finally:
                lock.release()

        threading.Thread(target=work, name=f"resume-{name}", daemon=True).start()
        time.sleep(0.05)
        return f"resuming {name} on this engine"

    return resume
