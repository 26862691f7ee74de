"""`heavylift models list | add | info | rm`."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from heavylift.cli.common import human_bytes, say
from heavylift.errors import ModelError
from heavylift.models.gguf_file import GGUFFile
from heavylift.models.model_info import ModelInfo
from heavylift.models.model_store import ALIASES, ModelStore


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("models", help=summary, description="Manage the models heavylift can serve.")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ls = msub.add_parser("list", help="list stored models")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=run_list)
    add = msub.add_parser("add", help="register a local GGUF (split files: give the first part)")
    add.add_argument("path", type=Path, help="path of a .gguf file")
    add.add_argument("--name", help="name to store it under (default: from the file name)")
    add.add_argument("--copy", action="store_true", help="copy into heavylift's cache instead of referencing")
    add.add_argument("--json", action="store_true", help="print the stored model as JSON")
    add.set_defaults(func=run_add)
    info = msub.add_parser("info", help="read a model's GGUF header (no weights loaded)")
    info.add_argument("model", help="a stored model name, 'default', or a path to a .gguf")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=run_info)
    rm = msub.add_parser("rm", help="forget a model (deletes the file only if heavylift copied it)")
    rm.add_argument("model", help="a stored model name")
    rm.add_argument("--json", action="store_true", help="print the removed model as JSON")
    rm.set_defaults(func=run_rm)
    up = msub.add_parser("upcycle", help="build a Mixtral-style MoE GGUF from a dense llama GGUF (for demos/tests)")
    up.add_argument("model", help="a stored model name, 'default', or a path to a dense .gguf")
    up.add_argument("--experts", type=int, default=4, help="experts per layer (default 4)")
    up.add_argument("--top-k", type=int, default=2, help="experts used per token (default 2)")
    up.add_argument("--out", type=Path, help="output .gguf (default: heavylift's cache, keyed by the input)")
    up.add_argument("--force", action="store_true", help="overwrite --out even if heavylift did not write it")
    up.add_argument("--json", action="store_true", help="print the written file as JSON")
    up.set_defaults(func=run_upcycle)
    ex = msub.add_parser("export-hf", help="write a Hugging Face folder (safetensors + config + tokenizer) from a GGUF, "
                         "for vLLM and transformers")
    ex.add_argument("model", help="a stored model name, 'default', or a path to a .gguf (llama architecture)")
    ex.add_argument("--out", type=Path, help="output folder (default: heavylift's cache, where `serve --engine vllm` looks)")
    ex.add_argument("--dtype", choices=("bf16", "f16", "f32"), default="bf16",
                    help="weight type after dequantizing (default bf16)")
    ex.add_argument("--force", action="store_true", help="replace an existing export")
    ex.add_argument("--json", action="store_true", help="print the export's folder, architecture and size as JSON")
    ex.set_defaults(func=run_export_hf)


def _model_json(model) -> dict:
    return {**asdict(model), "path": str(model.path), "is_missing": model.is_missing}


def run_list(args: argparse.Namespace) -> int:
    models = ModelStore().list()
    if args.json:
        print(json.dumps([_model_json(m) for m in models], indent=2))
        return 0
    if not models:
        say("no models yet; run `heavylift setup` for the default one, or `heavylift models add PATH`")
        return 0
    aliases = {v: k for k, v in ALIASES.items()}
    print(f"{'NAME':32} {'SIZE':>10}  {'KIND':9} PATH")
    for m in models:
        label = m.name + (f" ({aliases[m.name]})" if m.name in aliases else "")
        gone = "  FILE MISSING: `heavylift models rm " + m.name + "`, then add it again" if m.is_missing else ""
        print(f"{label:32} {human_bytes(m.file_bytes):>10}  {'copy' if m.is_copy else 'reference':9} {m.path}{gone}")
    return 0


def run_add(args: argparse.Namespace) -> int:
    model = ModelStore().add(args.path, name=args.name, copy=args.copy)
    say(f"added {model.name} ({human_bytes(model.file_bytes)}) -> {model.path}")
    if args.json:
        print(json.dumps(_model_json(model), indent=2))
    return 0


def run_info(args: argparse.Namespace) -> int:
    stored = ModelStore().resolve(args.model)
    info = ModelInfo.from_gguf(GGUFFile.read(stored.path), name=stored.name)
    if args.json:
        print(json.dumps(asdict(info), indent=2))
        return 0
    types = ", ".join(f"{k} x{v}" for k, v in info.tensor_types.items())
    experts = f"{info.n_experts} (top-{info.n_experts_used} used per token)" if info.n_experts else "none (dense)"
    rows = [
        ("name", info.name), ("architecture", info.architecture),
        ("parameters", f"{info.n_params:,} ({info.n_params / 1e9:.3f} B)"),
        ("quantization", f"{info.file_type}; tensors: {types}"),
        ("context length", info.context_length), ("layers", info.n_layers),
        ("embedding", info.n_embd), ("heads / KV heads", f"{info.n_heads} / {info.n_kv_heads}"),
        ("experts", experts),
        ("file size", f"{human_bytes(info.file_bytes)} ({info.file_bytes:,} bytes; tensors {info.tensor_bytes:,})"),
        ("tokenizer", f"{info.tokenizer}, {info.vocab_size} tokens"),
        ("chat template", "present" if info.has_chat_template else "absent (raw completion only)"),
        ("file(s)", "\n".ljust(18).join(info.paths)),
    ]
    for key, value in rows:
        print(f"{key:16}  {value if value is not None else 'unknown'}")
    return 0


def run_rm(args: argparse.Namespace) -> int:
    if args.model in ALIASES:
        raise ModelError(f"{args.model!r} is an alias; remove {ALIASES[args.model]!r} by its name")
    model = ModelStore().remove(args.model)
    say(f"removed {model.name}" + (f" and deleted {model.path.parent}" if model.is_copy else " (file left in place)"))
    if args.json:
        print(json.dumps({**_model_json(model), "is_file_deleted": model.is_copy}, indent=2))
    return 0


def run_upcycle(args: argparse.Namespace) -> int:
    from heavylift import paths
    from heavylift.models.moe_upcycle import upcycle, upcycle_cache_path

    dense = ModelStore().resolve(args.model).path
    from heavylift.outputs import check_writable, remember

    out = check_writable(args.out, args.force, "--out") if args.out else \
        upcycle_cache_path(dense, args.experts, args.top_k, paths.cache_dir())
    upcycle(dense, out, args.experts, args.top_k, progress=say)  # atomic: a temporary file, renamed when complete
    if args.out:
        remember(out)
    say(f"wrote {out} ({human_bytes(out.stat().st_size)}); add it with `heavylift models add {out}`")
    if args.json:
        print(json.dumps({"path": str(out), "file_bytes": out.stat().st_size, "source": str(dense),
                          "n_experts": args.experts, "n_experts_used": args.top_k}, indent=2))
    else:
        print(out)
    return 0


def run_export_hf(args: argparse.Namespace) -> int:
    from heavylift.engines.vllm_model import export_folder
    from heavylift.models.export_hf import export_hf

    stored = ModelStore().resolve(args.model)
    out = args.out or export_folder(stored.name)
    result = export_hf(stored.path, out, args.dtype, force=args.force, progress=say)
    say(f"wrote {result.architecture} ({result.n_tensors} tensors, {human_bytes(result.total_bytes)} of "
        f"{args.dtype} weights) to {out}; serve it with `heavylift serve {args.model} --engine vllm`")
    if args.json:
        print(json.dumps({"folder": str(out), "architecture": result.architecture, "num_tensors": result.n_tensors,
                          "total_bytes": result.total_bytes, "dtype": args.dtype}, indent=2))
    else:
        print(out)
    return 0
