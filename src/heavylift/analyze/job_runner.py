"""Run (or resume) a job end to end: engine up, context budget, slot-affine scheduling, final state."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from heavylift.analyze.context_budget import prompt_tokens, split_body, too_long_message
from heavylift.analyze.engine_session import EngineSession, kv_dir, kv_key
from heavylift.analyze.jobs import Job, JobStore, pid_alive
from heavylift.analyze.progress import JobProgress, ProgressDisplay
from heavylift.analyze.scheduler import Scheduler
from heavylift.engines.base import Engine
from heavylift.errors import EndpointError, HeavyliftError


def open_session(job: Job, say: Callable[[str], None], engine: Engine | None = None) -> EngineSession:
    """The job's engine: one given by the caller (kept running), an endpoint, or our own supervised one."""
    config = job.config
    wait_s = config.endpoint_wait_s
    if engine is not None:
        path = getattr(getattr(engine, "config", None), "model_path", None)
        return EngineSession(engine, say, supervised=False, owned=False,
                             kv_key=kv_key(config.model, str(path), config.engine_args), endpoint_wait_s=wait_s)
    if config.endpoint:
        from heavylift.engines.credentials import client_api_key
        from heavylift.engines.remote import RemoteEngine

        return EngineSession(RemoteEngine(config.endpoint, client_api_key()), say,
                             supervised=False, owned=False, kv_key="remote", endpoint_wait_s=wait_s)
    from heavylift.engines.launch import local_engine

    local = local_engine(config.model, ctx_size=config.ctx * config.parallel, num_parallel=config.parallel,
                         slot_save_path=kv_dir(), extra_args=config.engine_args)
    say(f"analyze: starting {' '.join(local.command)}")
    return EngineSession(local, say, supervised=True, owned=True,
                         kv_key=kv_key(config.model, str(local.config.model_path), config.engine_args),
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
    """Runs the job's pending units; returns its final status (done | failed | cancelled)."""
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
        # Ctrl-C / SIGTERM: workers stop before the engine does, so none mistakes the stop for a
        # crash; the unit in flight is not done and `resume` runs it again.
        error = f"interrupted; run `heavylift resume {job.name}` to finish"
        if scheduler:
            scheduler.stop("interrupted")
        raise
    finally:
        session.stop()
        if error == "cancelled":
            error = None
        status = store.end_run(job, error)
    progress = JobProgress.read(store, job)
    say(f"analyze: job {job.name} {status}: {progress.units_done} done, {progress.units_failed} failed, "
        f"{progress.units_pending + progress.units_running} left, {progress.cached_tokens} of "
        f"{progress.prompt_tokens} prompt tokens from cache" + (f" ({error})" if error else ""))
    return status


def check_budget(store: JobStore, job: Job, session: EngineSession, say: Callable[[str], None]) -> None:
    """Measure each subject with the engine's tokenizer; report or --split the ones that do not fit."""
    info = session.info
    config = job.config
    pending = {u.subject_id for u in store.units(job.id, status="pending") if u.role != "reduce"}
    subjects = [s for s in store.subjects(job.id) if s["id"] in pending and s["num_prompt_tokens"] is None]
    if not subjects:
        return
    if not info.is_llama_server:
        say("analyze: this endpoint has no /tokenize; prompt sizes are unknown and not checked")
        return
    n_ctx = info.n_ctx_slot or config.ctx
    did_split = False
    for subject in subjects:
        try:
            n = prompt_tokens(session.client, subject["body"], config.tasks)
        except EndpointError as e:
            raise HeavyliftError(f"could not count tokens with the engine: {e}") from None
        store.set_prompt_tokens(subject["id"], n)
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
        message = too_long_message(n, config.max_tokens, n_ctx)
        store.fail_subject(subject["id"], message)
        say(f"analyze: {subject['name']}: {message}")
    if did_split:
        check_budget(store, job, session, say)  # measure the new parts (never split again)
