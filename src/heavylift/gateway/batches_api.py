"""/v1/batches: create, retrieve, list (paginated), cancel, with OpenAI's shapes and errors.

Checks that need only the request are answered at once (400/404); the input file's lines are
checked by the runner while the batch is `validating`, and problems end it `failed` with
`errors.data` entries carrying the line number, as OpenAI does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from heavylift.gateway.api_errors import bad_request, not_found
from heavylift.gateway.batch_input import ENDPOINTS
from heavylift.gateway.batch_store import (
    METADATA_KEY_CHARS,
    METADATA_MAX_KEYS,
    METADATA_VALUE_CHARS,
    Batch,
    BatchStore,
    window_seconds,
)
from heavylift.gateway.files_api import _int_param


def check_metadata(metadata: Any) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or len(metadata) > METADATA_MAX_KEYS:
        raise bad_request(f"Invalid 'metadata': an object of at most {METADATA_MAX_KEYS} string pairs.", "metadata")
    for key, value in metadata.items():
        if not isinstance(value, str) or len(key) > METADATA_KEY_CHARS or len(value) > METADATA_VALUE_CHARS:
            raise bad_request(f"Invalid 'metadata': keys up to {METADATA_KEY_CHARS} and string values up to "
                              f"{METADATA_VALUE_CHARS} characters.", "metadata")
    return metadata


def create_batch(store: BatchStore, params: Any, origin: str = "api", model: str | None = None) -> Batch:
    """Checks the parameters and records a `validating` batch (the runner takes it from there)."""
    if not isinstance(params, dict):
        raise bad_request("The request body must be a JSON object.")
    input_file_id = params.get("input_file_id")
    if not isinstance(input_file_id, str) or not input_file_id:
        raise bad_request("Missing required parameter: 'input_file_id'.", "input_file_id")
    endpoint = params.get("endpoint")
    if endpoint not in ENDPOINTS:
        raise bad_request(f"Invalid value for 'endpoint': this server runs batches for {' and '.join(ENDPOINTS)}.",
                          "endpoint")
    window = params.get("completion_window")
    if not isinstance(window, str) or window_seconds(window) is None:
        raise bad_request("Invalid value for 'completion_window': use '24h' (or any '<N>s|m|h|d' up to 30 days).",
                          "completion_window")
    metadata = check_metadata(params.get("metadata"))
    record = store.files.get(input_file_id)
    if record is None:
        raise not_found("File", input_file_id, param="input_file_id")
    if record.purpose != "batch":
        raise bad_request(f"The file {input_file_id} has purpose '{record.purpose}'; a batch's input file must have "
                          f"purpose 'batch'.", "input_file_id")
    return store.create(endpoint, input_file_id, window, window_seconds(window), metadata, origin, model)


def routes(batches: Callable[[], BatchStore], on_change: Callable[[], None], model: Callable[[], str | None]) -> list[Route]:
    async def create(request: Request) -> JSONResponse:
        try:
            params = await request.json()
        except ValueError:
            raise bad_request("The request body is not valid JSON.") from None
        from starlette.concurrency import run_in_threadpool

        batch = await run_in_threadpool(lambda: create_batch(batches(), params, model=model()))
        on_change()
        return JSONResponse(batch.to_openai())

    def retrieve(request: Request) -> JSONResponse:
        return JSONResponse(_get(batches(), request.path_params["batch_id"]).to_openai())

    def list_batches(request: Request) -> JSONResponse:
        limit = _int_param(request.query_params.get("limit"), 20, 1, 100, "limit")
        page, has_more = batches().list(request.query_params.get("after"), limit)
        data = [b.to_openai() for b in page]
        return JSONResponse({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                             "last_id": data[-1]["id"] if data else None, "has_more": has_more})

    def cancel(request: Request) -> JSONResponse:
        store = batches()
        batch = cancel_batch(store, request.path_params["batch_id"])
        on_change()
        return JSONResponse(batch.to_openai())

    return [Route("/v1/batches", create, methods=["POST"]), Route("/v1/batches", list_batches, methods=["GET"]),
            Route("/v1/batches/{batch_id}", retrieve, methods=["GET"]),
            Route("/v1/batches/{batch_id}/cancel", cancel, methods=["POST"])]


def cancel_batch(store: BatchStore, batch_id: str) -> Batch:
    batch = _get(store, batch_id)
    if batch.status in ("cancelling", "cancelled"):
        return batch  # asking twice is fine
    if not batch.is_active:
        raise bad_request(f"Cannot cancel a batch with status '{batch.status}': it has already ended.", "batch_id")
    return store.request_cancel(batch)


def _get(store: BatchStore, batch_id: str) -> Batch:
    batch = store.get(batch_id)
    if batch is None:
        raise not_found("Batch", batch_id, param="batch_id")
    return batch
