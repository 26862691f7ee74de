"""`heavylift verify`: the same analysis tasks on the candidate and on the reference (two durable
analyze jobs, run one after the other so the two engines never compete for the cores), then the
answers compared task by task, optionally with a token-level KLD run; the report is stored with
the run. Killed at any moment, `heavylift verify --resume NAME` finishes without redoing answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from heavylift import paths, settings
from heavylift.analyze.jobs import Job, JobConfig, JobStore
from heavylift.analyze.prompts import messages_for
from heavylift.engines.client import EngineClient
from heavylift.engines.remote import RemoteEngine
from heavylift.errors import EndpointError, HeavyliftError, UsageError
from heavylift.models.model_store import ModelStore, StoredModel
from heavylift.verify import kld as kld_mod
from heavylift.verify.agreement import compare_jobs, overall
from heavylift.verify.compare import verdict
from heavylift.verify.report import VerifyReport
from heavylift.verify.runs import VerifyConfig, VerifyRun, VerifyStore, digest

SIDES = ("candidate", "reference")


def reference_api_key() -> str | None:
    """The reference endpoint's key: HEAVYLIFT_REFERENCE_API_KEY, else OPENAI_API_KEY (never a flag,
    so it stays out of shell history and process lists)."""
    return settings.get("HEAVYLIFT_REFERENCE_API_KEY") or settings.get("OPENAI_API_KEY") or None


class _ModelClient(EngineClient):
    """Sends `model` with every chat request: OpenAI-compatible APIs other than llama-server need it."""

    def __init__(self, base_url: str, api_key: str | None, model: str | None):
        super().__init__(base_url, api_key)
        self.model = model

    def chat(self, messages, **params):
        return super().chat(messages, **({"model": self.model} if self.model else {}), **params)


class ReferenceEndpoint(RemoteEngine):
    def __init__(self, base_url: str, api_key: str | None, model: str | None):
        super().__init__(base_url, api_key)
        self.model = model

    @property
    def client(self) -> EngineClient:
        if self._client is None:
            self._client = _ModelClient(self.base_url, self.api_key, self.model)
        return self._client


def run_verify(config: VerifyConfig | None, name: str, say: Callable[[str], None], *,
               progress_interval_s: float | None = None) -> VerifyReport:
    """Start (config given) or resume (config None) the verify run `name`; returns its report."""
    vstore = VerifyStore()
    jstore = JobStore(vstore.db)
    store = ModelStore(vstore.db)
    docs = errors = None
    if config is None:
        run = vstore.require(name)
        config = run.config
        say(f"verify: resuming {name}: {config.candidate} vs {config.reference_label}")
    else:
        _check_models(config, store)
        docs, errors = _ingest(config)
        fingerprint = digest({"config": config.to_json(), "docs": [d.sha256 for d in docs]})
        existing = vstore.get(name)
        if existing and existing.fingerprint != fingerprint:
            raise UsageError(f"a verify run named {name!r} exists with other inputs; choose another --name, or "
                             f"`heavylift verify --resume {name}` to finish that one")
        run = existing or vstore.create(name, config, fingerprint)
        if existing:
            say(f"verify: {name} exists with the same inputs; resuming it (answers already computed are kept)")
    jobs: dict[str, Job] = {}
    for side in SIDES if config.tasks else ():  # --kld alone needs no analysis jobs
        job_id = run.candidate_job_id if side == "candidate" else run.reference_job_id
        if job_id is None:
            if docs is None:
                _check_models(config, store)
                docs, errors = _ingest(config)
            job_id = _create_or_reuse(vstore, jstore, store, run, config, side, docs, errors or [], say)
        jobs[side] = jstore.get(job_id)
    failures = []
    for side, job in jobs.items():
        status, error = _run_side(jstore, job, side, config, say, progress_interval_s)
        if status != "done":
            failures.append(f"the {side} job {job.name} {status}" + (f" ({error})" if error else ""))
    if failures:
        raise HeavyliftError(f"verify {name}: {'; '.join(failures)}; completed answers are saved, finish with "
                             f"`heavylift verify --resume {name}`")
    for side, job in jobs.items():
        _check_answered(jstore, job, side)
    run = vstore.require(name)
    kld = _kld(vstore, run, config, store, say) if config.kld_text else None
    report = _report(run, config, jstore, jobs, kld)
    vstore.save_report(run, asdict(report))
    return report


# -- checks and inputs ------------------------------------------------------------------------------
def _local(store: ModelStore, name: str) -> StoredModel:
    return store.resolve(name)


def _check_models(config: VerifyConfig, store: ModelStore) -> None:
    if bool(config.reference) == bool(config.reference_endpoint):
        raise UsageError("give exactly one of --reference MODEL or --reference-endpoint URL")
    if not config.tasks and not config.kld_text:
        raise UsageError("nothing to compare: give --tasks FILE or --ask QUESTION (and/or --kld TEXTFILE)")
    candidate = _local(store, config.candidate)
    if config.reference:
        _local(store, config.reference)
    if config.kld_text:
        kld_ref = config.kld_reference or config.reference
        if kld_ref is None:
            raise UsageError("--kld needs the reference's weights here: with --reference-endpoint, give "
                             "--kld-reference MODEL (a higher-bit quant of the same model, e.g. its Q8_0)")
        ref = _local(store, kld_ref)
        capacity = _memory_capacity()
        if not config.kld_reference and capacity and ref.file_bytes > capacity:
            from heavylift.cli.common import human_bytes

            raise UsageError(f"the reference {ref.name} ({human_bytes(ref.file_bytes)}) is too big to run here "
                             f"({human_bytes(capacity)} of RAM + GPU memory); give --kld-reference MODEL, a higher-bit "
                             "quant of it (e.g. Q8_0) that fits, to stand in for it")
        for path in config.kld_text:
            if not Path(path).exists():
                raise UsageError(f"--kld {path}: no such file or folder")
        kld_mod.check_same_vocab(candidate.path, ref.path)  # before any work, not after the tasks


def _memory_capacity() -> int | None:
    from heavylift.hardware.spec import detect_local

    rig = detect_local()
    return (rig.ram_bytes + sum(g.memory_bytes for g in rig.gpus)) or None


def _ingest(config: VerifyConfig):
    from heavylift.analyze.ingest import ingest_paths

    docs, errors = ingest_paths([Path(p) for p in config.docs])
    if config.tasks and not docs:
        raise UsageError("no readable documents among --docs; nothing to analyse" if config.docs else
                         "--tasks/--ask need documents: give --docs PATH ...")
    return docs, errors


def _side_key(config: VerifyConfig, side: str, store: ModelStore, docs) -> str | None:
    """What a side's answers depend on; None for an endpoint (its model may change behind the URL)."""
    if side == "reference" and config.reference_endpoint:
        return None
    model = _local(store, config.candidate if side == "candidate" else config.reference)  # type: ignore[arg-type]
    st = model.path.stat()
    return digest({"model": [str(model.path.resolve()), st.st_size, st.st_mtime_ns],
                   "docs": [d.sha256 for d in docs], "prompts": [messages_for("{document}", t) for t in config.tasks],
                   "tasks": [t.to_dict() for t in config.tasks], "max_tokens": config.max_tokens, "ctx": config.ctx,
                   "engine_args": config.engine_args})


