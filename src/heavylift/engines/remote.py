"""Any OpenAI-compatible endpoint we do not run ourselves (another heavylift serve, vLLM, an API)."""

from __future__ import annotations

from heavylift.engines.base import Engine, EngineCapabilities
from heavylift.engines.client import normalize_base_url
from heavylift.engines.registry import register_engine
from heavylift.errors import EndpointError


@register_engine("remote")
class RemoteEngine(Engine):
    name = "remote"

    def __init__(self, base_url: str, api_key: str | None = None):
        # The server root, so messages name `.../v1` once whether or not the user wrote it.
        super().__init__(normalize_base_url(base_url), api_key)
        self.capabilities = EngineCapabilities()

    def start(self) -> None:
        if not self.client.is_healthy():
            raise EndpointError(f"endpoint {self.openai_base_url} is not answering; start it or check the URL")
        self.capabilities = self._probe()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Not ours to stop."""

    def _probe(self) -> EngineCapabilities:
        """A llama-server behind the URL exposes /props; then its extras are usable too."""
        try:
            props = self.client.props()
        except EndpointError:
            return EngineCapabilities()
        return EngineCapabilities(tokenize=True, slot_save=bool(props.get("slot_save_path", True)),
                                  metrics=bool(props.get("endpoint_metrics", False)))
