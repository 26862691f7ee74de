"""Run (or resume) a job end to end: engine up, context budget, slot-affine scheduling, final state,
results exported."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from heavylift.analyze.context_budget import (
    prefix_tokens,
    prompt_tokens,
    split_body,
    too_long_message,
)
from heavylift.analyze.engine_session import EngineSession
from heavylift.analyze.jobs import Job, JobStore, pid_alive
from heavylift.analyze.kv_cache import kv_dir
from heavylift.analyze.progress import JobProgress, ProgressDisplay
from heavylift.analyze.request_timeout import Prediction, describe_timeout, predict
from heavylift.analyze.results import default_results_path, export_results
from heavylift.analyze.scheduler import Scheduler
from heavylift.engines.base import Engine
from heavylift.engines.client import DEFAULT_TIMEOUT_S
from heavylift.errors import EndpointError, HeavyliftError


def slot_context(job: Job, say: Callable[[str], None]) -> int:
    """Tokens per slot to give our own engine: the job's figure, capped at the model's trained context
    the way llama-server would cap it anyway (server-context.cpp n_ctx_slot()), said up front."""
    config = job.config
    try:
        from heavylift.models.gguf_file import GGUFFile
        from heavylift.models.model_store import ModelStore

        gguf = GGUFFile.read(ModelStore().resolve(config.model).path)
        n_train = gguf.get(f"{gguf.architecture}.context_length")
    except HeavyliftError:
        return config.ctx_per_slot  # the engine start reports the real problem
    if n_train and config.ctx_per_slot > n_train:
        say(f"analyze: {config.ctx_per_slot} tokens per slot is more than {config.model} was trained on "
            f"({n_train}); llama-server caps each slot there, so slots get {n_train} tokens. A document that "
            "does not fit needs --split, a smaller --max-tokens or a model with a longer context")
        return int(n_train)
    return config.ctx_per_slot


def open_session(job: Job, say: Callable[[str], None], engine: Engine | None = None) -> EngineSession:
    """The job's engine: one given by the caller (kept running), an endpoint, or our own supervised one."""
    config = job.config
    wait_s = config.endpoint_wait_s
    if engine is not None:
        return EngineSession(engine, say, supervised=False, owned=False, engine_args=config.engine_args,
                             endpoint_wait_s=wait_s)
    if config.endpoint:
        from heavylift.engines.credentials import client_api_key
        from heavylift.engines.remote import RemoteEngine

        return EngineSession(RemoteEngine(config.endpoint, client_api_key()), say,
                             supervised=False, owned=False, endpoint_wait_s=wait_s)
    from heavylift.engines.launch import local_engine

    per_slot = slot_context(job, say)
    local = local_engine(config.model, ctx_size=per_slot * config.parallel, num_parallel=config.parallel,
                         slot_save_path=kv_dir(), extra_args=config.engine_args)
    say(f"analyze: starting {' '.join(local.command)}")
    return EngineSession(local, say, supervised=True, owned=True, engine_args=config.engine_args,
                         endpoint_wait_s=wait_s)


def stop_orphaned_engine(store: JobStore, job: Job, say: Callable[[str], None]) -> None:
    """A killed run leaves its llama-server behind (it runs in its own process group); stop it."""
    pid = job.engine_pid
    if not pid or not pid_alive(pid) or (job.pid and pid_alive(job.pid)):
        return
    from heavylift.engines.processes import cmdline as argv_of

    cmdline = " ".join(argv_of(pid))  # psutil: /proc on Linux, sysctl on macOS
    if not cmdline:
        return
    if "llama-server" in cmdline and str(kv_dir()) in cmdline:
        say(f"analyze: stopping the engine (pid {pid}) left running by the interrupted run")
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    store.set_engine_pid(job, None)


def run_job(store: JobStore, job: Job, say: Callable[[str], None], engine: Engine | None = None,
            progress_interval_s: float | None = None) -> str:
    """Runs the job's pending units; returns its final status (done | interrupted | cancelled). Ctrl-C
    and SIGTERM (as KeyboardInterrupt) stop it cleanly: the request in flight is logged interrupted
    and its unit runs again on resume."""
    session = open_session(job, say, engine)
    store.start_run(job)
    error: str | None = None
    scheduler: Scheduler | None = None
    try:
        info = session.start()
        store.set_engine_pid(job, session.engine_pid)
        say(f"analyze: job {job.name} on {info.model} ({info.quantization or 'unknown quantization'}), "
            f"{min(job.config.parallel, info.num_slots)} slot(s) of {info.n_ctx_slot or 'unknown'} tokens")
        with ProgressDisplay(lambda: JobProgress.read(store, job), interval_s=progress_interval_s):
            check_budget(store, job, session, say)
            _set_timeout(store, job, session, say)
            scheduler = Scheduler(store, job, session, say)
            first = [u for u in store.units(job.id, status="pending") if u.role != "reduce"]
            error = scheduler.run(first) if first else None
            if not error:
                reduce_units = store.units(job.id, status="pending", role="reduce")
                if reduce_units:
                    error = scheduler.run(reduce_units)
    except HeavyliftError as e:
        error = str(e)
    except KeyboardInterrupt:
        # Workers stop before the engine does, so none mistakes the stop for a crash.
        error = "interrupted (Ctrl-C or SIGTERM)"
        if scheduler:
            scheduler.stop("interrupted")
    finally:
        session.stop()
        if scheduler:
            scheduler.join(timeout_s=10)
        if error == "cancelled":
            error = None
        status = store.end_run(job, error)
    progress = JobProgress.read(store, job)
    say(f"analyze: job {job.name} {status}: {progress.units_done} done, {progress.units_failed} failed, "
        f"{progress.units_pending + progress.units_running} left, {progress.cached_tokens} of "
        f"{progress.prompt_tokens} prompt tokens from cache" + (f" ({error})" if error and status != "done" else ""))
    return status


