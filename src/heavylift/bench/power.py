"""Power drawn while a bench runs, where the hardware tells: NVIDIA GPUs through nvidia-smi
(`power.draw`, board power in W; averaged over one second on Ampere and newer, per NVML's
nvmlDeviceGetPowerUsage), the CPU package and DRAM through RAPL energy counters
(`/sys/class/powercap/intel-rapl:*/energy_uj`, readable by root on most kernels). Nothing else is
guessed here: where neither is readable the reading says so, and `heavylift cost` falls back to
TDP x utilisation, marked as an estimate.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

POWERCAP = Path("/sys/class/powercap")


@dataclass
class PowerReading:
    """Mean power over a window, per source, and the sum (what the machine drew that we can see)."""

    seconds: float = 0.0
    mean_w: float | None = None
    by_source_w: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    sources: list[str] = field(default_factory=list)  # "rapl: package-0, dram", "nvidia-smi: 2 GPUs"
    note: str = ""

    @classmethod
    def from_dict(cls, data: dict | None) -> PowerReading | None:
        if not data:
            return None
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class _RaplDomain:
    name: str
    energy: Path
    max_uj: int


def rapl_domains(root: Path = POWERCAP) -> list[_RaplDomain]:
    """Package and DRAM domains whose counters we can read (psys is skipped: it would double count)."""
    found = []
    for zone in sorted(root.glob("intel-rapl:*")):
        try:
            name = (zone / "name").read_text().strip()
            int((zone / "energy_uj").read_text())
            max_uj = int((zone / "max_energy_range_uj").read_text())
        except (OSError, ValueError):
            continue
        if name.startswith("package") or name == "dram":
            found.append(_RaplDomain(name, zone / "energy_uj", max_uj))
    return found


class PowerSampler:
    """Start before the measured work, stop after: RAPL energy deltas and nvidia-smi samples."""

    def __init__(self, interval_s: float = 0.5, powercap: Path = POWERCAP):
        self.interval_s = interval_s
        self.rapl = rapl_domains(powercap)
        self.has_nvidia = bool(shutil.which("nvidia-smi"))
        self._gpu_samples: list[float] = []
        self._rapl_start: list[int] = []
        self._rapl_uj = [0] * len(self.rapl)
        self._started = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_available(self) -> bool:
        return bool(self.rapl) or self.has_nvidia

    def start(self) -> PowerSampler:
        self._started = time.monotonic()
        self._rapl_start = [_read_uj(d) for d in self.rapl]
        self._last = list(self._rapl_start)
        self._stop.clear()
        if self.is_available:
            self._thread = threading.Thread(target=self._loop, name="power-sampler", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._poll_rapl()
            if self.has_nvidia:
                watts = nvidia_power_w()
                if watts is not None:
                    self._gpu_samples.append(watts)

    def _poll_rapl(self) -> None:
        # Counters wrap at max_energy_range_uj: accumulate deltas often enough to see every wrap.
        for i, d in enumerate(self.rapl):
            now = _read_uj(d)
            delta = now - self._last[i]
            self._rapl_uj[i] += delta if delta >= 0 else delta + d.max_uj
            self._last[i] = now

    def stop(self) -> PowerReading:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self._poll_rapl()
        seconds = time.monotonic() - self._started
        by_source: dict[str, float] = {}
        sources = []
        if self.rapl and seconds > 0:
            for d, uj in zip(self.rapl, self._rapl_uj, strict=True):
                by_source[f"rapl {d.name}"] = uj / 1e6 / seconds
            sources.append("rapl: " + ", ".join(d.name for d in self.rapl))
        if self._gpu_samples:
            by_source["gpus (nvidia-smi)"] = sum(self._gpu_samples) / len(self._gpu_samples)
            sources.append("nvidia-smi power.draw")
        if not by_source:
            return PowerReading(seconds, note="no power counter readable here (no nvidia-smi; RAPL absent or "
                                              "not readable: /sys/class/powercap/intel-rapl:*/energy_uj)")
        return PowerReading(seconds, sum(by_source.values()), by_source, len(self._gpu_samples), sources,
                            "CPU package + DRAM (RAPL) and GPU boards (nvidia-smi); the rest of the machine "
                            "(PSU losses, fans, disks) is not seen")


def nvidia_power_w() -> float | None:
    """Sum of `power.draw` over the GPUs, in W (None when not reported)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=power.draw", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    values = []
    for line in out.splitlines():
        try:
            values.append(float(line.strip()))
        except ValueError:
            continue  # "[N/A]" on boards without a power sensor
    return sum(values) if values else None


def _read_uj(d: _RaplDomain) -> int:
    try:
        return int(d.energy.read_text())
    except (OSError, ValueError):
        return 0
