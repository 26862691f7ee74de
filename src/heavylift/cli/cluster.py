"""`heavylift cluster plan MODEL --hosts FILE` and `heavylift cluster status [--gpus N]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from heavylift.cli.common import port_number, positive_int, say
from heavylift.errors import UsageError


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("cluster", help=summary, description=
                       "vLLM across nodes, the way vLLM documents it: a Ray cluster (head + workers) and one "
                       "`vllm serve` with tensor parallel within nodes and pipeline parallel across them.")
    csub = p.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    pl = csub.add_parser("plan", help="print what to run on each host (Ray, network settings) and the vllm serve line")
    pl.add_argument("model", help="a catalog name (its Hugging Face repository) or a Hugging Face model folder")
    pl.add_argument("--hosts", type=Path, required=True, metavar="FILE",
                    help="hosts file: `NAME ADDRESS[@IFACE] HARDWARE-SPEC` per line, and `network KIND` (docs/scale-out.md)")
    pl.add_argument("--ctx", type=positive_int, help="context per sequence (vLLM --max-model-len; default 32768 or the model's)")
    pl.add_argument("--parallel", type=positive_int, default=1, help="sequences at once (vLLM --max-num-seqs; default 1)")
    pl.add_argument("--port", type=port_number, default=8000, help="port of the vLLM server on the head (default 8000)")
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pl.set_defaults(func=run_plan)
    st = csub.add_parser("status", help="read the running Ray cluster (`ray status`) and check it has the GPUs")
    st.add_argument("--address", help="Ray address (default: the local cluster)")
    st.add_argument("--gpus", type=positive_int, help="GPUs the plan needs (heavylift cluster plan prints it)")
    st.add_argument("--nodes", type=positive_int, help="nodes the plan pipelines over")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=run_status)


def run_plan(args: argparse.Namespace) -> int:
    from heavylift.engines.cluster import cluster_commands
    from heavylift.engines.vllm_args import VllmArgs
    from heavylift.hardware.network import read_hosts
    from heavylift.hardware.spec import parse_spec
    from heavylift.plan.memory import ContextConfig
    from heavylift.plan.model_source import resolve
    from heavylift.plan.multihost import plan_hosts, vllm_decode_tps

    hosts = read_hosts(args.hosts)
    src = resolve(args.model, None)
    model = src.hf_repo or (args.model if Path(args.model).is_dir() else None)
    if model is None:
        raise UsageError(f"{args.model}: vLLM needs Hugging Face weights: give a catalog model with a repository "
                         "or a model folder (a GGUF: `heavylift models export-hf` first)")
    per_seq = args.ctx or min(32768, src.arch.n_ctx_train)
    mp = plan_hosts(src, ContextConfig(per_seq * args.parallel, args.parallel), hosts)
    v = mp.vllm
    if v is None:
        raise UsageError("vLLM needs NVIDIA GPUs on every host; this hosts file has a host without: use llama.cpp "
                         "RPC instead (`heavylift plan MODEL --hosts FILE`)")
    if not v.fits:
        raise UsageError(f"{src.label} does not fit vLLM's way: {v.note}; vLLM keeps every weight on a GPU. Add "
                         "nodes, or use llama.cpp RPC (`heavylift plan MODEL --hosts FILE`)")
    vargs = VllmArgs(model, host="0.0.0.0", port=args.port, tensor_parallel_size=v.tensor_parallel,
                     pipeline_parallel_size=v.pipeline_parallel, distributed_executor_backend="ray",
                     max_model_len=per_seq, max_num_seqs=args.parallel, gpu_memory_utilization=0.90)
    tps, notes = vllm_decode_tps(src, [parse_spec(h.hw) for h in hosts.hosts], v.tensor_parallel,
                                 v.pipeline_parallel, hosts.network)
    commands, final = cluster_commands(hosts, vargs)
    if args.json:
        print(json.dumps({"model": src.label, "tensor_parallel_size": v.tensor_parallel,
                          "pipeline_parallel_size": v.pipeline_parallel, "gpus": v.tensor_parallel * v.pipeline_parallel,
                          "decode_tps": tps, "note": v.note, "vllm_args": vargs.serve_argv(),
                          "hosts": [{"host": c.host, "address": c.address, "role": c.role, "commands": c.lines}
                                    for c in commands], "then_on_head": final, "assumptions": notes}, indent=2))
        return 0
    print(f"{src.label}: vLLM over {len(hosts.hosts)} node(s), tensor parallel {v.tensor_parallel} x pipeline parallel "
          f"{v.pipeline_parallel} ({v.note}); predicted decode ~{tps:.1f} tok/s for one sequence")
    for c in commands:
        print(f"\n# on {c.host} ({c.address}, Ray {c.role}):")
        for line in c.lines:
            print(line)
    print(f"\n# then on {commands[0].host}, once every host has joined:")
    for line in final:
        print(line)
    for n in notes:
        say(f"cluster: assumption: {n}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from heavylift.engines.cluster import check_cluster, ray_status

    cluster = ray_status(args.address)
    if args.json:
        print(json.dumps({"nodes": cluster.num_nodes, "gpus": cluster.num_gpus, "gpus_used": cluster.num_gpus_used}))
    else:
        print(f"Ray cluster: {cluster.num_nodes} node(s), {cluster.num_gpus:g} GPU(s), {cluster.num_gpus_used:g} in use")
    if args.gpus or args.nodes:
        check_cluster(cluster, args.gpus or 0, args.nodes)
        say(f"cluster: ready for the plan ({args.gpus or 0} GPU(s), {args.nodes or cluster.num_nodes} node(s))")
    return 0