@dataclass
class JobOutcome:
    status: str  # done | interrupted | cancelled
    results_path: Path


def run_and_export(store: JobStore, job: Job, say: Callable[[str], None],
                   progress_interval_s: float | None = None) -> JobOutcome:
    """Run the job, then write its results next to the database (also when it stopped early)."""
    status = run_job(store, job, say, progress_interval_s=progress_interval_s)
    return JobOutcome(status, export_job(store, job))


def export_job(store: JobStore, job: Job) -> Path:
    out = default_results_path(job)
    export_results(store, store.get(job.id), out)
    return out


def _set_timeout(store: JobStore, job: Job, session: EngineSession, say: Callable[[str], None]) -> None:
    """Per-request timeout: the job's --timeout, else sized from the plan's prediction for its longest
    prompt; the planner's prefill rate is also what the first-prefill progress line shows."""
    config = job.config
    info = session.info
    prediction: Prediction | None = None
    if info and info.model_path:
        longest = max((s["num_prompt_tokens"] or 0 for s in store.subjects(job.id)), default=0)
        prediction = predict(info.model_path, info.n_ctx_slot or config.ctx_per_slot, info.num_slots,
                             longest or 1, config.max_tokens)
    store.set_predicted_prefill(job, prediction.prefill_tps if prediction else None)
    timeout = config.timeout_s or (prediction.timeout_s if prediction else DEFAULT_TIMEOUT_S)
    session.client.set_timeout(timeout)
    say(f"analyze: {describe_timeout(timeout, config.timeout_s is not None, prediction)}")


def check_budget(store: JobStore, job: Job, session: EngineSession, say: Callable[[str], None]) -> None:
    """Measure each subject with the engine's tokenizer; report or --split the ones that do not fit."""
    info = session.info
    config = job.config
    pending = {u.subject_id for u in store.units(job.id, status="pending") if u.role != "reduce"}
    subjects = [s for s in store.subjects(job.id) if s["id"] in pending and s["num_prompt_tokens"] is None]
    if not subjects:
        return
    if not info.capabilities.tokenize:
        return  # said once when the session started (EngineCapabilities.fallbacks)
    n_ctx = info.n_ctx_slot or config.ctx_per_slot
    did_split = False
    for subject in subjects:
        note = ""
        if subject["parent_id"] is not None:
            from heavylift.analyze.prompts import MAP_NOTE

            note = MAP_NOTE.format(index=subject["chunk_index"], total=subject["num_chunks"])
        try:
            n = prompt_tokens(session.client, subject["body"], config.tasks, note)
            # the shared prefix is measured on token lists only llama-server returns (vLLM caches prefixes itself)
            n_prefix = (prefix_tokens(session.client, subject["body"], config.tasks, note)
                        if info.is_llama_server else None)
        except EndpointError as e:
            raise HeavyliftError(f"could not count tokens with the engine: {e}") from None
        store.set_prompt_tokens(subject["id"], n, n_prefix)
        if n + config.max_tokens <= n_ctx:
            continue
        if config.is_split and subject["parent_id"] is None:
            n_body = len(session.client.tokenize(subject["body"]))
            try:
                chunks = split_body(session.client, subject["name"], subject["body"], config.tasks, n_ctx,
                                    config.max_tokens, n_body)
            except ValueError as e:
                store.fail_subject(subject["id"], str(e))
                say(f"analyze: {subject['name']}: {e}")
                continue
            store.split_subject(job, subject["id"], chunks)
            say(f"analyze: {subject['name']}: {n} tokens > {n_ctx - config.max_tokens}; split into {len(chunks)} parts")
            did_split = True
            continue
        message = too_long_message(n, config.max_tokens, n_ctx, info.n_ctx_train, session.owned)
        store.fail_subject(subject["id"], message)
        say(f"analyze: {subject['name']}: {message}")
    if did_split:
        check_budget(store, job, session, say)  # measure the new parts (never split again)
