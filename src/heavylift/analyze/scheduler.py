"""Slot-affine scheduling. Each worker thread owns one engine slot and runs all tasks on a subject
back-to-back there, pinned with `id_slot` and `cache_prompt: true`, so the shared prefix (system +
document) is computed once: llama-server keeps the longest common prefix of the slot's cached
tokens (tools/server/server-context.cpp, `get_common_prefix` when `cache_prompt`). Long prefixes
are saved to disk after their first answer (POST /slots/{id}?action=save) and restored on resume,
in later jobs and after an engine restart (action=restore) instead of being recomputed."""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from typing import Any

from heavylift import settings
from heavylift.analyze.answers import parse_answer
from heavylift.analyze.engine_session import EngineSession, kv_dir
from heavylift.analyze.jobs import Job, JobStore, Unit
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
    is_restored: bool = False  # the next answer's prefix came from disk


class Scheduler:
    def __init__(self, store: JobStore, job: Job, session: EngineSession, say):
        self.store = store
        self.job = job
        self.config = job.config
        self.session = session
        self.say = say
        self.stop_event = threading.Event()
        self.stop_reason: str | None = None
        self._warned_kv = False

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
        threads = [threading.Thread(target=self._worker, args=(slot, work), name=f"slot-{slot}", daemon=True)
                   for slot in range(num_workers)]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.5)
        return self.stop_reason

    def stop(self, reason: str) -> None:
        self._stop(reason)

    def _stop(self, reason: str) -> None:
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self.stop_event.set()

    def _worker(self, slot: int, work: queue.Queue) -> None:
        store = JobStore(Database(self.store.db.path))  # one connection per thread
        try:
            while not self.stop_event.is_set():
                try:
                    subject_id, units = work.get_nowait()
                except queue.Empty:
                    return
                self._run_subject(store, slot, subject_id, units)
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

    def _run_subject(self, store: JobStore, slot: int, subject_id: int, units: list[Unit]) -> None:
        subject = store.subject(subject_id)
        info = self.session.info
        state = SlotState()
        is_long = (subject["num_prompt_tokens"] or 0) >= self.config.kv_save_min_tokens
        if info and info.can_save_kv and is_long and any(u.role != "reduce" for u in units):
            state.kv_name = self.session.kv_file(SYSTEM_PROMPT + subject["body"])
            state.need_restore = True
        for unit in units:
            if store.is_cancelled(self.job.id):
                raise StopJob("cancelled")
            if self.stop_event.is_set():
                return
            self._run_unit(store, slot, subject, unit, state)

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

    def _run_unit(self, store: JobStore, slot: int, subject: Any, unit: Unit, state: SlotState) -> None:
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
                self._restore(slot, state)
            try:
                result = self.session.client.chat(messages, **self._params(slot, unit, num_invalid > 0))
            except EndpointError as e:
                def give_up() -> bool:  # a cancel from another shell ends the wait for the engine too
                    return self.stop_event.is_set() or store.is_cancelled(self.job.id)

                try:
                    is_back = self.session.wait_healthy(give_up)
                except EngineError:  # the Supervisor gave up: log the attempt, then stop the job
                    store.fail_attempt(unit.id, attempt_id, "engine-error", str(e), is_final=False)
                    raise
                if not is_back:
                    store.fail_attempt(unit.id, attempt_id, "engine-error", str(e), is_final=False)
                    if store.is_cancelled(self.job.id):
                        raise StopJob("cancelled") from None
                    where = "the engine" if self.session.owned else f"endpoint {self.session.engine.base_url}"
                    raise StopJob(f"{where} went down ({e}); completed work is saved, "
                                  f"run `heavylift resume {self.job.name}` when it is back") from None
                if self.session.owned:  # a restarted engine has a new pid (resume stops an orphan by it)
                    store.set_engine_pid(self.job, self.session.engine_pid)
                is_request_error = " answered 4" in str(e)  # the request itself is bad: retrying won't help
                is_final = is_request_error or attempt_no >= self.config.max_attempts
                store.fail_attempt(unit.id, attempt_id, "engine-error", str(e), is_final=is_final)
                state.need_restore = state.kv_name is not None  # a restarted engine has an empty slot
                state.is_restored = False
                if is_final:
                    return
                continue
            fields = self._fields(result, slot, state)
            answer, invalid = parse_answer(unit.task, result.text)
            if invalid:
                num_invalid += 1
                is_final = num_invalid >= 2  # retried once (sampling varied), then recorded as failed
                store.fail_attempt(unit.id, attempt_id, "invalid", f"invalid answer: {invalid}",
                                   is_final=is_final, fields=fields)
                if is_final:
                    return
                continue
            store.finish(unit.id, attempt_id, {**fields, "answer": json.dumps(answer)})
            state.is_restored = False
            self._save(slot, state)
            return

    def _fields(self, result, slot: int, state: SlotState) -> dict[str, Any]:
        info = self.session.info
        return {"raw_text": result.text, "prompt_tokens": result.prompt_tokens, "cached_tokens": result.cached_tokens,
                "completion_tokens": result.completion_tokens, "prefill_ms": result.prefill_ms,
                "decode_ms": result.decode_ms, "is_kv_restored": int(state.is_restored), "slot_id": slot,
                "model": (info.model if info else None) or result.model,
                "quantization": info.quantization if info else None,
                "engine_version": info.engine_version if info else None}

    def _restore(self, slot: int, state: SlotState) -> None:
        state.need_restore = False
        if not state.kv_name or not (kv_dir() / state.kv_name).exists():
            return
        try:
            self.session.client.slot_restore(slot, state.kv_name)
            state.is_restored = True
        except EndpointError as e:
            (kv_dir() / state.kv_name).unlink(missing_ok=True)  # damaged or foreign: save it afresh
            self._warn_kv(f"could not restore saved KV {state.kv_name} ({e}); recomputing the prefix")

    def _save(self, slot: int, state: SlotState) -> None:
        if not state.kv_name or (kv_dir() / state.kv_name).exists():
            return
        try:
            self.session.client.slot_save(slot, state.kv_name)
        except EndpointError as e:
            self._warn_kv(f"could not save the slot's KV ({e}); later runs will recompute the prefix")

    def _warn_kv(self, message: str) -> None:
        if not self._warned_kv:
            self._warned_kv = True
            self.say(f"analyze: {message}")


def _as_text(answer: Any) -> str:
    return answer if isinstance(answer, str) else json.dumps(answer)
