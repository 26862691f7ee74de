"""A streaming reverse proxy to the engine: every byte the engine sends is passed on as it arrives
(SSE token by token, no buffering), the engine's own key is added, the client's is never forwarded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from heavylift.gateway.api_errors import ApiError

# Hop-by-hop headers (RFC 9110 7.6.1) and what the gateway itself answers for.
_DROP_REQUEST = {"host", "authorization", "x-api-key", "cookie", "connection", "keep-alive", "content-length",
                 "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "accept-encoding"}
_DROP_RESPONSE = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length",
                  "server", "date", "access-control-allow-origin"}


class EngineProxy:
    def __init__(self, base_url: str, api_key: str | None, max_connections: int = 512):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # No read timeout: a long prefill legitimately sends nothing for minutes; the client's own
        # timeout (or its disconnect, which closes the upstream request) bounds it.
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers,
            timeout=httpx.Timeout(None, connect=5.0),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=64))

    async def aclose(self) -> None:
        await self.client.aclose()

    async def forward(self, request: Request) -> Response:
        body = await request.body()
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST]
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        upstream = self.client.build_request(request.method, path, headers=headers, content=body)
        try:
            response = await self.client.send(upstream, stream=True)
        except httpx.TransportError:
            raise ApiError(503, "The engine is not answering (it may be restarting); retry in a few seconds.",
                           type="server_error", code="engine_unavailable") from None
        out_headers = {k: v for k, v in response.headers.items() if k.lower() not in _DROP_RESPONSE}
        return StreamingResponse(_relay(response), status_code=response.status_code, headers=out_headers)


async def _relay(response: httpx.Response) -> AsyncIterator[bytes]:
    """Pass chunks on as they come; closing the upstream when the client goes away makes
    llama-server stop generating for it (it checks the connection between tokens)."""
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    except httpx.TransportError:
        return  # the engine died mid-answer: the client sees the stream end
    finally:
        await response.aclose()
