"""The engine interface every backend implements (llama-server, vLLM, a remote endpoint).

Callers ask an Engine what it is and what it can do (`capabilities`, `model_path`, `pid`,
`slot_save_path`) instead of probing attributes: one type says which of the extras beyond plain
OpenAI chat a request may use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from heavylift.engines.client import EngineClient

DIALECTS = ("openai", "llama-server", "vllm")


@dataclass(frozen=True)
class EngineCapabilities:
    """What an engine's HTTP API offers beyond OpenAI chat completions."""

    dialect: str = "openai"  # how the extras are spoken: "llama-server" | "vllm" | "openai" (none)
    slots: bool = False  # `id_slot` pins a request to a slot and `cache_prompt` keeps its prefix there
    kv_save: bool = False  # POST /slots/{id}?action=save|restore (a slot's KV cache to/from disk)
    prefix_caching: bool = False  # the engine reuses a prompt prefix it has seen, on its own (vLLM APC)
    tokenize: bool = False  # tokens counted with the served model's own tokenizer and chat template
    json_schema: bool = True  # output constrained to a JSON Schema (llama-server `json_schema`, else response_format)
    metrics: bool = False  # GET /metrics (Prometheus)

    def __post_init__(self) -> None:
        if self.dialect not in DIALECTS:
            raise ValueError(f"unknown engine dialect {self.dialect!r}")

    def fallbacks(self) -> list[str]:
        """What a batch job does without each missing extra (said once, at the start)."""
        out = []
        if not self.slots:
            out.append("no slot pinning: requests go wherever the engine puts them"
                       + ("; shared document prefixes are reused by its automatic prefix caching"
                          if self.prefix_caching else "; shared prefixes may be recomputed"))
        if not self.kv_save:
            out.append("no KV save/restore: a restart or a later job recomputes each document's prefix"
                       + (" (or finds it in the engine's prefix cache while it is warm)" if self.prefix_caching else ""))
        if not self.tokenize:
            out.append("no tokenizer endpoint: prompt sizes are not checked before sending")
        return out


class Engine(ABC):
    """Something that serves an OpenAI-compatible API at `base_url`."""

    name: str = "engine"
    capabilities = EngineCapabilities()

    def __init__(self, base_url: str, api_key: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self._client: EngineClient | None = None

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def client(self) -> EngineClient:
        if self._client is None:
            self._client = EngineClient(self.base_url, self.api_key, dialect=self.capabilities.dialect)
        return self._client

    def set_capabilities(self, capabilities: EngineCapabilities) -> None:
        """For engines that learn what they are only once reached (a remote endpoint)."""
        self.capabilities = capabilities
        if self._client is not None:
            self._client.dialect = capabilities.dialect

    @property
    def model_path(self) -> Path | None:
        """The weights it serves (a GGUF file or a Hugging Face folder); None when unknown (an endpoint)."""
        return None

    @property
    def served_model(self) -> str | None:
        """The model name clients send (llama-server --alias, vLLM --served-model-name)."""
        return None

    @property
    def pid(self) -> int | None:
        """The engine process, for engines we run; None otherwise."""
        return None

    @property
    def slot_save_path(self) -> Path | None:
        """Where the engine writes saved slots (KV files); None when it cannot or we do not know."""
        return None

    @abstractmethod
    def start(self) -> None:
        """Make the engine ready to serve (returns once it answers)."""

    @abstractmethod
    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop gracefully; force after timeout_s. Safe to call twice."""

    def attach(self) -> None:
        """Use an engine someone else started: check that it answers (a remote one also learns
        what it is). Raises EndpointError when it does not."""
        if not self.is_healthy():
            from heavylift.errors import EndpointError

            raise EndpointError(f"endpoint {self.openai_base_url} is not answering; start it or check the URL")

    def is_healthy(self) -> bool:
        return self.client.is_healthy()

    def is_running(self) -> bool:
        """For engines we own: is the process alive. Remote engines: assumed yes."""
        return True

    def describe(self) -> str:
        return f"{self.name} at {self.openai_base_url}"

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._client is not None:
            self._client.close()
