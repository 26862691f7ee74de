"""Any OpenAI-compatible endpoint we do not run ourselves (another heavylift serve, vLLM, an API)."""

from __future__ import annotations

from heavylift.engines.base import Engine, EngineCapabilities
from heavylift.engines.client import normalize_base_url
from heavylift.engines.registry import register_engine
from heavylift.errors import EndpointError

VLLM_CAPABILITIES = EngineCapabilities(dialect="vllm", prefix_caching=True, tokenize=True, json_schema=True,
                                       metrics=True)


@register_engine("remote")
class RemoteEngine(Engine):
    name = "remote"

    def __init__(self, base_url: str, api_key: str | None = None):
        # The server root, so messages name `.../v1` once whether or not the user wrote it.
        super().__init__(normalize_base_url(base_url), api_key)
        self.capabilities = EngineCapabilities()

    def start(self) -> None:
        self.attach()

    def attach(self) -> None:
        super().attach()
        self.set_capabilities(probe_capabilities(self))

    def stop(self, timeout_s: float = 15.0) -> None:
        """Not ours to stop."""


def probe_capabilities(engine: Engine) -> EngineCapabilities:
    """What the server behind a URL is: llama-server answers /props; vLLM answers /version with
    its version (vllm/entrypoints/serve/instrumentator/basic.py); anything else is plain OpenAI."""
    client = engine.client
    try:
        props = client.props()
    except EndpointError:
        props = None
    if isinstance(props, dict) and "default_generation_settings" in props:
        # A llama-server without --slot-save-path refuses slot saves; we cannot see its folder.
        return EngineCapabilities(dialect="llama-server", slots=True, kv_save=False, prefix_caching=True,
                                  tokenize=True, metrics=bool(props.get("endpoint_metrics", False)))
    try:
        version = client.get_json("/version")
    except (EndpointError, ValueError):
        version = None
    if isinstance(version, dict) and "version" in version:
        return VLLM_CAPABILITIES
    return EngineCapabilities()
