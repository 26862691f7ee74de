"""Plans beyond one box, worker addresses, hosts files and cluster commands (no engine: fast)."""

from __future__ import annotations

import json

import pytest

from heavylift.engines import rpc
from heavylift.engines.cluster import check_cluster, cluster_commands, parse_ray_status
from heavylift.engines.vllm_args import VllmArgs
from heavylift.errors import UsageError
from heavylift.hardware.network import NETWORKS, network, parse_hosts
from heavylift.plan.memory import ContextConfig
from heavylift.plan.model_source import resolve
from heavylift.plan.multihost import compare_hosts, plan_hosts, rpc_plan, split_by_memory
from heavylift.plan.placement import layer_devices
from tests.conftest import run_cli

GPU_NODES = """# two GPU nodes
network 25gbe
node1  10.0.0.1@eth1  4x h100, 512GB ddr5-4800 8ch
node2  10.0.0.2@eth1  4x h100, 512GB ddr5-4800 8ch
"""
MIXED = """network 10gbe
desk  192.168.1.10  2x rtx-3090, 128GB ddr4-3200 2ch
box2  192.168.1.11  2x rtx-3090, 64GB
cpu3  192.168.1.12  256GB ddr5-4800 8ch, 32 cores
"""


@pytest.mark.parametrize("text,expected", [
    ("10.0.0.2:50052", [("10.0.0.2", 50052, None)]),
    ("10.0.0.2:50052=24GiB,10.0.0.3:50053=512MiB", [("10.0.0.2", 50052, 24 << 30), ("10.0.0.3", 50053, 512 << 20)]),
    ("[fd00::2]:50052", [("fd00::2", 50052, None)]),
])
def test_worker_endpoints(text, expected):
    assert [(e.host, e.port, e.mem_limit_bytes) for e in rpc.parse_endpoints(text)] == expected


@pytest.mark.parametrize("text,words", [
    ("10.0.0.2", "HOST:PORT"), ("10.0.0.2:0", "out of range"), ("10.0.0.2:70000", "out of range"),
    ("a:1,a:1", "twice"), ("10.0.0.2:50052=lots", "not a size"), ("", "empty"),
])
def test_bad_worker_endpoints(text, words):
    with pytest.raises(UsageError, match=words):
        rpc.parse_endpoints(text)


@pytest.mark.parametrize("host,ok", [("127.0.0.1", True), ("10.1.2.3", True), ("192.168.0.9", True),
                                     ("172.20.0.1", True), ("fd00::1", True), ("::1", True), ("0.0.0.0", False),
                                     ("::", False), ("8.8.8.8", False), ("2001:4860::8888", False)])
def test_worker_binds_private_addresses_only(host, ok):
    if ok:
        rpc.check_worker_bind(host, False)
    else:
        with pytest.raises(UsageError, match="no authentication"):
            rpc.check_worker_bind(host, False)
        rpc.check_worker_bind(host, True)  # the explicit risk flag


def test_rpc_protocol_compatibility_follows_llama_cpp():
    assert rpc.is_compatible((7, 0, 0)) and rpc.is_compatible((7, 0, 9))
    assert not rpc.is_compatible((6, 1, 0)) and not rpc.is_compatible((7, 1, 0)) and not rpc.is_compatible((8, 0, 0))


def test_hosts_file():
    hosts = parse_hosts(MIXED)
    assert [h.name for h in hosts.hosts] == ["desk", "box2", "cpu3"]
    assert hosts.hosts[2].hw == "256GB ddr5-4800 8ch, 32 cores" and hosts.network is NETWORKS["10gbe"]
    # 10 GbE carries 10e9/8 x 1448/1538 bytes/s of TCP payload
    assert network("10g").bandwidth_bps == pytest.approx(1.1768e9, rel=1e-3)


