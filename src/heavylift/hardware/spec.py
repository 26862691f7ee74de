"""Parse a hardware spec ("2x rtx-5090, 256GB ddr5-6000 2ch, pcie4") or detect the local machine."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

from heavylift.errors import UsageError
from heavylift.hardware.catalog import (
    DEVICE_ALIASES,
    DEVICES,
    LINKS,
    RAM_DEFAULTS,
    UNIFIED_GPU_FRACTION,
    DeviceSpec,
    GiB,
)
from heavylift.hardware.rig import Rig, ram_bandwidth

# Assumed host CPU when the spec names none: 16 cores x 3.5 GHz x 32 FP32 FLOP/cycle (AVX2: 2 FMA
# units x 8 lanes x 2). Prefill on CPU then gets the calibrated efficiency from plan/speed.py.
DEFAULT_CORES = 16
FLOP_PER_CYCLE = 32
DEFAULT_GHZ = 3.5

_GPU = re.compile(r"^(?:(\d+)\s*[x×*]\s*)?(.+?)$")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(gb|gib|g|tb|tib)$")
_DDR = re.compile(r"^(ddr[45])(?:-(\d{4,5}))?$")
_CH = re.compile(r"^(\d+)\s*-?(?:ch|chan|channel|channels)$")
_CORES = re.compile(r"^(\d+)\s*-?(?:c|cores?)$")


def _norm(text: str) -> str:
    t = re.sub(r"[\s_]+", "-", text.strip().lower())
    for prefix in ("nvidia-", "geforce-", "apple-"):
        t = t.removeprefix(prefix)
    return t


def _device(name: str) -> DeviceSpec | None:
    key = _norm(name)
    key = DEVICE_ALIASES.get(key, key)
    return DEVICES.get(key)


def parse_spec(spec: str) -> Rig:
    """A Rig from a comma-separated spec; an unknown part raises UsageError naming it."""
    if not spec or not spec.strip():
        raise UsageError("empty hardware spec; try --hw local or --hw \"2x rtx-5090, 256GB ddr5-6000 2ch, pcie4\"")
    gpus: list[DeviceSpec] = []
    ram_gb: float | None = None
    ddr, mts, channels, cores = None, None, None, None
    link = None
    for raw in re.split(r"[,+;]", spec):
        part = raw.strip().lower()
        if not part:
            continue
        if re.fullmatch(r"pcie\s*(?:gen)?\s*([345])(?:\.0)?(?:\s*x16)?", part):
            link = "pcie" + re.search(r"[345]", part).group(0)  # type: ignore[union-attr]
            continue
        if part.startswith("nvlink"):
            link = "nvlink"
            continue
        m = _GPU.match(part)
        dev = _device(m.group(2)) if m else None
        if dev is not None:
            count = int(m.group(1) or 1)  # type: ignore[union-attr]
            if count <= 0 or count > 64:
                raise UsageError(f"hardware spec part {raw.strip()!r}: device count must be 1..64")
            gpus.extend([dev] * count)
            continue
        tokens = [t for t in re.split(r"\s+", part.replace("ram", " ").replace("memory", " ")) if t]
        tokens = _join_numbers(tokens)
        understood = bool(tokens)
        for tok in tokens:
            if (s := _SIZE.match(tok)):
                value = float(s.group(1)) * (1024 if s.group(2).startswith("t") else 1)
                if value <= 0:
                    raise UsageError(f"hardware spec part {raw.strip()!r}: memory size must be greater than zero")
                ram_gb = value
            elif (d := _DDR.match(tok)):
                ddr, mts = d.group(1), int(d.group(2)) if d.group(2) else None
            elif (c := _CH.match(tok)):
                channels = int(c.group(1))
            elif (c := _CORES.match(tok)):
                cores = int(c.group(1))
            elif tok in ("cpu", "system", "host"):
                pass
            else:
                understood = False
        if not understood:
            close = ", ".join(list(DEVICES)[:6])
            raise UsageError(f"hardware spec part {raw.strip()!r} not understood; use e.g. '2x rtx-5090', "
                             f"'256GB ddr5-6000 2ch', 'pcie4', '16 cores' (devices: {close}, ...)")
        if channels is not None and channels <= 0 or cores is not None and cores <= 0:
            raise UsageError(f"hardware spec part {raw.strip()!r}: counts must be greater than zero")
    return build_rig(spec.strip(), gpus, ram_gb, ddr, mts, channels, cores, link)


def _join_numbers(tokens: list[str]) -> list[str]:
    """'256 gb' -> '256gb', '2 ch' -> '2ch', '16 cores' -> '16cores'."""
    out: list[str] = []
    for tok in tokens:
        if out and re.fullmatch(r"\d+(?:\.\d+)?", out[-1]) and re.fullmatch(r"[a-z-]+", tok) and not tok.startswith("ddr"):
            out[-1] += tok
        else:
            out.append(tok)
    return out


def build_rig(description: str, gpus: list[DeviceSpec], ram_gb: float | None, ddr: str | None, mts: int | None,
              channels: int | None, cores: int | None, link: str | None) -> Rig:
    assumptions: list[str] = []
    unified = [g for g in gpus if g.kind == "unified"]
    if unified:
        mac = unified[0]
        share = int(mac.memory_bytes * UNIFIED_GPU_FRACTION)
        gpu = dataclasses.replace(mac, memory_bytes=share)
        assumptions.append(f"{mac.name}: GPU may use {UNIFIED_GPU_FRACTION:.0%} of unified memory (Metal's default "
                           "working-set limit; raise it with `sudo sysctl iogpu.wired_limit_mb`)")
        return Rig(description, [gpu], mac.memory_bytes - share, mac.bandwidth_bps, cores or 24,
                   (cores or 24) * 3.5e9 * FLOP_PER_CYCLE, mac.bandwidth_bps, mac.bandwidth_bps, "unified", "unified",
                   f"{mac.name} unified memory ({mac.source})", assumptions)
    if ram_gb is None:
        ram_gb = 128 if gpus else 64
        assumptions.append(f"system RAM not given: assumed {ram_gb:.0f} GB")
    ddr = ddr or "ddr5"
    if mts is None:
        mts = RAM_DEFAULTS[ddr]
        assumptions.append(f"RAM speed not given: assumed {ddr.upper()}-{mts}")
    if channels is None:
        channels = 2
        assumptions.append("RAM channels not given: assumed 2 (desktop dual channel)")
    if cores is None:
        cores = DEFAULT_CORES
        assumptions.append(f"CPU not given: assumed {DEFAULT_CORES} cores at {DEFAULT_GHZ} GHz, AVX2")
    if link is None:
        link = "pcie4"
        if gpus:
            assumptions.append("link not given: assumed PCIe 4.0 x16 per GPU")
    host_link = link if link.startswith("pcie") else "pcie4"
    gpu_link = link
    if link == "nvlink":
        gpu_link = {"a100-40gb": "nvlink3", "a100-80gb": "nvlink3", "h100": "nvlink4", "h200": "nvlink4"}.get(
            gpus[0].key if gpus else "", "nvlink-bridge")
    bw = ram_bandwidth(mts, channels)
    return Rig(description, gpus, int(ram_gb * GiB), bw, cores, cores * DEFAULT_GHZ * 1e9 * FLOP_PER_CYCLE,
               LINKS[host_link][0], LINKS[gpu_link][0], host_link, gpu_link,
               f"{ddr.upper()}-{mts} x {channels} channels = {bw / 1e9:.1f} GB/s peak (MT/s x 8 B x channels)",
               assumptions)


def detect_local() -> Rig:
    """This machine: physical cores and RAM (psutil: Linux and macOS alike), GPUs (nvidia-smi if present)."""
    from heavylift.hardware.local import physical_cores, total_memory_bytes

    cores, counted = physical_cores()
    ram = total_memory_bytes()
    gpus: list[DeviceSpec] = []
    notes = [f"CPU: {cores} {counted}", f"RAM: {ram / GiB:.1f} GiB (psutil)",
             "RAM bandwidth not measurable here without a benchmark: assumed DDR5-4800 x 2 channels"]
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.strip().splitlines():
            name, mem_mib = [x.strip() for x in line.split(",")[:2]]
            dev = _device(name.replace("NVIDIA", "").replace("GeForce", "").strip())
            base = dev or DeviceSpec(_norm(name), name, "gpu", 0, 500e9, 50e12, 300, None,
                                     "nvidia-smi (bandwidth/compute unknown: assumed 500 GB/s, 50 TFLOPS)")
            gpus.append(dataclasses.replace(base, memory_bytes=int(mem_mib) * 1024 * 1024))
            notes.append(f"GPU: {name}, {mem_mib} MiB (nvidia-smi)")
    rig = build_rig("local", gpus, ram / GiB if ram else None, "ddr5", 4800, 2, cores, "pcie4")
    rig.assumptions = notes + rig.assumptions
    return rig


def parse_hw(text: str | None) -> Rig:
    if text is None or text.strip().lower() == "local":
        return detect_local()
    return parse_spec(text)
