"""llama.cpp's llama-server as a child process in its own process group (TGI-launcher style)."""

from __future__ import annotations

import shlex
import socket
from dataclasses import dataclass
from pathlib import Path

from heavylift.engines.base import EngineCapabilities
from heavylift.engines.credentials import engine_env, redact_argv
from heavylift.engines.llama_args import LlamaArgs
from heavylift.engines.process import ProcessEngine
from heavylift.engines.registry import register_engine
from heavylift.errors import UsageError

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass
class LlamaServerConfig:
    """How to run the process; what to pass it is `settings` (the one argv builder, engines/llama_args.py)."""

    binary: Path
    settings: LlamaArgs
    log_path: Path | None = None
    max_ready_s: float = 300.0

    def args(self) -> list[str]:
        """The exact command line (also printed, so users can reproduce it by hand)."""
        return self.settings.argv(str(self.binary))

    @property
    def host(self) -> str:
        return self.settings.host or "127.0.0.1"

    @property
    def port(self) -> int:
        return self.settings.port or 8080

    @property
    def api_key(self) -> str | None:
        """Passed as LLAMA_API_KEY in the child's environment, never on argv (engines/credentials.py)."""
        return self.settings.api_key

    @property
    def model_path(self) -> Path:
        return Path(self.settings.model_path)

    @property
    def alias(self) -> str | None:
        return self.settings.alias

    @property
    def slot_save_path(self) -> Path | None:
        return self.settings.slot_save_path


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def check_bind(host: str, port: int, api_key: str | None) -> None:
    """Refuse a public bind without a key, and a port someone else holds."""
    if not is_loopback(host) and not api_key:
        raise UsageError(f"refusing to bind {host} without an API key; set HEAVYLIFT_SERVE_API_KEY "
                         "(or --api-key-file FILE), or bind 127.0.0.1")
    if not 0 < port < 65536:
        raise UsageError(f"port {port} is out of range; choose 1-65535")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        # Like llama-server itself: connections in TIME_WAIT (after an engine crash) do not
        # block the port, a listening socket does.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            raise UsageError(f"port {port} on {host} is already in use; choose another with --port") from None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@register_engine("llama-server")
class LlamaServer(ProcessEngine):
    name = "llama-server"
    capabilities = EngineCapabilities(dialect="llama-server", slots=True, kv_save=True, prefix_caching=True,
                                      tokenize=True, json_schema=True, metrics=True)
    second_sigterm_after_s = 1.0

    def __init__(self, config: LlamaServerConfig):
        host = f"[{config.host}]" if ":" in config.host else config.host
        super().__init__(f"http://{host}:{config.port}", config.api_key, config.log_path)
        self.config = config
        self.max_ready_s = config.max_ready_s

    @property
    def command(self) -> list[str]:
        return self.config.args()

    @property
    def printable_command(self) -> str:
        """The command line to show a user: no secrets (they are not on it, and any flag is masked)."""
        return shlex.join(redact_argv(self.command))

    @property
    def env(self) -> dict[str, str]:
        """The key goes to the child as LLAMA_API_KEY, never on argv (engines/credentials.py)."""
        return engine_env(self.config.api_key)

    @property
    def model_path(self) -> Path:
        return self.config.model_path

    @property
    def served_model(self) -> str | None:
        return self.config.alias

    @property
    def slot_save_path(self) -> Path | None:
        path = self.config.settings.slot_save_path
        return Path(path) if path else None

    def check_start(self) -> None:
        check_bind(self.config.host, self.config.port, self.config.api_key)
        if self.config.settings.rpc_servers:
            # Every worker must answer the handshake first: a restart after a worker died then
            # waits for it (WorkerUnavailable) instead of crashing again and again.
            from heavylift.engines import rpc

            rpc.probe_all(rpc.parse_endpoints(",".join(self.config.settings.rpc_servers)))