@pytest.mark.parametrize("text,words", [
    ("network 10gbe\na 10.0.0.1 1x rtx-4090\n", "at least two hosts"),
    ("a 10.0.0.1 1x rtx-4090\nb 10.0.0.2 1x rtx-4090\n", "network KIND"),
    ("network 9gbe\na 1 x\nb 2 y\n", "network '9gbe' unknown"),
    ("network 10gbe\na 10.0.0.1 1x rtx-4090\na 10.0.0.2 1x rtx-4090\n", "listed twice"),
    ("network 10gbe\nlonely\nb 10.0.0.2 1x rtx-4090\n", "NAME ADDRESS HARDWARE-SPEC"),
])
def test_bad_hosts_files(text, words):
    with pytest.raises(UsageError, match=words):
        parse_hosts(text)


def test_split_by_memory_is_llama_cpps_assignment():
    """Layers go host first, then the workers in --rpc order, in proportion to memory; the flags
    printed give exactly that split in llama.cpp's own float32 arithmetic."""
    src = resolve("qwen3-235b-a22b", "Q4_K_M")
    cfg = ContextConfig(32768, 1)
    gib = 1 << 30
    placement = split_by_memory(src, cfg, ["me", "w1", "w2"], [100 * gib, 100 * gib, 200 * gib])
    n = src.arch.n_layer
    flags = placement.flags
    assert placement.layer_device == layer_devices(n, flags.n_gpu_layers, flags.tensor_split, 2)
    counts = [placement.layer_device.count(d) for d in (-1, 0, 1)]
    assert sum(counts) == n + 1 and abs(counts[0] - counts[1]) <= 2 and abs(counts[2] - 2 * counts[0]) <= 3


def test_rpc_plan_network_term_and_fit():
    src = resolve("qwen3-235b-a22b", "Q3_K_M")
    cfg = ContextConfig(32768, 1)
    from heavylift.hardware.spec import parse_spec

    rigs = [parse_spec("256GB ddr5-4800 8ch, 32 cores")] * 3
    fast = rpc_plan(src, cfg, ["a", "b", "c"], [200 << 30] * 3, rigs, network("100gbe"))
    slow = rpc_plan(src, cfg, ["a", "b", "c"], [200 << 30] * 3, rigs, network("1gbe"))
    assert fast.fits and slow.fits
    assert slow.network_s_per_token > 5 * fast.network_s_per_token and slow.decode_tps < fast.decode_tps
    # 2 workers: 2 round trips per token; the logits come back from the last one
    one = network("1gbe")
    payload = 4 * src.arch.n_embd + 2 * 32768
    expected = 2 * (one.rtt_s + payload / one.bandwidth_bps) + 4 * src.arch.n_vocab / one.bandwidth_bps
    assert slow.network_s_per_token == pytest.approx(expected)
    tight = rpc_plan(src, cfg, ["a", "b", "c"], [20 << 30] * 3, rigs, network("10gbe"))
    assert not tight.fits


def test_engine_choice_over_hosts():
    gpu = plan_hosts(resolve("qwen3-235b-a22b", "Q4_K_M"), ContextConfig(32768, 1), parse_hosts(GPU_NODES))
    assert gpu.engine == "vllm" and (gpu.vllm.tensor_parallel, gpu.vllm.pipeline_parallel) == (4, 2)
    mixed = plan_hosts(resolve("qwen3-235b-a22b", "Q3_K_M"), ContextConfig(32768, 1), parse_hosts(MIXED))
    assert mixed.engine == "llama.cpp" and "alone" in mixed.why and mixed.vllm is None and mixed.rpc.fits
    big = plan_hosts(resolve("qwen3-235b-a22b", "Q8_0"), ContextConfig(32768, 1), parse_hosts(MIXED))
    assert big.engine == "llama.cpp-rpc" and big.rpc.fits  # 233 GiB: no single host holds it
    rows = compare_hosts(resolve("qwen3-235b-a22b", "Q3_K_M"), ContextConfig(32768, 1), parse_hosts(GPU_NODES))
    shapes = [(r["shape"], r["engine"]) for r in rows]
    assert ("2 nodes x 4 GPUs", "vLLM TP4 x PP2") in shapes and ("1 node x 4 GPUs", "llama.cpp") in shapes


