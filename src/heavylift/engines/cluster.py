"""vLLM over several nodes, the way vLLM documents it (docs/serving/parallelism_scaling.md; the
multi-node-serving.sh example): a Ray cluster (`ray start --head` on the first host, `ray start
--address=HEAD:6379` on the others, each with VLLM_HOST_IP and the NCCL/Gloo interface set to the
address the hosts reach each other on), then one `vllm serve` on the head with the tensor parallel
size = GPUs per node and the pipeline parallel size = nodes, `--distributed-executor-backend ray`.
`cluster status` reads the running cluster (`ray status`) and checks it has the GPUs the plan needs.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from heavylift.engines.vllm_args import VllmArgs
from heavylift.errors import SetupError, UsageError
from heavylift.hardware.network import HostsFile

RAY_PORT = 6379  # Ray's default GCS port (`ray start --head`)


@dataclass
class HostCommands:
    host: str
    address: str
    role: str  # "head" | "worker"
    lines: list[str]


def cluster_commands(hosts: HostsFile, args: VllmArgs) -> tuple[list[HostCommands], list[str]]:
    """What to run on each host, in order, then what to run on the head once all have joined."""
    head = hosts.hosts[0]
    out = []
    for i, h in enumerate(hosts.hosts):
        address, iface = _address(h.address)
        env = [f"export VLLM_HOST_IP={address}"]
        if iface:
            env += [f"export NCCL_SOCKET_IFNAME={iface}", f"export GLOO_SOCKET_IFNAME={iface}"]
        else:
            env += [f"export NCCL_SOCKET_IFNAME=$(ip -o -4 addr show | awk '$4 ~ /^{re.escape(address)}\\// {{print $2}}')",
                    "export GLOO_SOCKET_IFNAME=$NCCL_SOCKET_IFNAME"]
        if i == 0:
            lines = [*env, f"ray start --head --node-ip-address={address} --port={RAY_PORT}"]
        else:
            lines = [*env, f"ray start --address={_address(head.address)[0]}:{RAY_PORT} --node-ip-address={address}"]
        out.append(HostCommands(h.name, address, "head" if i == 0 else "worker", lines))
    final = [f"heavylift cluster status --gpus {_gpus(args)} --nodes {len(hosts.hosts)}   # all joined, enough GPUs?"]
    if args.host not in (None, "127.0.0.1", "localhost"):
        final.append("export VLLM_API_KEY=...   # the server is reachable from the network: require a key")
    final.append(shlex.join(args.serve_argv()))
    return out, final


def _gpus(args: VllmArgs) -> int:
    return (args.tensor_parallel_size or 1) * (args.pipeline_parallel_size or 1)


def _address(text: str) -> tuple[str, str | None]:
    """`ADDRESS` or `ADDRESS@IFACE` (the interface the hosts talk over, for NCCL/Gloo)."""
    address, _, iface = text.partition("@")
    return address, iface or None


@dataclass
class RayCluster:
    num_nodes: int
    num_gpus: float
    num_gpus_used: float
    raw: str


def find_ray() -> Path | None:
    """`ray` on PATH, else the one in heavylift's vLLM venv."""
    found = shutil.which("ray")
    if found:
        return Path(found)
    from heavylift.engines.vllm_install import vllm_dir

    venv_ray = vllm_dir() / "venv" / "bin" / "ray"
    return venv_ray if venv_ray.exists() else None


def ray_status(address: str | None = None, ray: Path | None = None, timeout_s: float = 60.0) -> RayCluster:
    ray = ray or find_ray()
    if ray is None:
        raise SetupError("Ray is not installed here: `pip install ray` (the version vLLM's docs name), or run this "
                         "on the head node")
    cmd = [str(ray), "status"] + (["--address", address] if address else [])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise SetupError(f"`{' '.join(cmd)}` did not answer within {timeout_s:.0f}s; is the head node up?") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise SetupError(f"no Ray cluster reachable ({last[0][:200]}); start one with `ray start --head` "
                         "(heavylift cluster plan prints the commands)")
    return parse_ray_status(proc.stdout)


def parse_ray_status(text: str) -> RayCluster:
    """`ray status`: the node lines under "Active:" and the "used/total GPU" resource line."""
    active = re.search(r"Active:\s*\n((?:[ \t]+\S.*\n?)*)", text)
    nodes = len([ln for ln in active.group(1).splitlines() if ln.strip()]) if active else 0
    gpu = re.search(r"([\d.]+)\s*/\s*([\d.]+)\s+GPU\b", text)
    used, total = (float(gpu[1]), float(gpu[2])) if gpu else (0.0, 0.0)
    return RayCluster(nodes, total, used, text)


def check_cluster(cluster: RayCluster, gpus_needed: int, nodes_needed: int | None = None) -> None:
    if cluster.num_gpus < gpus_needed:
        raise UsageError(f"the Ray cluster has {cluster.num_gpus:g} GPU(s) on {cluster.num_nodes} node(s), the plan "
                         f"needs {gpus_needed}; start the missing nodes (`ray start --address=...`) before `vllm serve`")
    free = cluster.num_gpus - cluster.num_gpus_used
    if free < gpus_needed:
        raise UsageError(f"the Ray cluster has {cluster.num_gpus:g} GPU(s) but {cluster.num_gpus_used:g} are in use; "
                         f"{gpus_needed} must be free for the plan")
    if nodes_needed and cluster.num_nodes < nodes_needed:
        raise UsageError(f"the Ray cluster has {cluster.num_nodes} node(s), the plan pipelines over {nodes_needed}; "
                         "join the missing hosts")
