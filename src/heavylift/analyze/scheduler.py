"""Slot-affine scheduling. Each worker thread owns one engine slot and runs all tasks on a subject
back-to-back there, pinned with `id_slot` and `cache_prompt: true`, so the shared prefix (system +
document) is computed once: llama-server keeps the longest common prefix of the slot's cached
tokens (tools/server/server-context.cpp, `get_common_prefix` when `cache_prompt`). Long prefixes
are saved to disk after their first answer (POST /slots/{id}?action=save) and restored on resume,
in later jobs and after an engine restart (action=restore) instead of being recomputed.

A restore is trusted only when the next answer's cached-token count (llama-server `timings.cache_n`)
covers the document prefix: for hybrid/recurrent and sliding-window models llama-server reprocesses
the whole prompt after a restore (the slot file holds no context checkpoints; server-context.cpp,
"forcing full prompt re-processing due to lack of cache data"), so the flag says what really
happened and saving stops for that architecture on that engine build."""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from typing import Any

from heavylift import settings
from heavylift.analyze.answers import parse_answer
from heavylift.analyze.engine_session import EngineSession
from heavylift.analyze.jobs import Job, JobStore, Unit
from heavylift.analyze.kv_cache import KVCacheStore, kv_dir
from heavylift.analyze.prompts import (
    MAP_NOTE,
    SYSTEM_PROMPT,
    messages_for,
    reduce_body,
    response_schema,
)
from heavylift.errors import EndpointError, EngineError
from heavylift.store import Database


class StopJob(Exception):
    """Stop every worker: the job was cancelled, or the engine is gone for good."""


@dataclass
class SlotState:
    kv_name: str | None = None  # saved-KV file for this subject's prefix (None: not worth saving)
    need_restore: bool = False
    restored_tokens: int | None = None  # a restore just loaded this many tokens; the next answer checks it


