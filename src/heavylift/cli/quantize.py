"""`heavylift quantize SRC --to TYPE[,TYPE...]`: make GGUF quants of a model and store them."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from heavylift.cli.common import human_bytes, positive_float, say, sigterm_as_interrupt


def add_parser(sub: argparse._SubParsersAction, summary: str) -> None:
    p = sub.add_parser("quantize", help=summary, description=
                       "Quantize a Hugging Face model folder (converted with the pinned llama.cpp's "
                       "convert_hf_to_gguf.py; torch and transformers are installed on first use) or a GGUF "
                       "(requantized, which loses more quality) with llama-quantize, and add each result to the "
                       "model store as NAME (one type) or SRC-TYPE. Free disk is checked against the predicted "
                       "sizes first; files are written under a temporary name and renamed when complete.")
    p.add_argument("source", metavar="SRC", help="a Hugging Face model folder, a .gguf, or a stored model name")
    p.add_argument("--to", required=True, metavar="TYPE[,TYPE...]",
                   help="target types, e.g. Q4_K_M,Q3_K_M (an unknown type lists the valid ones)")
    p.add_argument("--imatrix", type=Path, metavar="TEXTFILE",
                   help="compute an importance matrix on this text first (llama-imatrix) and use it; "
                        "required for the lowest IQ types")
    p.add_argument("--out", type=Path, metavar="DIR", help="write here (default: heavylift's model cache)")
    p.add_argument("--name", help="store name for a single type, or the prefix NAME-TYPE for several")
    p.add_argument("--keep-free", type=positive_float, default=1.0, metavar="GiB",
                   help="refuse to start unless this much disk stays free afterwards (default 1)")
    p.add_argument("--keep-intermediate", action="store_true",
                   help="keep (and store) the 16-bit GGUF converted from a folder")
    p.add_argument("--json", action="store_true", help="print the outputs as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heavylift.models.quantize import QuantizeConfig, quantize

    sigterm_as_interrupt()
    config = QuantizeConfig(source=args.source, ftypes=[t.strip() for t in args.to.split(",") if t.strip()],
                            imatrix_text=args.imatrix, out_dir=args.out, name=args.name,
                            keep_free_bytes=int(args.keep_free * (1 << 30)), keep_intermediate=args.keep_intermediate)
    outputs = quantize(config, say)
    if args.json:
        print(json.dumps([asdict(o) for o in outputs], indent=2))
        return 0
    print(f"{'NAME':36} {'TYPE':8} {'SIZE':>10} {'PREDICTED':>10}  PATH")
    for o in outputs:
        print(f"{o.name:36} {o.ftype:8} {human_bytes(o.file_bytes):>10} {human_bytes(o.predicted_bytes):>10}  {o.path}")
    return 0
