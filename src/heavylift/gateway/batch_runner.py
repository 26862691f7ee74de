"""Run batches: validate, execute each request as a durable unit, finalize; resume after any kill.

One batch runs at a time, oldest first. Its requests are grouped by prompt prefix (batch_input);
one worker per engine slot takes a whole group and sends its requests back to back pinned to that
slot (`id_slot`, `cache_prompt`), so llama-server computes the shared prefix once and keeps the
longest common prefix for the next request (tools/server/server-context.cpp, `get_common_prefix`).
A long prefix is saved after its first answer (POST /slots/{id}?action=save) and restored in a
later batch or after an engine restart (the same scheme as analyze's scheduler, same kv-slots folder).

Durability: a request is claimed (pending -> running) and finished (running -> done with the
response) in single transactions of the job store. A kill between the two leaves it 'running';
the next start puts it back to 'pending' and sends it again: a request is only ever re-sent when
its answer was never recorded, and the files are derived from the records, so each input line is
in the output exactly once.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from heavylift import settings
from heavylift.analyze.jobs import JobConfig, JobStore, Unit
from heavylift.analyze.kv_cache import kv_dir
from heavylift.gateway import batch_input
from heavylift.gateway.batch_store import Batch, BatchStore
from heavylift.store import Database


class StopBatch(Exception):
    """Stop this batch's workers (cancelled, expired, shutting down, or the engine is gone)."""


@dataclass
class RunnerConfig:
    num_slots: int = 1
    is_llama_server: bool = True  # accepts id_slot / cache_prompt, has /slots save+restore
    can_save_kv: bool = False  # the engine's --slot-save-path is our kv-slots folder
    kv_key: str = "engine"  # what a saved KV depends on besides the prefix (model file, flags)
    kv_save_min_tokens: int = 1024
    max_attempts: int = 3  # per request, on engine errors (5xx, dropped connections)
    restart_wait_s: float = 180.0  # how long a down engine is waited for before the batch pauses
    request_timeout_s: float = 3600.0  # one request; a 235B model's long prefill can take many minutes
    poll_s: float = 0.5


@dataclass
class _Slot:
    kv_name: str | None = None
    is_restored: bool = False


