"""The dashboard at `/`: jobs and batches with live progress, their documents and per-unit results,
cancel/resume, the engine's status, and bench runs when the database has them. Server-rendered
(Jinja2 templates shipped in the package) with one small script that polls a JSON endpoint;
nothing is loaded from the internet."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from heavylift.analyze.jobs import Job, JobStore
from heavylift.analyze.progress import JobProgress
from heavylift.gateway.api_errors import ApiError, bad_request, not_found
from heavylift.gateway.batch_store import Batch, BatchStore
from heavylift.gateway.batches_api import cancel_batch

ACTION_HEADER = "x-heavylift-action"  # a cross-site form cannot set it: actions need the page's script
_env = Environment(loader=PackageLoader("heavylift.gateway", "templates"), autoescape=select_autoescape())


@dataclass
class EngineStatus:
    """What the overview says about the engine; filled by serve (None: unknown)."""

    model: str | None = None
    engine: str = "llama-server"
    ctx_total: int | None = None
    ctx_per_slot: int | None = None
    num_slots: int | None = None
    pid: int | None = None
    restarts: int = 0
    is_healthy: bool = False
    memory: list[dict[str, Any]] = field(default_factory=list)  # device, planned_bytes, allocated_bytes
    busy_slots: int | None = None


def _fmt_duration(s: float | None) -> str:
    if s is None:
        return "unknown"
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _fmt_bytes(n: float | None) -> str:
    if n is None:
        return "unknown"
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


_env.filters["duration"] = _fmt_duration
_env.filters["bytes"] = _fmt_bytes
_env.filters["rate"] = lambda v: "-" if v is None else f"{v:.1f}"
_env.filters["pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False)


def progress_of(jobs: JobStore, job: Job) -> dict[str, Any]:
    p = JobProgress.read(jobs, job)
    data = asdict(p)
    finished = p.units_done + p.units_failed
    data["percent"] = round(100 * finished / p.units_total, 1) if p.units_total else 0.0
    data["eta"] = ("finished" if p.units_pending + p.units_running == 0 else _fmt_duration(p.eta_s))
    return data


def batch_view(store: BatchStore, batch: Batch) -> dict[str, Any]:
    view = {**batch.to_openai(), "progress": None}
    if batch.job_id is not None:
        view["progress"] = progress_of(store.jobs, store.jobs.get(batch.job_id))
    return view


def _bench_runs(db: sqlite3.Connection) -> tuple[list[str], list[dict[str, Any]]] | None:
    """The bench engineer's table, if this database has it (None: not there)."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='bench_runs'").fetchone():
        return None
    rows = [dict(r) for r in db.execute("SELECT * FROM bench_runs ORDER BY rowid DESC LIMIT 20")]
    columns = list(rows[0]) if rows else []
    return columns, rows


def _plot_column(row: dict[str, Any]) -> str | None:
    for key, value in row.items():
        if isinstance(value, str) and value.endswith(".png") and ("plot" in key or "png" in key or "path" in key):
            return key
    return None


