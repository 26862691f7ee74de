"""vLLM's OpenAI server as a supervised child process (same supervision as llama-server)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx

from heavylift.engines.base import EngineCapabilities
from heavylift.engines.credentials import engine_env
from heavylift.engines.llama_server import check_bind
from heavylift.engines.process import ProcessEngine
from heavylift.engines.registry import register_engine
from heavylift.engines.vllm_args import VllmArgs

# vLLM reads its --api-key from VLLM_API_KEY (vllm/envs.py): the key never goes on argv, where
# every local user could read it.
API_KEY_VAR = "VLLM_API_KEY"


@dataclass
class VllmServerConfig:
    python: Path  # the python of the venv vLLM is installed in
    settings: VllmArgs
    api_key: str | None = None
    log_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # e.g. VLLM_CPU_KVCACHE_SPACE for the CPU build
    max_ready_s: float = 900.0  # the CPU build takes ~75 s on an idle 2-core machine, far more when loaded

    @property
    def host(self) -> str:
        return self.settings.host or "127.0.0.1"

    @property
    def port(self) -> int:
        return self.settings.port or 8000

    def args(self) -> list[str]:
        return self.settings.module_argv(str(self.python))


@register_engine("vllm")
class VllmServer(ProcessEngine):
    name = "vllm"

    def __init__(self, config: VllmServerConfig):
        host = f"[{config.host}]" if ":" in config.host else config.host
        super().__init__(f"http://{host}:{config.port}", config.api_key, config.log_path)
        self.config = config
        self.max_ready_s = config.max_ready_s
        # No slots and no KV files: vLLM's automatic prefix caching reuses shared prompt prefixes
        # (a document asked several questions) while they stay in its cache.
        self.capabilities = EngineCapabilities(dialect="vllm", prefix_caching=bool(config.settings.is_prefix_caching),
                                               tokenize=True, json_schema=True, metrics=True)

    @property
    def command(self) -> list[str]:
        return self.config.args()

    @property
    def model_path(self) -> Path:
        return Path(self.config.settings.model)

    @property
    def served_model(self) -> str | None:
        return self.config.settings.served_model_name

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in engine_env(None).items() if k != API_KEY_VAR}  # no stray keys of ours
        # Weights are local: never reach for the Hugging Face hub, and send no usage statistics.
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1",
                   **self.config.env)
        if self.config.api_key:
            env[API_KEY_VAR] = self.config.api_key
        return env

    def check_start(self) -> None:
        check_bind(self.config.host, self.config.port, self.config.api_key)

    def is_ready(self) -> bool:
        """Ready when /health and /v1/models both answer 200 (the engine core is up and the model listed)."""
        try:
            return all(self.client.http.get(p, timeout=2.0).status_code == 200 for p in ("/health", "/v1/models"))
        except httpx.HTTPError:  # connection refused while it loads
            return False
