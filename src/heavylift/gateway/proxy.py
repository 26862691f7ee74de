"""A streaming reverse proxy to the engine: every byte the engine sends is passed on as it arrives
(SSE token by token, no buffering), the engine's own key is added, the client's is never forwarded.

The hot path is raw ASGI over a raw asyncio connection: one HTTP/1.1 request per connection to the
engine on loopback, its response read with asyncio's StreamReader and handed to the ASGI `send`
as it comes. A general HTTP client (httpx → httpcore → h11 → anyio) costs several times more CPU
per streamed token, and on a machine whose cores all run the engine every microsecond per token
comes out of the engine's decode speed (bench/gateway_overhead.py measures it).
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from starlette.types import Message, Receive, Scope, Send

from heavylift.gateway.api_errors import ApiError

# Hop-by-hop headers (RFC 9110 7.6.1), the client's credentials, and what we set ourselves.
_DROP_REQUEST = {b"host", b"authorization", b"x-api-key", b"cookie", b"connection", b"keep-alive",
                 b"content-length", b"transfer-encoding", b"te", b"trailer", b"upgrade", b"proxy-authorization",
                 b"accept-encoding", b"expect"}
_DROP_RESPONSE = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade",
                  b"content-length", b"server", b"date", b"access-control-allow-origin"}
_READ_BYTES = 65536
_MAX_HEAD_BYTES = 65536


class UpstreamError(Exception):
    """The engine is unreachable or answered something that is not HTTP/1.1."""


class EngineProxy:
    """An ASGI app forwarding any request to the engine at `base_url`."""

    def __init__(self, base_url: str, api_key: str | None):
        url = urlsplit(base_url)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 80
        self.host_header = url.netloc.encode()
        self.auth = f"Bearer {api_key}".encode() if api_key else None

    async def aclose(self) -> None:
        """Nothing pooled: each request has its own connection, closed when it ends."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytearray()
        while True:  # requests are small (a prompt); read it whole, then send it with a length
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=_MAX_HEAD_BYTES)
        except OSError:
            await _error(send, ApiError(503, "The engine is not answering (it may be restarting); retry in a few "
                                             "seconds.", type="server_error", code="engine_unavailable"))
            return
        try:
            writer.write(self._head(scope, len(body)) + bytes(body))
            relay = asyncio.ensure_future(self._relay(reader, send))
            watch = asyncio.ensure_future(_wait_disconnect(receive))
            done, _ = await asyncio.wait({relay, watch}, return_when=asyncio.FIRST_COMPLETED)
            if relay not in done:  # the client left: dropping the connection makes the engine stop
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await relay
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            error = relay.exception() if relay in done else None
            if error is not None and not isinstance(error, (UpstreamError, OSError)):
                raise error  # a bug; a client gone (OSError from send) or an engine gone is not
        except UpstreamError:
            pass  # the engine died mid-answer: the client sees the stream end
        finally:
            writer.close()

    def _head(self, scope: Scope, length: int) -> bytes:
        path = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            path += b"?" + scope["query_string"]
        lines = [f"{scope['method']} ".encode() + path + b" HTTP/1.1", b"host: " + self.host_header,
                 b"connection: close", b"content-length: " + str(length).encode()]
        if self.auth:
            lines.append(b"authorization: " + self.auth)
        lines += [k + b": " + v for k, v in scope["headers"] if k.lower() not in _DROP_REQUEST]
        return b"\r\n".join(lines) + b"\r\n\r\n"

    async def _relay(self, reader: asyncio.StreamReader, send: Send) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as e:
            await _error(send, ApiError(502, "The engine closed the connection without an answer.",
                                        type="server_error", code="engine_error"))
            raise UpstreamError from e
        status, headers = _parse_head(head)
        out = [(k, v) for k, v in headers if k.lower() not in _DROP_RESPONSE]
        await send({"type": "http.response.start", "status": status, "headers": out})
        names = {k.lower(): v for k, v in headers}
        try:
            if b"chunked" in names.get(b"transfer-encoding", b"").lower():
                await _relay_chunked(reader, send)
            elif b"content-length" in names:
                left = int(names[b"content-length"])
                while left > 0:
                    data = await reader.read(min(left, _READ_BYTES))
                    if not data:
                        raise UpstreamError("short body")
                    left -= len(data)
                    await send({"type": "http.response.body", "body": data, "more_body": True})
            else:
                while data := await reader.read(_READ_BYTES):
                    await send({"type": "http.response.body", "body": data, "more_body": True})
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as e:
            raise UpstreamError from e
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _relay_chunked(reader: asyncio.StreamReader, send: Send) -> None:
    """HTTP/1.1 chunked framing (RFC 9112 7.1) undone; each chunk passed on at once."""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailer fields, if any
                pass
            return
        data = await reader.readexactly(size + 2)
        await send({"type": "http.response.body", "body": data[:-2], "more_body": True})


def _parse_head(head: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise UpstreamError(f"not an HTTP response: {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers.append((k.strip().lower(), v.strip()))
    return int(parts[1]), headers


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _error(send: Send, error: ApiError) -> None:
    import json

    body = json.dumps(error.body()).encode()
    await send({"type": "http.response.start", "status": error.status_code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
