"""The ASGI app: Files and Batch API, the dashboard, and everything else proxied to the engine."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from heavylift.gateway import batches_api, dashboard, files_api
from heavylift.gateway.api_errors import ApiError
from heavylift.gateway.auth import AuthMiddleware, KeyCheck
from heavylift.gateway.batch_store import BatchStore
from heavylift.gateway.dashboard import EngineStatus
from heavylift.gateway.file_store import MAX_UPLOAD_BYTES
from heavylift.gateway.proxy import EngineProxy
from heavylift.store import Database

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


@dataclass
class GatewayConfig:
    engine_base_url: str
    engine_api_key: str | None = None
    keys: list[str] = field(default_factory=list)  # what clients must send (none: open, loopback only)
    db_path: str | None = None
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    served_model: str | None = None
    engine_status: Callable[[], EngineStatus] = EngineStatus
    on_batch_change: Callable[[], None] = lambda: None
    resume_job: Callable[[str], str] | None = None


class _PerThread:
    """SQLite connections are per thread: Starlette runs plain `def` endpoints in a thread pool."""

    def __init__(self, db_path: str):
        self.db_path = db_path
        self.local = threading.local()

    def batches(self) -> BatchStore:
        store = getattr(self.local, "store", None)
        if store is None:
            store = self.local.store = BatchStore(Database(self.db_path))
        return store


def create_app(config: GatewayConfig) -> Starlette:
    db_path = config.db_path or str(Database().path)
    stores = _PerThread(db_path)
    proxy = EngineProxy(config.engine_base_url, config.engine_api_key)

    routes = [
        *files_api.routes(lambda: stores.batches().files, config.max_upload_bytes),
        *batches_api.routes(stores.batches, config.on_batch_change, lambda: config.served_model),
        *dashboard.routes(stores.batches, config.engine_status, config.on_batch_change, config.resume_job),
        Route("/{path:path}", proxy, methods=_METHODS),  # the engine's own API, streamed (raw ASGI)
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await proxy.aclose()

    async def api_error(request: Request, exc: Exception) -> Response:
        return exc.response()  # type: ignore[attr-defined]

    async def internal_error(request: Request, exc: Exception) -> Response:
        print(f"serve: internal error on {request.method} {request.url.path}: {exc.__class__.__name__}: {exc}",
              file=sys.stderr, flush=True)
        return JSONResponse(ApiError(500, "Internal error in the heavylift gateway; see its log.",
                                     type="server_error").body(), status_code=500)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return ApiError(status, getattr(exc, "detail", "Not found")).response()

    from starlette.exceptions import HTTPException

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={ApiError: api_error, HTTPException: not_found, Exception: internal_error})
    app.add_middleware(AuthMiddleware, check=KeyCheck(config.keys))
    return app