def _create_or_reuse(vstore: VerifyStore, jstore: JobStore, store: ModelStore, run: VerifyRun, config: VerifyConfig,
                     side: str, docs, errors, say: Callable[[str], None]) -> int:
    key = _side_key(config, side, store, docs)
    reused = vstore.reusable_job(key) if key else None
    if reused is not None:
        job = jstore.get(reused)
        say(f"verify: {side}: reusing job {job.name} ({job.status}): same model file, documents and tasks")
        vstore.set_job(run, side, reused, key)
        return reused
    is_endpoint = side == "reference" and config.reference_endpoint
    job_config = JobConfig(tasks=config.tasks, model=(config.reference_model or "endpoint") if is_endpoint else
                           (config.candidate if side == "candidate" else config.reference),  # type: ignore[arg-type]
                           endpoint=config.reference_endpoint if is_endpoint else None, parallel=config.parallel,
                           ctx_per_slot=config.ctx, max_tokens=config.max_tokens, endpoint_wait_s=config.endpoint_wait_s,
                           engine_args=[] if is_endpoint else list(config.engine_args))
    job = jstore.create(f"{run.name}-{side}", job_config, docs, errors)
    vstore.set_job(run, side, job.id, key)
    return job.id


# -- running ----------------------------------------------------------------------------------------
def _run_side(jstore: JobStore, job: Job, side: str, config: VerifyConfig, say: Callable[[str], None],
              progress_interval_s: float | None) -> tuple[str, str | None]:
    from heavylift.analyze.job_runner import run_job, stop_orphaned_engine

    job = jstore.get(job.id)
    counts = jstore.counts(job.id)
    # A side without a single answer failed for a reason outside the model (key, model name): try again.
    is_all_failed = not counts["done"] and counts["failed"] > 0
    if job.status == "done" and not is_all_failed:
        say(f"verify: {side}: job {job.name} is done ({counts['done']} answers, {counts['failed']} failed)")
        return "done", None
    if job.status == "cancelled":
        return "cancelled", "cancelled with `heavylift cancel`"
    stop_orphaned_engine(jstore, job, say)
    # Failed answers stay failed otherwise: at temperature 0 the model would write the same invalid answer.
    jstore.prepare_resume(job, retry_failed=is_all_failed)
    job = jstore.get(job.id)
    counts = jstore.counts(job.id)
    if not counts["pending"]:
        return jstore.end_run(job), None
    say(f"verify: {side}: job {job.name}: {counts['done']} answers kept, {counts['pending']} to compute")
    engine = None
    if job.config.endpoint:
        engine = ReferenceEndpoint(job.config.endpoint, reference_api_key(), config.reference_model)
        _pick_model(engine, say)
    status = run_job(jstore, job, say, engine=engine, progress_interval_s=progress_interval_s)
    return status, jstore.get(job.id).error


