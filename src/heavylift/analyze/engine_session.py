"""The engine a job runs on: our own engine under the Supervisor, or an endpoint. Knows what the
engine can do (its EngineCapabilities: slot pinning, KV save/restore, tokenizer) and what to record
with each answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from heavylift.analyze.kv_cache import (
    cache_key,
    kv_dir,
    kv_file_name,
    local_build_id,
    model_fingerprint,
)
from heavylift.engines.base import Engine, EngineCapabilities
from heavylift.errors import EndpointError, EngineError

__all__ = ["EngineInfo", "EngineSession", "kv_dir"]

VLLM_IN_FLIGHT = 256


@dataclass
class EngineInfo:
    model: str
    quantization: str | None
    engine_version: str | None
    num_slots: int
    n_ctx_slot: int | None  # per-slot context the engine reports (/props), after llama-server's caps
    n_ctx_train: int | None  # the model's trained context (llama-server caps each slot there)
    architecture: str | None  # general.architecture of the model file (None: unknown, an endpoint)
    model_path: Path | None
    capabilities: EngineCapabilities
    can_save_kv: bool  # it can save slots, into the folder we read them from

    @property
    def is_llama_server(self) -> bool:
        """Requests may carry llama-server's own fields (id_slot, cache_prompt, json_schema)."""
        return self.capabilities.dialect == "llama-server"


class EngineSession:
    """Starts (or adopts) an engine and waits through restarts. `owned` engines are stopped on exit."""

    def __init__(self, engine: Engine, say: Callable[[str], None], *, supervised: bool, owned: bool,
                 engine_args: list[str] | None = None, restart_wait_s: float = 180.0, endpoint_wait_s: float = 30.0):
        self.engine = engine
        self.say = say
        self.supervisor = None
        self.supervised = supervised
        self.owned = owned
        self.engine_args = list(engine_args or [])
        self.restart_wait_s = restart_wait_s
        self.endpoint_wait_s = endpoint_wait_s
        self.info: EngineInfo | None = None
        self.kv_key: str | None = None  # set by start() when saved KV can be used

    @property
    def client(self):
        return self.engine.client

    @property
    def engine_pid(self) -> int | None:
        return self.engine.pid

    @property
    def model_path(self) -> Path | None:
        return self.engine.model_path

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
        if self.info.can_save_kv and self.info.model_path:
            self.kv_key = cache_key(model_fingerprint(self.info.model_path), self._build_id(),
                                    self.engine_args, self.info.n_ctx_slot or 0, self.info.num_slots)
        return self.info

    def stop(self) -> None:
        if not self.owned:
            return
        if self.supervisor:
            self.supervisor.stop()
        else:
            self.engine.stop()

    def _build_id(self) -> str:
        """The engine build a saved state came from: version, backend and build flags for our own."""
        if self.owned:
            return local_build_id()
        return (self.info.engine_version if self.info else None) or "unknown"

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
        path = self.model_path or (Path(props["model_path"]) if props.get("model_path") and self.owned else None)
        arch = n_ctx_train = None
        if path is not None:
            try:
                from heavylift.models.gguf_file import GGUFFile

                gguf = GGUFFile.read(path)
                arch = gguf.architecture
                n_ctx_train = gguf.get(f"{arch}.context_length")
            except Exception:  # a header we cannot read only costs us these two facts
                pass
        if n_ctx_train is None and caps.dialect == "llama-server":
            n_ctx_train = _n_ctx_train_of(self.client)
        return EngineInfo(
            model=props.get("model_alias") or Path(props.get("model_path", "")).stem or "unknown",
            quantization=props.get("model_ftype"),
            engine_version=version or props.get("build_info"),
            num_slots=int(props.get("total_slots") or 1),
            n_ctx_slot=settings.get("n_ctx") or props.get("n_ctx"),
            n_ctx_train=n_ctx_train, architecture=arch, model_path=path,
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
                          n_ctx_slot=model.get("max_model_len"), n_ctx_train=None, architecture=None,
                          model_path=self.model_path, capabilities=caps, can_save_kv=False)

    def kv_file(self, prefix_text: str) -> str | None:
        """Saved-KV file name for this prefix on this exact model, engine build and layout (None: no saving)."""
        return kv_file_name(prefix_text, self.kv_key) if self.kv_key else None

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
                what = "engine restarting" if self.supervisor else f"endpoint {self.engine.openai_base_url} is down"
                self.say(f"analyze: {what}; waiting up to {limit:.0f}s, completed work is saved")
                told = True
            time.sleep(0.5)
        return not stop() and self.engine.is_healthy()


def _n_ctx_train_of(client) -> int | None:
    """llama-server lists the model's trained context in /v1/models (data[0].meta.n_ctx_train)."""
    try:
        data = client.get_json("/v1/models").get("data") or [{}]
        return (data[0].get("meta") or {}).get("n_ctx_train")
    except (EndpointError, ValueError, AttributeError):
        return None