class BatchRunner:
    """The background loop of `heavylift serve` (and the engine of `heavylift run-batch`)."""

    def __init__(self, base_url: str, api_key: str | None, config: RunnerConfig, say: Callable[[str], None],
                 db_path: str | None = None, is_engine_up: Callable[[], bool] | None = None):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.config = config
        self.say = say
        self.db_path = db_path or str(Database().path)
        self.is_engine_up = is_engine_up or self._health
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned_kv = False
        self.current: str | None = None  # the batch being executed

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="batch-runner", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=timeout_s)

    def wake(self) -> None:
        """A batch was created or cancelled: look now rather than at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        store = BatchStore(Database(self.db_path))
        backoff = self.config.poll_s
        try:
            while not self._stopping.is_set():
                try:
                    progressed = self.step(store)
                    backoff = self.config.poll_s
                except StopBatch as e:
                    if not self._stopping.is_set():
                        self.say(f"batches: paused ({e}); retrying")
                    progressed = False
                    backoff = min(max(backoff * 2, 2.0), 30.0)
                except Exception as e:  # a bug must not take the gateway down; say it, retry later
                    self.say(f"batches: internal error {e.__class__.__name__}: {e}")
                    if settings.is_debug():
                        raise
                    progressed = False
                    backoff = 30.0
                if not progressed:
                    self._wake.wait(backoff)
                    self._wake.clear()
        finally:
            store.db.close()

    def step(self, store: BatchStore, only: str | None = None) -> bool:
        """Move every active batch (or just `only`) one stage on; True if anything happened."""
        moved = False
        for batch in store.active():
            if self._stopping.is_set():
                break
            if only and batch.id != only:
                continue
            if not only and batch.origin != "api":
                continue  # run-batch's own batches are run (and resumed) by run-batch alone
            if batch.job_id is not None and self._owned_elsewhere(store, batch):
                continue
            moved = True
            if batch.status == "validating":
                self.validate(store, batch)
            elif batch.status == "cancelling":
                store.finalize(batch, "cancelled")
            elif batch.status == "finalizing":
                store.finalize(batch, "completed")
            elif self._is_expired(batch):
                self._expire(store, batch)
            else:
                self.execute(store, batch)
        return moved

    def run_one(self, store: BatchStore, batch_id: str) -> Batch:
        """Drive one batch to a final state in this thread (run-batch); StopBatch if it cannot go on."""
        while True:
            batch = store.get(batch_id)
            if not batch.is_active or self._stopping.is_set():
                return batch
            if batch.job_id is not None and self._owned_elsewhere(store, batch):
                raise StopBatch(f"batch {batch_id} is being run by another heavylift process")
            before = (batch.status, batch.counts)
            self.step(store, only=batch_id)
            after = store.get(batch_id)
            if after.is_active and (after.status, after.counts) == before:
                raise StopBatch("the engine is not answering; completed requests are saved")

    # -- stages -----------------------------------------------------------------------------
    def validate(self, store: BatchStore, batch: Batch) -> Batch:
        try:
            path = store.files.path(batch.input_file_id)
            scan = batch_input.scan(path, batch.endpoint)
        except (OSError, ValueError):
            scan = batch_input.ScanResult(errors=[batch_input.BatchError(
                "invalid_file", f"The input file {batch.input_file_id} is no longer available.", "input_file_id")])
        if scan.errors:
            store.fail_validation(batch, scan.errors)
            self.say(f"batches: {batch.id} failed validation: {scan.errors[0].message}"
                     + (f" (line {scan.errors[0].line})" if scan.errors[0].line else ""))
            return store.get(batch.id)
        config = JobConfig(tasks=[], model=batch.model or "engine", parallel=self.config.num_slots,
                           max_attempts=self.config.max_attempts, kv_save_min_tokens=self.config.kv_save_min_tokens)
        batch = store.materialize(batch, scan, path, config)
        self.say(f"batches: {batch.id}: {scan.num_requests} requests in {len(scan.groups)} prefix group(s)")
        return batch

    def _owned_elsewhere(self, store: BatchStore, batch: Batch) -> bool:
        job = store.jobs.get(batch.job_id)
        return job.status == "running" and job.pid != os.getpid() and job.is_process_alive

    def _is_expired(self, batch: Batch) -> bool:
        return batch.expires_at is not None and time.time() >= batch.expires_at

    def _expire(self, store: BatchStore, batch: Batch) -> None:
        job = store.jobs.get(batch.job_id)
        store.jobs.prepare_resume(job, retry_failed=False)
        store.db.execute("UPDATE units SET status='cancelled' WHERE job_id=? AND status='pending'", (job.id,))
        store.finalize(batch, "expired")
        self.say(f"batches: {batch.id} expired (completion window {batch.completion_window})")

    def execute(self, store: BatchStore, batch: Batch) -> None:
        """Run the batch's pending requests on all slots until none is left, or it is cancelled or
        expires (then finalize), or the engine goes away (StopBatch: it stays in_progress)."""
        jobs = store.jobs
        job = jobs.get(batch.job_id)
        jobs.prepare_resume(job, retry_failed=False)
        jobs.start_run(job)
        pending = jobs.units(job.id, status="pending")
        by_group: dict[int, list[Unit]] = {}
        for unit in pending:
            by_group.setdefault(unit.subject_id, []).append(unit)
        work: queue.Queue[tuple[int, list[Unit]]] = queue.Queue()
        for item in by_group.items():
            work.put(item)
        stop = threading.Event()
        reasons: list[str] = []
        num_workers = max(1, min(self.config.num_slots, len(by_group)))
        threads = [threading.Thread(target=self._worker, args=(slot, batch, work, stop, reasons),
                                    name=f"batch-slot-{slot}", daemon=True) for slot in range(num_workers)]
        self.current = batch.id
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads):
                now = store.get(batch.id)
                if now.status != "in_progress" or self._is_expired(now) or self._stopping.is_set():
                    stop.set()
                self._finish_other_cancels(store, batch.id)
                for t in threads:
                    t.join(timeout=self.config.poll_s / max(1, len(threads)))
        finally:
            self.current = None
        if self._stopping.is_set():
            jobs.end_run(job, "interrupted: heavylift stopped; the batch resumes at the next start")
            return
        now = store.get(batch.id)
        if now.status == "cancelling":
            jobs.end_run(job)
            store.finalize(now, "cancelled")
            self.say(f"batches: {batch.id} cancelled")
        elif self._is_expired(now) and (now.counts.get("pending") or now.counts.get("running")):
            jobs.end_run(job, "expired")
            self._expire(store, now)
        elif now.counts.get("pending") or now.counts.get("running"):
            jobs.end_run(job, reasons[0] if reasons else "stopped")
            raise StopBatch(reasons[0] if reasons else "stopped with requests left")
        else:
            jobs.end_run(job)
            store.set_status(now, "finalizing")
            done = store.finalize(store.get(batch.id), "completed")
            counts = done.request_counts()
            self.say(f"batches: {batch.id} completed: {counts['completed']} ok, {counts['failed']} failed")

    def _finish_other_cancels(self, store: BatchStore, current: str) -> None:
        """A queued batch cancelled while another runs need not wait for it."""
        for other in store.active():
            if other.id != current and other.status == "cancelling":
                store.finalize(other, "cancelled")

    # -- one slot -----------------------------------------------------------------------------
    def _worker(self, slot: int, batch: Batch, work: queue.Queue, stop: threading.Event,
                reasons: list[str]) -> None:
        store = BatchStore(Database(self.db_path))
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        timeout = httpx.Timeout(self.config.request_timeout_s, connect=5.0)
        try:
            with httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout) as http:
                while not stop.is_set():
                    try:
                        subject_id, units = work.get_nowait()
                    except queue.Empty:
                        return
                    state = _Slot()
                    if self.config.can_save_kv:
                        key_text = store.jobs.subject(subject_id)["body"]
                        if key_text:
                            digest = hashlib.sha256(key_text.encode()).hexdigest()[:32]
                            state.kv_name = f"{digest}-{self.config.kv_key}.bin"
                            self._restore(http, slot, state)
                    for unit in units:
                        if stop.is_set():
                            return
                        self._run_request(http, store, slot, batch, unit, state, stop)
        except StopBatch as e:
            reasons.append(str(e))
            stop.set()
        except Exception as e:  # a bug: stop cleanly; completed requests are committed
            reasons.append(f"internal error in slot {slot}: {e.__class__.__name__}: {e}")
            stop.set()
            if settings.is_debug():
                raise
        finally:
            store.db.close()

    def _body(self, store: BatchStore, unit: Unit, slot: int) -> dict[str, Any]:
        body = store.request_body(unit.id)
        body.pop("stream", None)  # a batch answer is one JSON object
        body.pop("stream_options", None)
        if self.config.is_llama_server:
            body.update(id_slot=slot, cache_prompt=True)
        return body

    def _run_request(self, http: httpx.Client, store: BatchStore, slot: int, batch: Batch, unit: Unit,
                     state: _Slot, stop: threading.Event) -> None:
        jobs: JobStore = store.jobs
        body = self._body(store, unit, slot)
        while not stop.is_set():
            claimed = jobs.claim(unit.id)
            if claimed is None:
                return  # cancelled, or done by an earlier run
            attempt_id, attempt_no = claimed
            try:
                response = http.post(batch.endpoint, json=body)
            except httpx.TransportError as e:
                jobs.fail_attempt(unit.id, attempt_id, "engine-error", f"{e.__class__.__name__}: engine unreachable",
                                  is_final=attempt_no >= self.config.max_attempts)
                state.is_restored = False
                if not self._wait_engine(stop):
                    raise StopBatch("the engine went down; completed requests are saved") from None
                self._restore(http, slot, state)  # a restarted engine has empty slots
                continue
            if response.status_code == 200:
                data = response.json()
                jobs.finish(unit.id, attempt_id, {**self._fields(data, slot, state), "answer": json.dumps(data)})
                state.is_restored = False
                self._save(http, slot, state, data)
                return
            try:
                error_body = response.json()
            except ValueError:
                error_body = {"error": {"message": response.text[:1000], "type": "server_error"}}
            message = _error_message(response.status_code, error_body)
            is_final = response.status_code < 500 or attempt_no >= self.config.max_attempts
            refused = {"status_code": response.status_code, "body": error_body}
            jobs.fail_attempt(unit.id, attempt_id, "engine-error", message, is_final=is_final,
                              fields={"answer": json.dumps(refused)} if is_final else None)
            if is_final:
                return

    def _fields(self, data: dict[str, Any], slot: int, state: _Slot) -> dict[str, Any]:
        usage = data.get("usage") or {}
        timings = data.get("timings") or {}
        choice = (data.get("choices") or [{}])[0]
        text = (choice.get("message") or {}).get("content") if "message" in choice else choice.get("text")
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", timings.get("cache_n", 0)) or 0
        return {"raw_text": text, "prompt_tokens": usage.get("prompt_tokens"), "cached_tokens": cached,
                "completion_tokens": usage.get("completion_tokens"), "prefill_ms": timings.get("prompt_ms"),
                "decode_ms": timings.get("predicted_ms"), "slot_id": slot, "model": data.get("model"),
                "is_kv_restored": int(state.is_restored)}

    # -- engine health and saved KV -----------------------------------------------------------
    def _health(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _wait_engine(self, stop: threading.Event) -> bool:
        deadline = time.monotonic() + self.config.restart_wait_s
        while time.monotonic() < deadline and not stop.is_set() and not self._stopping.is_set():
            if self.is_engine_up():
                return True
            time.sleep(0.5)
        return False

    def _restore(self, http: httpx.Client, slot: int, state: _Slot) -> None:
        if not state.kv_name or not (kv_dir() / state.kv_name).exists():
            return
        try:
            r = http.post(f"/slots/{slot}", params={"action": "restore"}, json={"filename": state.kv_name})
            state.is_restored = r.status_code == 200
            if r.status_code != 200:
                (kv_dir() / state.kv_name).unlink(missing_ok=True)  # damaged or foreign: save afresh
                self._warn_kv(f"could not restore saved KV {state.kv_name}; recomputing the prefix")
        except httpx.HTTPError:
            state.is_restored = False

    def _save(self, http: httpx.Client, slot: int, state: _Slot, data: dict[str, Any]) -> None:
        prompt_tokens = (data.get("usage") or {}).get("prompt_tokens") or 0
        if not state.kv_name or prompt_tokens < self.config.kv_save_min_tokens or (kv_dir() / state.kv_name).exists():
            return
        try:
            r = http.post(f"/slots/{slot}", params={"action": "save"}, json={"filename": state.kv_name})
            if r.status_code != 200:
                self._warn_kv("could not save a slot's KV; later batches will recompute the prefix")
        except httpx.HTTPError:
            pass

    def _warn_kv(self, message: str) -> None:
        if not self._warned_kv:
            self._warned_kv = True
            self.say(f"batches: {message}")


def _error_message(status: int, body: Any) -> str:
    err = body.get("error", body) if isinstance(body, dict) else body
    text = err.get("message", err) if isinstance(err, dict) else err
    return f"engine answered {status}: {str(text)[:300]}"