def _check_answered(jstore: JobStore, job: Job, side: str) -> None:
    """A side with no answer at all (a wrong key, a model name the endpoint lacks) is a setup problem,
    not a 0% agreement."""
    counts = jstore.counts(job.id)
    if counts["done"] or not counts["failed"]:
        return
    row = jstore.db.execute("SELECT error FROM units WHERE job_id=? AND status='failed' AND error IS NOT NULL LIMIT 1",
                            (job.id,)).fetchone()
    error = row[0] if row else "unknown error"
    hint = ""
    if " answered 401" in error or " answered 403" in error:
        hint = "; check HEAVYLIFT_REFERENCE_API_KEY (or OPENAI_API_KEY)"
    elif " answered 404" in error or "model" in error.lower():
        hint = "; check --reference-model"
    raise HeavyliftError(f"all {counts['failed']} answers of the {side} ({job.name}) failed, e.g.: {error[:200]}{hint}")


def _pick_model(engine: ReferenceEndpoint, say: Callable[[str], None]) -> None:
    """No --reference-model: an endpoint serving exactly one model gets that one named."""
    if engine.model:
        return
    try:
        models = engine.client.models()
    except EndpointError:
        return  # down: the job records it and stays resumable
    if len(models) > 1:
        raise UsageError(f"{engine.base_url} serves {len(models)} models ({', '.join(models[:5])}); choose one "
                         "with --reference-model NAME")
    engine.model = models[0] if models else None


