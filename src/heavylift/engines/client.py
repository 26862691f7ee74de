"""HTTP client for an OpenAI-compatible engine, plus the engines' own endpoints.

All traffic to engines goes through here; failures become one-line EndpointErrors. `dialect`
(the engine's EngineCapabilities.dialect) says how the extras are spoken: llama-server's
/tokenize + /apply-template, or vLLM's /tokenize (tools/server/README.md; vLLM
entrypoints/serve/tokenize/protocol.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from heavylift.errors import EndpointError, UsageError

DEFAULT_TIMEOUT_S = 600.0


def normalize_base_url(url: str, flag: str = "--endpoint") -> str:
    """The server root of an OpenAI-compatible URL (`http://h:p/v1` -> `http://h:p`); UsageError if
    it is not an http(s) URL with a host."""
    text = (url or "").strip()
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host or any(c.isspace() for c in text):
        raise UsageError(f"{flag} {url!r} is not a URL; give one like http://127.0.0.1:8080/v1")
    root = text.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root


@dataclass
class ChatResult:
    """One completed chat request with the engine's own accounting (llama-server `timings`)."""

    text: str
    model: str = ""
    finish_reason: str | None = None
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    prefill_ms: float | None = None
    decode_ms: float | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_tps(self) -> float | None:
        computed = self.prompt_tokens - self.cached_tokens
        return computed / self.prefill_ms * 1000 if self.prefill_ms else None

    @property
    def decode_tps(self) -> float | None:
        return self.completion_tokens / self.decode_ms * 1000 if self.decode_ms else None


class EngineClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 dialect: str = "llama-server"):
        self.dialect = dialect
        self.base_url = base_url.rstrip("/")
        if self.base_url.endswith("/v1"):
            self.base_url = self.base_url[: -len("/v1")]
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout_s = timeout_s
        self.http = httpx.Client(base_url=self.base_url, headers=headers,
                                 timeout=httpx.Timeout(timeout_s, connect=5.0))

    def set_timeout(self, timeout_s: float) -> None:
        """Seconds to wait for an answer (a large model's first token can take many minutes)."""
        self.timeout_s = timeout_s
        self.http.timeout = httpx.Timeout(timeout_s, connect=5.0)

    def _timed_out(self, path: str) -> EndpointError:
        return EndpointError(f"{self.base_url}{path}: no answer within the timeout of {self.timeout_s:g} s; "
                             "if the model is just slow, raise --timeout", is_timeout=True)

    def close(self) -> None:
        self.http.close()

    # -- plumbing -------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise EndpointError(f"cannot connect to {self.base_url}; is the engine running? (start one with `heavylift serve`)") from None
        except httpx.TimeoutException:
            raise self._timed_out(path) from None
        except httpx.HTTPError as e:
            raise EndpointError(f"{self.base_url}{path}: {e.__class__.__name__}: {e}") from None
        if response.status_code >= 400:
            raise EndpointError(f"{self.base_url}{path} answered {response.status_code}: {_error_text(response)}",
                                status_code=response.status_code)
        return response

    def get_json(self, path: str) -> Any:
        return self._request("GET", path).json()

    def post_json(self, path: str, body: dict[str, Any]) -> Any:
        return self._request("POST", path, json=body).json()

    # -- OpenAI-compatible ----------------------------------------------------------------
    def is_healthy(self) -> bool:
        """llama-server: /health is 200 once the model is loaded (503 while loading)."""
        for path in ("/health", "/v1/models"):
            try:
                if self.http.get(path, timeout=2.0).status_code == 200:
                    return True
            except httpx.HTTPError:
                return False
        return False

    def models(self) -> list[str]:
        return [m.get("id", "") for m in self.get_json("/v1/models").get("data", [])]

    def chat(self, messages: list[dict[str, str]], **params: Any) -> ChatResult:
        body = {"messages": messages, **params, "stream": False}
        data = self.post_json("/v1/chat/completions", body)
        choice = (data.get("choices") or [{}])[0]
        return _result(choice.get("message", {}).get("content") or "", choice.get("finish_reason"), data)

    def chat_stream(self, messages: list[dict[str, str]], **params: Any) -> Iterator[str | ChatResult]:
        """Yields text pieces as they arrive, then one final ChatResult."""
        return self._stream("/v1/chat/completions", {"messages": messages, **params},
                            lambda choice: (choice.get("delta") or {}).get("content"))

    def completion_stream(self, prompt: str | list[int], **params: Any) -> Iterator[str | ChatResult]:
        """POST /v1/completions streamed (a raw prompt: text, or token ids where the engine takes
        them). Yields text pieces as they arrive, then one final ChatResult (usage + timings)."""
        return self._stream("/v1/completions", {"prompt": prompt, **params}, lambda choice: choice.get("text"))

    def _stream(self, path: str, body: dict[str, Any],
                piece_of: Callable[[dict[str, Any]], str | None]) -> Iterator[str | ChatResult]:
        """One streamed OpenAI request: the pieces `piece_of` finds in each choice, then a ChatResult
        with the usage, timings and model of the last chunks that carried them."""
        body = {**body, "stream": True, "stream_options": {"include_usage": True}}
        pieces: list[str] = []
        last: dict[str, Any] = {}
        finish = None
        try:
            with self.http.stream("POST", path, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise EndpointError(f"{self.base_url} answered {response.status_code}: {_error_text(response)}",
                                        status_code=response.status_code)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    chunk = json.loads(payload)
                    last = {**last, **{k: v for k, v in chunk.items() if k in ("usage", "timings", "model")}}
                    for choice in chunk.get("choices") or []:
                        finish = choice.get("finish_reason") or finish
                        piece = piece_of(choice)
                        if piece:
                            pieces.append(piece)
                            yield piece
        except httpx.ConnectError:
            raise EndpointError(f"cannot connect to {self.base_url}; is the engine running? (start one with `heavylift serve`)") from None
        except httpx.TimeoutException:
            raise self._timed_out(path) from None
        except httpx.HTTPError as e:
            raise EndpointError(f"{self.base_url}: the answer's stream broke off ({e.__class__.__name__}); "
                                "is the engine still running?") from None
        yield _result("".join(pieces), finish, last)

    # -- tokens: llama-server and vLLM ----------------------------------------------------
    def tokenize(self, text: str, add_special: bool = False) -> list[int]:
        if self.dialect == "vllm":
            return self.post_json("/tokenize", {"prompt": text, "add_special_tokens": add_special})["tokens"]
        return self.post_json("/tokenize", {"content": text, "add_special": add_special})["tokens"]

    def count_chat_tokens(self, messages: list[dict[str, str]]) -> int:
        """Prompt tokens of a chat request, chat template and special tokens included, counted the
        way the engine itself will (llama-server: /apply-template then /tokenize with specials;
        vLLM: /tokenize with the messages)."""
        if self.dialect == "vllm":
            return int(self.post_json("/tokenize", {"messages": messages, "add_generation_prompt": True})["count"])
        return len(self.tokenize(self.apply_template(messages), add_special=True))

    def context_tokens(self) -> int | None:
        """Context of one request (a llama-server slot: /props; vLLM: max_model_len in /v1/models)."""
        try:
            if self.dialect == "vllm":
                return (self.get_json("/v1/models").get("data") or [{}])[0].get("max_model_len")
            props = self.props()
        except (EndpointError, ValueError, AttributeError):
            return None
        return (props.get("default_generation_settings") or {}).get("n_ctx") or props.get("n_ctx")

    # -- llama-server specific ------------------------------------------------------------

    def apply_template(self, messages: list[dict[str, str]]) -> str:
        return self.post_json("/apply-template", {"messages": messages})["prompt"]

    def props(self) -> dict[str, Any]:
        return self.get_json("/props")

    def slots(self) -> list[dict[str, Any]]:
        return self.get_json("/slots")

    def slot_save(self, slot_id: int, filename: str) -> dict[str, Any]:
        return self.post_json(f"/slots/{slot_id}?action=save", {"filename": filename})

    def slot_restore(self, slot_id: int, filename: str) -> dict[str, Any]:
        return self.post_json(f"/slots/{slot_id}?action=restore", {"filename": filename})

    def slot_erase(self, slot_id: int) -> dict[str, Any]:
        return self.post_json(f"/slots/{slot_id}?action=erase", {})


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
        err = data.get("error", data)
        return str(err.get("message", err) if isinstance(err, dict) else err)[:300]
    except ValueError:
        return response.text[:300].replace("\n", " ")


def _result(text: str, finish: str | None, data: dict[str, Any]) -> ChatResult:
    usage = data.get("usage") or {}
    timings = data.get("timings") or {}
    details = usage.get("prompt_tokens_details") or {}
    prompt = usage.get("prompt_tokens") or 0
    cached = timings.get("cache_n", details.get("cached_tokens", 0)) or 0
    if timings and "prompt_n" in timings:
        prompt = timings["prompt_n"] + cached
    return ChatResult(
        text=text,
        model=data.get("model", ""),
        finish_reason=finish,
        prompt_tokens=prompt,
        cached_tokens=cached,
        completion_tokens=usage.get("completion_tokens") or timings.get("predicted_n") or 0,
        prefill_ms=timings.get("prompt_ms"),
        decode_ms=timings.get("predicted_ms"),
        raw=data,
    )
