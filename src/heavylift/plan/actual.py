"""What the engine actually allocated, read from its load log, set beside the plan.

llama.cpp prints one line per buffer at verbosity >= 4 (`-lv 4`):
  load_tensors:   CPU_Mapped model buffer size =    92.10 MiB     (src/llama-model.cpp load_tensors)
  llama_kv_cache:        CPU KV buffer size =    90.00 MiB      (src/llama-kv-cache.cpp)
  llama_context:        CPU  output buffer size =     0.75 MiB  (src/llama-context.cpp output_reserve)
  sched_reserve:        CPU compute buffer size =    17.51 MiB  (src/llama-context.cpp sched_reserve)
CUDA0, CUDA1, ... are GPUs in order; CPU, CPU_Mapped, CUDA_Host and other *_Host buffers are host RAM.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

from heavylift.plan.memory import MemoryBreakdown

MiB = 1 << 20
_LINE = re.compile(r"\s(?P<buf>[A-Za-z0-9_]+(?:\[[^\]\s]*\])?)\s+(?P<kind>model|KV|output|compute|RS) buffer size =\s+(?P<mib>[\d.]+) MiB")
_FIELD = {"model": "weights_bytes", "KV": "kv_cache_bytes", "RS": "recurrent_state_bytes",
          "output": "output_bytes", "compute": "compute_bytes"}
HOST = "host"


@dataclass
class DeviceActual:
    device: str  # "host", "gpu0", "gpu1", ... or an RPC buffer name such as "RPC0[127.0.0.1:50052]"
    breakdown: MemoryBreakdown = field(default_factory=MemoryBreakdown)  # the engine's buffers (no overhead)
    measured_used_bytes: int | None = None  # nvidia-smi memory.used, when there is a GPU

    def sum(self) -> int:
        return self.breakdown.sum()


def device_of(buffer_name: str) -> str:
    """"CUDA1" -> "gpu1"; RPC buffers keep their name (RPC<i>[host:port]); everything else is host memory."""
    m = re.fullmatch(r"(?:CUDA|ROCm|Vulkan|SYCL|MTL|Metal)(\d+)", buffer_name)
    if m:
        return f"gpu{m.group(1)}"
    return buffer_name if buffer_name.startswith("RPC") else HOST


def parse_load_log(text: str) -> dict[str, DeviceActual]:
    """Buffers per device. A restarted engine logs a new load: only the last one counts."""
    text = _last_load(text)
    devices: dict[str, DeviceActual] = {}
    for m in _LINE.finditer(text):
        name = device_of(m["buf"])
        dev = devices.setdefault(name, DeviceActual(name))
        field_name = _FIELD[m["kind"]]
        setattr(dev.breakdown, field_name, getattr(dev.breakdown, field_name) + round(float(m["mib"]) * MiB))
    return devices


def parse_layer_devices(text: str) -> dict[int, str]:
    """Each layer's device from the debug log (`-v`): `load_tensors: layer N assigned to device X`
    (llama-model.cpp load_tensors; layer n_layer is the output layer)."""
    return {int(m[1]): m[2] for m in re.finditer(r"load_tensors: layer\s+(\d+) assigned to device (\S+?),",
                                                 _last_load(text))}


def _last_load(text: str) -> str:
    return text.rsplit("load_model: loading model", 1)[-1]


def nvidia_used_bytes() -> list[int] | None:
    """memory.used per GPU from nvidia-smi, or None without one."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return [int(float(x)) * MiB for x in out.stdout.split()]


@dataclass
class DeviceComparison:
    device: str
    planned_bytes: int
    actual_bytes: int
    is_off: bool  # more than max_rel off

    @property
    def off_fraction(self) -> float:
        return (self.actual_bytes - self.planned_bytes) / self.planned_bytes if self.planned_bytes else 0.0


def compare(planned: dict[str, int], actual: dict[str, DeviceActual], max_rel: float = 0.05) -> list[DeviceComparison]:
    """Planned bytes per device ("host", "gpu0", ...) against the engine's buffers.

    The plan's engine overhead (CUDA context etc.) is not a llama.cpp buffer, so it is compared
    only where nvidia-smi measured the whole process.
    """
    rows = []
    for device in sorted(set(planned) | set(actual)):
        plan_b = planned.get(device, 0)
        dev = actual.get(device)
        act_b = (dev.measured_used_bytes or dev.sum()) if dev else 0
        off = abs(act_b - plan_b) > max_rel * max(plan_b, 1)
        rows.append(DeviceComparison(device, plan_b, act_b, off))
    return rows