def test_cluster_commands_follow_vllms_docs():
    hosts = parse_hosts(GPU_NODES)
    per_host, final = cluster_commands(hosts, VllmArgs("Qwen/Qwen3-235B-A22B", host="0.0.0.0", tensor_parallel_size=4,
                                                       pipeline_parallel_size=2, distributed_executor_backend="ray"))
    head, worker = per_host
    assert "ray start --head --node-ip-address=10.0.0.1 --port=6379" in head.lines
    assert "export NCCL_SOCKET_IFNAME=eth1" in head.lines and "export VLLM_HOST_IP=10.0.0.2" in worker.lines
    assert "ray start --address=10.0.0.1:6379 --node-ip-address=10.0.0.2" in worker.lines
    assert final[0].startswith("heavylift cluster status --gpus 8 --nodes 2")
    assert "VLLM_API_KEY" in final[1]
    assert final[-1].startswith("vllm serve Qwen/Qwen3-235B-A22B") and "--pipeline-parallel-size 2" in final[-1]


RAY_STATUS = """======== Autoscaler status: 2026-11-25 17:38:25.263852 ========
Node status
---------------------------------------------------------------
Active:
 1 node_3dcbb491d495edd3187417756ec76f3a49dbe7dc7bcad007b063845a
 1 node_5e1f
Pending:
 (no pending nodes)

Resources
---------------------------------------------------------------
Total Usage:
 0.0/1.0 CPU
 2.0/8.0 GPU
"""


def test_ray_status_and_the_gpu_check():
    cluster = parse_ray_status(RAY_STATUS)
    assert (cluster.num_nodes, cluster.num_gpus, cluster.num_gpus_used) == (2, 8.0, 2.0)
    check_cluster(cluster, 6, 2)
    with pytest.raises(UsageError, match="has 8 GPU.*needs 16"):
        check_cluster(cluster, 16)
    with pytest.raises(UsageError, match="2 are in use"):
        check_cluster(cluster, 8)


def test_cli_plan_hosts_and_cluster_plan(tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text(MIXED)
    proc = run_cli("plan", "qwen3-235b-a22b", "--quant", "Q3_K_M", "--ctx", "32768", "--hosts", str(hosts), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["engine"] == "llama.cpp" and len(data["rpc"]["hosts"]) == 3 and data["rpc"]["decode_tps"] > 0
    # vLLM cannot serve a hosts file with a GPU-less host, and refuses weights that do not fit its way
    proc = run_cli("cluster", "plan", "qwen3-235b-a22b", "--hosts", str(hosts))
    assert proc.returncode == 2 and "vLLM needs NVIDIA GPUs on every host" in proc.stderr
    small = tmp_path / "small.txt"
    small.write_text("network 10gbe\na 10.0.0.1 1x rtx-4090, 64GB\nb 10.0.0.2 1x rtx-4090, 64GB\n")
    proc = run_cli("cluster", "plan", "qwen3-235b-a22b", "--hosts", str(small))
    assert proc.returncode == 2 and "does not fit vLLM's way" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("plan", "qwen3-235b-a22b", "--hosts", str(tmp_path / "missing.txt"))
    assert proc.returncode == 2 and "cannot read hosts file" in proc.stderr


def test_cluster_status_without_ray(tmp_path):
    import os
    import sys

    env = {"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin", "HEAVYLIFT_CACHE_DIR": str(tmp_path)}
    proc = run_cli("cluster", "status", "--gpus", "2", env=env)
    assert proc.returncode == 1 and "Ray is not installed here" in proc.stderr and "Traceback" not in proc.stderr


def test_registry_knows_the_engines():
    from heavylift.engines.registry import engine_names

    assert {"llama-server", "vllm", "remote"} <= set(engine_names())
