"""Parse a hardware spec ("2x rtx-5090, 256GB ddr5-6000 2ch, pcie4") or detect the local machine.

A spec is comma-separated parts, each one of:
  `[N x] DEVICE`            a catalog device (`heavylift plan --list-hardware`); `0x` = no GPU
  `radxa-dragon-q8b`        a CPU-only board of the catalog (HOSTS): the spec parts it stands for
  `256GB ddr5-6000 8ch`     system RAM: size, generation and speed, channels (per socket, 64-bit each)
  `8GB lpddr4x-4266 128-bit` soldered LPDDR: the bus width in bits instead of channels (128-bit = 2ch)
  `102GB/s`                 a MEASURED RAM bandwidth (e.g. STREAM triad), used instead of the peak
  `64 cores`, `2 sockets`   physical CPU cores (all sockets) and sockets; `avx512` / `avx2` / `neon`
  `4 little`                of those cores, the efficiency cores (Arm LITTLE: Cortex-A55/A520; Intel E-cores)
  `pcie3|pcie4|pcie5|nvlink` the links; `cuda|rocm|vulkan|metal|sycl` the llama.cpp backend
  `120GB gpu`               unified memory: the share the GPU may use (Metal wired limit, GTT size)
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

from heavylift.errors import UsageError
from heavylift.hardware.catalog import (
    BACKENDS,
    DEVICE_ALIASES,
    DEVICES,
    HOSTS,
    LINKS,
    RAM_DEFAULTS,
    DeviceSpec,
    GiB,
    HostSpec,
    closest,
)
from heavylift.hardware.rig import Rig, ram_bandwidth

# Assumed host CPU when the spec names none: 16 cores at 3.5 GHz with AVX2 (2 FMA units x 8 FP32
# lanes x 2 = 32 FLOP/cycle; AVX-512: 64; NEON: 2 x 4 x 2 = 16). Recorded in the rig; the speed
# model's CPU rates live in plan/speed_params.py.
DEFAULT_CORES = 16
DEFAULT_GHZ = 3.5
FLOP_PER_CYCLE = {"avx2": 32, "avx512": 64, "neon": 16}

_GPU = re.compile(r"^(?:(\d+)\s*[x×*]\s*)?(.+?)$")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(gb|gib|g|tb|tib)$")
_RATE = re.compile(r"^(\d+(?:\.\d+)?)\s*(gb/s|gbps|gib/s|gb/sec)$")
_DDR = re.compile(r"^(ddr[345]|lpddr4x?|lpddr5x?)(?:-(\d{4,5}))?$")
_CH = re.compile(r"^(\d+)\s*-?(?:ch|chan|channel|channels)$")
_BUS = re.compile(r"^(\d+)\s*-?bits?$")  # a memory bus width: 64 bits = one channel of the arithmetic
_CORES = re.compile(r"^(\d+)\s*-?(?:c|cores?)$")
_SOCKETS = re.compile(r"^(\d+)\s*-?(?:s|sockets?|numa)$")
_LITTLE = re.compile(r"^(\d+)\s*-?(?:little|e-?cores?|efficiency)(?:\s*-?cores?)?$")


def _norm(text: str) -> str:
    t = re.sub(r"[\s_]+", "-", text.strip().lower())
    for prefix in ("nvidia-", "geforce-", "apple-", "amd-", "radeon-"):
        if t not in DEVICES:
            t = t.removeprefix(prefix)
    return t


def _device(name: str) -> DeviceSpec | None:
    key = _norm(name)
    key = DEVICE_ALIASES.get(key, key)
    return DEVICES.get(key)


@dataclasses.dataclass
class _Parts:
    gpus: list[DeviceSpec] = dataclasses.field(default_factory=list)
    no_gpu: bool = False
    ram_gb: float | None = None
    ddr: str | None = None
    mts: int | None = None
    channels: int | None = None
    measured_gbs: float | None = None
    cores: int | None = None
    little: int = 0
    host: HostSpec | None = None  # a CPU-only board of the catalog: its measured power and price
    sockets: int | None = None
    simd: str | None = None
    link: str | None = None
    backend: str | None = None
    gpu_gb: float | None = None


def parse_spec(spec: str) -> Rig:
    """A Rig from a comma-separated spec; an unknown part raises UsageError naming it."""
    if not spec or not spec.strip():
        raise UsageError("empty hardware spec; try --hw local or --hw \"2x rtx-5090, 256GB ddr5-6000 2ch, pcie4\"")
    p = _Parts()
    for raw in re.split(r"[,+;]", spec):
        part = raw.strip().lower()
        if part:
            _parse_part(part, raw.strip(), p)
    if p.no_gpu and p.gpus:
        raise UsageError(f"hardware spec {spec.strip()!r} says 0x (no GPU) and also names GPUs; keep one")
    return build_rig(spec.strip(), p)


def _parse_part(part: str, raw: str, p: _Parts) -> None:
    if re.fullmatch(r"pcie\s*(?:gen)?\s*([345])(?:\.0)?(?:\s*x16)?", part):
        p.link = "pcie" + re.search(r"[345]", part).group(0)  # type: ignore[union-attr]
        return
    if part.startswith("nvlink"):
        p.link = "nvlink"
        return
    if (c := _LITTLE.match(part)):
        p.little = int(c.group(1))
        return
    if part in BACKENDS and part != "cpu":
        p.backend = part
        return
    if re.fullmatch(r"0\s*[x×*]?(?:\s*gpus?)?|no-?gpu|cpu(?:-only)?", part):
        p.no_gpu = True
        return
    if (host := HOSTS.get(_norm(part))) is not None:  # a CPU-only board: its spec parts
        for sub in host.spec.split(","):
            _parse_part(sub.strip().lower(), f"{raw} ({sub.strip()})", p)
        p.host = host
        return
    m = _GPU.match(part)
    dev = _device(m.group(2)) if m else None
    if dev is not None:
        count = int(m.group(1) or 1)  # type: ignore[union-attr]
        if count <= 0 or count > 64:
            raise UsageError(f"hardware spec part {raw!r}: device count must be 1..64")
        p.gpus.extend([dev] * count)
        return
    tokens = _join_numbers([t for t in re.split(r"\s+", part.replace("ram", " ").replace("memory", " ")) if t])
    gpu_part = "gpu" in tokens or "vram" in tokens
    for tok in tokens:
        if not _ram_token(tok, raw, p, gpu_part):
            _not_understood(raw, m.group(2) if m else part)


def _ram_token(tok: str, raw: str, p: _Parts, gpu_part: bool) -> bool:
    if (s := _SIZE.match(tok)):
        value = float(s.group(1)) * (1024 if s.group(2).startswith("t") else 1)
        if value <= 0:
            raise UsageError(f"hardware spec part {raw!r}: memory size must be greater than zero")
        if gpu_part:
            p.gpu_gb = value
        else:
            p.ram_gb = value
    elif (r := _RATE.match(tok)):
        p.measured_gbs = float(r.group(1)) * (1.073741824 if r.group(2).startswith("gib") else 1)
        if p.measured_gbs <= 0:
            raise UsageError(f"hardware spec part {raw!r}: a bandwidth must be greater than zero")
    elif (d := _DDR.match(tok)):
        p.ddr, p.mts = d.group(1), int(d.group(2)) if d.group(2) else None
    elif (c := _CH.match(tok)):
        p.channels = _count(c.group(1), raw)
    elif (c := _BUS.match(tok)):
        bits = _count(c.group(1), raw)
        if bits % 64:
            raise UsageError(f"hardware spec part {raw!r}: a memory bus width is a multiple of 64 bits (64, 128, 256)")
        p.channels = bits // 64
    elif (c := _CORES.match(tok)):
        p.cores = _count(c.group(1), raw)
    elif (c := _SOCKETS.match(tok)):
        p.sockets = _count(c.group(1), raw)
    elif tok in ("dual-socket", "2-socket"):
        p.sockets = 2
    elif tok in FLOP_PER_CYCLE or tok in ("avx-512", "avx512f"):
        p.simd = "avx512" if tok.startswith("avx-512") or tok.startswith("avx512") else tok
    elif tok not in ("cpu", "system", "host", "gpu", "vram"):
        return False
    return True


def _count(text: str, raw: str) -> int:
    if int(text) <= 0:
        raise UsageError(f"hardware spec part {raw!r}: counts must be greater than zero")
    return int(text)


def _not_understood(raw: str, name: str) -> None:
    near = closest(_norm(name))
    hint = f"did you mean {', '.join(near)}? " if near else ""
    raise UsageError(f"hardware spec part {raw!r} not understood; {hint}devices: heavylift plan --list-hardware; "
                     "other parts look like '256GB ddr5-6000 2ch', '102GB/s', '16 cores', '4 little', '2 sockets', 'pcie4'")


def _join_numbers(tokens: list[str]) -> list[str]:
    """'256 gb' -> '256gb', '2 ch' -> '2ch', '16 cores' -> '16cores', '102 gb/s' -> '102gb/s'."""
    out: list[str] = []
    for tok in tokens:
        if out and re.fullmatch(r"\d+(?:\.\d+)?", out[-1]) and re.fullmatch(r"[a-z/-]+", tok) \
                and not tok.startswith(("ddr", "lpddr", "gpu", "vram")):
            out[-1] += tok
        else:
            out.append(tok)
    return out


def build_rig(description: str, p: _Parts) -> Rig:
    assumptions: list[str] = []
    if p.backend:
        p.gpus = [dataclasses.replace(g, backend=p.backend) for g in p.gpus]
    unified = [g for g in p.gpus if g.kind == "unified"]
    if p.gpu_gb is not None and not unified:
        raise UsageError(f"{description!r}: 'NGB gpu' sets the GPU's share of a unified-memory machine "
                         "(m3-ultra-512gb, ryzen-ai-max-395-128gb, dgx-spark); a discrete GPU's memory is its own")
    if unified:
        if len(p.gpus) > 1:
            raise UsageError(f"{description!r}: a unified-memory machine ({unified[0].key}) is planned on its own; "
                             "several machines (llama.cpp RPC) are not planned yet")
        return _unified_rig(description, unified[0], p, assumptions)
    ram_gb = p.ram_gb
    if ram_gb is None:
        ram_gb = 128 if p.gpus else 64
        assumptions.append(f"system RAM not given: assumed {ram_gb:.0f} GB")
    sockets = p.sockets or 1
    if p.measured_gbs:
        bw = p.measured_gbs * 1e9
        ram_source = f"measured RAM bandwidth {p.measured_gbs:.1f} GB/s (given in --hw), used as is"
    else:
        ddr = p.ddr or "ddr5"
        mts = p.mts
        if mts is None:
            mts = RAM_DEFAULTS.get(ddr, 5600)
            assumptions.append(f"RAM speed not given: assumed {ddr.upper()}-{mts}")
        channels = p.channels
        if channels is None:
            channels = 2
            assumptions.append("RAM channels not given: assumed 2 (desktop dual channel)")
        bw = ram_bandwidth(mts, channels) * sockets
        per = f" x {sockets} sockets" if sockets > 1 else ""
        ram_source = (f"{ddr.upper()}-{mts} x {channels} channels{per} = {bw / 1e9:.1f} GB/s peak "
                      "(MT/s x 8 B x channels)")
    cores = p.cores
    if cores is None:
        cores = DEFAULT_CORES
        assumptions.append(f"CPU not given: assumed {DEFAULT_CORES} cores at {DEFAULT_GHZ} GHz, AVX2")
    link = p.link
    if link is None:
        link = "pcie4"
        if p.gpus:
            assumptions.append("link not given: assumed PCIe 4.0 x16 per GPU")
    host_link = link if link.startswith("pcie") else "pcie4"
    gpu_link = link
    if link == "nvlink":
        gpu_link = {"a100-40gb": "nvlink3", "a100-80gb": "nvlink3", "h100": "nvlink4", "h200": "nvlink4"}.get(
            p.gpus[0].key if p.gpus else "", "nvlink-bridge")
    simd = p.simd or "avx2"
    if p.little > cores:
        raise UsageError(f"{description!r}: {p.little} little cores of {cores} cores; the little cores are "
                         "counted in the cores ('8 cores, 4 little')")
    rig = Rig(description, p.gpus, int(ram_gb * GiB), bw, cores, cores * DEFAULT_GHZ * 1e9 * FLOP_PER_CYCLE[simd],
              LINKS[host_link][0], LINKS[gpu_link][0], host_link, gpu_link, ram_source, assumptions,
              sockets=sockets, ram_bandwidth_measured=bool(p.measured_gbs), cpu_simd=simd, little_cores=p.little)
    if p.host is not None and p.host.power_w:
        rig.host_tdp_w, rig.host_price_usd = p.host.power_w, p.host.price_usd
        price = f", ${p.host.price_usd:g}" if p.host.price_usd else ""
        assumptions.append(f"{p.host.name}: {p.host.power_w:g} W{price} ({p.host.power_source})")
    return rig


def _unified_rig(description: str, dev: DeviceSpec, p: _Parts, assumptions: list[str]) -> Rig:
    if p.gpu_gb is not None:
        share = min(int(p.gpu_gb * GiB), dev.memory_bytes)
        assumptions.append(f"{dev.name}: GPU may use {share / GiB:.0f} GiB of {dev.memory_bytes / GiB:.0f} GiB "
                           "(given in --hw)")
    else:
        share = int(dev.memory_bytes * dev.gpu_share)
        assumptions.append(f"{dev.name}: GPU may use {dev.gpu_share:.0%} of unified memory: {dev.share_note}")
    gpu = dataclasses.replace(dev, memory_bytes=share)
    cores = p.cores or dev.cpu_cores or DEFAULT_CORES
    simd = p.simd or ("neon" if dev.backend == "metal" or dev.key == "dgx-spark" else "avx512")
    return Rig(description, [gpu], dev.memory_bytes - share, dev.bandwidth_bps, cores,
               cores * DEFAULT_GHZ * 1e9 * FLOP_PER_CYCLE[simd], dev.bandwidth_bps, dev.bandwidth_bps, "unified",
               "unified", f"{dev.name} unified memory ({dev.source})", assumptions, cpu_simd=simd)


def _cpu_facts() -> tuple[str, int]:
    """(widest SIMD, sockets) from /proc/cpuinfo; ('avx2', 1) where it cannot be read."""
    simd, sockets = "avx2", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags") and "avx512f" in line.split():
                    simd = "avx512"
                elif line.startswith("Features") and "asimd" in line.split():
                    simd = "neon"
                elif line.startswith("physical id"):
                    sockets.add(line.split(":")[1].strip())
    except OSError:
        pass
    return simd, max(1, len(sockets))


def detect_local(calibrated: bool = True) -> Rig:
    """This machine: physical cores and RAM (psutil: Linux and macOS alike), GPUs (nvidia-smi if present).
    calibrated: with this machine's speed profile when `heavylift bench --calibrate` stored one."""
    from heavylift.hardware.local import efficiency_cores, physical_cores, total_memory_bytes

    cores, counted = physical_cores()
    little, how = efficiency_cores()
    little = min(little, cores)
    ram = total_memory_bytes()
    simd, sockets = _cpu_facts()
    gpus: list[DeviceSpec] = []
    notes = [f"CPU: {cores} {counted}, {simd.upper()}, {sockets} socket(s)"
             + (f", {little} of them efficiency cores: {how}" if little else ""),
             f"RAM: {ram / GiB:.1f} GiB (psutil)",
             "RAM bandwidth not measured here: assumed DDR5-4800 x 2 channels (`heavylift bench --calibrate` "
             "measures it)",
             "CPU speed per core: the public fit's (desktop and server cores); a cloud vCPU can be 2-4x slower "
             "(`heavylift bench --calibrate` measures this machine's)"]
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
    parts = _Parts(gpus=gpus, ram_gb=ram / GiB if ram else None, ddr="ddr5", mts=4800, channels=2, cores=cores,
                   little=little, sockets=sockets, simd=simd, link="pcie4")
    rig = build_rig("local", parts)
    rig.assumptions = notes + rig.assumptions
    if calibrated:
        from heavylift.bench.profile import apply_profile

        rig = apply_profile(rig)
    return rig


def parse_hw(text: str | None, calibrated: bool = True) -> Rig:
    if text is None or text.strip().lower() == "local":
        return detect_local(calibrated)
    return parse_spec(text)