def routes(batches: Callable[[], BatchStore], engine_status: Callable[[], EngineStatus],
           on_change: Callable[[], None], resume_job: Callable[[str], str] | None) -> list[Route | Mount]:
    def page(name: str, **context: Any) -> HTMLResponse:
        return HTMLResponse(_env.get_template(name).render(**context))

    def analyze_jobs(store: BatchStore) -> list[Job]:
        batch_jobs = {r[0] for r in store.db.execute("SELECT job_id FROM batches WHERE job_id IS NOT NULL")}
        return [j for j in reversed(store.jobs.list()) if j.id not in batch_jobs][:50]

    def overview_data() -> dict[str, Any]:
        store = batches()
        listed, _ = store.list(limit=50)
        return {"batches": [batch_view(store, b) for b in listed],
                "jobs": [{"id": j.id, "name": j.name, "status": j.status, "created_at": j.created_at,
                          "progress": progress_of(store.jobs, j)} for j in analyze_jobs(store)],
                "engine": asdict(engine_status())}

    def index(request: Request) -> HTMLResponse:
        store = batches()
        bench = _bench_runs(store.db.conn)
        plot_key = _plot_column(bench[1][0]) if bench and bench[1] else None
        return page("index.html", **overview_data(), bench=bench, plot_key=plot_key)

    def status(request: Request) -> JSONResponse:
        return JSONResponse(overview_data())

    def batch_page(request: Request) -> HTMLResponse:
        store = batches()
        batch = _batch(store, request.path_params["batch_id"])
        rows = store.requests(batch) if batch.job_id is not None else []
        return page("batch.html", batch=batch_view(store, batch), requests=rows)

    def request_page(request: Request) -> HTMLResponse:
        store = batches()
        batch = _batch(store, request.path_params["batch_id"])
        row = store.request(batch, request.path_params["unit_id"])
        if row is None:
            raise not_found("Request", str(request.path_params["unit_id"]))
        answer = json.loads(row["answer"]) if row["answer"] else None
        return page("request.html", batch=batch_view(store, batch), req=row, body=json.loads(row["body"]),
                    answer=answer)

    def job_page(request: Request) -> HTMLResponse:
        store = batches()
        job = _job(store, request.path_params["job_id"])
        docs = store.db.execute("SELECT * FROM job_documents WHERE job_id=? ORDER BY position", (job.id,)).fetchall()
        units = store.db.execute(
            "SELECT u.*, s.name AS subject FROM units u JOIN subjects s ON s.id=u.subject_id WHERE u.job_id=? "
            "ORDER BY s.position, u.position", (job.id,)).fetchall()
        return page("job.html", job=job, progress=progress_of(store.jobs, job), docs=docs,
                    units=[_unit_view(u) for u in units], can_resume=resume_job is not None)

    def unit_page(request: Request) -> HTMLResponse:
        store = batches()
        job = _job(store, request.path_params["job_id"])
        row = store.db.execute("SELECT u.*, s.name AS subject FROM units u JOIN subjects s ON s.id=u.subject_id "
                               "WHERE u.job_id=? AND u.id=?", (job.id, request.path_params["unit_id"])).fetchone()
        if row is None:
            raise not_found("Unit", str(request.path_params["unit_id"]))
        attempts = store.db.execute("SELECT * FROM unit_attempts WHERE unit_id=? ORDER BY attempt",
                                    (row["id"],)).fetchall()
        return page("unit.html", job=job, unit=_unit_view(row), attempts=attempts)

    def plot(request: Request) -> FileResponse:
        """A bench run's plot: the path comes from the database row, never from the client."""
        store = batches()
        bench = _bench_runs(store.db.conn)
        index = request.path_params["index"]
        if not bench or index >= len(bench[1]) or not (key := _plot_column(bench[1][index])):
            raise not_found("Plot", str(index))
        path = Path(bench[1][index][key])
        if not path.is_file():
            raise not_found("Plot", str(index))
        return FileResponse(path, media_type="image/png")

    def _action(request: Request) -> None:
        if request.headers.get(ACTION_HEADER) != "1":
            raise ApiError(403, "Dashboard actions come from the dashboard's own page.", type="permission_error")

    def cancel_batch_action(request: Request) -> JSONResponse:
        _action(request)
        batch = cancel_batch(batches(), request.path_params["batch_id"])
        on_change()
        return JSONResponse(batch.to_openai())

    def cancel_job_action(request: Request) -> JSONResponse:
        _action(request)
        store = batches()
        job = _job(store, request.path_params["job_id"])
        if job.status in ("done", "cancelled"):
            raise bad_request(f"job {job.name} is already {job.status}")
        n = store.jobs.cancel(job)
        return JSONResponse({"job": job.name, "cancelled_units": n})

    def resume_job_action(request: Request) -> JSONResponse:
        _action(request)
        store = batches()
        job = _job(store, request.path_params["job_id"])
        if resume_job is None:
            raise bad_request("this server cannot run analysis jobs; run `heavylift resume` in a shell")
        return JSONResponse({"job": job.name, "message": resume_job(job.name)})

    static = Path(__file__).parent / "static"
    return [
        Route("/", index), Route("/dashboard/api/status", status),
        Route("/dashboard/batches/{batch_id}", batch_page),
        Route("/dashboard/batches/{batch_id}/requests/{unit_id:int}", request_page),
        Route("/dashboard/jobs/{job_id:int}", job_page),
        Route("/dashboard/jobs/{job_id:int}/units/{unit_id:int}", unit_page),
        Route("/dashboard/plots/{index:int}", plot),
        Route("/dashboard/api/batches/{batch_id}/cancel", cancel_batch_action, methods=["POST"]),
        Route("/dashboard/api/jobs/{job_id:int}/cancel", cancel_job_action, methods=["POST"]),
        Route("/dashboard/api/jobs/{job_id:int}/resume", resume_job_action, methods=["POST"]),
        Mount("/static", StaticFiles(directory=static), name="static"),
    ]


def _batch(store: BatchStore, batch_id: str) -> Batch:
    batch = store.get(batch_id)
    if batch is None:
        raise not_found("Batch", batch_id, param="batch_id")
    return batch


def _job(store: BatchStore, job_id: int) -> Job:
    row = store.db.execute("SELECT name FROM jobs WHERE id=?", (job_id,)).fetchone()
    if row is None:
        raise not_found("Job", str(job_id))
    return store.jobs.get(row[0])


def _unit_view(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    spec = json.loads(data.get("question") or "{}")
    data["title"] = spec.get("question") or spec.get("task") or data.get("task")
    answer = data.get("answer")
    try:
        data["answer_value"] = json.loads(answer) if answer else None
    except ValueError:
        data["answer_value"] = answer
    return data
