"""`heavylift run-batch`: an OpenAI batch input file run offline (as vLLM's `run-batch` does) on the
same machinery as the Batch API: a durable batch, slot-affine prefix groups, saved KV, progress.
Interrupted, the same command resumes it: the batch is found by its input's hash and output path."""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from heavylift.analyze.progress import JobProgress
from heavylift.errors import UsageError
from heavylift.gateway import batch_input
from heavylift.gateway.batch_runner import BatchRunner, RunnerConfig, StopBatch
from heavylift.gateway.batch_store import Batch, BatchStore
from heavylift.store import Database


@dataclass
class RunBatchOptions:
    input_path: Path
    output_path: Path
    model: str = "default"
    ctx: int = 8192  # total, shared by the slots (llama-server -c)
    parallel: int = 2
    threads: int | None = None
    endpoint: str | None = None
    api_key: str | None = None
    extra_args: list[str] = field(default_factory=list)
    kv_save_min_tokens: int = 1024
    is_force: bool = False
    progress_interval_s: float | None = None


@dataclass
class RunBatchResult:
    batch_id: str
    status: str
    num_requests: int
    num_completed: int
    num_failed: int
    cached_tokens: int
    prompt_tokens: int
    output_path: Path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _endpoint_of(path: Path) -> str:
    """The batch's endpoint: the url of its first request (all must match it)."""
    import json

    for _, raw in batch_input._lines(path):
        try:
            url = json.loads(raw).get("url")
        except (ValueError, AttributeError):
            break
        if url in batch_input.ENDPOINTS:
            return url
        raise UsageError(f"{path}: the first request's url is {str(url)[:80]!r}; run-batch runs "
                         f"{' or '.join(batch_input.ENDPOINTS)}")
    return batch_input.ENDPOINTS[0]  # the scan reports what is wrong with the file


def check_input(path: Path) -> tuple[str, str]:
    """Validate before any engine starts: (endpoint, sha256) or a UsageError naming the lines."""
    if not path.is_file():
        raise UsageError(f"input file {path} does not exist; give a JSONL of batch requests with -i")
    endpoint = _endpoint_of(path)
    scan = batch_input.scan(path, endpoint)
    if scan.errors:
        first = scan.errors[0]
        where = f"line {first.line}: " if first.line else ""
        more = f" (and {len(scan.errors) - 1} more problem(s))" if len(scan.errors) > 1 else ""
        raise UsageError(f"{path}: {where}{first.message}{more}; nothing was run")
    return endpoint, _sha256(path)


def _find_resumable(store: BatchStore, sha256: str, output: Path) -> Batch | None:
    for batch in store.active():
        meta = batch.metadata or {}
        if batch.origin == "run-batch" and meta.get("input_sha256") == sha256 and meta.get("output") == str(output):
            return batch
    return None


def run_batch(options: RunBatchOptions, say: Callable[[str], None]) -> RunBatchResult:
    output = options.output_path.resolve()
    endpoint, sha256 = check_input(options.input_path)
    store = BatchStore(Database())
    batch = _find_resumable(store, sha256, output)
    if output.exists() and not options.is_force and batch is None:
        raise UsageError(f"{output} exists; pass --force to overwrite it, or choose another -o")
    if batch is None:
        record = store.files.add_copy(options.input_path, options.input_path.name)
        batch = store.create(endpoint, record.id, "30d", 30 * 86400,
                             {"output": str(output), "input_sha256": sha256}, origin="run-batch")
    else:
        say(f"run-batch: resuming {batch.id} ({batch.request_counts()['completed']} of "
            f"{batch.num_requests} requests already done)")
    engine, supervisor, config = _engine(options, say)
    runner = BatchRunner(engine.base_url, engine.api_key, config, say, is_engine_up=engine.is_healthy)
    try:
        if supervisor:
            supervisor.start()
        else:
            engine.start()
        batch = runner.validate(store, batch) if batch.status == "validating" else batch
        if batch.job_id is None:
            raise UsageError(f"{options.input_path}: the batch failed validation: {batch.errors}")
        job = store.jobs.get(batch.job_id)
        say(f"run-batch: {batch.id}: {batch.num_requests} requests on {options.parallel} slot(s)")
        with _Progress(lambda: JobProgress.read(store.jobs, job).line(), options.progress_interval_s):
            batch = runner.run_one(store, batch.id)
    except StopBatch as e:
        raise UsageError(f"run-batch stopped: {e}; run the same command again to finish") from None
    except KeyboardInterrupt:
        runner.stop(timeout_s=2)
        raise
    finally:
        if supervisor:
            supervisor.stop()
        else:
            engine.stop()
    _write(output, store.result_lines(batch))
    usage = batch.usage or {"prompt": 0, "cached": 0}
    counts = batch.request_counts()
    return RunBatchResult(batch.id, batch.status, batch.num_requests, counts["completed"], counts["failed"],
                          usage["cached"], usage["prompt"], output)


class _Progress:
    """One progress line every interval (a live line on a terminal), on stderr, from the database."""

    def __init__(self, read: Callable[[], str], interval_s: float | None):
        self.read = read
        self.is_tty = sys.stderr.isatty()
        self.interval_s = interval_s or (0.5 if self.is_tty else 10.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="run-batch-progress", daemon=True)

    def __enter__(self) -> _Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._show(final=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._show()

    def _show(self, final: bool = False) -> None:
        try:
            line = self.read()
        except Exception:  # a busy database now and then must not stop the run
            return
        if self.is_tty:
            sys.stderr.write("\r\033[K" + line + ("\n" if final else ""))
        else:
            sys.stderr.write(f"run-batch: {line}\n")
        sys.stderr.flush()


def _write(path: Path, lines) -> None:
    """Whole or not at all: a temporary file beside it, renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _engine(options: RunBatchOptions, say: Callable[[str], None]):
    from heavylift.analyze.engine_session import kv_dir, kv_key
    from heavylift.engines.credentials import client_api_key, new_engine_key

    if options.endpoint:
        from heavylift.engines.remote import RemoteEngine

        engine = RemoteEngine(options.endpoint, client_api_key(options.api_key))
        config = RunnerConfig(num_slots=options.parallel, is_llama_server=False)
        return engine, None, config
    from heavylift.engines.launch import local_engine
    from heavylift.engines.supervisor import Supervisor

    engine = local_engine(options.model, ctx_size=options.ctx, num_parallel=options.parallel,
                          api_key=new_engine_key(), extra_args=options.extra_args, num_threads=options.threads,
                          slot_save_path=kv_dir())
    say(f"run-batch: starting {engine.printable_command}")
    config = RunnerConfig(num_slots=options.parallel, can_save_kv=True, kv_save_min_tokens=options.kv_save_min_tokens,
                          kv_key=kv_key(engine.config.alias or options.model, str(engine.config.model_path),
                                        options.extra_args))
    return engine, Supervisor(engine, on_event=lambda m: say(f"run-batch: engine: {m}")), config
