"""Clients' keys, checked at the gateway (constant-time), for the API and the dashboard alike.

API clients send `Authorization: Bearer KEY` (or `X-Api-Key`). A browser passes the key once as
`/?key=KEY` (as Jupyter does with its token); it gets an HttpOnly, SameSite=Strict cookie holding a
token derived from the key (not the key itself) and is redirected to the same page without it.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from heavylift.gateway.api_errors import ApiError

COOKIE = "heavylift_session"
PUBLIC_PATHS = {"/health", "/v1/health"}  # like llama-server's own public endpoints
_PAGE_PREFIXES = ("/dashboard", "/static")


def session_token(key: str) -> str:
    return hmac.new(key.encode(), b"heavylift-dashboard-session", hashlib.sha256).hexdigest()


class KeyCheck:
    def __init__(self, keys: list[str]):
        self.keys = [k.encode() for k in keys]
        self.tokens = [session_token(k).encode() for k in keys]

    @property
    def is_open(self) -> bool:
        return not self.keys

    @staticmethod
    def _matches(given: str | None, wanted: list[bytes]) -> bool:
        if not given:
            return False
        value = given.encode()
        # Compare against every key, always: the time taken says nothing about which one is close.
        return sum(hmac.compare_digest(value, w) for w in wanted) > 0

    def key_ok(self, given: str | None) -> bool:
        return self._matches(given, self.keys)

    def token_ok(self, given: str | None) -> bool:
        return self._matches(given, self.tokens)


def _bearer(headers: Headers) -> str | None:
    value = headers.get("authorization", "")
    if value[:7].lower() == "bearer ":
        return value[7:].strip()
    return headers.get("x-api-key")


def _cookie(headers: Headers) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return None


def is_page(path: str) -> bool:
    return path == "/" or path.startswith(_PAGE_PREFIXES)


class AuthMiddleware:
    """Pure ASGI (no per-request buffering), so streaming responses pass through untouched."""

    def __init__(self, app: ASGIApp, check: KeyCheck):
        self.app = app
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or self.check.is_open or scope["path"] in PUBLIC_PATHS
                or scope["path"].startswith("/static/")):  # stylesheet and script: no data in them
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path = scope["path"]
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if is_page(path) and "key" in query:
            await self._login(scope, receive, send, query)
            return
        if self.check.key_ok(_bearer(headers)) or self.check.token_ok(_cookie(headers)):
            await self.app(scope, receive, send)
            return
        if is_page(path):
            page = HTMLResponse(_LOGIN_PAGE, status_code=401)
            await page(scope, receive, send)
            return
        given = _bearer(headers)
        message = ("Incorrect API key provided." if given else
                   "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.")
        error = ApiError(401, message, code="invalid_api_key" if given else None)
        await error.response()(scope, receive, send)

    async def _login(self, scope: Scope, receive: Receive, send: Send, query: dict[str, str]) -> None:
        key = query.pop("key")
        if not self.check.key_ok(key):
            await HTMLResponse(_LOGIN_PAGE.replace("<!--why-->", "<p>That key is not right.</p>"),
                               status_code=401)(scope, receive, send)
            return
        target = scope["path"] + (f"?{urlencode(query)}" if query else "")
        response = RedirectResponse(target, status_code=303)  # the key leaves the address bar
        response.set_cookie(COOKIE, session_token(key), httponly=True, samesite="strict", path="/")
        await response(scope, receive, send)


_LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>heavylift: key needed</title>
<link rel="stylesheet" href="/static/dashboard.css"></head><body><main>
<h1>heavylift</h1><!--why--><p>This server needs its API key. Open <code>/?key=YOUR_KEY</code> once;
the browser then keeps a session cookie.</p></main></body></html>"""