class Scheduler:
    def __init__(self, store: JobStore, job: Job, session: EngineSession, say):
        self.store = store
        self.job = job
        self.config = job.config
        self.session = session
        self.say = say
        self.stop_event = threading.Event()
        self.stop_reason: str | None = None
        self._threads: list[threading.Thread] = []
        self._said: set[str] = set()
        self._lock = threading.Lock()
        info = session.info
        self.kv_disabled: str | None = None  # why nothing is saved for this model here (None: saving is on)
        if info and session.kv_key and info.architecture:
            reason = KVCacheStore(store.db).unrestorable_reason(info.architecture, info.engine_version or "unknown")
            if reason:
                self.kv_disabled = reason
                self._say_once("kv-off", f"analyze: not saving KV for {info.architecture} models on this engine build: "
                                         f"{reason} (`heavylift kv list` shows it)")

    def run(self, units: list[Unit]) -> str | None:
        """Run these units to done/failed (or stop); returns why it stopped early, if it did."""
        by_subject: dict[int, list[Unit]] = {}
        for unit in units:
            by_subject.setdefault(unit.subject_id, []).append(unit)
        work: queue.Queue[tuple[int, list[Unit]]] = queue.Queue()
        for item in by_subject.items():
            work.put(item)
        info = self.session.info
        num_workers = max(1, min(self.config.parallel, info.num_slots if info else 1, len(by_subject)))
        self._threads = [threading.Thread(target=self._worker, args=(slot, work), name=f"slot-{slot}", daemon=True)
                         for slot in range(num_workers)]
        for t in self._threads:
            t.start()
        for t in self._threads:
            while t.is_alive():
                t.join(timeout=0.5)
        return self.stop_reason

    def stop(self, reason: str) -> None:
        self._stop(reason)

    def join(self, timeout_s: float) -> None:
        """Wait (bounded) for the workers to record what their cut-off requests became."""
        for t in self._threads:
            t.join(timeout=timeout_s)

    def _stop(self, reason: str) -> None:
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self.stop_event.set()

    def _worker(self, slot: int, work: queue.Queue) -> None:
        store = JobStore(Database(self.store.db.path))  # one connection per thread
        kv = KVCacheStore(store.db)
        try:
            while not self.stop_event.is_set():
                try:
                    subject_id, units = work.get_nowait()
                except queue.Empty:
                    return
                self._run_subject(store, kv, slot, subject_id, units)
        except StopJob as e:
            self._stop(str(e))
        except EngineError as e:
            self._stop(str(e))
        except Exception as e:  # a bug: stop cleanly, completed work is already committed
            self._stop(f"internal error in slot {slot}: {e.__class__.__name__}: {e}")
            if settings.is_debug():
                raise
        finally:
            store.db.close()

    def _run_subject(self, store: JobStore, kv: KVCacheStore, slot: int, subject_id: int, units: list[Unit]) -> None:
        subject = store.subject(subject_id)
        state = SlotState()
        is_long = (subject["num_prompt_tokens"] or 0) >= self.config.kv_save_min_tokens
        if is_long and any(u.role != "reduce" for u in units):
            state.kv_name = self.session.kv_file(SYSTEM_PROMPT + subject["body"])
            state.need_restore = state.kv_name is not None
        for unit in units:
            if store.is_cancelled(self.job.id):
                raise StopJob("cancelled")
            if self.stop_event.is_set():
                return
            self._run_unit(store, kv, slot, subject, unit, state)

    def _messages(self, store: JobStore, subject: Any, unit: Unit) -> list[dict[str, str]] | str:
        """The prompt, or why it cannot be made (a --split part failed)."""
        if unit.role == "reduce":
            parts = store.map_answers(subject["id"], unit.position)
            bad = [p for p in parts if p["status"] != "done"]
            if bad or not parts:
                return f"{len(bad)} of {len(parts)} parts of the split document failed: {(bad[0]['error'] if bad else 'no parts')}"
            partials = [_as_text(json.loads(p["answer"])) for p in parts]
            return messages_for(reduce_body(subject["name"], unit.task, partials), unit.task)
        note = MAP_NOTE.format(index=subject["chunk_index"], total=subject["num_chunks"]) if unit.role == "map" else ""
        return messages_for(subject["body"], unit.task, note)

    def _params(self, slot: int, unit: Unit, is_retry: bool) -> dict[str, Any]:
        info = self.session.info
        params: dict[str, Any] = {"max_tokens": self.config.max_tokens,
                                  "temperature": 0.7 if is_retry else self.config.temperature,
                                  "seed": self.config.seed + (1 if is_retry else 0)}
        schema = response_schema(unit.task)
        if info and info.is_llama_server:
            params.update(id_slot=slot, cache_prompt=True)
            if schema is not None:
                params["json_schema"] = schema  # llama-server: grammar-constrained sampling
        elif schema is not None:
            params["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
        return params

    def _run_unit(self, store: JobStore, kv: KVCacheStore, slot: int, subject: Any, unit: Unit,
                  state: SlotState) -> None:
        messages = self._messages(store, subject, unit)
        num_invalid = 0
        while not self.stop_event.is_set():
            claimed = store.claim(unit.id)
            if claimed is None:
                return
            attempt_id, attempt_no = claimed
            if isinstance(messages, str):
                store.fail_attempt(unit.id, attempt_id, "failed-parts", messages, is_final=True)
                return
            if state.need_restore:
                self._restore(kv, slot, state)
            try:
                result = self.session.client.chat(messages, **self._params(slot, unit, num_invalid > 0))
            except EndpointError as e:
                if not self._after_failed_request(store, unit, attempt_id, attempt_no, state, e):
                    return
                continue
            fields = self._fields(result, slot, state, subject, kv)
            parsed = parse_answer(unit.task, result.text, result.finish_reason, self.config.max_tokens)
            if parsed.error:
                num_invalid += 1
                # Retried once with varied sampling, then failed; a cut-off answer is not retried (the
                # same limit would cut it again).
                is_final = num_invalid >= 2 or not parsed.is_retryable
                store.fail_attempt(unit.id, attempt_id, "invalid", f"invalid answer: {parsed.error}",
                                   is_final=is_final, fields=fields)
                if is_final:
                    return
                continue
            store.finish(unit.id, attempt_id, {**fields, "answer": json.dumps(parsed.answer)})
            self._save(kv, slot, state)
            return

    def _after_failed_request(self, store: JobStore, unit: Unit, attempt_id: int, attempt_no: int,
                              state: SlotState, e: EndpointError) -> bool:
        """Record a request that got no answer; True when the unit should be tried again now."""
        if self.stop_event.is_set():  # we are stopping (Ctrl-C, SIGTERM): the request was cut off by us
            store.fail_attempt(unit.id, attempt_id, "interrupted", "stopped while the request was in flight",
                               is_final=False)
            return False
        if e.is_timeout or (e.status_code is not None and 400 <= e.status_code < 500):
            # The request itself is the problem (too slow for --timeout, or refused): retrying won't help.
            store.fail_attempt(unit.id, attempt_id, "engine-error", str(e), is_final=True)
            return False

        def give_up() -> bool:  # a cancel from another shell ends the wait for the engine too
            return self.stop_event.is_set() or store.is_cancelled(self.job.id)

        try:
            is_back = self.session.wait_healthy(give_up)
        except EngineError:  # the Supervisor gave up: the job stops with this unit left to run
            store.fail_attempt(unit.id, attempt_id, "interrupted", str(e), is_final=False)
            raise
        if not is_back:
            store.fail_attempt(unit.id, attempt_id, "interrupted", str(e), is_final=False)
            if store.is_cancelled(self.job.id):
                raise StopJob("cancelled") from None
            if self.stop_event.is_set():
                return False
            where = "the engine" if self.session.owned else f"endpoint {self.session.engine.openai_base_url}"
            raise StopJob(f"{where} went down ({e}); completed work is saved, "
                          f"run `heavylift resume {self.job.name}` when it is back") from None
        if self.session.owned:  # a restarted engine has a new pid (resume stops an orphan by it)
            store.set_engine_pid(self.job, self.session.engine_pid)
        is_final = attempt_no >= self.config.max_attempts
        store.fail_attempt(unit.id, attempt_id, "engine-error", str(e), is_final=is_final)
        state.need_restore = state.kv_name is not None  # a restarted engine has an empty slot
        state.restored_tokens = None
        return not is_final

    def _fields(self, result, slot: int, state: SlotState, subject: Any, kv: KVCacheStore) -> dict[str, Any]:
        info = self.session.info
        is_restored = None
        if state.restored_tokens is not None:
            is_restored = self._check_restore(kv, state, subject, result.cached_tokens)
        return {"raw_text": result.text, "prompt_tokens": result.prompt_tokens, "cached_tokens": result.cached_tokens,
                "completion_tokens": result.completion_tokens, "prefill_ms": result.prefill_ms,
                "decode_ms": result.decode_ms, "is_kv_restored": int(bool(is_restored)), "slot_id": slot,
                "finish_reason": result.finish_reason,
                "model": (info.model if info else None) or result.model,
                "quantization": info.quantization if info else None,
                "engine_version": info.engine_version if info else None}

    def _check_restore(self, kv: KVCacheStore, state: SlotState, subject: Any, cached: int) -> bool:
        """Did the restored state really serve the prefix? Judged by the engine's own count of cached
        tokens for this answer, against the prefix (system + document) this subject shares."""
        restored, state.restored_tokens = state.restored_tokens, None
        prefix = subject["num_prefix_tokens"] or 1  # jobs measured before prefixes were: any reuse
        if cached >= prefix:
            return True
        info = self.session.info
        arch = (info.architecture if info else None) or "this"
        reason = (f"a restore of {restored} saved tokens left {cached} of the {subject['num_prefix_tokens'] or '?'} "
                  f"prefix tokens reused (llama-server reprocessed the prompt: hybrid/recurrent or sliding-window "
                  f"memory is not resumable from a slot file)")
        if info and info.architecture:
            kv.mark_unrestorable(info.architecture, info.engine_version or "unknown", reason)
        with self._lock:
            self.kv_disabled = reason
        # Every state saved for this architecture here is as useless as this one.
        kv.remove([f.name for f in kv.files() if f.is_indexed and f.architecture and f.architecture == arch])
        if state.kv_name:
            kv.remove([state.kv_name])
            state.kv_name = None
        self._say_once("kv-off", f"analyze: saved KV is not reused for {arch} models by this engine build: {reason}; "
                                 "answers are recomputed (correct, just not faster) and no more KV is saved for them")
        return False

    def _restore(self, kv: KVCacheStore, slot: int, state: SlotState) -> None:
        state.need_restore = False
        if not state.kv_name or self.kv_disabled or not (kv_dir() / state.kv_name).exists():
            return
        try:
            response = self.session.client.slot_restore(slot, state.kv_name)
            state.restored_tokens = int(response.get("n_restored") or 0)
            kv.touch(state.kv_name)
        except EndpointError as e:
            kv.remove([state.kv_name])  # damaged: save it afresh
            self._say_once("kv-restore", f"analyze: could not restore saved KV {state.kv_name} ({e}); recomputing the prefix")

    def _save(self, kv: KVCacheStore, slot: int, state: SlotState) -> None:
        if not state.kv_name or self.kv_disabled or (kv_dir() / state.kv_name).exists():
            return
        try:
            response = self.session.client.slot_save(slot, state.kv_name)
        except EndpointError as e:
            self._say_once("kv-save", f"analyze: could not save the slot's KV ({e}); later runs will recompute the prefix")
            return
        info = self.session.info
        size = response.get("n_written") or (kv_dir() / state.kv_name).stat().st_size
        kv.record_save(state.kv_name, int(size), response.get("n_saved"), info.model if info else None,
                       info.architecture if info else None)
        cap = self.config.kv_max_bytes
        if size > cap:
            kv.remove([state.kv_name])
            self._say_once("kv-cap", f"analyze: a saved KV of {size / 2**30:.1f} GiB is larger than the "
                                     f"{cap / 2**30:.1f} GiB cap (--kv-max-gib); not kept")
            return
        evicted = kv.evict(cap, keep=state.kv_name)
        if evicted:
            self._say_once("kv-evict", f"analyze: saved KV over the {cap / 2**30:.1f} GiB cap (--kv-max-gib): removing "
                                       "the least recently used files (`heavylift kv list` shows what is kept)")

    def _say_once(self, topic: str, message: str) -> None:
        with self._lock:
            if topic in self._said:
                return
            self._said.add(topic)
        self.say(message)


def _as_text(answer: Any) -> str:
    return answer if isinstance(answer, str) else json.dumps(answer)
