"""`heavylift worker start`: llama.cpp's ggml-rpc-server, supervised like the other engines."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from pathlib import Path

from heavylift import paths
from heavylift.engines import rpc
from heavylift.engines.base import EngineCapabilities
from heavylift.engines.process import ProcessEngine
from heavylift.errors import EngineError, UsageError

# Address space beyond --mem for the server's code, threads and buffers' bookkeeping (measured:
# an idle ggml-rpc-server maps ~0.3 GiB on x86-64; 1 GiB leaves room).
ADDRESS_SPACE_HEADROOM = 1024**3


@dataclass
class WorkerConfig:
    binary: Path
    host: str = "127.0.0.1"
    port: int = rpc.DEFAULT_PORT
    mem_bytes: int | None = None  # offer at most this much (enforced with an address-space limit)
    num_threads: int | None = None
    log_path: Path | None = None
    is_risk_accepted: bool = False

    def args(self) -> list[str]:
        cmd = [str(self.binary), "-H", self.host, "-p", str(self.port)]
        if self.num_threads:
            cmd += ["-t", str(self.num_threads)]
        return cmd

    @property
    def endpoint(self) -> rpc.WorkerEndpoint:
        return rpc.WorkerEndpoint(self.host, self.port, self.mem_bytes)


class RpcWorker(ProcessEngine):
    """Not an HTTP engine: `base_url` is rpc://HOST:PORT, readiness is the RPC handshake."""

    name = "ggml-rpc-server"
    capabilities = EngineCapabilities()
    max_ready_s = 30.0

    def __init__(self, config: WorkerConfig):
        super().__init__(f"rpc://{config.endpoint}", None, config.log_path)
        self.config = config
        self.info: rpc.WorkerInfo | None = None

    @property
    def command(self) -> list[str]:
        return self.config.args()

    def check_start(self) -> None:
        rpc.check_worker_bind(self.config.host, self.config.is_risk_accepted)
        if self.config.mem_bytes is not None and self.config.mem_bytes < 64 * 1024**2:
            raise UsageError("--mem below 64 MiB leaves a worker no room for any layer; give more")

    def child_setup(self) -> None:
        super().child_setup()
        if self.config.mem_bytes:
            # The pinned rpc-server has no memory option (tools/rpc/rpc-server.cpp): cap its address
            # space so an allocation beyond --mem fails cleanly instead of pushing the host into swap.
            limit = self.config.mem_bytes + ADDRESS_SPACE_HEADROOM
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def is_ready(self) -> bool:
        try:
            self.info = rpc.probe(self.config.endpoint, timeout_s=2.0)
        except EngineError:
            return False
        return True

    def is_healthy(self) -> bool:
        return self.is_running()

    def workers_arg(self) -> str:
        """What to give `heavylift serve --workers` for this worker."""
        mem = self.config.mem_bytes
        if not mem:
            return str(self.config.endpoint)
        unit = next((u for u, n in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)) if mem % n == 0), None)
        size = f"{mem // {'GiB': 1 << 30, 'MiB': 1 << 20, 'KiB': 1 << 10}[unit]}{unit}" if unit else str(mem)
        return f"{self.config.endpoint}={size}"


def worker(host: str, port: int, mem_bytes: int | None, num_threads: int | None, is_risk_accepted: bool) -> RpcWorker:
    from heavylift.setup.engine_build import current_engine

    binary = current_engine().binary("ggml-rpc-server")
    log_path = paths.logs_dir() / f"rpc-worker-{port}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    return RpcWorker(WorkerConfig(binary, host, port, mem_bytes, num_threads, log_path, is_risk_accepted))
