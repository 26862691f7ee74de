"""The engine interface every backend implements (llama-server, a remote endpoint, later vLLM)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from heavylift.engines.client import EngineClient


@dataclass(frozen=True)
class EngineCapabilities:
    tokenize: bool = False  # POST /tokenize with the served model's tokenizer
    slot_save: bool = False  # POST /slots/{id}?action=save|restore (KV cache to disk)
    metrics: bool = False  # GET /metrics (Prometheus)
    json_schema: bool = True  # response_format / json_schema constrained output


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
            self._client = EngineClient(self.base_url, self.api_key)
        return self._client

    @abstractmethod
    def start(self) -> None:
        """Make the engine ready to serve (returns once /health is ready)."""

    @abstractmethod
    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop gracefully; force after timeout_s. Safe to call twice."""

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