# -- results ----------------------------------------------------------------------------------------
def _kld_text(config: VerifyConfig) -> Path:
    """One plain-text file for llama-perplexity: a .txt as given, anything else through analyze's readers."""
    given = [Path(p) for p in config.kld_text or []]
    if len(given) == 1 and given[0].is_file() and given[0].suffix.lower() in (".txt", ".raw", ""):
        return given[0]
    from heavylift.analyze.ingest import ingest_paths

    docs, _ = ingest_paths(given)
    if not docs:
        raise UsageError(f"--kld {' '.join(map(str, given))}: no readable text")
    text = "\n\n".join(d.text for d in docs)
    out = paths.cache_dir() / "kld" / f"text-{digest(text)[:16]}.txt"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".partial")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    return out


def _kld(vstore: VerifyStore, run: VerifyRun, config: VerifyConfig, store: ModelStore,
         say: Callable[[str], None]) -> kld_mod.KLDResult:
    candidate = _local(store, config.candidate)
    reference = _local(store, config.kld_reference or config.reference)  # type: ignore[arg-type]
    text = _kld_text(config)
    base = kld_mod.base_path(reference.path, text, config.kld_ctx, config.kld_chunks)
    st = candidate.path.stat()
    key = digest([str(base), str(candidate.path.resolve()), st.st_size, st.st_mtime_ns])
    if run.kld and run.kld.get("key") == key:
        say("verify: KLD already computed for this run")
        return kld_mod.KLDResult(**{k: v for k, v in run.kld.items() if k != "key"})
    result = kld_mod.compare(candidate.path, reference.path, text, ctx=config.kld_ctx, max_chunks=config.kld_chunks,
                             is_stand_in=bool(config.kld_reference and config.kld_reference != config.reference),
                             candidate_name=candidate.name, reference_name=reference.name,
                             text_label=", ".join(config.kld_text or []), say=say)
    vstore.save_kld(run, asdict(result), key)
    return result


def _report(run: VerifyRun, config: VerifyConfig, jstore: JobStore, jobs: dict[str, Job],
            kld: kld_mod.KLDResult | None) -> VerifyReport:
    from heavylift.analyze.results import result_rows

    rows = {side: result_rows(jstore, jstore.get(job.id)) for side, job in jobs.items()}
    tasks, comparisons = [], []
    notes = []
    if rows:
        tasks, comparisons = compare_jobs(config.tasks, rows["candidate"], rows["reference"], min_f1=config.min_f1,
                                          num_tolerance=config.num_tolerance)
        notes += [f"free answers agree when they match exactly, or reach token F1 >= {config.min_f1:.2f} without "
                  f"stating other numbers; extracted numbers agree within {config.num_tolerance:.1%}; the overall "
                  "agreement is the mean of the tasks' agreements",
                  f"answers: `heavylift results {jobs['candidate'].name}` and `heavylift results {jobs['reference'].name}`"]
        skipped = [r for r in rows["reference"] if r.task is None]
        if skipped:
            notes.append(f"{len(skipped)} input(s) could not be read and were not compared: "
                         + ", ".join(r.document for r in skipped[:5]))
    agreement = overall(tasks)
    report = VerifyReport(name=run.name, candidate=config.candidate, reference=config.reference_label,
                          candidate_job=jobs["candidate"].name if jobs else None,
                          reference_job=jobs["reference"].name if jobs else None,
                          num_documents=len({r.document for r in rows.get("reference", []) if r.task is not None}),
                          agreement=agreement, verdict=verdict(agreement), tasks=tasks,
                          disagreements=[c for c in comparisons if not c.is_agreed], kld=kld,
                          min_f1=config.min_f1, num_tolerance=config.num_tolerance, notes=notes)
    if kld:
        report.kld_mean, report.kld_p99 = kld.kld_mean, kld.kld_p99
        report.ppl_ratio, report.top1_agreement = kld.ppl_ratio, kld.top1_agreement
    return report
