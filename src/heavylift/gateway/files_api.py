"""/v1/files: upload (multipart, streamed to disk, size-limited), list, retrieve, content, delete."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

from heavylift.gateway.api_errors import ApiError, bad_request, not_found
from heavylift.gateway.file_store import FileStore

UPLOAD_PURPOSES = ("batch",)


class _Upload:
    """Streaming multipart reader: the `file` part goes to a .part file, other fields to memory."""

    def __init__(self, part_path: Path, max_bytes: int):
        self.part_path = part_path
        self.max_bytes = max_bytes
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.num_bytes = 0
        self.sha256 = hashlib.sha256()
        self.has_file = False
        self.is_too_big = False
        self._out = None
        self._name = ""
        self._value = bytearray()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}

    def callbacks(self) -> dict[str, Callable]:
        return {"on_part_begin": self._part_begin, "on_part_data": self._part_data, "on_part_end": self._part_end,
                "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
                "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
                "on_header_end": self._header_end, "on_headers_finished": self._headers_finished}

    def _part_begin(self) -> None:
        self._headers = {}
        self._value = bytearray()

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).decode("latin-1").lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == "file":
            self.has_file = True
            raw = options.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw is not None else None
            self._out = open(self.part_path, "wb")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._out is not None:
            self.num_bytes += len(chunk)
            if self.num_bytes > self.max_bytes:
                self.is_too_big = True
                return
            self.sha256.update(chunk)
            self._out.write(chunk)
        elif len(self._value) < 65536:
            self._value.extend(chunk)

    def _part_end(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        elif self._name:
            self.fields[self._name] = self._value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def routes(files: Callable[[], FileStore], max_upload_bytes: int) -> list[Route]:
    """`files` gives the calling thread's FileStore (one SQLite connection per thread)."""

    async def upload(request: Request) -> JSONResponse:
        content_type, options = parse_options_header(request.headers.get("content-type", ""))
        if content_type != b"multipart/form-data" or b"boundary" not in options:
            raise bad_request("Upload the file as multipart/form-data with fields 'file' and 'purpose'.")
        declared = int(request.headers.get("content-length") or 0)
        if declared > max_upload_bytes + 65536:  # multipart framing aside, it cannot fit: say so now
            raise _too_big(max_upload_bytes)
        store = files()
        part = store.new_part()
        upload = _Upload(part, max_upload_bytes)
        parser = MultipartParser(options[b"boundary"], upload.callbacks())
        try:
            async for chunk in request.stream():
                parser.write(chunk)
                if upload.is_too_big:
                    raise _too_big(max_upload_bytes)
            parser.finalize()
            upload.close()
            purpose = upload.fields.get("purpose")
            if not upload.has_file:
                raise bad_request("Missing required parameter: 'file'.", param="file")
            if purpose is None:
                raise bad_request("Missing required parameter: 'purpose'.", param="purpose")
            if purpose not in UPLOAD_PURPOSES:
                raise bad_request(f"Invalid value for 'purpose': this server stores files for the Batch API only "
                                  f"(purpose 'batch'), got '{purpose[:50]}'.", param="purpose")
            record = store.commit(part, upload.filename or "upload.jsonl", purpose, upload.num_bytes,
                                  upload.sha256.hexdigest())
        except ClientDisconnect:
            raise ApiError(400, "The upload was cut off before it was complete; nothing was stored.") from None
        finally:
            upload.close()
            part.unlink(missing_ok=True)  # gone already when committed; otherwise nothing half-stored
        return JSONResponse(record.to_openai())

    def list_files(request: Request) -> JSONResponse:
        q = request.query_params
        limit = _int_param(q.get("limit"), 10000, 1, 10000, "limit")
        order = q.get("order", "desc")
        if order not in ("asc", "desc"):
            raise bad_request("Invalid value for 'order': use 'asc' or 'desc'.", param="order")
        records, has_more = files().list(q.get("purpose"), q.get("after"), limit, order)
        data = [r.to_openai() for r in records]
        return JSONResponse({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                             "last_id": data[-1]["id"] if data else None, "has_more": has_more})

    def retrieve(request: Request) -> JSONResponse:
        return JSONResponse(_get(files(), request.path_params["file_id"]).to_openai())

    def content(request: Request) -> FileResponse:
        store = files()
        record = _get(store, request.path_params["file_id"])
        return FileResponse(store.path(record.id), media_type="application/octet-stream",
                            filename=record.filename)

    def delete(request: Request) -> JSONResponse:
        file_id = request.path_params["file_id"]
        if not files().delete(file_id):
            raise not_found("File", file_id)
        return JSONResponse({"id": file_id, "object": "file", "deleted": True})

    return [Route("/v1/files", upload, methods=["POST"]), Route("/v1/files", list_files, methods=["GET"]),
            Route("/v1/files/{file_id}", retrieve, methods=["GET"]),
            Route("/v1/files/{file_id}", delete, methods=["DELETE"]),
            Route("/v1/files/{file_id}/content", content, methods=["GET"])]


def _get(store: FileStore, file_id: str):
    record = store.get(file_id)
    if record is None:
        raise not_found("File", file_id)
    return record


def _too_big(limit: int) -> ApiError:
    return ApiError(413, f"The file is larger than this server's limit of {limit / 1e6:.0f} MB; nothing was stored. "
                    f"Split it into smaller batch files.", param="file", code="file_too_large")


def _int_param(raw: str | None, default: int, low: int, high: int, name: str) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"Invalid value for '{name}': expected an integer.", param=name) from None
    if not low <= value <= high:
        raise bad_request(f"Invalid value for '{name}': must be between {low} and {high}.", param=name)
    return value
