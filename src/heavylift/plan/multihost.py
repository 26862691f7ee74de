"""Plans beyond one box: llama.cpp RPC (layers over hosts, for capacity) and vLLM TP x PP over Ray
(for throughput, when the weights fit the GPUs). Built on the single-box planner: placement comes
from `Placer.evaluate` (llama.cpp's exact layer assignment, RPC workers being devices like GPUs),
each host's speed from `make_plan` for that host alone; only the network term is new here.

llama.cpp RPC, decode of one token (ggml-rpc.cpp + ggml-backend.cpp's scheduler at 0c1e570): the
layers run in order, host first (llama-model.cpp: layers below i_gpu_start stay on the CPU), then
each worker in `--rpc` order. A worker's split gets its inputs (the previous split's activation,
n_embd F32 values per token, and the KQ mask, n_kv F16 values per token) with SET_TENSOR, which
does not wait for a reply, and re-runs its stored graph (GRAPH_RECOMPUTE, the same graph as the
last token); the next split's input is fetched with GET_TENSOR, which waits: one round trip per
worker per ubatch. The logits (n_vocab F32 per token) come back from the device that holds the
output layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from heavylift.errors import UsageError
from heavylift.hardware.catalog import DeviceSpec
from heavylift.hardware.network import HostsFile, NetworkSpec
from heavylift.hardware.rig import Rig
from heavylift.plan.memory import ContextConfig, MemoryBreakdown
from heavylift.plan.model_source import ModelSource
from heavylift.plan.placement import Placement, Placer
from heavylift.plan.placement_flags import PlacementFlags

GiB = 1024**3


@dataclass
class HostShare:
    """What one host holds and does in a layer split."""

    name: str
    usable_bytes: int
    breakdown: MemoryBreakdown
    layers: list[int]
    has_output: bool
    bytes_per_token: int  # weights touched + KV read per decoded token (one sequence)
    decode_s: float = 0.0  # its share of one token's decode time

    @property
    def used_bytes(self) -> int:
        return self.breakdown.sum()

    @property
    def fits(self) -> bool:
        return self.used_bytes <= self.usable_bytes


@dataclass
class RpcPlan:
    """llama.cpp over hosts: llama-server on the first, `ggml-rpc-server` on the others."""

    flags: PlacementFlags  # -ngl and --tensor-split that give this split (with --rpc in host order)
    hosts: list[HostShare]
    network: NetworkSpec
    decode_tps: float
    network_s_per_token: float
    prefill_tps: float
    notes: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return all(h.fits for h in self.hosts)


def split_by_memory(src: ModelSource, cfg: ContextConfig, names: list[str], usable: list[int]) -> Placement:
    """The layers over hosts in proportion to their usable memory (host first, then the workers in
    order), contiguous as llama.cpp assigns them; the placement is then exactly llama.cpp's for the
    resulting -ngl / --tensor-split (Placer.evaluate)."""
    arch = src.arch
    n = arch.n_layer
    if any(u <= 0 for u in usable):
        bad = [nm for nm, u in zip(names, usable, strict=True) if u <= 0]
        raise UsageError(f"no usable memory on {', '.join(bad)}; free some or leave it out")
    rig = _rig_with_workers(len(names) - 1)
    placer = Placer(src.tensors, arch, cfg, rig)
    cost = [0] * (n + 1)
    for t in placer.tensors:
        if t.layer >= 0:
            cost[t.layer] += t.n_bytes
    for il in range(n):
        cost[il] += placer.kv[il] + placer.rs[il]
    total, total_mem = sum(cost), sum(usable)
    counts, host, done, cum = [0] * len(names), 0, 0, usable[0]
    for c in cost:  # move to the next host once this one has its share of the bytes
        while host < len(names) - 1 and done + c / 2 > total * cum / total_mem:
            host += 1
            cum += usable[host]
        counts[host] += 1
        done += c
    ngl = n + 1 - counts[0]
    shares = tuple(float(c) for c in counts[1:])
    return placer.evaluate(PlacementFlags(ngl, shares if ngl and any(shares) else None))


def rpc_plan(src: ModelSource, cfg: ContextConfig, names: list[str], usable: list[int], host_rigs: list[Rig],
             net: NetworkSpec) -> RpcPlan:
    """Memory per host, and decode/prefill with the network term, for a split by memory."""
    from heavylift.plan.planner import make_plan

    placement = split_by_memory(src, cfg, names, usable)
    arch = src.arch
    frac = arch.n_expert_used / arch.n_expert if arch.is_moe else 1.0
    kv = Placer(src.tensors, arch, cfg, _rig_with_workers(0)).kv  # per layer, all sequences
    devices = placement.gpus + [placement.host]  # workers in order, then the host
    ordered = [devices[-1], *devices[:-1]]  # host first, as names
    shares = []
    for name, d, u in zip(names, ordered, usable, strict=True):
        bd = replace(d.breakdown, overhead_bytes=0)  # a CPU worker has no CUDA context
        # one sequence at a full context reads its own stream of each layer's KV cache
        read = d.dense_bytes + int(d.expert_bytes * frac) + sum(kv[il] // cfg.n_parallel for il in d.layers)
        shares.append(HostShare(name, u, bd, list(d.layers), d.has_output, read))
    # each host's rate: what the single-box planner predicts for the whole model on that host
    for share, rig in zip(shares, host_rigs, strict=True):
        alone = make_plan(src, rig, cfg, suggest=False)
        rate = alone.speed.bytes_per_token * alone.decode_tps  # bytes/s it reads while decoding
        share.decode_s = share.bytes_per_token / rate if rate else 0.0
    busy = [s for s in shares[1:] if s.layers or s.has_output]
    payload = 4 * arch.n_embd + 2 * min(cfg.ctx // cfg.n_parallel, 1 << 30)
    net_s = len(busy) * (net.rtt_s + payload / net.bandwidth_bps)
    if any(s.has_output for s in shares[1:]):
        net_s += 4 * arch.n_vocab / net.bandwidth_bps  # the logits come back
    decode_s = sum(s.decode_s for s in shares) + net_s
    # prefill: each ubatch crosses every worker boundary once (activations + mask rows)
    ub = cfg.n_ubatch_eff
    alone = make_plan(src, host_rigs[0], cfg, suggest=False)
    per_ub = ub / alone.prefill_tps + len(busy) * (net.rtt_s + ub * (4 * arch.n_embd + 2 * ub) / net.bandwidth_bps)
    notes = [f"network {net.name}: {net.bandwidth_bps / 1e9:.2f} GB/s, RTT {net.rtt_s * 1e6:.0f} us ({net.source})",
             f"per token: {len(busy)} round trip(s) (one per worker: GET_TENSOR waits), "
             f"{payload:,} B of activation + KQ mask per worker"
             + (f", {4 * arch.n_vocab:,} B of logits back" if any(s.has_output for s in shares[1:]) else ""),
             "each host's speed: the single-box planner's prediction for that host (plan/speed.py)"]
    if host_rigs[0].gpus:
        notes.append("the first host's GPUs and RAM are one pool here; llama.cpp lists its local GPUs as devices "
                     "beside the RPC ones, so add their --tensor-split shares to the printed flags")
    return RpcPlan(placement.flags, shares, net, 1.0 / decode_s if decode_s else 0.0, net_s,
                   ub / per_ub if per_ub else 0.0, notes)


def _rig_with_workers(n_workers: int) -> Rig:
    """A placement rig where the RPC workers are the 'GPUs' (llama.cpp treats RPC devices so)."""
    worker = DeviceSpec("rpc", "RPC worker", "gpu", 1 << 50, 1.0, 1.0, 0.0, None, "RPC worker (memory checked separately)")
    return Rig("rpc split", [worker] * n_workers, 1 << 50, 1.0, 1, 1.0, 1.0, 1.0)


# -- across a hosts file: which engine, and how ---------------------------------------------------------


@dataclass
class VllmClusterPlan:
    tensor_parallel: int  # GPUs per node
    pipeline_parallel: int  # nodes
    weights_bytes: int  # BF16 weights, all on GPUs
    gpu_bytes: int  # the GPUs' memory in all
    fits: bool
    note: str


@dataclass
class MultiHostPlan:
    model: str
    hosts: HostsFile
    rpc: RpcPlan
    vllm: VllmClusterPlan | None
    engine: str  # "vllm" | "llama.cpp-rpc" | "none"
    why: str


def vllm_cluster(src: ModelSource, rigs: list[Rig], utilization: float = 0.90) -> VllmClusterPlan | None:
    """vLLM's documented layout: tensor parallel within a node (its GPUs), pipeline parallel
    across nodes; every weight on a GPU (vLLM computes no expert on the CPU)."""
    gpus = [len(r.gpus) for r in rigs]
    if not all(gpus) or any(r.is_unified for r in rigs):
        return None
    tp = min(gpus)
    if src.arch.n_head % tp:
        tp = max(d for d in range(1, tp + 1) if src.arch.n_head % d == 0)
    pp = len(rigs)
    weights = 2 * sum(t.n_elements for t in src.tensors)  # BF16
    gpu_bytes = sum(sum(g.memory_bytes for g in r.gpus[:tp]) for r in rigs)
    budget = utilization * gpu_bytes
    fits = weights <= 0.9 * budget
    note = (f"BF16 weights {weights / GiB:.0f} GiB over {pp} node(s) x {tp} GPU(s) = {gpu_bytes / GiB:.0f} GiB "
            f"({utilization:.0%} usable: {budget / GiB:.0f} GiB) -> " + ("fits" if fits else "does not fit"))
    return VllmClusterPlan(tp, pp, weights, gpu_bytes, fits, note)


def plan_hosts(src: ModelSource, cfg: ContextConfig, hosts: HostsFile) -> MultiHostPlan:
    """Both ways over the hosts; vLLM when the weights fit its way (throughput), else llama.cpp RPC
    (capacity: RAM counts, experts can stay on CPUs)."""
    from heavylift.hardware.spec import parse_spec
    from heavylift.plan.placement import GPU_MARGIN, RAM_RESERVE_FRACTION, RAM_RESERVE_MIN

    rigs = [parse_spec(h.hw) for h in hosts.hosts]
    usable = []
    for i, rig in enumerate(rigs):
        ram = rig.ram_bytes - max(int(rig.ram_bytes * RAM_RESERVE_FRACTION), RAM_RESERVE_MIN)
        vram = sum(int(g.memory_bytes * (1 - GPU_MARGIN)) for g in rig.gpus)
        # rpc-server offers a worker's accelerators, or its CPU only when it has none
        # (tools/rpc/rpc-server.cpp get_devices); llama-server's own host uses RAM and GPUs.
        usable.append(ram + vram if i == 0 else vram or ram)
    rpc = rpc_plan(src, cfg, [h.name for h in hosts.hosts], usable, rigs, hosts.network)
    vllm = vllm_cluster(src, rigs)
    from heavylift.plan.planner import make_plan

    alone = make_plan(src, rigs[0], cfg, suggest=False)
    if vllm and vllm.fits:
        engine, why = "vllm", "the BF16 weights fit the GPUs: vLLM (TP within nodes, PP across) for throughput"
    elif alone.fits and alone.decode_tps >= rpc.decode_tps:
        engine, why = "llama.cpp", (f"it fits on {hosts.hosts[0].name} alone at ~{alone.decode_tps:.1f} tok/s, faster "
                                    f"than split over the hosts (~{rpc.decode_tps:.1f}): the split only adds capacity")
    elif rpc.fits:
        engine, why = "llama.cpp-rpc", ("the weights do not fit vLLM's way (all on GPUs, BF16)" if vllm else
                                         "not every host has NVIDIA GPUs for vLLM") + "; llama.cpp RPC pools the memory"
    else:
        engine, why = "none", "neither fits: more hosts, more memory or a smaller quantization"
    return MultiHostPlan(src.label, hosts, rpc, vllm, engine, why)


# -- serve --workers: the split of a model over this machine and running workers ---------------------


@dataclass
class WorkerServePlan:
    settings_flags: PlacementFlags
    rpc: RpcPlan
    rpc_servers: list[str]


def plan_workers(model: str, ctx: int, n_parallel: int, workers: list, net: NetworkSpec) -> WorkerServePlan:
    """`workers`: engines.rpc.WorkerInfo, as probed. This machine's usable RAM (psutil-free:
    /proc/meminfo's MemAvailable less the planner's OS reserve) and each worker's offer
    (its devices' free memory, or the `=SIZE` limit) divide the layers; each host's speed is
    assumed to be this machine's (the RPC protocol reports memory, not speed)."""
    from heavylift.engines.vllm_model import available_ram_bytes
    from heavylift.hardware.spec import detect_local
    from heavylift.plan.model_source import resolve
    from heavylift.plan.placement import RAM_RESERVE_FRACTION

    src = resolve(model, None)
    if src.path is None:
        raise UsageError(f"{model}: serve --workers needs a GGUF file (a stored model or a .gguf path)")
    local = detect_local()
    here = (available_ram_bytes() or local.ram_bytes) - int(local.ram_bytes * RAM_RESERVE_FRACTION)
    names = ["this machine", *(str(w.endpoint) for w in workers)]
    usable = [here, *(w.usable_bytes for w in workers)]
    rpc = rpc_plan(src, ContextConfig(ctx, n_parallel), names, usable, [local] * len(names), net)
    rpc.notes.append("each worker's speed assumed equal to this machine's (RPC reports memory, not speed)")
    if not rpc.fits:
        over = [f"{h.name}: {h.used_bytes / GiB:.2f} GiB > {h.usable_bytes / GiB:.2f} GiB" for h in rpc.hosts if not h.fits]
        raise UsageError(f"{model} does not fit over these hosts at --ctx {ctx} ({'; '.join(over)}); add workers, "
                         "give them more memory, or lower --ctx")
    return WorkerServePlan(rpc.flags, rpc, [str(w.endpoint) for w in workers])


# -- vLLM decode for TP x PP (one sequence): weights read in parallel within a stage, stages in turn ---

VLLM_BW_EFFICIENCY = 0.75  # as the single-box planner's GPU decode efficiency (plan/speed.py GPU_BW_EFFICIENCY)
ALLREDUCE_S = 10e-6  # one tensor-parallel all-reduce of n_embd values within a node (NCCL, small message; assumed)


def vllm_decode_tps(src: ModelSource, rigs: list[Rig], tp: int, pp: int, net: NetworkSpec) -> tuple[float, list[str]]:
    """Bytes read per token (BF16 active weights; the KV term is left out) over tp GPUs' bandwidth per
    stage, stages one after another, plus 2 all-reduces per layer and one hop per stage boundary."""
    arch = src.arch
    frac = arch.n_expert_used / arch.n_expert if arch.is_moe else 1.0
    active = 2 * sum(t.n_elements * (frac if "_exps" in t.name else 1) for t in src.tensors
                     if not t.name.startswith("token_embd") or arch.tied_embeddings)
    per_stage = active / pp
    t = sum(per_stage / (tp * rig.gpus[0].bandwidth_bps * VLLM_BW_EFFICIENCY) for rig in rigs[:pp])
    t += arch.n_layer * 2 * ALLREDUCE_S * (tp > 1)
    t += (pp - 1) * (net.rtt_s / 2 + 2 * arch.n_embd / net.bandwidth_bps)
    notes = [f"vLLM decode: {active / 1e9:.1f} GB of BF16 active weights per token over {tp} GPU(s) per stage at "
             f"{VLLM_BW_EFFICIENCY:.0%} of peak bandwidth, {pp} stage(s) in turn, 2 all-reduces per layer "
             f"({ALLREDUCE_S * 1e6:.0f} us each, assumed), one {net.name} hop per stage boundary; KV reads left out"]
    return (1.0 / t if t else 0.0), notes


def compare_hosts(src: ModelSource, cfg: ContextConfig, hosts: HostsFile) -> list[dict]:
    """Rows for the first 1..N hosts: both engines, whether they fit, and decode tok/s."""
    from heavylift.hardware.spec import parse_spec

    rows = []
    for k in range(1, len(hosts.hosts) + 1):
        sub = HostsFile(hosts.hosts[:k], hosts.network, hosts.path)
        rigs = [parse_spec(h.hw) for h in sub.hosts]
        gpus = [len(r.gpus) for r in rigs]
        shape = f"{k} node{'s' if k > 1 else ''} x {min(gpus) if all(gpus) else 0} GPU{'s' if min(gpus) != 1 else ''}"
        if k == 1:
            from heavylift.plan.planner import make_plan

            one = make_plan(src, rigs[0], cfg, suggest=False)
            rows.append({"hosts": k, "shape": shape, "engine": "llama.cpp", "fits": one.fits,
                         "decode_tps": one.decode_tps, "note": "one box (the single-box planner)"})
        else:
            mp = plan_hosts(src, cfg, sub)
            rows.append({"hosts": k, "shape": shape, "engine": "llama.cpp RPC", "fits": mp.rpc.fits,
                         "decode_tps": mp.rpc.decode_tps, "note": f"-ngl/-ts {' '.join(mp.rpc.flags.argv())}"})
        v = vllm_cluster(src, rigs)
        if v is not None:
            tps, _ = vllm_decode_tps(src, rigs, v.tensor_parallel, v.pipeline_parallel, hosts.network)
            rows.append({"hosts": k, "shape": shape, "engine": f"vLLM TP{v.tensor_parallel} x PP{v.pipeline_parallel}",
                         "fits": v.fits, "decode_tps": tps if v.fits else None, "note": v.note})
    return rows


def format_multihost(mp: MultiHostPlan) -> list[str]:
    gib = lambda n: f"{n / GiB:.2f} GiB"  # noqa: E731
    from heavylift.plan.planner import ranges

    r = mp.rpc
    lines = [f"{mp.model} over {len(mp.hosts.hosts)} hosts ({mp.hosts.network.name})",
             f"engine: {mp.engine} - {mp.why}", "",
             "llama.cpp RPC (llama-server on the first host, `heavylift worker start` on the others):",
             f"  {'HOST':20} {'HARDWARE':36} {'LAYERS':14} {'USED':>11} {'USABLE':>11}  DECODE SHARE"]
    for h, spec in zip(r.hosts, mp.hosts.hosts, strict=True):
        where = ranges(h.layers) + (" +output" if h.has_output else "")
        lines.append(f"  {h.name[:20]:20} {spec.hw[:36]:36} {where[:14]:14} {gib(h.used_bytes):>11} "
                     f"{gib(h.usable_bytes):>11}  {h.decode_s * 1000:8.2f} ms{'' if h.fits else '  << OVER'}")
    lines.append(f"  network: {r.network_s_per_token * 1000:.2f} ms per token; predicted decode ~{r.decode_tps:.1f} tok/s, "
                 f"prefill ~{r.prefill_tps:.0f} tok/s; {'fits' if r.fits else 'DOES NOT FIT'}")
    workers = ",".join(f"{_addr(h.address)}:50052" for h in mp.hosts.hosts[1:])
    lines.append(f"  on each worker: heavylift worker start --host ADDRESS   (then on {mp.hosts.hosts[0].name}:)")
    lines.append(f"  heavylift serve MODEL --workers {workers} --network {mp.hosts.network.key}")
    lines.append(f"  (llama-server flags: --rpc {workers} {' '.join(r.flags.argv())})")
    if mp.vllm:
        v = mp.vllm
        lines += ["", f"vLLM over Ray: tensor parallel {v.tensor_parallel} x pipeline parallel {v.pipeline_parallel}: {v.note}",
                  "  per-host commands: heavylift cluster plan MODEL --hosts FILE"]
    else:
        lines += ["", "vLLM: not every host has NVIDIA GPUs (vLLM keeps every weight on a GPU)"]
    lines += ["", "assumptions:"] + [f"  - {n}" for n in r.notes]
    return lines


def _addr(text: str) -> str:
    return text.partition("@")[0]


def format_compare(rows: list[dict]) -> list[str]:
    lines = [f"{'HOSTS':>5} {'SHAPE':18} {'ENGINE':22} {'FITS':5} {'DECODE tok/s':>12}  NOTE"]
    for r in rows:
        tps = f"{r['decode_tps']:.1f}" if r["decode_tps"] is not None else "-"
        lines.append(f"{r['hosts']:>5} {r['shape']:18} {r['engine']:22} {'yes' if r['fits'] else 'NO':5} {tps:>12}  "
                     f"{r['note'][:90]}")
    return lines


def multihost_json(mp: MultiHostPlan) -> dict:
    r = mp.rpc
    return {"model": mp.model, "engine": mp.engine, "why": mp.why, "network": mp.hosts.network.key,
            "rpc": {"fits": r.fits, "flags": r.flags.argv(), "decode_tps": r.decode_tps, "prefill_tps": r.prefill_tps,
                    "network_s_per_token": r.network_s_per_token,
                    "hosts": [{"name": h.name, "layers": h.layers, "output_layer": h.has_output,
                               "used_bytes": h.used_bytes, "usable_bytes": h.usable_bytes,
                               "decode_s": h.decode_s} for h in r.hosts], "assumptions": r.notes},
            "vllm": None if mp.vllm is None else {
                "tensor_parallel_size": mp.vllm.tensor_parallel, "pipeline_parallel_size": mp.vllm.pipeline_parallel,
                "weights_bytes": mp.vllm.weights_bytes, "gpu_bytes": mp.vllm.gpu_bytes, "fits": mp.vllm.fits,
                "note": mp.vllm.note}}
