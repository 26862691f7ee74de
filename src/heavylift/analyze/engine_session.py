"""The engine a job runs on: our own engine under the Supervisor, or an endpoint. Knows what the
engine can do (its EngineCapabilities: slot pinning, KV save/restore, tokenizer) and what to record
with each answer."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from heavylift import paths
from heavylift.engines.base import Engine, EngineCapabilities
from heavylift.errors import EndpointError, EngineError

VLLM_IN_FLIGHT = 256


def kv_dir() -> Path:
    """Where saved slots live: the folder `heavylift serve` also gives llama-server."""
    return paths.slots_dir()


@dataclass
class EngineInfo:
    model: str
    quantization: str | None
    engine_version: str | None
    num_slots: int
    n_ctx_slot: int | None  # per-slot context the engine reports (/props)
    capabilities: EngineCapabilities
    can_save_kv: bool  # it can save slots, into the folder we read them from

    @property
    def is_llama_server(self) -> bool:
        """Requests may carry llama-server's own fields (id_slot, cache_prompt, json_schema)."""
        return self.capabilities.dialect == "llama-server"


class EngineSession:
    """Starts (or adopts) an engine and waits through restarts. `owned` engines are stopped on exit."""

    def __init__(self, engine: Engine, say: Callable[[str], None], *, supervised: bool, owned: bool,
                 kv_key: str, restart_wait_s: float = 180.0, endpoint_wait_s: float = 30.0):
        self.engine = engine
        self.say = say
        self.supervisor = None
        self.supervised = supervised
        self.owned = owned
        self.kv_key = kv_key
        self.restart_wait_s = restart_wait_s
        self.endpoint_wait_s = endpoint_wait_s
        self.info: EngineInfo | None = None

    @property
    def client(self):
        return self.engine.client

    @property
    def engine_pid(self) -> int | None:
        return self.engine.pid

    @property
    def restarts(self) -> int:
        return self.supervisor.num_restarts if self.supervisor else 0

    def start(self) -> EngineInfo:
        if self.owned and self.supervised:
            from heavylift.engines.supervisor import Supervisor

            self.supervisor = Supervisor(self.engine, on_event=lambda m: self.say(f"engine: {m}"))
            self.supervisor.start()
        elif self.owned:
            self.engine.start()
        else:
            self.engine.attach()
        self.info = self._probe()
        for fallback in self.info.capabilities.fallbacks():
            self.say(f"analyze: {self.info.capabilities.dialect} engine: {fallback}")
        return self.info

    def stop(self) -> None:
        if not self.owned:
            return
        if self.supervisor:
            self.supervisor.stop()
        else:
            self.engine.stop()

    def _probe(self) -> EngineInfo:
        caps = self.engine.capabilities
        if caps.dialect == "vllm":
            return self._probe_vllm(caps)
        try:
            props = self.client.props() if caps.dialect == "llama-server" else {}
        except EndpointError:
            props = {}
        settings = props.get("default_generation_settings") or {}
        version = None
        if self.owned:
            from heavylift.setup.engine_build import current_engine

            version = f"llama.cpp {current_engine().version}"
        return EngineInfo(
            model=props.get("model_alias") or Path(props.get("model_path", "")).stem or "unknown",
            quantization=props.get("model_ftype"),
            engine_version=version or props.get("build_info"),
            num_slots=int(props.get("total_slots") or 1),
            n_ctx_slot=settings.get("n_ctx") or props.get("n_ctx"),
            capabilities=caps,
            can_save_kv=caps.kv_save and self.engine.slot_save_path == kv_dir(),
        )

    def _probe_vllm(self, caps: EngineCapabilities) -> EngineInfo:
        """vLLM: the served model and its max_model_len from /v1/models, the version from /version."""
        try:
            model = (self.client.get_json("/v1/models").get("data") or [{}])[0]
            version = self.client.get_json("/version").get("version")
        except (EndpointError, ValueError, AttributeError):
            model, version = {}, None
        return EngineInfo(model=model.get("id") or "unknown", quantization=None,
                          engine_version=f"vLLM {version}" if version else None,
                          # no slots: vLLM batches (and queues beyond --max-num-seqs) whatever arrives,
                          # so the job's --parallel alone decides how many requests are in flight
                          num_slots=VLLM_IN_FLIGHT,
                          n_ctx_slot=model.get("max_model_len"), capabilities=caps, can_save_kv=False)

    def kv_file(self, prefix_text: str) -> str:
        """Saved-KV file name: the prefix's content hash + the model and engine settings it depends on."""
        digest = hashlib.sha256(prefix_text.encode()).hexdigest()[:32]
        return f"{digest}-{self.kv_key}.bin"

    def wait_healthy(self, stop: Callable[[], bool]) -> bool:
        """After a failed request: is the engine back? Our own engine gets restart_wait_s to be
        restarted by the Supervisor; an endpoint gets endpoint_wait_s to come back."""
        limit = self.restart_wait_s if self.supervisor else self.endpoint_wait_s
        deadline = time.monotonic() + limit
        told = False
        while time.monotonic() < deadline and not stop():
            if self.supervisor and self.supervisor.failure:
                raise EngineError(self.supervisor.failure)
            if self.engine.is_healthy():
                return True
            if not told:
                what = "engine restarting" if self.supervisor else f"endpoint {self.engine.base_url} is down"
                self.say(f"analyze: {what}; waiting up to {limit:.0f}s, completed work is saved")
                told = True
            time.sleep(0.5)
        return self.engine.is_healthy()


def kv_key(model_name: str, model_path: str | None, engine_args: list[str]) -> str:
    """What a saved KV depends on besides the prefix: the model file and KV-type flags."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in model_name)[:40]
    extra = hashlib.sha256(f"{model_path}|{' '.join(engine_args)}".encode()).hexdigest()[:8]
    return f"{safe}-{extra}"
